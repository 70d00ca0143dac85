//go:build !headless

package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"esmon/core"
	"esmon/core/apiv1"
	"esmon/ui"
	"esmon/ui/remote"
)

// localClient is the console's client of the core in this process. The
// live feed comes straight from the core's fan-out (no JSON, no socket:
// the cheap path for hundreds of hosts); reads and actions go through the
// core's own REST API on loopback with the bootstrap admin token, so they
// pass the same validation, roles and audit as every other caller.
type localClient struct {
	*remote.Client
	core *core.Core
}

var _ ui.Client = (*localClient)(nil)

func newLocalClient(c *core.Core, log *slog.Logger) (*localClient, error) {
	b, err := os.ReadFile(c.AdminTokenPath())
	if err != nil {
		return nil, fmt.Errorf("read the admin token: %w", err)
	}
	rc, err := remote.New(remote.Options{URL: c.WebURL(), Token: strings.TrimSpace(string(b)),
		Fingerprint: c.Pin(), Logger: log.With("part", "client")})
	if err != nil {
		return nil, fmt.Errorf("client of the embedded core: %w", err)
	}
	return &localClient{Client: rc, core: c}, nil
}

// Subscribe implements ui.Client with the core's in-process feed.
func (l *localClient) Subscribe() (<-chan apiv1.Event, func()) { return l.core.Subscribe() }

// WebURL implements ui.Client.
func (l *localClient) WebURL() string { return l.core.WebURL() }
