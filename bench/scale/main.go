// Command scale runs the scale scenario of issue 10 on this machine and
// records what the core did: for each step of N simulated agents (and D
// live dashboards) it starts a fresh core on loopback with its own data
// directory, creates the rules through the REST API, enrols N agents with
// `esmon-agent simulate` and D /ws/live subscribers with liveload, lets
// them settle, and measures for a fixed window: ingest rate against the
// rate the agents produce, batch acknowledgement and live update latency,
// the core's memory, CPU and open files, and memory per connection. At the
// top step it then kills the core (SIGKILL) under load, starts it again on
// the same port and data, and measures how long until every agent is back
// and whether any sample was lost. Results go to OUT/scale.csv and
// OUT/scale.json; bench/plot turns the CSV into PNGs.
//
//	go run ./bench/scale --out /tmp/scale --steps 100,500,1000,2000,5000,10000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	binDir        string
	build         bool
	out           string
	steps         []int
	dashboards    []int // per step; nil: N/10, at least 1
	rules         int
	interval      time.Duration
	settle        time.Duration
	window        time.Duration
	restart       bool
	verify        int // agents whose stored points are checked
	series        int // series per agent (simulate --series)
	keepData      bool
	connect       time.Duration // 0: 90 s + 20 ms per agent
	pprof         string        // the core's --pprof address, "" for none
	simProfile    bool          // the simulator writes its CPU profile into the step's directory
	simMemProfile bool          // the simulator writes its heap profile at the window's end into the step's directory
	liveProfile   bool          // liveload writes its CPU profile of the window into the step's directory
}

// coreArgs are the flags every core of the run gets beyond its data
// directory and address.
func (c *config) coreArgs() []string {
	if c.pprof == "" {
		return nil
	}
	return []string{"--pprof", c.pprof}
}

// simDuration is how long a step's simulator runs unless stopped: past
// the longest the step can take with n agents (connecting, settling, the
// pages loading, the window, a restart and its checks), at least two
// hours. The step stops it when done; a fixed two hours ended the agents
// seven minutes before the end of a window of 125 minutes.
func (c *config) simDuration(n int) time.Duration {
	return max(2*time.Hour, c.connectLimit(n)+c.settle+c.window+restartLimit)
}

// restartLimit bounds what a step does beside connecting, settling and
// its window: the pages loading, a restart (the agents have 180 s to come
// back) and the checks after it.
const restartLimit = 30 * time.Minute

// connectLimit is how long a step waits for n agents to connect (it stops
// earlier when the count stalls for a minute).
func (c *config) connectLimit(n int) time.Duration {
	if c.connect > 0 {
		return c.connect
	}
	return 90*time.Second + time.Duration(n)*20*time.Millisecond
}

