package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestInstanceClaim claims the console in one directory again and again:
// a later claim asks the first to show itself, or to open an alert, and is
// refused; a request the first cannot take is refused with its reason;
// once the first gives the claim up, a new one succeeds.
func TestInstanceClaim(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "esmon")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := claimInstance(dir, log, requestShow)
	if err != nil {
		t.Fatal(err)
	}
	var shown atomic.Int32
	var mu sync.Mutex
	var opened []string
	first.serve(func() { shown.Add(1) }, func(id string) {
		mu.Lock()
		defer mu.Unlock()
		opened = append(opened, id)
	})

	if _, err := claimInstance(dir, log, requestShow); !errors.Is(err, errAlreadyRunning) {
		t.Fatalf("second claim: %v, want errAlreadyRunning", err)
	}
	if shown.Load() != 1 {
		t.Errorf("the first was asked to show %d times, want 1", shown.Load())
	}
	if _, err := claimInstance(dir, log, openRequest("9f3c01d2e4b5a697")); !errors.Is(err, errAlreadyRunning) || err.Error() != errAlreadyRunning.Error() {
		t.Fatalf("claim with an alert to open: %v, want errAlreadyRunning", err)
	}
	for _, bad := range []string{"open esmon://alert/a1\" --connect x", "open https://example.com/", "raise"} {
		_, err := claimInstance(dir, log, bad)
		if !errors.Is(err, errAlreadyRunning) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("request %q: %v, want errAlreadyRunning refused", bad, err)
		}
	}
	mu.Lock()
	if !slices.Equal(opened, []string{"9f3c01d2e4b5a697"}) || shown.Load() != 1 {
		t.Errorf("the first opened %q and showed %d times; want the one alert and 1", opened, shown.Load())
	}
	mu.Unlock()
	first.Close()

	again, err := claimInstance(dir, log, requestShow)
	if err != nil {
		t.Fatalf("claim after the first gave up: %v", err)
	}
	again.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("instance directory: %v %v, want mode 0700", fi.Mode().Perm(), err)
	}
}
