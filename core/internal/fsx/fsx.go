// Package fsx holds the file-system steps the core's own files share.
package fsx

import (
	"os"
	"runtime"
)

// SyncDir makes a new file's name in dir durable. Windows cannot sync a
// directory (its file system orders the metadata).
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
