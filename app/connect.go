package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// remoteCore says how `esmon --connect URL` reaches a core on a server.
type remoteCore struct {
	URL       string
	TokenFile string // holds the API token; ESMON_TOKEN_FILE
	Pin       string // the core's SPKI SHA-256 pin, as it prints it
	CAFile    string // PEM CAs that sign the core's certificate
}

// token reads the API token from its file, or ESMON_TOKEN. A token is never
// taken from the command line, where other users' ps would see it.
func (r remoteCore) token() (string, error) {
	if r.TokenFile == "" {
		if t := os.Getenv("ESMON_TOKEN"); t != "" {
			return t, nil
		}
		return "", errors.New("--connect needs an API token: --token-file FILE or ESMON_TOKEN")
	}
	b, err := os.ReadFile(r.TokenFile)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", r.TokenFile)
	}
	return t, nil
}

// runConnect runs the console attached to a remote core, without a core of
// its own.
func runConnect(ctx context.Context, log *slog.Logger, r remoteCore, cfg config, cfgPath string, args []string) int {
	r.TokenFile = cmp.Or(r.TokenFile, os.Getenv("ESMON_TOKEN_FILE"))
	if _, err := r.token(); err != nil {
		log.Error("connect", "err", err)
		return 2
	}
	console, err := newConsole(log, cfg, cfgPath, args)
	if errors.Is(err, errAlreadyRunning) {
		log.Info("esmon is already running; its window was brought forward")
		return 0
	}
	if err != nil {
		log.Error("cannot start the console", "err", err)
		return 1
	}
	if err := console.Connect(ctx, r); err != nil {
		log.Error("console", "err", err)
		return 1
	}
	return 0
}
