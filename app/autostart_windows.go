package main

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// runKey is where Windows looks for programs to start at sign-in.
const runKey = `Software\Microsoft\Windows\CurrentVersion\Run`

// Enabled reports whether HKCU's Run key starts esmon.
func (a autostart) Enabled() (bool, error) {
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.QUERY_VALUE)
	if err != nil {
		return false, fmt.Errorf("open the Run key: %w", err)
	}
	defer k.Close()
	_, _, err = k.GetStringValue(autostartName)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the Run key: %w", err)
	}
	return true, nil
}

// SetEnabled sets or deletes esmon's value under HKCU's Run key.
func (a autostart) SetEnabled(on bool) error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, runKey, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("open the Run key: %w", err)
	}
	defer k.Close()
	if !on {
		if err := k.DeleteValue(autostartName); err != nil && !errors.Is(err, registry.ErrNotExist) {
			return fmt.Errorf("delete the Run value: %w", err)
		}
		return nil
	}
	if err := k.SetStringValue(autostartName, a.commandLine()); err != nil {
		return fmt.Errorf("set the Run value: %w", err)
	}
	return nil
}

// newAutostart is the HKCU Run key switch for this program.
func newAutostart(exe string, args []string) signInSwitch { return autostart{exe: exe, args: args} }
