package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// restartUnderLoad kills the core with SIGKILL while the n agents of sim
// send, starts it again on the same address and data directory, and
// measures the time until every agent is connected again. The returned
// result carries the new core (the caller stops it).
func restartUnderLoad(ctx context.Context, cfg *config, core *coreProc, sim *tool, n int, logf func(string, ...any)) *restartResult {
	nan := num(math.NaN())
	rs := &restartResult{Agents: n, CoreUpS: nan, AllBackS: nan, SamplesPreKill: nan, SamplesAfter: nan, core: core}
	rs.fromSim(nanSim())
	want := n
	if m, err := core.metrics(ctx); err == nil {
		rs.SamplesPreKill = num(m.get("esmon_ingested_samples_total"))
		want = min(n, int(m.get("esmon_agent_connections")))
	}
	// All back means as many as were connected at the kill.
	rs.ConnectedAtKill = want
	rs.Killed = time.Now().UTC()
	logf("restart: SIGKILL core pid %d", core.pid())
	core.kill()
	nc, err := startCore(core.bin, core.data, core.addr, core.logPath, core.extra...)
	if err != nil {
		rs.Error = fmt.Sprintf("start the core again: %v", err)
		// The caller's deferred stop must not touch a dead process twice;
		// the killed one has exited, so stop returns at once.
		return rs
	}
	rs.core = nc
	rs.CoreUpS = num(round(time.Since(rs.Killed).Seconds(), 2))
	logf("restart: core pid %d up after %.2f s; waiting for %d agents", nc.pid(), float64(rs.CoreUpS), want)
	limit := 180 * time.Second
	for {
		m, err := nc.metrics(ctx)
		if err == nil && m.get("esmon_agent_connections") >= float64(want) {
			rs.AllBack = true
			rs.AllBackS = num(round(time.Since(rs.Killed).Seconds(), 2))
			break
		}
		if time.Since(rs.Killed) > limit {
			rs.Error = fmt.Sprintf("only %.0f of %d agents back %s after the kill", m.get("esmon_agent_connections"), want, limit)
			return rs
		}
		select {
		case <-sim.exited:
			rs.Error = "simulate exited during the restart: " + sim.logTail()
			return rs
		case <-ctx.Done():
			rs.Error = ctx.Err().Error()
			return rs
		case <-time.After(250 * time.Millisecond):
		}
	}
	logf("restart: all %d agents back %.2f s after the kill", want, float64(rs.AllBackS))
	// The snapshots queued while the core was down are sent on reconnect;
	// let a few intervals pass under load before the caller stops the
	// agents (which then drain what is left) and checks.
	if err := sleepCtx(ctx, max(4*cfg.interval, 10*time.Second)); err != nil {
		rs.Error = err.Error()
		return rs
	}
	if m, err := nc.metrics(ctx); err == nil {
		rs.SamplesAfter = num(m.get("esmon_ingested_samples_total"))
	}
	return rs
}

// checkGaps is the driver's own loss check, run once the agents stopped
// collecting and drained their queues: the points of some hosts between
// from and to must follow each other one interval apart.
// skipped are the simulator's skipped collections by host (see
// simFigures.Skipped).
func (rs *restartResult) checkGaps(ctx context.Context, cfg *config, from, to time.Time, skipped map[string][][2]int64, logf func(string, ...any)) {
	nc, n := rs.core, rs.Agents
	// Every snapshot carries cpu_usage_percent, so its points are the
	// host's snapshots.
	rs.CheckFrom, rs.CheckTo = from.Format(time.RFC3339), to.Format(time.RFC3339)
	k := min(cfg.verify, n)
	iv := cfg.interval.Milliseconds()
	for i := range k {
		host := fmt.Sprintf("sim-%05d", 1+i*n/k)
		series, err := nc.queryPoints(ctx, "cpu_usage_percent", host, from, to)
		if err != nil {
			rs.Error = fmt.Sprintf("query %s: %v", host, err)
			return
		}
		rs.HostsChecked++
		missing := 0
		for _, pts := range series {
			rs.PointsChecked += len(pts)
			m, s := gaps(pts, iv, skipped[host])
			missing += m
			rs.SkippedPoints += s
		}
		if len(series) == 0 {
			missing = -1
		}
		if missing != 0 {
			rs.HostsWithGaps = append(rs.HostsWithGaps, fmt.Sprintf("%s:%d", host, missing))
			rs.MissingPoints += max(missing, 0)
		}
	}
	logf("restart: %d hosts checked, %d points, %d missing, hosts with gaps %v; %d not collected (the simulator skipped them, behind)",
		rs.HostsChecked, rs.PointsChecked, rs.MissingPoints, rs.HostsWithGaps, rs.SkippedPoints)
}

// gaps counts the points missing between consecutive points one interval
// (iv ms) apart: round(step/iv)−1 for every step over 1.5 intervals. A gap
// that is one of skipped (the times on either side of collections the
// simulator skipped) counts as skipped, not missing.
func gaps(pts []point, iv int64, skipped [][2]int64) (missing, skippedN int) {
	for j := 1; j < len(pts); j++ {
		step := pts[j].T - pts[j-1].T
		if step*2 <= iv*3 {
			continue
		}
		n := int(math.Round(float64(step)/float64(iv))) - 1
		if slices.Contains(skipped, [2]int64{pts[j-1].T, pts[j].T}) {
			skippedN += n
		} else {
			missing += n
		}
	}
	return missing, skippedN
}
