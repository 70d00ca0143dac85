package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"esmon/agentsvc/link"
)

// latencyHist counts latencies in buckets about 3% wide, from 1 µs to
// hours, with atomic counters, so thousands of links record into one.
type latencyHist struct {
	counts [histBuckets]atomic.Uint64
	maxUS  atomic.Uint64
}

// Buckets: 0–63 µs one each; above, 32 per power of two.
const histBuckets = 64 + 40*32

func histBucket(us uint64) int {
	if us < 64 {
		return int(us)
	}
	e := bits.Len64(us) - 6 // ≥ 1; us>>e is in [32, 64)
	return min(64+(e-1)*32+int(us>>e)-32, histBuckets-1)
}

// histValue is the middle of bucket b, in µs.
func histValue(b int) float64 {
	if b < 64 {
		return float64(b)
	}
	e := (b-64)/32 + 1
	m := uint64((b-64)%32 + 32)
	lo := m << e
	return float64(lo) + float64(uint64(1)<<e)/2
}

func (h *latencyHist) record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	h.counts[histBucket(us)].Add(1)
	for {
		old := h.maxUS.Load()
		if us <= old || h.maxUS.CompareAndSwap(old, us) {
			return
		}
	}
}

// histCounts is a copy of a latencyHist's counts, or the difference of
// two copies.
type histCounts [histBuckets]uint64

func (h *latencyHist) snapshot() (c histCounts) {
	for i := range h.counts {
		c[i] = h.counts[i].Load()
	}
	return c
}

func (c *histCounts) minus(old *histCounts) (d histCounts) {
	for i := range c {
		d[i] = c[i] - old[i]
	}
	return d
}

func (c *histCounts) total() (n uint64) {
	for _, v := range c {
		n += v
	}
	return n
}

// quantile returns the q-quantile in milliseconds, or 0 with no counts.
func (c *histCounts) quantile(q float64) float64 {
	n := c.total()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n-1)) + 1
	var seen uint64
	for b, v := range c {
		seen += v
		if seen >= rank {
			return histValue(b) / 1000
		}
	}
	return histValue(histBuckets-1) / 1000
}

// maxMS is the highest non-empty bucket's value in milliseconds.
func (c *histCounts) maxMS() float64 {
	for b := histBuckets - 1; b >= 0; b-- {
		if c[b] > 0 {
			return histValue(b) / 1000
		}
	}
	return 0
}

// liner makes the periodic line: totals now, rates and latency since the
// previous line.
type liner struct {
	f         *fleet
	at        time.Time
	acked     uint64
	prev      histCounts
	prevTotal uint64
}

func newLiner(f *fleet) *liner { return &liner{f: f, at: f.start} }

func (l *liner) next() string {
	now := time.Now()
	f := l.f
	var connected, queued int
	var withAcks int
	var dropped uint64
	for _, a := range f.agents {
		st := a.link.Status()
		if st.State == link.Connected {
			connected++
		}
		queued += st.Queued
		dropped += st.Dropped
		if st.LastAck > 0 {
			withAcks++
		}
	}
	acked := f.samplesAcked.Load()
	cur := f.acks.snapshot()
	win := cur.minus(&l.prev)
	rate := float64(acked-l.acked) / max(now.Sub(l.at).Seconds(), 1e-3)
	l.at, l.acked, l.prev = now, acked, cur
	return fmt.Sprintf("%s agents %d, connected %d, with acks %d, queued snapshots %d, dropped %d, acked samples/s %.0f, ack p50 %.1fms p99 %.1fms max %.1fms (%d batches)",
		now.Format(time.TimeOnly), len(f.agents), connected, withAcks, queued, dropped, rate,
		win.quantile(0.5), win.quantile(0.99), win.maxMS(), win.total())
}

// wave is one time the fleet was not all connected: from the start, or
// from when an agent was seen disconnected after all had been connected.
type wave struct {
	StartS float64 `json:"start_s"` // since the start of the run
	// Down is the fewest agents connected during the wave.
	Down int `json:"min_connected"`
	// BackAfterS is how long until all were connected again; -1 if never.
	BackAfterS float64 `json:"back_after_s"`
}

// waveWatch looks at the agents' states four times a second and records
// the waves.
type waveWatch struct {
	f     *fleet
	start time.Time

	mu    sync.Mutex // guards waves and cur
	waves []wave
	cur   *wave
	at    time.Time // when cur began
}

func newWaveWatch(f *fleet, start time.Time) *waveWatch {
	w := &waveWatch{f: f, start: start, at: start}
	w.waves = []wave{{StartS: 0, Down: 0, BackAfterS: -1}}
	w.cur = &w.waves[0]
	return w
}

func (w *waveWatch) watch(done <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		w.look(time.Now(), w.f.connected(), len(w.f.agents))
	}
}

// look records what one look saw: connected of all agents at now.
func (w *waveWatch) look(now time.Time, connected, all int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.cur == nil && connected < all:
		w.waves = append(w.waves, wave{StartS: now.Sub(w.start).Seconds(), Down: connected, BackAfterS: -1})
		w.cur, w.at = &w.waves[len(w.waves)-1], now
	case w.cur != nil && connected == all:
		w.cur.BackAfterS = now.Sub(w.at).Seconds()
		w.cur = nil
	case w.cur != nil:
		w.cur.Down = min(w.cur.Down, connected)
	}
}

