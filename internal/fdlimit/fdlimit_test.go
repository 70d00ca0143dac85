//go:build unix

package fdlimit

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestRaise checks the limit a child process sees after Raise: at least the
// hard limit it started with, so a core started under a low soft limit can
// take thousands of connections.
func TestRaise(t *testing.T) {
	var before syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	got, err := Raise()
	if err != nil {
		t.Fatal(err)
	}
	if got < before.Max {
		t.Fatalf("Raise gave %d, below the hard limit %d", got, before.Max)
	}
	var after syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &after); err != nil {
		t.Fatal(err)
	}
	if after.Cur != got {
		t.Errorf("soft limit %d after Raise, which reported %d", after.Cur, got)
	}
	// What the process now allows is what the shell of a child sees.
	out, err := exec.Command("sh", "-c", "ulimit -n").Output()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64); n < before.Max && strings.TrimSpace(string(out)) != "unlimited" {
		t.Errorf("a child sees an open-file limit of %s, want at least %d", out, before.Max)
	}
}
