//go:build !headless && !linux

package main

import (
	"log/slog"

	"esmon/ui"
)

// clickableNotifications: elsewhere Fyne's notifications are used; on
// Windows and macOS clicking one brings the console forward.
func clickableNotifications(*ui.Console, *slog.Logger) (stop func()) { return func() {} }
