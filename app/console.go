//go:build !headless

package main

import (
	"context"
	"log/slog"

	"fyne.io/fyne/v2/app"

	"esmon/core"
	"esmon/ui"
)

// appID names esmon to the desktop: preferences, notifications, the tray.
const appID = "com.esolutions.esmon"

// console is the GUI build's consoleUI: the Fyne console of package ui,
// attached to the core embedded in this process.
type console struct {
	*ui.Console
}

var (
	_ consoleUI = console{}
	_ ui.Client = (*core.Core)(nil)
)

// newConsole makes the Fyne app and its console. It shows nothing until Run.
func newConsole(logger *slog.Logger) (consoleUI, error) {
	a := app.NewWithID(appID)
	return console{ui.NewConsole(a, logger.With("part", "console"))}, nil
}

// Run shows the window and tray on the main goroutine until the user quits
// from the tray or ctx is done.
func (c console) Run(ctx context.Context, cr *core.Core) error {
	return c.Console.Run(ctx, cr)
}
