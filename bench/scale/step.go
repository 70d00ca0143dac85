package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runStep runs one step of n agents and d dashboards on a fresh core; with
// restart it then kills and restarts the core under the agents' load.
func runStep(ctx context.Context, cfg *config, bins map[string]string, n, d int, restart bool, caps toolCaps, out io.Writer) (*stepResult, *restartResult, error) {
	nan := num(math.NaN())
	st := &stepResult{Agents: n, Dashboards: d, WindowS: num(cfg.window.Seconds())}
	// Every figure starts unknown.
	for _, p := range []*num{&st.Load1, &st.ConnectS, &st.IngestPerS, &st.ExpectedPerS, &st.IngestRatio, &st.BatchesPerS,
		&st.SnapshotsPerS, &st.AgentsConnected, &st.SimQueued, &st.SimDropped, &st.SimReconnects, &st.StoreSeries, &st.AlertsActive,
		&st.AckP50Ms, &st.AckP99Ms, &st.AckMaxMs, &st.AckWindowP50Ms, &st.AckWindowP99Ms, &st.CoreAckP50Ms, &st.CoreAckP99Ms, &st.LiveP50Ms, &st.LiveP99Ms, &st.LiveMaxMs,
		&st.LiveUpdatesPerS, &st.LiveConnected, &st.LiveDropped, &st.LiveLoadP99Ms, &st.CoreCPUPct, &st.SimCPUPct, &st.LiveCPUPct, &st.BaseRSSMB,
		&st.AgentsRSSMB, &st.RSSAvgMB, &st.RSSMaxMB, &st.HWMMB, &st.HeapInuseMB, &st.GoSysMB, &st.Goroutines, &st.FDs, &st.Threads,
		&st.KBPerAgent, &st.HeapKBPerAg, &st.KBPerDash, &st.VerifyChecked, &st.VerifyMissing, &st.VerifyExtra} {
		*p = nan
	}
	fail := func(err error) (*stepResult, *restartResult, error) {
		st.Error = err.Error()
		return st, nil, err
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(out, "%s [%d agents] %s\n", time.Now().Format(time.TimeOnly), n, fmt.Sprintf(format, a...))
	}

	dir := filepath.Join(cfg.out, fmt.Sprintf("step-%05d", n))
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	data := filepath.Join(dir, "core")
	// A failed restart keeps the data directory: the state a core could
	// not start from is the evidence (run r9 of the thirtieth round lost
	// its to this).
	keep := cfg.keepData
	defer func() {
		if !keep {
			os.RemoveAll(data)
		}
	}()
	addr, err := freeAddr()
	if err != nil {
		return fail(err)
	}
	core, err := startCore(bins["esmon-serve"], data, addr, filepath.Join(dir, "core.log"), cfg.coreArgs()...)
	if err != nil {
		return fail(err)
	}
	defer func() { core.stop() }()
	logf("core pid %d on %s; creating %d rules", core.pid(), addr, cfg.rules)
	if err := createRules(ctx, core, makeRules(cfg.rules, max(n, 10_000))); err != nil {
		return fail(fmt.Errorf("create rules: %w", err))
	}
	code, err := core.joinCode(ctx, n)
	if err != nil {
		return fail(err)
	}
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return fail(err)
	}
	base, err := core.metrics(ctx)
	if err != nil {
		return fail(err)
	}
	bm, _ := procStatus(core.pid())
	st.BaseRSSMB = num(round(mb(bm.RSS), 1))
	baseHeap := base.get("go_memstats_heap_inuse_bytes")

	// Agents.
	simCmd := simCommand{bin: bins["esmon-agent"], n: n, code: code, dir: dir, tokenFile: filepath.Join(data, "admin.token"), cfg: cfg, caps: caps}
	simStart := time.Now()
	sim, err := simCmd.start("simulate")
	if err != nil {
		return fail(err)
	}
	defer sim.stop(5 * time.Second)
	logf("simulate pid %d started; waiting for %d agents", sim.pid(), n)
	got, err := waitConnected(ctx, core, sim, n, cfg.connectLimit(n))
	switch {
	case err != nil:
		return fail(err)
	case got < n:
		// Measured all the same: how the core copes with agents that
		// cannot all get in is what this step shows.
		st.Error = fmt.Sprintf("only %d of %d agents connected after %.0f s", got, n, time.Since(simStart).Seconds())
		logf("%s; measuring anyway", st.Error)
	default:
		st.ConnectS = num(round(time.Since(simStart).Seconds(), 1))
	}
	logf("connected after %.1f s; settling %s", time.Since(simStart).Seconds(), cfg.settle)
	if err := sleepCtx(ctx, cfg.settle); err != nil {
		return fail(err)
	}
	am, _ := procStatus(core.pid())
	agentsM, err := core.metrics(ctx)
	if err != nil {
		return fail(err)
	}
	st.AgentsRSSMB = num(round(mb(am.RSS), 1))
	st.KBPerAgent = num(round((am.RSS-bm.RSS)/float64(n)/1024, 1))
	st.HeapKBPerAg = num(round((agentsM.get("go_memstats_heap_inuse_bytes")-baseHeap)/float64(n)/1024, 1))

	// Dashboards: liveload measures for the window once all are connected.
	liveArgs := []string{"--core", core.url(""), "--token-file", filepath.Join(data, "admin.token"), "--fingerprint", core.pin,
		"--subscribers", strconv.Itoa(d), "--duration", (cfg.window + 5*time.Second).String()}
	liveJSONPath := filepath.Join(dir, "liveload.json")
	if caps.liveJSON {
		liveArgs = append(liveArgs, "--json", liveJSONPath)
	}
	if cfg.liveProfile {
		liveArgs = append(liveArgs, "--cpuprofile", filepath.Join(dir, "liveload.cpu"))
	}
	live, err := startTool("liveload", bins["liveload"], liveArgs, filepath.Join(dir, "liveload.log"), "measuring")
	if err != nil {
		return fail(err)
	}
	defer live.stop(10 * time.Second)
	logf("liveload pid %d: %d subscribers", live.pid(), d)
	select {
	case <-live.seen:
	case <-live.exited:
		// A core too busy to answer liveload (it reads /metrics with a
		// 10 s timeout) is a result too: the window runs without
		// dashboards, their figures stay empty and the step says why.
		st.Error = strings.TrimPrefix(fmt.Sprintf("%s; liveload exited (code %d): %s", st.Error, live.exitCode(), lastLine(live.logTail())), "; ")
		logf("%s; measuring without dashboards", st.Error)
	case <-time.After(time.Duration(d)*10*time.Millisecond + 3*time.Minute):
		logf("liveload did not say it was measuring; measuring anyway")
	case <-ctx.Done():
		return fail(ctx.Err())
	}

	// The window.
	logf("measuring for %s", cfg.window)
	m0, err := core.metrics(ctx)
	if err != nil {
		return fail(err)
	}
	t0 := time.Now()
	if caps.simWindow {
		sim.signal(syscall.SIGUSR1) // the agents' acks from here on, apart
	}
	c0, s0, l0 := cpuOrNaN(core.pid()), cpuOrNaN(sim.pid()), cpuOrNaN(live.pid())
	var rssSum, rssMax float64
	var samples int
	for time.Since(t0) < cfg.window {
		if err := sleepCtx(ctx, time.Second); err != nil {
			return fail(err)
		}
		if pm, err := procStatus(core.pid()); err == nil {
			rssSum += pm.RSS
			rssMax = max(rssMax, pm.RSS)
			samples++
		}
	}
	if caps.simWindow {
		sim.signal(syscall.SIGUSR2)
	}
	m1, err := core.metrics(ctx)
	if err != nil {
		return fail(err)
	}
	el := time.Since(t0).Seconds()
	c1, s1, l1 := cpuOrNaN(core.pid()), cpuOrNaN(sim.pid()), cpuOrNaN(live.pid())
	pm, _ := procStatus(core.pid())
	st.WindowS = num(round(el, 1))
	st.Load1 = num(loadAvg())
	st.CoreCPUPct = num(round((c1-c0)/el*100, 1))
	st.SimCPUPct = num(round((s1-s0)/el*100, 1))
	st.LiveCPUPct = num(round((l1-l0)/el*100, 1))
	if samples > 0 {
		st.RSSAvgMB = num(round(mb(rssSum/float64(samples)), 1))
		st.RSSMaxMB = num(round(mb(rssMax), 1))
	}
	st.HWMMB = num(round(mb(pm.HWM), 1))
	st.Threads = num(pm.Threads)
	st.FDs = num(procFDs(core.pid()))
	st.HeapInuseMB = num(round(mb(m1.get("go_memstats_heap_inuse_bytes")), 1))
	st.GoSysMB = num(round(mb(m1.get("go_memstats_sys_bytes")), 1))
	st.Goroutines = num(m1.get("go_goroutines"))
	st.AgentsConnected = num(m1.get("esmon_agent_connections"))
	st.StoreSeries = num(m1.get("esmon_store_series"))
	st.AlertsActive = num(sumPrefix(m1, "esmon_alerts_active"))
	samplesD := m1.get("esmon_ingested_samples_total") - m0.get("esmon_ingested_samples_total")
	batchesD := m1.get("esmon_agent_batches_total") - m0.get("esmon_agent_batches_total")
	st.IngestPerS = num(round(samplesD/el, 0))
	st.BatchesPerS = num(round(batchesD/el, 1))
	st.SnapshotsPerS = num(round(float64(n)/cfg.interval.Seconds(), 1))
	st.CoreAckP50Ms = num(round(1000*histQuantile(0.5, m0.histogram("esmon_batch_ack_seconds"), m1.histogram("esmon_batch_ack_seconds")), 2))
	st.CoreAckP99Ms = num(round(1000*histQuantile(0.99, m0.histogram("esmon_batch_ack_seconds"), m1.histogram("esmon_batch_ack_seconds")), 2))
	logf("window: %.0f samples/s, %.1f batches/s, core CPU %.0f%%, RSS %.0f MB, load %.2f",
		float64(st.IngestPerS), float64(st.BatchesPerS), float64(st.CoreCPUPct), float64(st.RSSMaxMB), float64(st.Load1))

	// Live figures.
	if !live.wait(cfg.window/2 + 60*time.Second) {
		logf("liveload still running after its window; stopping it")
	}
	live.stop(10 * time.Second)
	lf := nanLive()
	if f, err := readFigures(liveJSONPath); err == nil {
		lf = liveFromJSON(f)
	} else {
		logf("no liveload result (%v): %s", err, live.logTail())
	}
	st.LiveP50Ms, st.LiveP99Ms, st.LiveMaxMs = num(lf.P50), num(lf.P99), num(lf.Max)
	st.LiveUpdatesPerS, st.LiveConnected, st.LiveDropped = num(round(lf.UpdatesPerS, 0)), num(lf.Connected), num(lf.Dropped)
	st.KBPerDash = num(round(lf.BytesPerSubscriber/1024, 1))
	st.LiveLoadP99Ms = num(round(lf.LoadP99, 1))

	// Without --enrolments the restart has to run under this same
	// simulator, whose figures then include it.
	var rs *restartResult
	if restart && !caps.simEnrolments {
		rs = restartUnderLoad(ctx, cfg, core, sim, n, logf)
		core = rs.core
	}

	// The agents' own figures, once they have drained and verified.
	simStop := time.Now()
	sf := simCmd.finish(sim, logf)
	if rs != nil && rs.Error == "" {
		rs.checkGaps(ctx, cfg, later(rs.Killed.Add(-90*time.Second), simStart), simStop.Add(-cfg.interval), sf.Skipped, logf)
	}
	st.AckP50Ms, st.AckP99Ms, st.AckMaxMs = num(sf.AckP50), num(sf.AckP99), num(sf.AckMax)
	st.AckWindowP50Ms, st.AckWindowP99Ms = num(sf.WinAckP50), num(sf.WinAckP99)
	st.SimQueued, st.SimDropped, st.SimReconnects = num(sf.Queued), num(sf.Dropped), num(sf.Reconnects)
	st.VerifyChecked, st.VerifyMissing, st.VerifyExtra = num(sf.VerifyChecked), num(sf.VerifyMissing), num(sf.VerifyExtra)
	if rs != nil {
		rs.fromSim(sf)
	}

	// The restart under load, with a second simulator that reuses the
	// first one's credentials, so that its figures are the restart's.
	if restart && caps.simEnrolments {
		logf("restart: starting the %d agents again", n)
		sim2Start := time.Now()
		sim2, err := simCmd.start("simulate-restart")
		if err != nil {
			return fail(err)
		}
		defer sim2.stop(5 * time.Second)
		if got, err := waitConnected(ctx, core, sim2, n, cfg.connectLimit(n)); err != nil {
			return fail(fmt.Errorf("restart: %w", err))
		} else if got < n {
			logf("restart: only %d of %d agents connected before the kill", got, n)
		}
		if err := sleepCtx(ctx, 3*cfg.interval); err != nil {
			return fail(err)
		}
		rs = restartUnderLoad(ctx, cfg, core, sim2, n, logf)
		core = rs.core
		sim2Stop := time.Now()
		sf2 := simCmd.finish(sim2, logf)
		rs.fromSim(sf2)
		if rs.Error == "" {
			// From this simulator's start: the first one's points end
			// with a gap before it.
			rs.checkGaps(ctx, cfg, later(rs.Killed.Add(-90*time.Second), sim2Start), sim2Stop.Add(-cfg.interval), sf2.Skipped, logf)
		}
	}

	// Expected rate: every agent sends one snapshot per interval.
	perSnap, from := sf.SamplesSent/sf.Snapshots, "simulate samples_sent/snapshots"
	if math.IsNaN(perSnap) || math.IsInf(perSnap, 0) || perSnap <= 0 {
		perSnap, from = samplesD/batchesD, "core samples per batch"
	}
	st.ExpectedPerS = num(round(float64(n)*perSnap/cfg.interval.Seconds(), 0))
	st.ExpectedFrom = from
	st.IngestRatio = num(round(float64(st.IngestPerS)/float64(st.ExpectedPerS), 3))
	logf("done: ingest %.0f/s of %.0f expected, ack p99 in the window %.1f ms (core %.1f ms; %.1f ms over the run after warm-up), live p99 %.1f ms, %.1f KB/agent, %.1f KB/dashboard",
		float64(st.IngestPerS), float64(st.ExpectedPerS), float64(st.AckWindowP99Ms), float64(st.CoreAckP99Ms), float64(st.AckP99Ms), float64(st.LiveP99Ms),
		float64(st.KBPerAgent), float64(st.KBPerDash))
	if rs != nil && rs.Error == "" && rs.VerifyOK == 0 {
		rs.Error = "the agents' check of the stored points failed"
	}
	if rs != nil && rs.Error != "" {
		keep = true
		logf("restart failed: keeping the core's data directory %s", data)
		return st, rs, fmt.Errorf("restart: %s", rs.Error)
	}
	return st, rs, nil
}

