package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/internal/testenv"
)

// wine is a Wine prefix with the Windows agent in C:\esmon.
type wine struct {
	t      *testing.T
	wine   string
	prefix string
	dir    string // C:\esmon on the Linux side
}

// newWine builds the Windows agent (no cgo) and the bcryptprimitives.dll
// stand-in that Wine 8 lacks (MACHINE.md), and makes a Wine prefix with
// both.
func newWine(t *testing.T) *wine {
	t.Helper()
	w := &wine{t: t, wine: testenv.LookPath(t, "wine"), prefix: t.TempDir()}
	wineboot := testenv.LookPath(t, "wineboot")
	gcc := testenv.LookPath(t, "x86_64-w64-mingw32-gcc")

	w.dir = filepath.Join(w.prefix, "drive_c", "esmon")
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(w.dir, "esmon-agent.exe"), "esmon/agentsvc")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the Windows agent: %v\n%s", err, out)
	}
	dll := filepath.Join(t.TempDir(), "bcryptprimitives.dll")
	if out, err := exec.Command(gcc, "-shared", "-O2", "-o", dll, "../../packaging/wine/bcryptprimitives.c", "-ladvapi32").CombinedOutput(); err != nil {
		t.Fatalf("build bcryptprimitives.dll: %v\n%s", err, out)
	}

	ctx, cancel := withTimeout(3 * time.Minute)
	defer cancel()
	boot := exec.CommandContext(ctx, wineboot, "-i")
	boot.Env = w.env()
	if out, err := w.output(boot); err != nil {
		t.Fatalf("wineboot: %v\n%s", err, out)
	}
	// Wait for the boot session to end: a service manager left from it
	// and another one started later would each keep their own list of
	// services, and a service made through one is missing in the other.
	wait := exec.CommandContext(ctx, w.wine+"server", "-w")
	wait.Env = w.env()
	if out, err := w.output(wait); err != nil {
		t.Fatalf("wineserver -w: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		// End this prefix's wineserver and everything it runs.
		k := exec.Command(w.wine+"server", "-k")
		k.Env = w.env()
		k.Run()
	})
	b, err := os.ReadFile(dll)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// output runs cmd with its output in a file rather than a pipe: the
// wineserver that a Wine command may start outlives it and would hold a
// pipe open, so that waiting for the output never ends.
func (w *wine) output(cmd *exec.Cmd) ([]byte, error) {
	f, err := os.CreateTemp(w.t.TempDir(), "out")
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	return out, err
}

func (w *wine) env() []string {
	return append(os.Environ(), "WINEPREFIX="+w.prefix, "WINEDEBUG=-all")
}

// agent runs C:\esmon\esmon-agent.exe with args and returns its standard
// output, its standard error and its exit code.
func (w *wine) agent(args ...string) (stdout, stderr string, code int) {
	w.t.Helper()
	ctx, cancel := withTimeout(2 * time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.wine, append([]string{`C:\esmon\esmon-agent.exe`}, args...)...)
	cmd.Env = w.env()
	dir := w.t.TempDir()
	o, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		w.t.Fatal(err)
	}
	defer o.Close()
	e, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		w.t.Fatal(err)
	}
	defer e.Close()
	// Files, not pipes: see output.
	cmd.Stdout, cmd.Stderr = o, e
	err = cmd.Run()
	ob, _ := os.ReadFile(o.Name())
	eb, _ := os.ReadFile(e.Name())
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
		if code == -1 {
			// Ended by a signal (once in a clean-clone run: "once: exit
			// -1" after 1.6 s, the agent's log cut short); say which.
			eb = append(eb, "\n(the wine process: "+ee.String()+")"...)
		}
	case err != nil:
		w.t.Fatalf("wine esmon-agent.exe %v: %v\n%s", args, err, eb)
	}
	return string(ob), string(eb), code
}

