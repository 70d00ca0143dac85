//go:build linux && !headless && !wayland

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"esmon/internal/testenv"
	"esmon/ui"
)

// TestWindowPositionKept runs the real console under Xvfb: a window the
// operator moved opens in the same place at the next start, and a place
// remembered from a bigger screen is brought back onto this one (Xvfb's
// screen keeps the console's last 80x80 pixels in sight).
func TestWindowPositionKept(t *testing.T) {
	for _, tc := range []struct {
		name   string
		moveTo []int // where the operator drags the window; nil: none
		saved  []int // the remembered position written before the start
		want   [2]int
	}{
		{name: "moved, then restarted", moveTo: []int{60, 25}, want: [2]int{60, 25}},
		{name: "remembered off this screen", saved: []int{5000, 4000}, want: [2]int{screenWidth - 80, screenHeight - 80}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newXDesktop(t)
			xdo := testenv.LookPath(t, "xdotool")
			xwininfo := testenv.LookPath(t, "xwininfo")
			shot := filepath.Join(t.TempDir(), "screen.png")
			if tc.saved != nil {
				writeStored(t, x.home, ui.WindowFile,
					fmt.Sprintf(`{"width":1180,"height":760,"x":%d,"y":%d,"placed":true}`, tc.saved[0], tc.saved[1]))
			}
			if tc.moveTo != nil {
				first := x.start(t)
				x.waitDrawn(t, first, shot)
				id := consoleWindow(t, x, xdo)
				xrun(t, x, xdo, "windowmove", "--sync", id, strconv.Itoa(tc.moveTo[0]), strconv.Itoa(tc.moveTo[1]))
				if got := windowAt(t, x, xwininfo, id); got != [2]int(tc.moveTo) {
					t.Fatalf("xdotool moved the window to %v, not %v", got, tc.moveTo)
				}
				first.stop(t)
			}
			c := x.start(t)
			x.waitDrawn(t, c, shot)
			id := consoleWindow(t, x, xdo)
			var got [2]int
			// The move follows the first show; poll until it has landed.
			for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(200 * time.Millisecond) {
				if got = windowAt(t, x, xwininfo, id); got == tc.want {
					break
				}
			}
			if got != tc.want {
				saved, _ := os.ReadFile(filepath.Join(x.home, ".config", "fyne", appID, ui.WindowFile))
				t.Errorf("the console opened at %v, want %v; %s: %s", got, tc.want, ui.WindowFile, saved)
			}
			c.stop(t)
		})
	}
}

// writeStored writes a file of the console's Fyne app storage in home.
func writeStored(t *testing.T, home, name, json string) {
	t.Helper()
	prefs := filepath.Join(home, ".config", "fyne", appID, name)
	if err := os.MkdirAll(filepath.Dir(prefs), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefs, []byte(json), 0o600); err != nil {
		t.Fatal(err)
	}
}

// xrun runs an X client on the test's display and returns its output.
func xrun(t *testing.T, x *xDesktop, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "DISPLAY="+x.display)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", filepath.Base(name), args, err, out)
	}
	return string(out)
}

// consoleWindow is the X11 id of the console's visible window.
func consoleWindow(t *testing.T, x *xDesktop, xdo string) string {
	t.Helper()
	out := strings.Fields(xrun(t, x, xdo, "search", "--sync", "--onlyvisible", "--name", "^esmon$"))
	if len(out) != 1 {
		t.Fatalf("want one visible esmon window, found %q", out)
	}
	return out[0]
}

var absRE = regexp.MustCompile(`Absolute upper-left (X|Y):\s+(-?\d+)`)

// windowAt is where xwininfo says the window's content starts.
func windowAt(t *testing.T, x *xDesktop, xwininfo, id string) [2]int {
	t.Helper()
	var at [2]int
	for _, m := range absRE.FindAllStringSubmatch(xrun(t, x, xwininfo, "-id", id), -1) {
		n, _ := strconv.Atoi(m[2])
		if m[1] == "X" {
			at[0] = n
		} else {
			at[1] = n
		}
	}
	return at
}
