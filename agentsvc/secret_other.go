//go:build !windows

package main

import (
	"fmt"
	"os"
)

// restrictToService makes path readable by its owner alone: the service
// runs as root, which installs it.
func restrictToService(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o600)
	if fi.IsDir() {
		mode = 0o700
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("restrict %s: %w", path, err)
	}
	return nil
}
