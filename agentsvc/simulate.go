package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"esmon/agentsvc/link"
	"esmon/core/wire"
	"esmon/internal/fdlimit"
)

// simulateUsage is the help of `esmon-agent simulate`.
const simulateUsage = `esmon-agent simulate --agents N --join-code CODE [flags]

Each virtual agent enrols with the join code (make one with at least N uses),
checks the core by the code's certificate pin, and then connects with its own
credential, as real agents do. --enrolments FILE keeps the credentials, so a
second run reuses them instead of enrolling again.

Runs N virtual agents in this process, for demos and load tests. Each has its
own identity (agent id sim-<seed>-<n>, host name sim-<n>) and its own machine:
cores, memory, disks and network interfaces, with CPU, memory, disk and
network figures that wander the way real servers' do, a few busy hours, and
processes (about 60 series). --series pads each machine with synthetic gauges
so that its snapshots carry that many samples on average (the process series
come every 30 s), for throughput tests: 10,000 agents at --series 60 and
--interval 5s send 120,000 samples/s. They go through the real
collectors and the real link, each with a memory queue that keeps what the
core has not acknowledged, so a core restart loses nothing.

Every --report-every it prints a line: connected agents, queued and dropped
snapshots, acknowledged samples per second and the batch acknowledgement
latency (from the write of a batch to its ack) p50/p99/max. SIGUSR1 and
SIGUSR2 mark a measurement window, whose acknowledgement latency the JSON
report gives apart (ack_window_*). --json FILE
writes the final figures as JSON. --verify N checks at the end, through the
core's API (--api-token-file, e.g. the core's admin.token), that N of the
agents' stored points match the snapshots the core acknowledged.`

// simOptions are the flags of `esmon-agent simulate`.
type simOptions struct {
	agents       int
	core         string
	interval     time.Duration
	series       int
	seed         uint64
	duration     time.Duration
	warmup       time.Duration
	reportEvery  time.Duration
	jsonFile     string
	verify       int
	apiTokenFile string
	drain        time.Duration
	enrolments   string
	queue        int
}

