package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"esmon/agentsvc/collect"
	"esmon/agentsvc/link"
	"esmon/core/wire"
)

// fleet is the virtual agents of one simulate run.
type fleet struct {
	o      simOptions
	agents []*simAgent
	start  time.Time

	samplesSent  atomic.Uint64
	samplesAcked atomic.Uint64
	batchesAcked atomic.Uint64
	// acks holds every batch acknowledgement's latency; steady those after
	// --warmup, for the JSON report.
	acks, steady latencyHist
	// window holds acks' counts at the marks of a measurement window
	// (markWindow: SIGUSR1 starts it, SIGUSR2 ends it), for the JSON
	// report's ack_window_* figures.
	windowMu sync.Mutex
	window   [2]*histCounts
	// windowEnded, if set, is called at the end of each measurement
	// window (--memprofile writes the heap profile then).
	windowEnded func()
}

// markWindow takes acks' counts at the start (i = 0) or the end (1) of a
// measurement window. A new start forgets the last window's end.
func (f *fleet) markWindow(i int) {
	c := f.acks.snapshot()
	f.windowMu.Lock()
	f.window[i] = &c
	if i == 0 {
		f.window[1] = nil
	}
	f.windowMu.Unlock()
	if i == 1 && f.windowEnded != nil {
		f.windowEnded()
	}
}

// simAgent is one virtual agent: its machine, its collectors, its link.
type simAgent struct {
	id   simIdentity
	src  *simSource
	set  *collect.Set
	link *link.Client
	// snaps counts the snapshots queued; firstMS is the time of the first.
	snaps   atomic.Uint64
	firstMS atomic.Int64
	// lastMS is the time of the last snapshot, and skips the collections
	// skipped (see fleet.work) as the times on either side of each gap:
	// what a check of the stored points finds missing and was never
	// sent. Only the agent's worker writes them; the report reads them
	// after the workers end.
	lastMS int64
	skips  [][2]int64
}

// simIdentity is who a virtual agent is to the core.
type simIdentity struct {
	AgentID    string `json:"agent_id"`
	Credential string `json:"credential"`
}

// simEnrolments is the content of --enrolments: the credentials of earlier
// runs, by virtual agent name (sim-<seed>-<n>), for one core.
type simEnrolments struct {
	Core   string                 `json:"core"`
	Agents map[string]simIdentity `json:"agents"`
}

// simName is the name of virtual agent i, which is also its agent id when
// it does not enrol.
func simName(seed uint64, i int) string { return fmt.Sprintf("sim-%d-%05d", seed, i+1) }

// simIdentities returns the identity of every virtual agent: the token given
// for all, or a credential of its own, from --enrolments or by enrolling
// with the join code (several at a time).
func simIdentities(ctx context.Context, o simOptions, code wire.JoinCode, tok string, stderr io.Writer) ([]simIdentity, error) {
	ids := make([]simIdentity, o.agents)
	if code.Secret == "" {
		for i := range ids {
			ids[i] = simIdentity{AgentID: simName(o.seed, i), Credential: tok}
		}
		return ids, nil
	}
	kept := simEnrolments{Core: o.core, Agents: map[string]simIdentity{}}
	if o.enrolments != "" {
		b, err := os.ReadFile(o.enrolments)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("read enrolments: %w", err)
		default:
			var e simEnrolments
			if err := json.Unmarshal(b, &e); err != nil {
				return nil, fmt.Errorf("enrolments file %s is damaged: %w", o.enrolments, err)
			}
			if e.Core == o.core && e.Agents != nil {
				kept = e
			} else {
				fmt.Fprintf(stderr, "esmon-agent simulate: %s holds credentials for %s, not %s: enrolling again\n", o.enrolments, e.Core, o.core)
			}
		}
	}
	var (
		mu       sync.Mutex // guards kept.Agents and firstErr
		firstErr error
		next     atomic.Int64
		wg       sync.WaitGroup
		fresh    atomic.Int64
	)
	for range min(16, o.agents) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= o.agents || ctx.Err() != nil {
					return
				}
				name := simName(o.seed, i)
				mu.Lock()
				id, ok := kept.Agents[name]
				stop := firstErr != nil
				mu.Unlock()
				if stop {
					return
				}
				if !ok {
					facts := newSimSource(o.seed, i).facts()
					ectx, cancel := context.WithTimeout(ctx, enrolTimeout)
					r, err := enrol(ectx, o.core, code.Pin, "", wire.EnrolRequest{Secret: code.Secret, AgentVersion: Version + "-sim", Host: facts})
					cancel()
					mu.Lock()
					if err != nil {
						firstErr = cmpOr(firstErr, fmt.Errorf("enrol %s: %w", name, err))
						mu.Unlock()
						return
					}
					id = simIdentity{AgentID: r.AgentID, Credential: r.Credential}
					kept.Agents[name] = id
					mu.Unlock()
					fresh.Add(1)
				}
				ids[i] = id
			}
		})
	}
	wg.Wait()
	if o.enrolments != "" && fresh.Load() > 0 {
		b, _ := json.MarshalIndent(kept, "", " ")
		if err := writePrivate(o.enrolments, b); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("save enrolments: %w", err)
		}
	}
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return ids, firstErr
}

