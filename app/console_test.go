//go:build !headless

package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/internal/testenv"
	"esmon/ui"
)

// consoleChildEnv turns this test binary into the real console: the parent
// test runs it under Xvfb and a D-Bus session. It acts in init, because Fyne
// must run on the main goroutine and init is the last code that does before
// the test framework takes over.
const consoleChildEnv = "ESMON_TEST_CONSOLE_CHILD"

func init() {
	if os.Getenv(consoleChildEnv) == "1" {
		os.Exit(runConsoleChild())
	}
}

// runConsoleChild runs newConsole's console against a fake core with one
// host and one critical alert, until its stdin closes.
func runConsoleChild() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cu, err := newConsole(logger)
	if err != nil {
		logger.Error("new console", "err", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	c := demoClient{now: time.Now()}
	cu.Notify(apiv1.Transition{Alert: c.alert(), From: apiv1.StatePending, To: apiv1.StateFiring, Value: 96.4})
	if err := cu.(console).Console.Run(ctx, c); err != nil {
		logger.Error("run console", "err", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "console stopped")
	return 0
}

// demoClient is a core with one busy host and the alert it raised.
type demoClient struct{ now time.Time }

func (d demoClient) host() apiv1.Host {
	return apiv1.Host{
		ID: "h-web-01",
		Facts: apiv1.HostFacts{Hostname: "web-01.example.net", OS: "linux", Platform: "debian",
			PlatformVersion: "12.7", Arch: "amd64", Cores: 8},
		Online: true, LastSeen: d.now, Status: apiv1.SeverityCritical,
		Gauges: apiv1.Gauges{CPU: 96.4, Memory: 62.1, Disk: 48.9},
	}
}

func (d demoClient) alert() apiv1.Alert {
	return apiv1.Alert{
		ID: "a1", RuleID: "high-cpu", RuleName: "High CPU", Host: "h-web-01", Metric: "cpu_usage_percent",
		Severity: apiv1.SeverityCritical, State: apiv1.StateFiring, Value: 96.4, Op: ">", Threshold: 90,
		Summary: "CPU above 90% for 5 minutes", ActiveAt: d.now.Add(-12 * time.Minute), FiredAt: d.now.Add(-7 * time.Minute),
	}
}

func (d demoClient) Hosts() []apiv1.Host         { return []apiv1.Host{d.host()} }
func (d demoClient) ActiveAlerts() []apiv1.Alert { return []apiv1.Alert{d.alert()} }
func (d demoClient) WebURL() string              { return "https://127.0.0.1:8443/" }
func (d demoClient) Subscribe() (<-chan apiv1.Event, func()) {
	ch := make(chan apiv1.Event, 1)
	ch <- apiv1.Event{Type: apiv1.EventSnapshot, Hosts: d.Hosts(), Alerts: d.ActiveAlerts()}
	return ch, func() {}
}

// TestConsoleRealWindow starts the real console (GLFW, OpenGL, D-Bus) under
// Xvfb, screenshots the screen once the window shows the alert, and checks
// that the console quits cleanly when its context ends. The screenshot is
// copied to $ESMON_SCREENSHOT_DIR when that is set.
func TestConsoleRealWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real window under Xvfb")
	}
	xvfb := testenv.LookPath(t, "Xvfb")
	dbus := testenv.LookPath(t, "dbus-run-session")
	importCmd := testenv.LookPath(t, "import")
	tmp := t.TempDir()

	display := startXvfb(t, xvfb)

	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	child := exec.CommandContext(ctx, dbus, "--", os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(),
		consoleChildEnv+"=1", "DISPLAY="+display, "HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "LANG=C.UTF-8", "LC_ALL=")
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("console output:\n%s", out.String())
		}
	}()

	// The window is drawn when the screen shows the critical red of the
	// alert badge over a varied picture.
	shot := filepath.Join(tmp, "esmon-console.png")
	deadline := time.Now().Add(60 * time.Second)
	var lastErr error
	for {
		if time.Now().After(deadline) {
			stdin.Close()
			t.Fatalf("the console never drew: %v", lastErr)
		}
		select {
		case err := <-exited:
			t.Fatalf("console exited before drawing: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
		if b, err := exec.Command(importCmd, "-display", display, "-window", "root", shot).CombinedOutput(); err != nil {
			lastErr = fmt.Errorf("import: %v: %s", err, b)
			continue
		}
		if lastErr = checkScreenshot(shot); lastErr == nil {
			break
		}
	}
	// Let it settle and take the final picture.
	time.Sleep(time.Second)
	if b, err := exec.Command(importCmd, "-display", display, "-window", "root", shot).CombinedOutput(); err != nil {
		t.Fatalf("import: %v: %s", err, b)
	}
	if err := checkScreenshot(shot); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("ESMON_SCREENSHOT_DIR"); dir != "" {
		b, err := os.ReadFile(shot)
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "esmon-console.png"), b, 0o644)
		}
		if err != nil {
			t.Errorf("copy screenshot: %v", err)
		}
	}

	// Ending the context (here: stdin closing) quits the console cleanly.
	stdin.Close()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("console exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("console did not stop within 30s of its context ending")
	}
	if !strings.Contains(out.String(), "console stopped") {
		t.Errorf("console output lacks its clean stop")
	}
}

