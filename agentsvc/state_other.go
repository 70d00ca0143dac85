//go:build !windows

package main

import (
	"os"
	"path/filepath"
)

// defaultStateDir is /var/lib/esmon-agent for root (the service), else the
// user's config directory.
func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/esmon-agent"
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "esmon-agent")
	}
	return filepath.Join(os.TempDir(), "esmon-agent")
}