// keepSession keeps one Windows program running until the test ends: Wine
// ends its service manager, and the services it runs, when the last
// ordinary program of the prefix exits. It returns the file that collects
// the session's output, which the service manager and so the services
// inherit: with Wine's eventlog debug channel on for warnings and errors,
// it shows what the services report to the event log. Wine 8 keeps no
// event log (RegisterEventSourceW is a stub, and ReportEventW only writes
// its strings to that channel), so this is what can be checked of it here.
func (w *wine) keepSession() (sessionLog string) {
	w.t.Helper()
	// The service manager takes its environment (and so the debug
	// channels) from the program that starts it: wait until the one of
	// an earlier command (`once`) has gone with its wineserver, so that
	// this session starts a fresh one.
	ctx, cancel := withTimeout(time.Minute)
	defer cancel()
	wait := exec.CommandContext(ctx, w.wine+"server", "-w")
	wait.Env = w.env()
	if out, err := w.output(wait); err != nil {
		w.t.Fatalf("wineserver -w: %v\n%s", err, out)
	}
	cmd := exec.Command(w.wine, "cmd")
	cmd.Env = append(w.env(), "WINEDEBUG=-all,warn+eventlog,err+eventlog")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	// Output to a file, not a pipe: see output.
	out, err := os.Create(filepath.Join(w.t.TempDir(), "session.log"))
	if err != nil {
		w.t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	// Let the session come up (its service manager among it) before the
	// test talks to it.
	time.Sleep(3 * time.Second)
	w.t.Cleanup(func() {
		stdin.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return out.Name()
}

// noPerCoreCPU is what the agent logs, once, where the system gives no
// per-core CPU times.
const noPerCoreCPU = "this system gives no per-core CPU times"

// TestWindowsAgentUnderWine runs the Windows build of the agent under Wine:
// `once` prints real numbers, and the service entry point works under
// Wine's service manager: installed, started, connected to a core on
// loopback, stopped, uninstalled.
func TestWindowsAgentUnderWine(t *testing.T) {
	w := newWine(t)

	t.Run("once", func(t *testing.T) {
		out, errOut, code := w.agent("once")
		var got struct {
			Host    struct{ OS, Hostname string }
			Metrics []struct {
				Metric string
				Labels map[string]string
				Value  float64
			}
		}
		err := json.Unmarshal([]byte(out), &got)
		switch {
		case code == -1 && err == nil:
			// Twice in clean-clone runs on a loaded machine the Wine
			// process ended by SIGKILL ~2 s in, its log complete up to
			// the output (the wineserver, which kills the Unix process
			// of a Windows process that ends, is the likely sender; not
			// reproduced). The agent did its work if its whole output is
			// there; anything short of that fails below.
			t.Logf("once: the wine process was killed by a signal after printing its whole output:\n%s", errOut)
		case code != 0:
			t.Fatalf("once: exit %d (%d bytes of output, %v)\n%s", code, len(out), err, errOut)
		case err != nil:
			t.Fatalf("once printed no JSON: %v\n%s", err, out)
		}
		if got.Host.OS != "windows" || got.Host.Hostname == "" {
			t.Errorf("host %+v", got.Host)
		}
		seen := map[string]float64{}
		for _, m := range got.Metrics {
			if _, ok := seen[m.Metric]; !ok {
				seen[m.Metric] = m.Value
			}
		}
		for _, m := range []string{"memory_total_bytes", "memory_used_bytes", "disk_total_bytes", "uptime_seconds", "process_count", "process_resident_memory_bytes", "network_received_bytes_total"} {
			if v, ok := seen[m]; !ok || v <= 0 {
				t.Errorf("%s = %v (present %v), want a real number above 0", m, v, ok)
			}
		}
		// Wine 8 gives the total CPU times (its GetSystemTimes follows
		// Linux's /proc/stat) but no per-core times: the total is sent,
		// no per-core figure is made up, and stderr says why, once.
		if v, ok := seen["cpu_usage_percent"]; !ok || v < 0 || v > 100 {
			t.Errorf("cpu_usage_percent = %v (present %v), want a percentage", v, ok)
		}
		if v, ok := seen["cpu_core_usage_percent"]; ok {
			t.Errorf("cpu_core_usage_percent = %v, but Wine gives no per-core CPU times", v)
		}
		if n := strings.Count(errOut, noPerCoreCPU); n != 1 {
			t.Errorf("once's stderr says %d times that there are no per-core CPU times, want once:\n%s", n, errOut)
		}
		t.Logf("once under Wine: %d samples; cpu_usage_percent %v, memory_total_bytes %v, process_count %v",
			len(got.Metrics), seen["cpu_usage_percent"], seen["memory_total_bytes"], seen["process_count"])
	})

	t.Run("service", func(t *testing.T) {
		c := startCore(t, "offline_after: 5s\n")
		cfg := fmt.Sprintf("join_code: %s\ninterval: 1s\nstate_dir: 'C:\\esmon\\state'\nlog_file: 'C:\\esmon\\agent.log'\nprocess_interval: 0\n", c.joinCode(t, 1, 10*time.Minute).Code)
		if err := os.WriteFile(filepath.Join(w.dir, "agent.yaml"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		sessionLog := w.keepSession()
		step := func(wantCode int, wantOut string, args ...string) {
			t.Helper()
			out, errOut, code := w.agent(args...)
			t.Logf("esmon-agent %v: exit %d: %s%s", args, code, out, errOut)
			if code != wantCode || !strings.Contains(out, wantOut) {
				t.Fatalf("esmon-agent %v: exit %d, output %q; want exit %d and %q\n%s", args, code, out, wantCode, wantOut, errOut)
			}
		}
		step(4, "not installed", "status")
		step(0, "install done", "install", "--config", `C:\esmon\agent.yaml`)
		t.Cleanup(func() { w.agent("uninstall") })
		step(3, "stopped", "status")
		step(0, "start done", "start")
		step(0, "running", "status")

		var h apiv1.Host
		waitFor(t, 60*time.Second, "the Windows service's host online on the core", func() bool {
			var hs []apiv1.Host
			c.do(t, "GET", "/api/v1/hosts", nil, &hs)
			for _, x := range hs {
				if x.Online && x.Facts.OS == "windows" && x.Gauges.Memory > 0 {
					h = x
					return true
				}
			}
			return false
		})
		t.Logf("service connected: host %s, %s", h.ID, h.Facts.Platform)

		step(0, "stop done", "stop")
		step(3, "stopped", "status")
		waitFor(t, 40*time.Second, "the host offline after the stop", func() bool {
			var got apiv1.Host
			c.do(t, "GET", "/api/v1/hosts/"+h.ID, nil, &got)
			return !got.Online
		})
		log, _ := os.ReadFile(filepath.Join(w.dir, "agent.log"))
		if !strings.Contains(string(log), "connected to core") || !strings.Contains(string(log), "esmon-agent stopping") {
			t.Errorf("the service's log file lacks the connection or the orderly stop:\n%s", log)
		}
		// Wine gives no per-core CPU times: the service says so once in
		// its log, however many snapshots it took, and sends none.
		if n := strings.Count(string(log), noPerCoreCPU); n != 1 {
			t.Errorf("the service's log file says %d times that there are no per-core CPU times, want once:\n%s", n, log)
		}
		// Warnings and errors go to the event log as well, info lines do
		// not. Under Wine a warning always comes at start: Wine has no
		// SMBIOS processor table, so a host fact is missing.
		events, _ := os.ReadFile(sessionLog)
		for _, c := range []struct {
			line string
			want bool
		}{
			{`warn:eventlog:ReportEventW L"some host facts are missing`, true},
			{`eventlog:ReportEventW L"connected to core`, false},
			{`eventlog:ReportEventW L"esmon-agent stopping`, false},
		} {
			if strings.Contains(string(events), c.line) != c.want {
				t.Errorf("event log (Wine's eventlog channel): %q present %v, want %v:\n%s", c.line, !c.want, c.want, events)
			}
		}
		step(0, "uninstall done", "uninstall")
		step(4, "not installed", "status")
	})
}
