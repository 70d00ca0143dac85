// Package flock holds an exclusive lock on a file for the life of a
// process: the console's single-instance claim and the store's claim on
// its data directory. The operating system drops the lock when the
// process dies, so a crash leaves no stale claim.
package flock

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked says another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// Claim opens (creating) the file at path and takes an exclusive lock on
// it without waiting. Release with Release; the error wraps ErrLocked
// when another process (or another open file of this one) holds it.
func Claim(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// Release unlocks and closes a file Claim returned.
func Release(f *os.File) error {
	unlock(f)
	return f.Close()
}
