//go:build headless

package main

import (
	"errors"
	"log/slog"
)

// newConsole in the headless build: there is no GUI to start.
func newConsole(*slog.Logger, config, string, []string) (consoleUI, error) {
	return nil, errors.New("this esmon was built without the console (tag headless)")
}
