//go:build !headless && !windows && !(linux && !wayland)

package main

import "esmon/ui"

// newPlacer is nil where esmon cannot place windows (macOS, Wayland, where
// the compositor decides): there only the window's size is kept.
func newPlacer() ui.Placer { return nil }