func cmpOr(err, other error) error {
	if err != nil {
		return err
	}
	return other
}

// newFleet makes the virtual agents: each its machine, collectors and link.
func newFleet(o simOptions, ids []simIdentity, tlsCfg *tls.Config, log *slog.Logger) (*fleet, error) {
	f := &fleet{o: o}
	procEvery := simProcEvery(o.interval)
	for i := range o.agents {
		src := newSimSource(o.seed, i)
		cs := simMachine(src, procEvery, i%procEvery)
		if o.series > 0 {
			if n := o.series - int(math.Round(simSnapshotMean(o.seed, i, procEvery, o.interval))); n > 0 {
				cs = append(cs, newSimGauges(src.rng, n))
			}
		}
		a := &simAgent{id: ids[i], src: src, set: collect.NewSet(cs...)}
		l, err := link.New(link.Options{
			URL: o.core, Token: ids[i].Credential, AgentID: ids[i].AgentID, AgentVersion: Version + "-sim", TLSConfig: tlsCfg,
			Host: src.facts(), Interval: o.interval, Logger: log.With("agent", ids[i].AgentID),
			QueueSnapshots: o.queue,
			OnSent:         f.sent,
			OnAck:          f.acked,
		})
		if err != nil {
			return nil, err
		}
		a.link = l
		f.agents = append(f.agents, a)
	}
	return f, nil
}

// simMachine returns the collectors of a virtual agent: those of a real
// one, reading src. The process scan runs inline every procEvery
// collections, at phase: what collect.Every does in a goroutine per agent,
// without 10,000 goroutines and timers.
func simMachine(src *simSource, procEvery, phase int) []collect.Collector {
	cpuc := collect.NewCPU(src)
	cpuc.Baseline = 0
	return []collect.Collector{cpuc, &collect.Memory{Source: src}, &collect.Swap{Source: src},
		&collect.DiskUsage{Source: src}, &collect.DiskIO{Source: src}, &collect.Network{Source: src},
		&collect.Uptime{Source: src}, &simLoad{src},
		&simEvery{c: &collect.Processes{Source: src}, every: procEvery, phase: phase}}
}

// simProcEvery is every how many collections at interval a virtual agent
// scans its processes, as a real one does every
// collect.DefaultProcessInterval.
func simProcEvery(interval time.Duration) int {
	return max(1, int(max(interval, collect.DefaultProcessInterval)/interval))
}