// list returns the waves so far.
func (w *waveWatch) list() []wave {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wave(nil), w.waves...)
}

// simReport is the final figures of a run, as --json writes them. The
// field names are read by scenario drivers: keep them.
type simReport struct {
	Agents       int     `json:"agents"`
	Connected    int     `json:"connected"` // when collecting stopped
	Snapshots    uint64  `json:"snapshots"`
	SamplesSent  uint64  `json:"samples_sent"` // batches sent again after a reconnect count again
	SamplesAcked uint64  `json:"samples_acked"`
	BatchesAcked uint64  `json:"batches_acked"`
	AckP50MS     float64 `json:"ack_p50_ms"`
	AckP99MS     float64 `json:"ack_p99_ms"`
	AckMaxMS     float64 `json:"ack_max_ms"`
	Dropped      uint64  `json:"dropped"`
	Reconnects   uint64  `json:"reconnects"`
	// AllConnectedAfterS is how long the last wave took until all agents
	// were connected: from the start, or from the last time agents were
	// seen disconnected; -1 if they never were all connected again.
	AllConnectedAfterS float64 `json:"all_connected_after_s"`

	SeriesPerAgent int           `json:"series_per_agent"`
	IntervalS      float64       `json:"interval_s"`
	DurationS      float64       `json:"duration_s"` // of collecting
	WarmupS        float64       `json:"warmup_s"`
	AckedPerSecond float64       `json:"acked_samples_per_s"` // samples acked / duration of collecting
	Queued         int           `json:"queued"`              // snapshots still unacknowledged at the end
	Waves          []wave        `json:"waves"`
	SimCPUSeconds  float64       `json:"simulator_cpu_s"`
	SimMaxRSSBytes uint64        `json:"simulator_max_rss_bytes"`
	Verify         *verifyResult `json:"verify,omitempty"`
	// AckWindow*: the acknowledgements between the marks of a
	// measurement window (SIGUSR1 and SIGUSR2, or the end of collecting);
	// absent without a window.
	AckWindowP50MS float64 `json:"ack_window_p50_ms,omitempty"`
	AckWindowP99MS float64 `json:"ack_window_p99_ms,omitempty"`
	AckWindowMaxMS float64 `json:"ack_window_max_ms,omitempty"`
	AckWindowN     uint64  `json:"ack_window_batches,omitempty"`
	AckP50MSAll    float64 `json:"ack_p50_ms_all"` // warm-up included
	AckP99MSAll    float64 `json:"ack_p99_ms_all"`
	DrainedAfterS  float64 `json:"drained_after_s"` // from the end of collecting until nothing was queued; -1 if not waited for or never
	// Skipped are the collections the simulator skipped for falling
	// behind, by host: the times (Unix ms) of the snapshots on either
	// side of each gap. A check of stored points counts these gaps as
	// collections never made, not samples lost.
	Skipped map[string][][2]int64 `json:"skipped,omitempty"`
}

func (f *fleet) report(connected int, collectEnd time.Time, drainS float64, w *waveWatch) *simReport {
	r := &simReport{
		Agents: len(f.agents), Connected: connected,
		SamplesSent: f.samplesSent.Load(), SamplesAcked: f.samplesAcked.Load(),
		BatchesAcked: f.batchesAcked.Load(), SeriesPerAgent: f.seriesPerAgent(),
		IntervalS: f.o.interval.Seconds(), DurationS: collectEnd.Sub(f.start).Seconds(), WarmupS: f.o.warmup.Seconds(),
		DrainedAfterS: drainS,
	}
	for _, a := range f.agents {
		if len(a.skips) > 0 {
			if r.Skipped == nil {
				r.Skipped = map[string][][2]int64{}
			}
			r.Skipped[a.src.hostname] = a.skips
		}
	}
	st := f.steady.snapshot()
	r.AckP50MS, r.AckP99MS, r.AckMaxMS = st.quantile(0.5), st.quantile(0.99), float64(f.steady.maxUS.Load())/1000
	all := f.acks.snapshot()
	r.AckP50MSAll, r.AckP99MSAll = all.quantile(0.5), all.quantile(0.99)
	f.windowMu.Lock()
	if start := f.window[0]; start != nil {
		end := f.window[1]
		if end == nil {
			end = &all
		}
		w := end.minus(start)
		r.AckWindowN = w.total()
		if r.AckWindowN > 0 {
			r.AckWindowP50MS, r.AckWindowP99MS, r.AckWindowMaxMS = w.quantile(0.5), w.quantile(0.99), w.maxMS()
		}
	}
	f.windowMu.Unlock()
	for _, a := range f.agents {
		st := a.link.Status()
		r.Snapshots += a.snaps.Load()
		r.Dropped += st.Dropped
		r.Queued += st.Queued
		if st.Connects > 1 {
			r.Reconnects += st.Connects - 1
		}
	}
	r.AckedPerSecond = float64(r.SamplesAcked) / max(r.DurationS, 1e-3)
	r.Waves = w.list()
	r.AllConnectedAfterS = r.Waves[len(r.Waves)-1].BackAfterS
	r.SimCPUSeconds, r.SimMaxRSSBytes = selfUsage()
	return r
}

// write writes r as JSON to file, or to stdout for "-".
func (r *simReport) write(file string, stdout io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if file == "-" {
		_, err = stdout.Write(b)
		return err
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