// sumPrefix adds every sample whose name (labels included) starts with
// name followed by '{' or is name itself.
func sumPrefix(p promText, name string) float64 {
	s, found := 0.0, false
	for k, v := range p {
		if k == name || (len(k) > len(name) && k[:len(name)+1] == name+"{") {
			s += v
			found = true
		}
	}
	if !found {
		return math.NaN()
	}
	return s
}

// waitConnected waits until the core counts n agent connections, or the
// count has not grown for a minute, or limit has passed; it returns the
// count. An error is a tool or the core gone.
func waitConnected(ctx context.Context, core *coreProc, sim *tool, n int, limit time.Duration) (int, error) {
	start, best, grew := time.Now(), -1.0, time.Now()
	for {
		m, err := core.metrics(ctx)
		c := math.NaN()
		if err == nil {
			c = m.get("esmon_agent_connections")
		}
		if c >= float64(n) {
			return n, nil
		}
		if c > best {
			best, grew = c, time.Now()
		}
		select {
		case <-sim.exited:
			return 0, fmt.Errorf("simulate exited (code %d): %s", sim.exitCode(), sim.logTail())
		case <-core.exited:
			return 0, fmt.Errorf("core exited: %s", core.logTail())
		default:
		}
		if time.Since(start) > limit || time.Since(grew) > time.Minute {
			return int(max(best, 0)), nil
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return 0, err
		}
	}
}