// simulate runs `esmon-agent simulate`.
func simulate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("simulate", stderr, simulateUsage)
	var o simOptions
	fs.IntVar(&o.agents, "agents", 10, "number of virtual `agents`")
	fs.StringVar(&o.core, "core", os.Getenv("ESMON_CORE"), "core `URL` (also ESMON_CORE)")
	joinCode := fs.String("join-code", os.Getenv("ESMON_JOIN_CODE"), "join `code` with at least N uses: each virtual agent enrols with it (also ESMON_JOIN_CODE)")
	token := fs.String("token", "", "agent `token` (prefer --token-file or ESMON_TOKEN)")
	tokenFile := fs.String("token-file", os.Getenv("ESMON_TOKEN_FILE"), "read the agent token from `FILE` (also ESMON_TOKEN_FILE)")
	fs.DurationVar(&o.interval, "interval", 5*time.Second, "collection `interval` of every agent")
	fs.IntVar(&o.series, "series", 0, "samples per snapshot, on average: pad each machine (about 60 series) with synthetic gauges up to `N`; 0 keeps the machine's own")
	fs.Uint64Var(&o.seed, "seed", 1, "random `seed`: the same seed gives the same agents")
	fs.DurationVar(&o.duration, "duration", 0, "stop collecting after this `long` (0: until interrupted)")
	fs.DurationVar(&o.warmup, "warmup", 0, "leave acknowledgements of the first `D` out of the JSON latency figures")
	fs.DurationVar(&o.reportEvery, "report-every", time.Minute, "print a line of figures this `often`")
	fs.StringVar(&o.jsonFile, "json", "", "write the final figures as JSON to `FILE` (- for stdout)")
	fs.IntVar(&o.verify, "verify", 0, "at the end, check the stored points of `N` agents through the core's API")
	fs.StringVar(&o.apiTokenFile, "api-token-file", os.Getenv("ESMON_API_TOKEN_FILE"), "API token `FILE` for --verify, such as the core's admin.token (also ESMON_API_TOKEN_FILE)")
	fs.DurationVar(&o.drain, "drain", 2*time.Minute, "with --verify or --json, wait up to this `long` after collecting stops for the core to acknowledge every queued snapshot")
	fs.StringVar(&o.enrolments, "enrolments", "", "keep the virtual agents' credentials in `FILE` and reuse them on the next run")
	fs.IntVar(&o.queue, "queue", 10_000, "most unacknowledged `snapshots` each agent keeps; past it the oldest are dropped and counted")
	logLevel := fs.String("log-level", "warn", "log `level` of the virtual agents' links")
	cpuProfile := fs.String("cpuprofile", "", "write the simulator's own CPU profile to `FILE` (go tool pprof), from the start to the end of the run")
	memProfile := fs.String("memprofile", "", "write the simulator's own heap profile to `FILE` (go tool pprof) at the end of a measurement window (SIGUSR2)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if o.agents < 1 || o.agents > 100_000 {
		fmt.Fprintln(stderr, "esmon-agent simulate: --agents must be between 1 and 100000")
		return exitUsage
	}
	if o.interval < minInterval {
		fmt.Fprintf(stderr, "esmon-agent simulate: --interval must be at least %s\n", minInterval)
		return exitUsage
	}
	if o.series < 0 || o.series > wire.MaxSeriesPerBatch {
		fmt.Fprintf(stderr, "esmon-agent simulate: --series must be between 0 and %d\n", wire.MaxSeriesPerBatch)
		return exitUsage
	}
	if o.reportEvery <= 0 || o.queue < 1 {
		fmt.Fprintln(stderr, "esmon-agent simulate: --report-every and --queue must be positive")
		return exitUsage
	}
	if o.verify < 0 || o.verify > 0 && o.apiTokenFile == "" {
		fmt.Fprintln(stderr, "esmon-agent simulate: --verify needs --api-token-file (the core writes admin.token in its data directory)")
		return exitUsage
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "esmon-agent simulate: log level %q: want debug, info, warn or error\n", *logLevel)
		return exitUsage
	}
	tok := *token
	if tok == "" {
		tok = os.Getenv("ESMON_TOKEN")
	}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "esmon-agent simulate: read token file: %v\n", err)
			return exitUsage
		}
		tok = string(trimSpace(b))
	}
	var apiToken string
	if o.verify > 0 {
		b, err := os.ReadFile(o.apiTokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "esmon-agent simulate: read API token file: %v\n", err)
			return exitUsage
		}
		apiToken = string(trimSpace(b))
	}
	var code wire.JoinCode
	if *joinCode != "" {
		var err error
		if code, err = wire.ParseJoinCode(*joinCode); err != nil {
			fmt.Fprintf(stderr, "esmon-agent simulate: %v\n", err)
			return exitUsage
		}
		o.core = firstOf(o.core, code.URL)
	}
	if _, err := link.CoreURL(o.core); err != nil {
		fmt.Fprintf(stderr, "esmon-agent simulate: %v\n", err)
		return exitUsage
	}
	tlsCfg, err := link.TLSConfig(code.Pin, "")
	if err != nil {
		fmt.Fprintf(stderr, "esmon-agent simulate: %v\n", err)
		return exitUsage
	}
	log := newLogger(stderr, lv)
	if limit, err := fdlimit.Raise(); err != nil || limit < uint64(o.agents)+64 {
		log.Warn("the open-file limit may be too low for this many agents", "limit", limit, "agents", o.agents, "err", err)
	}

	// The simulator stands in for thousands of machines in one process,
	// beside the core it loads: at 10,000 agents its live heap is some
	// 650 MB, and at GOGC=100 each collection (every ~40 s) took ~3 s of
	// CPU in 2.5 s, most of it in assists: a burst the core's machine
	// felt as a stall. Memory is what a load tool can spare, so it
	// lets its heap grow to five times its live heap (GOGC=400) unless
	// GOGC says otherwise.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(simGCPercent)
	}
	// Two stops: collecting ends at --duration or the first signal; the
	// links run on while the queues drain and the check runs, until a
	// second signal.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	collectCtx, stopCollect := context.WithCancel(context.Background())
	defer stopCollect()
	linkCtx, stopLinks := context.WithCancel(context.Background())
	defer stopLinks()
	go func() {
		select {
		case <-sig:
		case <-linkCtx.Done():
			return
		}
		stopCollect()
		select {
		case <-sig:
			stopLinks()
		case <-linkCtx.Done():
		}
	}()

	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(pf)
		}
		if err != nil {
			fmt.Fprintf(stderr, "esmon-agent simulate: --cpuprofile: %v\n", err)
			return exitUsage
		}
		defer pf.Close()
		defer pprof.StopCPUProfile()
	}
	ids, err := simIdentities(collectCtx, o, code, tok, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "esmon-agent simulate: %v\n", err)
		return exitFailed
	}
	f, err := newFleet(o, ids, tlsCfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "esmon-agent simulate: %v\n", err)
		return exitFailed
	}
	if *memProfile != "" {
		f.windowEnded = func() {
			if err := writeHeapProfile(*memProfile); err != nil {
				fmt.Fprintf(stderr, "esmon-agent simulate: --memprofile: %v\n", err)
			}
		}
	}
	defer markWindowsOnSignals(f)()
	fmt.Fprintf(stdout, "simulating %d agents (%d series each) every %s against %s\n", o.agents, f.seriesPerAgent(), o.interval, o.core)
	if o.duration > 0 {
		t := time.AfterFunc(o.duration, stopCollect)
		defer t.Stop()
	}
	rep := f.run(collectCtx, linkCtx, stopLinks, stdout, func(ctx context.Context) *verifyResult {
		if o.verify == 0 {
			return nil
		}
		return f.verify(ctx, o.core, apiToken, tlsCfg, o.verify)
	})
	if o.jsonFile != "" {
		if err := rep.write(o.jsonFile, stdout); err != nil {
			fmt.Fprintf(stderr, "esmon-agent simulate: %v\n", err)
			return exitFailed
		}
	}
	if rep.Verify != nil && !rep.Verify.OK {
		fmt.Fprintf(stderr, "esmon-agent simulate: verify failed: %s\n", rep.Verify.Problem)
		return exitFailed
	}
	return exitOK
}

// simGCPercent is the simulator's GOGC (see simulate).
const simGCPercent = 400

// writeHeapProfile writes the heap as the last collection left it.
func writeHeapProfile(path string) error {
	pf, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(pf); err != nil {
		pf.Close()
		return err
	}
	return pf.Close()
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
