// Package testenv finds the real programs that esmon's tests run against
// (an SMTP server, Chromium, Xvfb, a JVM) and decides what a test does when
// one is missing: skip on a developer's machine, fail under `make test`, which
// sets ESMON_TEST_STRICT=1 after installing them, so CI never passes by
// skipping.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Strict reports whether missing test programs are failures.
func Strict() bool { return os.Getenv("ESMON_TEST_STRICT") == "1" }

// LookPath returns the path of program name, looking at $PATH, then at
// $GOPATH/bin and ~/go/bin (where `go install` puts tools). If it is not
// found the test is skipped, or failed when Strict.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	Missing(t, name+" not found in PATH or GOPATH/bin")
	return ""
}

// Missing skips the test, or fails it when Strict, with the reason.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if Strict() {
		t.Fatalf("required test dependency missing: %s (make test installs it)", reason)
	}
	t.Skipf("skipped: %s (make test installs it)", reason)
}