// startXvfb starts an X server on a free display and returns its name.
func startXvfb(t *testing.T, xvfb string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// -noreset: the X server resets when its last client leaves (our probe
	// below is one) and would then write its display number to fd 3 again,
	// which fails once the pipe is gone, and exits.
	x := exec.Command(xvfb, "-displayfd", "3", "-noreset", "-screen", "0", "1280x800x24", "-nolisten", "tcp")
	x.ExtraFiles = []*os.File{w}
	var xout bytes.Buffer
	x.Stdout, x.Stderr = &xout, &xout
	if err := x.Start(); err != nil {
		t.Fatalf("start Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() {
		_ = x.Process.Kill()
		_ = x.Wait()
		r.Close()
	})
	num := make(chan string, 1)
	go func() {
		b := make([]byte, 16)
		n, _ := r.Read(b)
		num <- strings.TrimSpace(string(b[:n]))
	}()
	select {
	case d := <-num:
		if d == "" {
			t.Fatalf("Xvfb gave no display: %s", xout.String())
		}
		// Xvfb may name the display a moment before it takes connections.
		sock := "/tmp/.X11-unix/X" + d
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			if conn, err := net.Dial("unix", sock); err == nil {
				conn.Close()
				break
			} else if time.Since(start) > 10*time.Second {
				t.Fatalf("Xvfb display :%s takes no connections: %v\n%s", d, err, xout.String())
			}
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("Xvfb output:\n%s", xout.String())
			}
		})
		return ":" + d
	case <-time.After(20 * time.Second):
		t.Fatalf("Xvfb did not start: %s", xout.String())
	}
	return ""
}

// checkScreenshot accepts a PNG that is not one flat colour and shows the
// critical colour of the alert badge.
func checkScreenshot(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	colours := map[[3]uint8]bool{}
	critical := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := rgb(img, x, y)
			colours[c] = true
			if near(c, ui.ColorCritical.R, ui.ColorCritical.G, ui.ColorCritical.B) {
				critical++
			}
		}
	}
	switch {
	case len(colours) < 16:
		return fmt.Errorf("screenshot has %d colours; the window did not draw", len(colours))
	case critical < 100:
		return fmt.Errorf("screenshot has %d pixels of the critical colour; the alert is not shown", critical)
	}
	return nil
}

func rgb(img image.Image, x, y int) [3]uint8 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

func near(c [3]uint8, r, g, b uint8) bool {
	d := func(a, b uint8) int {
		if a > b {
			return int(a - b)
		}
		return int(b - a)
	}
	return d(c[0], r) <= 6 && d(c[1], g) <= 6 && d(c[2], b) <= 6
}
