//go:build !headless

package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// toastClassesEnv, when set, is the HKCU key TestRegisterToasts registers
// under and leaves in place (Software\Classes: the real registration, to
// read with `reg query` in a throwaway Wine prefix). Unset, it uses a
// scratch key of its own and removes it.
const toastClassesEnv = "ESMON_TEST_TOAST_CLASSES"

// TestRegisterToasts runs the console's registration as it runs at every
// start: logos written, the esmon: scheme starting this program with the
// launch's arguments and --open, and the AppUserModelID with esmon's name
// and icon; a second start changes nothing.
func TestRegisterToasts(t *testing.T) {
	classes := os.Getenv(toastClassesEnv)
	if classes == "" {
		root := fmt.Sprintf(`Software\esmon-test-%d`, os.Getpid())
		classes = root + `\Classes`
		t.Cleanup(func() { _ = deleteKeyTree(root) })
	}
	dir := filepath.Join(t.TempDir(), "esmon")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	args := []string{"--connect", "https://core.example:8443", "--token-file", `C:\Users\op\esmon token`}
	reg, icons, changed, err := registerToasts(classes, dir, exe, args, []byte("\x89PNG app"), log)
	if err != nil {
		t.Fatal(err)
	}
	if icons == "" || reg.Icon != filepath.Join(icons, "icon.png") {
		t.Errorf("icons %q, registration icon %q", icons, reg.Icon)
	}
	if _, err := os.Stat(filepath.Join(icons, toastIconName("critical"))); err != nil {
		t.Errorf("critical logo: %v", err)
	}
	k, err := registry.OpenKey(registry.CURRENT_USER, classes+`\esmon\shell\open\command`, registry.QUERY_VALUE)
	if err != nil {
		t.Fatalf("the esmon: scheme is not registered (changed %v): %v", changed, err)
	}
	cmd, _, err := k.GetStringValue("")
	k.Close()
	if err != nil {
		t.Fatal(err)
	}
	argv, err := windows.DecomposeCommandLine(strings.Replace(cmd, "%1", "esmon://alert/9f3c01d2e4b5a697", 1))
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]string{exe}, args...), "--open", "esmon://alert/9f3c01d2e4b5a697"); strings.Join(argv, "\n") != strings.Join(want, "\n") {
		t.Errorf("a click starts %q, want %q", argv, want)
	}
	// The arguments of that command are what run accepts.
	if id, rest, err := openArgs(argv[1:], argv[len(argv)-1], false); err != nil || id != "9f3c01d2e4b5a697" || len(rest) != len(args) {
		t.Errorf("openArgs of the registered command: %q %q %v", id, rest, err)
	}
	k, err = registry.OpenKey(registry.CURRENT_USER, classes+`\AppUserModelId\`+appID, registry.QUERY_VALUE)
	if err != nil {
		t.Fatalf("the AppUserModelID is not registered: %v", err)
	}
	name, _, _ := k.GetStringValue("DisplayName")
	icon, _, _ := k.GetStringValue("IconUri")
	k.Close()
	if name != "esmon" || icon != reg.Icon {
		t.Errorf("AppUserModelID DisplayName %q IconUri %q", name, icon)
	}
	if _, _, changed, err := registerToasts(classes, dir, exe, args, []byte("\x89PNG app"), log); err != nil || changed {
		t.Errorf("second start: changed %v, %v", changed, err)
	}
}

func deleteKeyTree(path string) error {
	k, err := registry.OpenKey(registry.CURRENT_USER, path, registry.ENUMERATE_SUB_KEYS)
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
		if err := deleteKeyTree(path + `\` + s); err != nil {
			return err
		}
	}
	return registry.DeleteKey(registry.CURRENT_USER, path)
}
