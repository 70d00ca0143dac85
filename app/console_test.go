//go:build !headless

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"

	"esmon/core/apiv1"
	"esmon/internal/testenv"
	"esmon/ui"
)

// consoleChildEnv turns this test binary into the real console: the parent
// test runs it under Xvfb and a D-Bus session. It acts in init, because Fyne
// must run on the main goroutine and init is the last code that does before
// the test framework takes over.
const consoleChildEnv = "ESMON_TEST_CONSOLE_CHILD"

// consoleHostsEnv, when set in a console child, feeds it that many hosts
// that each report every 5 s (the load of BenchmarkConsoleHosts).
const consoleHostsEnv = "ESMON_TEST_CONSOLE_HOSTS"

// consoleEveryEnv is how often each of those hosts reports ("5s"); "0s"
// or unset: never, after the snapshot.
const consoleEveryEnv = "ESMON_TEST_CONSOLE_EVERY"

// consoleOpenEnv, when set in a console child, is the link of the alert
// it opens at start, as `esmon --open LINK` does.
const consoleOpenEnv = "ESMON_TEST_CONSOLE_OPEN"

// runChildEnv turns this test binary into esmon itself: its arguments go
// to run, as main gives them.
const runChildEnv = "ESMON_TEST_RUN"

func init() {
	if os.Getenv(consoleChildEnv) == "1" {
		os.Exit(runConsoleChild())
	}
	if os.Getenv(runChildEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
}

// runConsoleChild runs newConsole's console against a fake core with one
// host and one critical alert, until its stdin closes. A line "state" on
// its stdin makes it print the alert its window shows.
func runConsoleChild() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if path := os.Getenv("ESMON_TEST_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			logger.Error("cpu profile", "err", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	var cfg config
	if link := os.Getenv(consoleOpenEnv); link != "" {
		var err error
		if cfg.openAlert, _, err = openArgs([]string{"--open", link}, link, false); err != nil {
			logger.Error("open", "err", err)
			return 2
		}
	}
	cu, err := newConsole(logger, cfg, "", nil)
	if errors.Is(err, errAlreadyRunning) {
		fmt.Fprintln(os.Stderr, "second launch: already running")
		return 0
	}
	if err != nil {
		logger.Error("new console", "err", err)
		return 1
	}
	con := cu.(*console)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for sc := bufio.NewScanner(os.Stdin); sc.Scan(); {
			if sc.Text() == "state" {
				var shown string
				fyne.DoAndWait(func() { shown = con.ShownAlert() })
				fmt.Fprintf(os.Stderr, "state: shown alert %q\n", shown)
			}
		}
		cancel()
	}()
	c := demoClient{now: time.Now()}
	var client ui.Client = c
	if n, _ := strconv.Atoi(os.Getenv(consoleHostsEnv)); n > 0 {
		every, _ := time.ParseDuration(os.Getenv(consoleEveryEnv))
		client = &loadClient{demoClient: c, hosts: n, every: every}
	}
	cu.Notify(apiv1.Transition{Alert: c.alert(), From: apiv1.StatePending, To: apiv1.StateFiring, Value: 96.4})
	con.SetOptions(ui.Options{OpenAlert: cfg.openAlert})
	defer con.inst.Close()
	con.serveLaunches()
	fmt.Fprintf(os.Stderr, "console pid %d\n", os.Getpid())
	if err := con.Console.Run(ctx, client); err != nil {
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

func (d demoClient) WebURL() string { return "https://127.0.0.1:8443/" }
func (d demoClient) Subscribe() (<-chan apiv1.Event, func()) {
	ch := make(chan apiv1.Event, 1)
	ch <- apiv1.Event{Type: apiv1.EventSnapshot, Hosts: []apiv1.Host{d.host()}, Alerts: []apiv1.Alert{d.alert()}}
	return ch, func() {}
}

// The demo core has no history, rules or channels, and refuses actions.
var errDemo = errors.New("the demo core takes no actions")

func (d demoClient) Query(context.Context, ui.Query) (apiv1.QueryResult, error) {
	return apiv1.QueryResult{}, nil
}
func (d demoClient) History(context.Context, int) ([]apiv1.Transition, error) { return nil, nil }
func (d demoClient) Ack(context.Context, string, string) (apiv1.Alert, error) {
	return apiv1.Alert{}, errDemo
}
func (d demoClient) AddSilence(context.Context, apiv1.Silence) (apiv1.Silence, error) {
	return apiv1.Silence{}, errDemo
}
func (d demoClient) Rules(context.Context) ([]apiv1.Rule, error) { return nil, nil }
func (d demoClient) SaveRule(context.Context, apiv1.Rule, bool) (apiv1.Rule, error) {
	return apiv1.Rule{}, errDemo
}
func (d demoClient) DeleteRule(context.Context, string) error          { return errDemo }
func (d demoClient) Channels(context.Context) ([]apiv1.Channel, error) { return nil, nil }
func (d demoClient) TestChannel(context.Context, string) error         { return errDemo }
func (d demoClient) Agents(context.Context) ([]apiv1.Agent, error)     { return nil, nil }
func (d demoClient) RevokeAgent(context.Context, string) error         { return errDemo }
func (d demoClient) JoinCodes(context.Context) ([]apiv1.JoinCode, error) {
	return nil, nil
}
func (d demoClient) CreateJoinCode(context.Context, apiv1.NewJoinCode) (apiv1.CreatedJoinCode, error) {
	return apiv1.CreatedJoinCode{}, errDemo
}
func (d demoClient) Users(context.Context) ([]apiv1.User, error) { return nil, nil }
func (d demoClient) AddUser(context.Context, apiv1.NewUser) (apiv1.User, error) {
	return apiv1.User{}, errDemo
}
func (d demoClient) UpdateUser(context.Context, string, apiv1.UserPatch) (apiv1.User, error) {
	return apiv1.User{}, errDemo
}
func (d demoClient) DeleteUser(context.Context, string) error    { return errDemo }
func (d demoClient) SetupNeeded(context.Context) (bool, error)   { return false, nil }
func (d demoClient) Setup(context.Context, string, string) error { return errDemo }

// childConsole is a console started by the test: this test binary in
// console mode, under a D-Bus session, on an Xvfb display.
type childConsole struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *testenv.Buffer
	exited chan error
}

// xDesktop is an Xvfb display and a home directory that consoles share.
type xDesktop struct {
	display, home string
	dbus, imp     string
}

func newXDesktop(t testing.TB) *xDesktop {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real window under Xvfb")
	}
	x := &xDesktop{dbus: testenv.LookPath(t, "dbus-run-session"), imp: testenv.LookPath(t, "import")}
	x.display = startXvfb(t, testenv.LookPath(t, "Xvfb"))
	x.home = filepath.Join(t.TempDir(), "home")
	if err := os.MkdirAll(x.home, 0o700); err != nil {
		t.Fatal(err)
	}
	return x
}

