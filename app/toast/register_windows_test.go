package toast

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// scratchClasses is a key of the test's own under HKCU, removed after it,
// so the test never touches the user's real registrations.
func scratchClasses(t *testing.T) string {
	t.Helper()
	root := fmt.Sprintf(`Software\esmon-test-%d`, os.Getpid())
	t.Cleanup(func() {
		if err := deleteTree(registry.CURRENT_USER, root); err != nil {
			t.Errorf("remove %s: %v", root, err)
		}
	})
	return root + `\Classes`
}

func deleteTree(parent registry.Key, path string) error {
	k, err := registry.OpenKey(parent, path, registry.ENUMERATE_SUB_KEYS)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	subs, err := k.ReadSubKeyNames(-1)
	k.Close()
	if err != nil {
		return err
	}
	for _, s := range subs {
		if err := deleteTree(parent, path+`\`+s); err != nil {
			return err
		}
	}
	return registry.DeleteKey(parent, path)
}

func readString(t *testing.T, key, name string) (string, uint32) {
	t.Helper()
	k, err := registry.OpenKey(registry.CURRENT_USER, key, registry.QUERY_VALUE)
	if err != nil {
		t.Fatalf(`open HKCU\%s: %v`, key, err)
	}
	defer k.Close()
	v, typ, err := k.GetStringValue(name)
	if err != nil {
		t.Fatalf(`read HKCU\%s %q: %v`, key, name, err)
	}
	return v, typ
}

// TestRegister writes the esmon: scheme and the AppUserModelID into a
// scratch key, reads them back as Windows would, checks that the command
// Windows would start for a link parses into `esmon ARGS --open LINK`, and
// that a second registration changes nothing until the program moves.
func TestRegister(t *testing.T) {
	classes := scratchClasses(t)
	r := Registration{AppID: "com.esolutions.esmon", Name: "esmon", Icon: `C:\Users\op\AppData\Roaming\esmon\icons\icon.png`,
		Exe: `C:\Program Files\esmon\esmon.exe`, Args: []string{"--connect", "https://core.example:8443", "--token-file", `C:\Users\op\my token`}}
	changed, err := r.Register(classes)
	if err != nil || !changed {
		t.Fatalf("first Register: changed %v, %v", changed, err)
	}
	for _, tc := range []struct {
		key, name, want string
		typ             uint32
	}{
		{`\esmon`, "", "URL:esmon alert link", registry.SZ},
		{`\esmon`, "URL Protocol", "", registry.SZ},
		{`\esmon\DefaultIcon`, "", `"C:\Program Files\esmon\esmon.exe",0`, registry.SZ},
		{`\esmon\shell\open\command`, "", r.Command(), registry.SZ},
		{`\AppUserModelId\com.esolutions.esmon`, "DisplayName", "esmon", registry.EXPAND_SZ},
		{`\AppUserModelId\com.esolutions.esmon`, "IconUri", r.Icon, registry.EXPAND_SZ},
	} {
		if got, typ := readString(t, classes+tc.key, tc.name); got != tc.want || typ != tc.typ {
			t.Errorf(`%s %q = %q (type %d), want %q (type %d)`, tc.key, tc.name, got, typ, tc.want, tc.typ)
		}
	}

	// What Windows starts for a clicked link: %1 replaced, then split as
	// every Go (and C) program splits its command line.
	cmd, _ := readString(t, classes+`\esmon\shell\open\command`, "")
	link := AlertURL("9f3c01d2e4b5a697")
	argv, err := windows.DecomposeCommandLine(strings.Replace(cmd, "%1", link, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]string{r.Exe}, r.Args...), "--open", link)
	if !slices.Equal(argv, want) {
		t.Errorf("command %s starts %q, want %q", cmd, argv, want)
	}

	if changed, err := r.Register(classes); err != nil || changed {
		t.Errorf("second Register: changed %v, %v; want nothing to change", changed, err)
	}
	r.Exe = `C:\Users\op\Downloads\esmon.exe`
	if changed, err := r.Register(classes); err != nil || !changed {
		t.Errorf("Register after the program moved: changed %v, %v", changed, err)
	}
	if got, _ := readString(t, classes+`\esmon\DefaultIcon`, ""); got != `"C:\Users\op\Downloads\esmon.exe",0` {
		t.Errorf("DefaultIcon after the move = %q", got)
	}
}

func TestEncodeCommand(t *testing.T) {
	// "é" is U+00E9: E9 00 in UTF-16LE.
	if got := encodeCommand("aé"); got != "YQDpAA==" {
		t.Errorf("encodeCommand = %q", got)
	}
}