// toolCaps is what the load tools at hand support (they grow flags).
type toolCaps struct {
	simJSON, simVerify, simEnrolments, simSeries, simWarmup bool
	simWindow                                               bool // SIGUSR1/SIGUSR2 mark the window (older ones die of them)
	liveJSON                                                bool
}

func probeTools(bins map[string]string) toolCaps {
	sim := func(f string) bool { return supportsFlag(bins["esmon-agent"], []string{"simulate"}, f) }
	return toolCaps{simJSON: sim("json"), simVerify: sim("verify"), simEnrolments: sim("enrolments"),
		simSeries: sim("series"), simWarmup: sim("warmup"),
		simWindow: helpSays(bins["esmon-agent"], []string{"simulate"}, "SIGUSR1"), liveJSON: supportsFlag(bins["liveload"], nil, "json")}
}

// simCommand starts `esmon-agent simulate` runs of one step.
type simCommand struct {
	bin, code, dir, tokenFile string
	n                         int
	cfg                       *config
	caps                      toolCaps
}

func (s simCommand) start(name string) (*tool, error) {
	args := []string{"simulate", "--agents", strconv.Itoa(s.n), "--join-code", s.code, "--interval", s.cfg.interval.String(),
		"--duration", s.cfg.simDuration(s.n).String(), "--log-level", "warn"}
	if s.caps.simJSON {
		args = append(args, "--json", filepath.Join(s.dir, name+".json"), "--drain", "60s")
	}
	if s.caps.simWarmup {
		// Acks while the agents connect and send their first batches are
		// left out of the latency figures, as the core's are.
		args = append(args, "--warmup", s.cfg.settle.String())
	}
	if s.caps.simSeries && s.cfg.series > 0 {
		args = append(args, "--series", strconv.Itoa(s.cfg.series))
	}
	if s.cfg.simProfile {
		args = append(args, "--cpuprofile", filepath.Join(s.dir, name+".cpu"))
	}
	if s.cfg.simMemProfile {
		args = append(args, "--memprofile", filepath.Join(s.dir, name+".heap"))
	}
	if s.caps.simEnrolments {
		args = append(args, "--enrolments", filepath.Join(s.dir, "enrolments.json"))
	}
	if s.caps.simVerify && s.cfg.verify > 0 {
		args = append(args, "--verify", strconv.Itoa(min(s.cfg.verify, s.n)), "--api-token-file", s.tokenFile)
	}
	return startTool(name, s.bin, args, filepath.Join(s.dir, name+".log"), "")
}

// finish stops collecting (SIGTERM), lets the simulator drain its queues
// and run its check, and reads what it reported.
func (s simCommand) finish(t *tool, logf func(string, ...any)) simFigures {
	t.stop(150 * time.Second)
	sf := nanSim()
	if s.caps.simJSON {
		path := filepath.Join(s.dir, t.name+".json")
		b, err := os.ReadFile(path)
		var f figures
		if err == nil {
			f, err = parseFigures(path, b)
		}
		if err == nil {
			sf = simFromJSON(f)
			var r struct {
				Skipped map[string][][2]int64 `json:"skipped"`
			}
			if err := json.Unmarshal(b, &r); err != nil {
				// Its gaps then count as missing: the stricter reading.
				logf("%s: skipped collections unreadable: %v", path, err)
			}
			sf.Skipped = r.Skipped
		} else {
			logf("no %s result: %v; %s", t.name, err, t.logTail())
		}
	}
	sf.fromText(t.last())
	return sf
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return ls[len(ls)-1]
}

// cpuOrNaN is procCPUSeconds, NaN for a process that is gone.
func cpuOrNaN(pid int) float64 {
	v, err := procCPUSeconds(pid)
	if err != nil {
		return math.NaN()
	}
	return v
}