// start runs a console with more environment; closing its stdin ends it.
func (x *xDesktop) start(t testing.TB, env ...string) *childConsole {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, x.dbus, "--", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		consoleChildEnv+"=1", "DISPLAY="+x.display, "HOME="+x.home,
		"XDG_CONFIG_HOME="+filepath.Join(x.home, ".config"), "LANG=C.UTF-8", "LC_ALL=")
	cmd.Env = append(cmd.Env, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &childConsole{cmd: cmd, stdin: stdin, out: &testenv.Buffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		if t.Failed() {
			t.Logf("console %d output:\n%s", cmd.Process.Pid, c.out.String())
		}
	})
	return c
}

// screenshot saves the whole screen to path.
func (x *xDesktop) screenshot(path string) error {
	if b, err := exec.Command(x.imp, "-display", x.display, "-window", "root", path).CombinedOutput(); err != nil {
		return fmt.Errorf("import: %v: %s", err, b)
	}
	return nil
}

// waitDrawn waits until the screen shows the console with its alert.
func (x *xDesktop) waitDrawn(t testing.TB, c *childConsole, shot string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var lastErr error
	for {
		if time.Now().After(deadline) {
			t.Fatalf("the console never drew: %v", lastErr)
		}
		select {
		case err := <-c.exited:
			t.Fatalf("console exited before drawing: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
		if lastErr = x.screenshot(shot); lastErr != nil {
			continue
		}
		if lastErr = checkScreenshot(shot); lastErr == nil {
			return
		}
	}
}

// pid is the console's process ID (under dbus-run-session), as it
// prints it.
func (c *childConsole) pid(t testing.TB) int {
	t.Helper()
	re := regexp.MustCompile(`console pid (\d+)`)
	for start := time.Now(); time.Since(start) < 60*time.Second; time.Sleep(100 * time.Millisecond) {
		if m := re.FindStringSubmatch(c.out.String()); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	t.Fatal("the console never said its pid")
	return 0
}

// stop closes the console's stdin, which ends its context, and checks
// that it quits cleanly.
func (c *childConsole) stop(t testing.TB) {
	t.Helper()
	c.stdin.Close()
	t.Logf("stopping the console at %s", time.Now().Format(time.TimeOnly))
	select {
	case err := <-c.exited:
		if err != nil {
			t.Fatalf("console exit: %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("console did not stop within 90s of its context ending (%s)", time.Now().Format(time.TimeOnly))
	}
	if !strings.Contains(c.out.String(), "console stopped") {
		t.Errorf("console output lacks its clean stop")
	}
}

// TestConsoleRealWindow starts the real console (GLFW, OpenGL, D-Bus) under
// Xvfb, screenshots the screen once the window shows the alert, and checks
// that the console quits cleanly when its context ends. The screenshot is
// copied to $ESMON_SCREENSHOT_DIR when that is set.
func TestConsoleRealWindow(t *testing.T) {
	x := newXDesktop(t)
	c := x.start(t)
	shot := filepath.Join(t.TempDir(), "esmon-console.png")
	x.waitDrawn(t, c, shot)
	// Let it settle and take the final picture.
	time.Sleep(time.Second)
	if err := x.screenshot(shot); err != nil {
		t.Fatal(err)
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
	c.stop(t)
}

// TestSingleInstance starts the console minimised to the tray, then launches
// it a second time as a user would: the second process exits at once, and
// the first brings its window forward, which the screen then shows.
func TestSingleInstance(t *testing.T) {
	x := newXDesktop(t)
	prefs := filepath.Join(x.home, ".config", "fyne", appID, "preferences.json")
	if err := os.MkdirAll(filepath.Dir(prefs), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefs, []byte(`{"`+ui.PrefStartMinimised+`":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	first := x.start(t)
	// Minimised: once the first holds the claim, nothing is drawn.
	sock := filepath.Join(x.home, ".config", "esmon", instanceSocket)
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatal("the first console never claimed the instance")
		}
	}
	time.Sleep(3 * time.Second) // time to draw, if it wrongly would
	shot := filepath.Join(t.TempDir(), "screen.png")
	if err := x.screenshot(shot); err != nil {
		t.Fatal(err)
	}
	if err := checkScreenshot(shot); err == nil {
		t.Fatal("a console started minimised drew its window")
	}

	second := x.start(t)
	select {
	case err := <-second.exited:
		if err != nil {
			t.Fatalf("second launch: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the second launch kept running")
	}
	if !strings.Contains(second.out.String(), "second launch: already running") {
		t.Errorf("second launch did not find the first:\n%s", second.out.String())
	}
	x.waitDrawn(t, first, shot)
	if !strings.Contains(first.out.String(), "another launch of esmon asked for the window") {
		t.Error("the first console did not log the second launch")
	}
	first.stop(t)
}

// waitShown asks the console, until it answers or a minute has passed,
// which alert its window shows, and fails unless it comes to be id.
func (c *childConsole) waitShown(t testing.TB, id string) {
	t.Helper()
	want := fmt.Sprintf("state: shown alert %q", id)
	for start := time.Now(); !strings.Contains(c.out.String(), want); time.Sleep(500 * time.Millisecond) {
		if time.Since(start) > 60*time.Second {
			t.Fatalf("the console never showed alert %q", id)
		}
		if _, err := io.WriteString(c.stdin, "state\n"); err != nil {
			t.Fatalf("ask the console: %v", err)
		}
	}
}

// startMinimised makes the consoles of x start minimised to the tray.
func (x *xDesktop) startMinimised(t testing.TB) {
	t.Helper()
	prefs := filepath.Join(x.home, ".config", "fyne", appID, "preferences.json")
	if err := os.MkdirAll(filepath.Dir(prefs), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefs, []byte(`{"`+ui.PrefStartMinimised+`":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
}

// runEsmon runs this test binary as esmon with args, as a clicked
// notification starts it, and returns its exit code and output.
func (x *xDesktop) runEsmon(t testing.TB, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), runChildEnv+"=1", "DISPLAY="+x.display, "HOME="+x.home,
		"XDG_CONFIG_HOME="+filepath.Join(x.home, ".config"), "LANG=C.UTF-8", "LC_ALL=")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	case err != nil:
		t.Fatalf("run esmon %q: %v\n%s", args, err, out)
	}
	return 0, string(out)
}

// TestOpenAlertLink is a click on a Windows notification, played with two
// real processes: the console runs minimised to the tray, and a second
// `esmon --open esmon://alert/a1` (what Windows starts for the toast's
// link) hands the link over on the single-instance socket and exits; the
// first shows its window on that alert, which the screen then shows.
// Malformed links, and --open not last (a link that smuggles in more
// flags), are refused before anything is asked. A console started by such
// a link, with none running, opens on the alert although it would start
// minimised.
func TestOpenAlertLink(t *testing.T) {
	x := newXDesktop(t)
	x.startMinimised(t)
	first := x.start(t)
	sock := filepath.Join(x.home, ".config", "esmon", instanceSocket)
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatal("the first console never claimed the instance")
		}
	}
	first.waitShown(t, "") // minimised: no window, no alert

	for _, args := range [][]string{
		{"--open", `esmon://alert/a1" --connect "https://attacker.example`},
		{"--open", "esmon://alert/a1", "--connect", "https://attacker.example"},
		{"--open", "esmon://alert/a1", "--open", "esmon://alert/a1"},
		{"--open", "https://esmon.example/alert/a1"},
		{"serve", "--open", "esmon://alert/a1"},
	} {
		code, out := x.runEsmon(t, args...)
		if code != 2 || !strings.Contains(out, "esmon: --open: ") {
			t.Errorf("esmon %q: exit %d, output %q; want exit 2 and a word about --open", args, code, out)
		}
	}

	code, out := x.runEsmon(t, "--open", "esmon://alert/a1")
	if code != 0 || !strings.Contains(out, "already running") {
		t.Fatalf("esmon --open: exit %d, want 0 with the first console found:\n%s", code, out)
	}
	first.waitShown(t, "a1")
	if !strings.Contains(first.out.String(), "another launch of esmon asked to open an alert") {
		t.Error("the first console did not log the hand-over")
	}
	shot := filepath.Join(t.TempDir(), "esmon-open-alert.png")
	x.waitDrawn(t, first, shot)
	saveScreenshot(t, shot)
	first.stop(t)

	started := x.start(t, consoleOpenEnv+"=esmon://alert/a1")
	started.waitShown(t, "a1")
	started.stop(t)
}

// saveScreenshot copies a screenshot to $ESMON_SCREENSHOT_DIR when set.
func saveScreenshot(t testing.TB, shot string) {
	t.Helper()
	dir := os.Getenv("ESMON_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	b, err := os.ReadFile(shot)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, filepath.Base(shot)), b, 0o644)
	}
	if err != nil {
		t.Errorf("copy screenshot: %v", err)
	}
}

// The test screen's size, in pixels.
const screenWidth, screenHeight = 2560, 1600

// startXvfb starts an X server on a free display and returns its name.
func startXvfb(t testing.TB, xvfb string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// -noreset: the X server resets when its last client leaves (our probe
	// below is one) and would then write its display number to fd 3 again,
	// which fails once the pipe is gone, and exits.
	// The screen is twice the console's default window (1180×760, placed
	// at the top left: there is no window manager) each way, so that the
	// pointer, which X puts at the screen's centre, rests outside every
	// window. Over one, the windows' closing at quit could send it a cursor
	// event, which Fyne 2.7.1 handles on a window it has already let go of
	// (a nil dereference in processMouseMoved, fyne-io/fyne#5981): a crash
	// at exit seen once in a clean-clone run.
	x := exec.Command(xvfb, "-displayfd", "3", "-noreset", "-screen", "0", fmt.Sprintf("%dx%dx24", screenWidth, screenHeight), "-nolisten", "tcp")
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
	// The console follows the desktop's light or dark theme.
	light := ui.StatusColorIn(theme.VariantLight, apiv1.SeverityCritical)
	dark := ui.StatusColorIn(theme.VariantDark, apiv1.SeverityCritical)
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := rgb(img, x, y)
			colours[c] = true
			if near(c, light.R, light.G, light.B) || near(c, dark.R, dark.G, dark.B) {
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
