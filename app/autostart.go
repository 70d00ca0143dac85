package main

import "strings"

// autostartName names esmon's sign-in entry: the .desktop file on Linux,
// the Run value on Windows.
const autostartName = "esmon"

// autostart is the "start at sign-in" switch of the Settings screen. It
// starts the same program with the arguments of this launch (a console
// attached with --connect keeps attaching to the same core).
type autostart struct {
	exe  string
	args []string
}

// commandLine quotes the program and its arguments for a command line:
// every word in double quotes, with backslashes and quotes escaped, which
// both XDG's Exec key and Windows' command-line parsing read back.
func (a autostart) commandLine() string {
	words := make([]string, 0, 1+len(a.args))
	for _, w := range append([]string{a.exe}, a.args...) {
		words = append(words, `"`+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w)+`"`)
	}
	return strings.Join(words, " ")
}

// signInSwitch is what a platform offers to start esmon at sign-in; it is
// ui.Autostart, spelled out so the headless build needs no ui.
type signInSwitch interface {
	Enabled() (bool, error)
	SetEnabled(on bool) error
}
