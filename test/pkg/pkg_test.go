// Package pkg tests the installers the way an operator meets them: the
// agent's MSI (its tables, its signature, and an install, upgrade and
// uninstall under Wine's msiexec) and the deb and rpm packages (built with
// nfpm, the deb installed with dpkg, its user, files and systemd unit
// checked, then purged). The packages are built with the same scripts as
// `make dist` (packaging/build-msi.sh, build-linux-pkg.sh, sign.sh).
package pkg

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"esmon/internal/testenv"
)

// root is the repository root, where the packaging scripts run from.
var root = func() string {
	abs, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return abs
}()

// goBuild builds the main package pkg for goos/goarch, static, with version
// stamped in as `make dist` does, into dir, and returns the file's path.
func goBuild(t *testing.T, dir, name, pkg, goos, goarch, version string, tags ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	args := []string{"build", "-trimpath", "-ldflags", "-s -w -X main.Version=" + version + " -X main.Commit=test"}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s for %s/%s: %v\n%s", pkg, goos, goarch, err, b)
	}
	return out
}

// run runs name with args from the repository root, with env added, and
// returns its standard output; a failure ends the test with both outputs.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, errOut, err := try(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// try runs name with args from the repository root, with env added, for at
// most five minutes.
func try(env []string, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// tools looks up every program in names, so that a missing one fails (under
// make test) or skips the test before any work is done.
func tools(t *testing.T, names ...string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, n := range names {
		m[n] = testenv.LookPath(t, n)
	}
	return m
}

// nfpm is the nfpm that the Makefile installs and exports as NFPM, or one
// on the PATH.
func nfpm(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("NFPM"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return testenv.LookPath(t, "nfpm")
}