// simSnapshotMean is how many samples virtual agent i sends in a snapshot,
// on average over a cycle of its process scan (which runs every procEvery
// collections), on copies of its machine: the snapshot without the scan
// plus a procEvery-th of what the scan adds. --series pads to it: padded
// to the count of a snapshot with the scan, 10,000 agents at "60 series"
// sent 53 a snapshot, 106,600 samples/s where the scenario means 120,000.
// Four collections whatever the interval (a cycle's worth, 31 at 1 s,
// took half a millisecond an agent).
func simSnapshotMean(seed uint64, i, procEvery int, interval time.Duration) float64 {
	count := func(scan bool) int {
		src := newSimSource(seed, i)
		var cs []collect.Collector
		for _, c := range simMachine(src, 1, 0) {
			if _, isScan := c.(*simEvery); scan || !isScan {
				cs = append(cs, c)
			}
		}
		set := collect.NewSet(cs...)
		n := 0
		for range 2 { // the CPU figures need two readings
			src.step(interval)
			snap, _ := set.Collect(context.Background())
			n = len(snap.Samples)
		}
		return n
	}
	with, without := count(true), count(false)
	return float64(without) + float64(with-without)/float64(procEvery)
}

// seriesPerAgent is how many samples the first agent sends in a snapshot,
// on average.
func (f *fleet) seriesPerAgent() int {
	return max(int(math.Round(simSnapshotMean(f.o.seed, 0, simProcEvery(f.o.interval), f.o.interval))), f.o.series)
}

func (f *fleet) sent(b link.Batch) { f.samplesSent.Add(uint64(b.Samples)) }

func (f *fleet) acked(b link.Batch, latency time.Duration) {
	f.samplesAcked.Add(uint64(b.Samples))
	f.batchesAcked.Add(1)
	f.acks.record(latency)
	if time.Since(f.start) >= f.o.warmup {
		f.steady.record(latency)
	}
}

// run runs every agent: collecting until collectCtx is done, their links
// until then and, with --verify or --json, until their queues drained and
// check ran; stopLinks then ends linkCtx. It prints a line of figures every
// --report-every and at the end, and returns the final figures.
func (f *fleet) run(collectCtx, linkCtx context.Context, stopLinks context.CancelFunc, stdout io.Writer, check func(context.Context) *verifyResult) *simReport {
	f.start = time.Now()
	var links, work sync.WaitGroup
	for _, a := range f.agents {
		links.Go(func() { a.link.Run(linkCtx) })
	}
	workers := min(len(f.agents), 4*runtime.GOMAXPROCS(0))
	for w := range workers {
		work.Go(func() { f.work(collectCtx, w, workers) })
	}
	waves := newWaveWatch(f, f.start)
	monDone := make(chan struct{})
	monStopped := make(chan struct{})
	go func() {
		defer close(monStopped)
		waves.watch(monDone)
	}()

	line := newLiner(f)
	t := time.NewTicker(f.o.reportEvery)
	for done := false; !done; {
		select {
		case <-collectCtx.Done():
			done = true
		case <-t.C:
			fmt.Fprintln(stdout, line.next())
		}
	}
	t.Stop()
	work.Wait()
	collectEnd := time.Now()
	connected := f.connected()
	var drained bool
	drainS := -1.0
	if f.o.verify > 0 || f.o.jsonFile != "" {
		if drained = f.drain(linkCtx, f.o.drain); drained {
			drainS = time.Since(collectEnd).Seconds()
		}
	}
	var vr *verifyResult
	if drained || f.o.verify > 0 {
		vr = check(linkCtx)
	}
	close(monDone)
	<-monStopped
	fmt.Fprintln(stdout, line.next())
	stopLinks()
	links.Wait()
	rep := f.report(connected, collectEnd, drainS, waves)
	rep.Verify = vr
	if vr != nil {
		fmt.Fprintln(stdout, vr.line())
	}
	return rep
}

// work collects the agents w, w+workers, w+2·workers … each at its own
// offset within the interval (agents start spread over one interval, as
// real ones would be), until ctx is done. A worker that falls behind skips
// the rounds it missed, as a ticker does.
func (f *fleet) work(ctx context.Context, w, workers int) {
	n := len(f.agents)
	iv := f.o.interval
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var buf []collect.Sample // the room of each collection's samples, used again
	for round := int64(0); ; round++ {
		for i := w; i < n; i += workers {
			due := f.start.Add(time.Duration(round)*iv + time.Duration(int64(iv)*int64(i)/int64(n)))
			if d := time.Until(due); d > 0 {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			} else if ctx.Err() != nil {
				return
			}
			buf = f.agents[i].collect(ctx, iv, buf)
		}
		if behind := time.Since(f.start) - time.Duration(round+1)*iv; behind > iv {
			round += int64(behind / iv)
		}
	}
}

