package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestInstanceClaim claims the console twice in one directory: the second
// claim asks the first to show itself and is refused; once the first gives
// the claim up, a new one succeeds.
func TestInstanceClaim(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "esmon")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := claimInstance(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	var shown atomic.Int32
	first.serve(func() { shown.Add(1) })

	if _, err := claimInstance(dir, log); !errors.Is(err, errAlreadyRunning) {
		t.Fatalf("second claim: %v, want errAlreadyRunning", err)
	}
	if shown.Load() != 1 {
		t.Errorf("the first was asked to show %d times, want 1", shown.Load())
	}
	first.Close()

	again, err := claimInstance(dir, log)
	if err != nil {
		t.Fatalf("claim after the first gave up: %v", err)
	}
	again.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("instance directory: %v %v, want mode 0700", fi.Mode().Perm(), err)
	}
}