func parseArgs(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	var steps, dash string
	fs.StringVar(&c.binDir, "bin", "bin", "`directory` with esmon-serve, esmon-agent and liveload")
	fs.BoolVar(&c.build, "build", false, "build the three binaries into --bin first (as make build-headless does, and test/liveload)")
	fs.StringVar(&c.out, "out", "", "output `directory` for scale.csv, scale.json and the processes' logs (required)")
	fs.StringVar(&steps, "steps", "100,500,1000,2000,5000,10000", "comma-separated `agent counts`, one step each")
	fs.StringVar(&dash, "dashboards", "", "comma-separated live dashboard `counts`, one per step (default: agents/10, at least 1)")
	fs.IntVar(&c.rules, "rules", 2000, "alert `rules` to create through the API")
	fs.DurationVar(&c.interval, "interval", 5*time.Second, "agents' collection `interval`")
	fs.DurationVar(&c.settle, "settle", 30*time.Second, "wait this `long` after every agent is connected before measuring")
	fs.DurationVar(&c.window, "window", 60*time.Second, "measurement `window` of each step")
	fs.BoolVar(&c.restart, "restart", true, "at the top step, kill the core under load and measure the recovery")
	fs.IntVar(&c.verify, "verify", 40, "check the stored points of this many `agents` against what they sent (each step, and across the restart)")
	fs.IntVar(&c.series, "series", 60, "`series` per agent: samples in each snapshot on average (simulate --series pads each machine's own, about 56, up to it; 0 keeps them)")
	fs.BoolVar(&c.keepData, "keep-data", false, "keep each step's core data directory (a step whose restart fails keeps its anyway)")
	fs.DurationVar(&c.connect, "connect-timeout", 0, "how `long` to wait for a step's agents to connect (default 90 s + 20 ms per agent; a step also stops waiting when the count stalls for a minute, and is then measured with the agents it has)")
	fs.StringVar(&c.pprof, "pprof", "", "serve the core's Go profiles on this loopback `address` (esmon serve --pprof), to profile a step while it runs")
	fs.BoolVar(&c.simProfile, "sim-cpuprofile", false, "have the simulator write its CPU profile of the whole run to simulate.cpu in the step's directory")
	fs.BoolVar(&c.simMemProfile, "sim-memprofile", false, "have the simulator write its heap profile at the end of the window to simulate.heap in the step's directory")
	fs.BoolVar(&c.liveProfile, "liveload-cpuprofile", false, "have liveload write its CPU profile of the measured window to liveload.cpu in the step's directory")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.out == "" {
		return nil, errors.New("--out is required")
	}
	var err error
	if c.steps, err = intList(steps); err != nil || len(c.steps) == 0 {
		return nil, fmt.Errorf("--steps %q: want numbers like 100,500", steps)
	}
	if dash != "" {
		if c.dashboards, err = intList(dash); err != nil || len(c.dashboards) != len(c.steps) {
			return nil, fmt.Errorf("--dashboards %q: want one number per step", dash)
		}
	}
	for _, n := range c.steps {
		if n < 1 || n > 10_000 {
			return nil, fmt.Errorf("--steps: %d agents: each step must be 1 to 10000 (one join code's uses)", n)
		}
	}
	if c.interval <= 0 || c.window <= 0 || c.settle < 0 || c.rules < 0 {
		return nil, errors.New("--interval and --window must be positive, --settle and --rules not negative")
	}
	return c, nil
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (c *config) dashboardsAt(i int) int {
	if c.dashboards != nil {
		return c.dashboards[i]
	}
	return max(1, c.steps[i]/10)
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parseArgs(args, stdout)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return err
	}
	if cfg.build {
		if err := buildBinaries(ctx, cfg.binDir, stdout); err != nil {
			return err
		}
	}
	bins := map[string]string{}
	for _, b := range []string{"esmon-serve", "esmon-agent", "liveload"} {
		p, err := filepath.Abs(filepath.Join(cfg.binDir, b))
		if err != nil {
			return err
		}
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s: %w (make build-headless builds the first two, go build -o bin/liveload ./test/liveload the third; or pass --build)", p, err)
		}
		bins[b] = p
	}
	caps := probeTools(bins)
	host, _ := os.Hostname()
	report := &report{
		Started: time.Now().UTC(), Machine: machine(host), Command: "go run ./bench/scale " + strings.Join(args, " "),
		Rules: cfg.rules, IntervalS: cfg.interval.Seconds(), WindowS: cfg.window.Seconds(), SettleS: cfg.settle.Seconds(),
		Series: cfg.series, Tools: fmt.Sprintf("%+v", caps),
	}
	fmt.Fprintf(stdout, "scale: steps %v, %d rules, interval %s, settle %s, window %s; tools %+v; load average %.2f\n",
		cfg.steps, cfg.rules, cfg.interval, cfg.settle, cfg.window, caps, loadAvg())
	var runErr error
	for i, n := range cfg.steps {
		top := i == len(cfg.steps)-1
		st, rs, err := runStep(ctx, cfg, bins, n, cfg.dashboardsAt(i), top && cfg.restart, caps, stdout)
		if st != nil {
			st.KBPerAgentMarginal = num(math.NaN())
			if k := len(report.Steps); k > 0 && st.Agents > report.Steps[k-1].Agents {
				prev := report.Steps[k-1]
				st.KBPerAgentMarginal = num(round(float64(st.AgentsRSSMB-prev.AgentsRSSMB)*1024/float64(st.Agents-prev.Agents), 1))
			}
			report.Steps = append(report.Steps, *st)
		}
		if rs != nil {
			report.Restart = rs
		}
		// Results so far are written after every step, so a later step
		// that fails or is interrupted loses nothing.
		report.Finished = time.Now().UTC()
		if werr := report.write(cfg.out); werr != nil {
			return werr
		}
		if err != nil {
			runErr = fmt.Errorf("step %d agents: %w", n, err)
			break
		}
		if st != nil && st.Error != "" {
			fmt.Fprintf(stdout, "scale: step %d agents: %s\n", n, st.Error)
		}
	}
	fmt.Fprintf(stdout, "scale: results in %s\n", cfg.out)
	return runErr
}

// buildBinaries builds what make build-headless builds (static, headless
// core) and liveload into dir.
func buildBinaries(ctx context.Context, dir string, stdout io.Writer) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for _, b := range [][]string{
		{"-tags", "headless", "-ldflags", "-s -w", "-o", filepath.Join(abs, "esmon-serve"), "./app"},
		{"-ldflags", "-s -w", "-o", filepath.Join(abs, "esmon-agent"), "./agentsvc"},
		{"-o", filepath.Join(abs, "liveload"), "./test/liveload"},
	} {
		cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, b...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = stdout, stdout
		fmt.Fprintf(stdout, "scale: go build %s\n", strings.Join(b, " "))
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", b[len(b)-1], err)
		}
	}
	return nil
}

// repoRoot is the module root (where go.mod is), found from the working
// directory up.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the esmon module")
	}
	return filepath.Dir(mod), nil
}

func machine(host string) string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	model := ""
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			model = strings.TrimSpace(v)
			break
		}
	}
	return fmt.Sprintf("%s: %d CPUs (%s), %s", host, runtime.NumCPU(), model, runtime.Version())
}

// sleepCtx sleeps d unless ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func mb(b float64) float64 { return b / (1 << 20) }

func round(v float64, places int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
