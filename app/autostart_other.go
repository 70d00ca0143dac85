//go:build !linux && !windows

package main

// newAutostart: start at sign-in is offered on Linux and Windows only (a
// macOS login item needs a signed app bundle), so the switch is hidden.
func newAutostart(string, []string) signInSwitch { return nil }