// collected notes a snapshot taken at t (Unix ms): one more than 1.5
// intervals after the last follows skipped collections (as a check of the
// stored points counts a gap).
func (a *simAgent) collected(t int64, interval time.Duration) {
	if iv := interval.Milliseconds(); a.lastMS != 0 && (t-a.lastMS)*2 > iv*3 {
		a.skips = append(a.skips, [2]int64{a.lastMS, t})
	}
	a.lastMS = t
}

// collect takes and queues a snapshot of a's machine, with its samples in
// buf's room (Enqueue copies them), and returns that room for the next.
func (a *simAgent) collect(ctx context.Context, interval time.Duration, buf []collect.Sample) []collect.Sample {
	a.src.step(interval)
	snap, _ := a.set.CollectInto(ctx, buf)
	if len(snap.Samples) == 0 {
		return snap.Samples
	}
	a.firstMS.CompareAndSwap(0, snap.Time.UnixMilli())
	a.collected(snap.Time.UnixMilli(), interval)
	a.link.Enqueue(snap)
	a.snaps.Add(1)
	return snap.Samples
}

func (f *fleet) connected() int {
	n := 0
	for _, a := range f.agents {
		if a.link.State() == link.Connected {
			n++
		}
	}
	return n
}

// drain waits until every agent is connected with nothing queued, or until
// max or ctx ends; it reports whether they all drained.
func (f *fleet) drain(ctx context.Context, max time.Duration) bool {
	deadline := time.Now().Add(max)
	for {
		left := 0
		for _, a := range f.agents {
			if st := a.link.Status(); st.Queued > 0 || st.State != link.Connected {
				left++
			}
		}
		if left == 0 {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// simEvery runs a collector inline on the first collection, as
// collect.Every does when it starts, and then every every-th collection,
// shifted by phase so that agents do not all scan at once.
type simEvery struct {
	c     collect.Collector
	every int
	phase int
	n     int // collections so far
}

func (e *simEvery) Name() string { return e.c.Name() }

func (e *simEvery) Collect(ctx context.Context, s *collect.Sink) error {
	e.n++
	if e.n > 1 && (e.n+e.phase)%e.every != 0 {
		return nil
	}
	return e.c.Collect(ctx, s)
}

// simGauges pads a machine with synthetic gauges, sim_gauge{n="0001"} …,
// each a random walk, for throughput tests.
// The labels of every gauge are made once and shared by its samples
// (Sink.AddLabels), as a collector of fixed series may.
type simGauges struct {
	rng    *rand.Rand
	labels [][]wire.Label
	values []float64
}

func newSimGauges(r *rand.Rand, n int) *simGauges {
	g := &simGauges{rng: rand.New(rand.NewPCG(r.Uint64(), r.Uint64())), labels: make([][]wire.Label, n), values: make([]float64, n)}
	all := make([]wire.Label, n)
	for i := range n {
		all[i] = wire.Label{Name: "n", Value: fmt.Sprintf("%04d", i+1)}
		g.labels[i] = all[i : i+1 : i+1]
		g.values[i] = 100 * g.rng.Float64()
	}
	return g
}

func (*simGauges) Name() string { return "sim_gauges" }

func (g *simGauges) Collect(_ context.Context, s *collect.Sink) error {
	for i := range g.values {
		g.values[i] = max(0, g.values[i]+g.rng.NormFloat64())
		s.AddLabels("sim_gauge", g.values[i], g.labels[i])
	}
	return nil
}

// facts is what a virtual agent says about its machine in its Hello.
func (s *simSource) facts() wire.HostFacts {
	facts, _ := collect.Facts(context.Background(), s)
	return facts
}
