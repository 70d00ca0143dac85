package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// path is the XDG autostart entry: $XDG_CONFIG_HOME/autostart/esmon.desktop.
func (a autostart) path() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the autostart directory: %w", err)
	}
	return filepath.Join(dir, "autostart", autostartName+".desktop"), nil
}

// Enabled reports whether the autostart entry exists and is not hidden.
func (a autostart) Enabled() (bool, error) {
	p, err := a.path()
	if err != nil {
		return false, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read autostart entry: %w", err)
	}
	return !strings.Contains(string(b), "\nHidden=true"), nil
}

// SetEnabled writes or removes the autostart entry.
func (a autostart) SetEnabled(on bool) error {
	p, err := a.path()
	if err != nil {
		return err
	}
	if !on {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove autostart entry: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("create autostart directory: %w", err)
	}
	entry := "[Desktop Entry]\nType=Application\nName=esmon\nComment=eSolutions Monitoring console\n" +
		"Exec=" + strings.ReplaceAll(a.commandLine(), "%", "%%") + "\nTerminal=false\nX-GNOME-Autostart-enabled=true\n"
	if err := os.WriteFile(p, []byte(entry), 0o644); err != nil {
		return fmt.Errorf("write autostart entry: %w", err)
	}
	return nil
}

// newAutostart is the XDG autostart switch for this program.
func newAutostart(exe string, args []string) signInSwitch { return autostart{exe: exe, args: args} }
