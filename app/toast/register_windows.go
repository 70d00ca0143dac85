package toast

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/windows/registry"
)

// ClassesKey is the current user's class registrations, under HKCU: what
// Register writes to in use. Windows merges it into HKEY_CLASSES_ROOT, and
// writing it needs no administrator.
const ClassesKey = `Software\Classes`

// Registration is what Windows needs to start esmon on a click of its
// toast, and to show the toasts under esmon's own name and icon.
type Registration struct {
	// AppID is the AppUserModelID the toasts are shown under: Fyne's app
	// ID, which Fyne's own notifications use too.
	AppID string
	// Name and Icon (a PNG file) are what the toasts and Windows' Settings
	// > Notifications show for AppID.
	Name, Icon string
	// Exe is the program a click starts, with Args before --open.
	Exe  string
	Args []string
}

// Command is the command line a click starts: the program, its arguments,
// then --open and the link (Windows puts it in for %1).
func (r Registration) Command() string {
	words := []string{`"` + r.Exe + `"`} // a path holds no quotes
	for _, a := range r.Args {
		words = append(words, syscall.EscapeArg(a))
	}
	return strings.Join(append(words, "--open", `"%1"`), " ")
}

// value is one registry value Register writes.
type value struct {
	key, name, data string
	expand          bool // REG_EXPAND_SZ, as Windows documents the AppUserModelId values
}

func (r Registration) values(classes string) []value {
	scheme := classes + `\` + Scheme
	aumid := classes + `\AppUserModelId\` + r.AppID
	return []value{
		{key: scheme, name: "", data: "URL:esmon alert link"},
		{key: scheme, name: "URL Protocol", data: ""},
		{key: scheme + `\DefaultIcon`, name: "", data: `"` + r.Exe + `",0`},
		{key: scheme + `\shell\open\command`, name: "", data: r.Command()},
		{key: aumid, name: "DisplayName", data: r.Name, expand: true},
		{key: aumid, name: "IconUri", data: r.Icon, expand: true},
	}
}

// Register writes the esmon: URL scheme and the AppUserModelID under
// classes (ClassesKey; tests use a scratch key) in HKCU. It writes only
// what differs, so calling it at every start is cheap, and reports whether
// it changed anything.
func (r Registration) Register(classes string) (changed bool, err error) {
	if r.AppID == "" || r.Exe == "" || r.Name == "" {
		return false, errors.New("register toasts: app ID, name and program are needed")
	}
	for _, v := range r.values(classes) {
		if v.name == "IconUri" && v.data == "" {
			continue
		}
		c, err := setString(v)
		if err != nil {
			return changed, fmt.Errorf("register toasts: %w", err)
		}
		changed = changed || c
	}
	return changed, nil
}

// setString sets one string value unless it already holds data.
func setString(v value) (changed bool, err error) {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, v.key, registry.QUERY_VALUE|registry.SET_VALUE)
	if err != nil {
		return false, fmt.Errorf(`open HKCU\%s: %w`, v.key, err)
	}
	defer k.Close()
	want := uint32(registry.SZ)
	if v.expand {
		want = registry.EXPAND_SZ
	}
	if got, typ, err := k.GetStringValue(v.name); err == nil && typ == want && got == v.data {
		return false, nil
	}
	if v.expand {
		err = k.SetExpandStringValue(v.name, v.data)
	} else {
		err = k.SetStringValue(v.name, v.data)
	}
	if err != nil {
		return false, fmt.Errorf(`set HKCU\%s %q: %w`, v.key, v.name, err)
	}
	return true, nil
}
