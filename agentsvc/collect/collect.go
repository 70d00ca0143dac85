// Package collect gathers the metrics of the machine esmon-agent runs on.
//
// Each collector is small and reads the system through Source, an interface
// over gopsutil, so tests feed canned readings instead of the real machine. A
// Set runs a fixed list of collectors and returns one Snapshot: every sample
// named by its metric and labels, the way the core files it.
package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"esmon/core/wire"
)

// Sample is the value of one series at the time of a snapshot. Counters
// (metrics named *_total) carry their raw running totals; the core computes
// rates.
type Sample struct {
	Metric string
	Labels []wire.Label
	Value  float64
}

// Key returns a string that names the series of s: its metric and labels, in
// the order the collector gave them. Collectors always give labels in the
// same order, so equal series have equal keys.
func (s Sample) Key() string {
	if len(s.Labels) == 0 {
		return s.Metric
	}
	n := len(s.Metric)
	for _, l := range s.Labels {
		n += 2 + len(l.Name) + len(l.Value)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(s.Metric)
	for _, l := range s.Labels {
		b.WriteByte(0xff)
		b.WriteString(l.Name)
		b.WriteByte(0xfe)
		b.WriteString(l.Value)
	}
	return b.String()
}

// Snapshot is every sample of one collection, taken at Time.
type Snapshot struct {
	Time    time.Time
	Samples []Sample
}

// Sink receives the samples of one collection. It drops values the core
// would refuse (NaN, infinities), so collectors need not check each one.
type Sink struct {
	samples []Sample
	dropped int
}

// Add records value for metric with labels given as name, value pairs, such
// as Add(wire.CPUCoreUsagePercent, 12.5, wire.LabelCore, "0").
func (s *Sink) Add(metric string, value float64, labelPairs ...string) {
	if !wire.Finite(value) {
		s.dropped++
		return
	}
	value = Precision(metric, value)
	var labels []wire.Label
	if len(labelPairs) > 0 {
		labels = make([]wire.Label, 0, len(labelPairs)/2)
		for i := 0; i+1 < len(labelPairs); i += 2 {
			labels = append(labels, wire.Label{Name: labelPairs[i], Value: labelText(labelPairs[i+1])})
		}
	}
	s.samples = append(s.samples, Sample{Metric: metric, Labels: labels, Value: value})
}

// AddLabels is Add with the labels made already, for a collector that
// sends the same series every time and makes their labels once. The
// samples share labels, so the caller must not change them afterwards.
// A label value the core would refuse is replaced as Add replaces it, in
// a copy.
func (s *Sink) AddLabels(metric string, value float64, labels []wire.Label) {
	if !wire.Finite(value) {
		s.dropped++
		return
	}
	value = Precision(metric, value)
	for i, l := range labels {
		if v := labelText(l.Value); v != l.Value {
			labels = slices.Clone(labels)
			for j := i; j < len(labels); j++ {
				labels[j].Value = labelText(labels[j].Value)
			}
			break
		}
	}
	s.samples = append(s.samples, Sample{Metric: metric, Labels: labels, Value: value})
}

// PercentDecimals is how many decimals of a percentage the agent sends.
// Its percentages are ratios of counters read at one moment (CPU jiffies
// of 10 ms, bytes of a disk or of memory): a CPU percentage over one
// second of two cores moves in steps of 0.5, and a hundredth of a percent
// of a 1 TB disk is 100 MB, which its byte figures give exactly anyway.
// The digits past the second decimal are the noise of a division; the
// store's decimal coding keeps two decimals in a few bits a sample and a
// full-precision float in about six bytes.
const PercentDecimals = 2

var percentScale = math.Pow10(PercentDecimals)

// Precision is value as the agent sends it for metric: a percentage
// (a metric named *_percent) rounded to PercentDecimals, any other value
// as it is. Every sample goes through it (Sink.Add), and so does a
// recorded dataset before the store's benchmarks ingest it, so both
// measure what the agent sends. The result is the float64 nearest to a
// whole number of hundredths (never -0), which the store holds bit for
// bit like any value.
func Precision(metric string, value float64) float64 {
	if !strings.HasSuffix(metric, "_percent") || !(math.Abs(value) < 1e15) {
		return value // not a percentage; or NaN, infinite, or too large to have decimals
	}
	r := math.Round(value*percentScale) / percentScale
	if r == 0 {
		return 0 // not -0
	}
	return r
}

// labelText makes v a label value the core accepts: valid UTF-8 without
// NUL, at most wire.MaxLabelValueLen bytes. Process names and sensor names
// come from the system and may be anything.
func labelText(v string) string {
	if utf8.ValidString(v) && strings.IndexByte(v, 0) < 0 && len(v) <= wire.MaxLabelValueLen {
		return v
	}
	v = strings.ReplaceAll(strings.ToValidUTF8(v, "\uFFFD"), "\x00", "")
	for len(v) > wire.MaxLabelValueLen {
		_, n := utf8.DecodeLastRuneInString(v)
		v = v[:len(v)-n]
	}
	return v
}

// Samples returns what was added so far.
func (s *Sink) Samples() []Sample { return s.samples }

// Collector reads one part of the system into a Sink. Collect is called from
// one goroutine at a time; a collector may keep state between calls (the CPU
// collector keeps the previous counters to compute percentages).
type Collector interface {
	// Name says what the collector reads, for logs and errors.
	Name() string
	// Collect adds the current values to s. On error it may still have
	// added the values it could read.
	Collect(ctx context.Context, s *Sink) error
}

// Set runs its collectors one after the other as one snapshot.
type Set struct {
	collectors []Collector
	now        func() time.Time
	changed    chan struct{} // capacity 1: a Notifier saw a change
	// most is the most samples a collection gave so far: the next one's
	// room, so the samples are not copied again and again as they grow.
	most atomic.Int64
}

// NewSet returns a Set of the given collectors.
func NewSet(cs ...Collector) *Set {
	s := &Set{collectors: cs, now: time.Now, changed: make(chan struct{}, 1)}
	for _, c := range cs {
		if n, ok := c.(Notifier); ok {
			n.SetNotify(s.notify)
		}
	}
	return s
}

func (s *Set) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Changed receives when a collector saw a change that should be sent now
// rather than at the next interval.
func (s *Set) Changed() <-chan struct{} { return s.changed }

// Run runs the background work of every collector that has some (Runner)
// until ctx is cancelled, and returns when all of it has stopped.
func (s *Set) Run(ctx context.Context) { s.Start(ctx)() }

// Start starts the background work of every Runner until ctx is cancelled
// and returns a function that waits for it to stop. From the moment Start
// returns, slow collectors (Every) are off the hot path: Collect never runs
// them inline.
func (s *Set) Start(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	for _, c := range s.collectors {
		if e, ok := c.(*Every); ok {
			e.running.Store(true)
		}
		if r, ok := c.(Runner); ok {
			wg.Go(func() { r.Run(ctx) })
		}
	}
	return wg.Wait
}

// Options choose the collectors of New besides the basic ones.
type Options struct {
	// ProcessInterval is how often processes are scanned and temperatures
	// read, in the background; zero leaves both out.
	ProcessInterval time.Duration
	// Services is the watch list of Windows services.
	Services []string
	// Checks run every CheckInterval, each within CheckTimeout.
	Checks        []Check
	CheckInterval time.Duration
	CheckTimeout  time.Duration
	// Extra are collectors from other packages, such as the JMX bridge.
	Extra []Collector
	// Logger receives what a collector says once rather than as an error
	// every collection, such as a figure this system cannot give (per-core
	// CPU use under Wine); nil discards it.
	Logger *slog.Logger
}

// Default returns every built-in collector for this operating system, reading
// through src, with the process scan every DefaultProcessInterval.
func Default(src Source) *Set {
	return New(src, Options{ProcessInterval: DefaultProcessInterval})
}

// New returns the basic collectors for this operating system, reading
// through src, and those that o asks for.
func New(src Source, o Options) *Set {
	cpu := NewCPU(src)
	cpu.Logger = o.Logger
	cs := []Collector{
		cpu,
		&Memory{Source: src},
		&Swap{Source: src},
		&DiskUsage{Source: src},
		&DiskIO{Source: src},
		&Network{Source: src},
		&Uptime{Source: src},
	}
	cs = append(cs, osCollectors(src)...)
	sys := System{}
	if o.ProcessInterval > 0 {
		cs = append(cs,
			&Every{C: &Processes{Source: sys, Baseline: DefaultCPUBaseline}, Interval: o.ProcessInterval},
			&Every{C: &Temperature{Source: sys}, Interval: o.ProcessInterval})
	}
	if len(o.Services) > 0 {
		cs = append(cs, &Services{Source: sys, Names: o.Services})
	}
	if len(o.Checks) > 0 {
		iv := o.CheckInterval
		if iv <= 0 {
			iv = DefaultProcessInterval
		}
		cs = append(cs, &Every{C: &Checks{Checks: o.Checks, Timeout: o.CheckTimeout}, Interval: iv})
	}
	cs = append(cs, o.Extra...)
	return NewSet(cs...)
}

// Collect runs every collector. A failing collector does not stop the
// others: the snapshot holds what could be read, and the error joins the
// failures, each prefixed with the collector's name.
func (s *Set) Collect(ctx context.Context) (Snapshot, error) {
	return s.CollectInto(ctx, make([]Sample, 0, s.most.Load()))
}

// CollectInto is Collect with the snapshot's samples in buf's room (from
// its start), for a caller that is done with the samples of one snapshot
// before it takes the next, such as one that queues them
// (link.Client.Enqueue copies them) and passes the same buf again.
func (s *Set) CollectInto(ctx context.Context, buf []Sample) (Snapshot, error) {
	// The snapshot's time is when the collection started, so snapshots
	// are as regular as the ticker that starts them.
	at := s.now()
	sink := Sink{samples: buf[:0]}
	var errs []error
	for _, c := range s.collectors {
		if err := ctx.Err(); err != nil {
			return Snapshot{}, err
		}
		if err := c.Collect(ctx, &sink); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name(), err))
		}
	}
	if n := int64(len(sink.samples)); n > s.most.Load() {
		s.most.Store(n)
	}
	if sink.dropped > 0 {
		errs = append(errs, fmt.Errorf("dropped %d values that are NaN or infinite", sink.dropped))
	}
	return Snapshot{Time: at, Samples: sink.samples}, errors.Join(errs...)
}

// SortSamples orders samples by metric, then labels, for stable output.
func SortSamples(samples []Sample) {
	slices.SortStableFunc(samples, func(a, b Sample) int {
		if c := strings.Compare(a.Metric, b.Metric); c != 0 {
			return c
		}
		for i := 0; i < len(a.Labels) && i < len(b.Labels); i++ {
			if c := strings.Compare(a.Labels[i].Name, b.Labels[i].Name); c != 0 {
				return c
			}
			if c := compareNatural(a.Labels[i].Value, b.Labels[i].Value); c != 0 {
				return c
			}
		}
		return len(a.Labels) - len(b.Labels)
	})
}

// compareNatural compares so that "2" sorts before "10", which keeps per-core
// samples in core order.
func compareNatural(a, b string) int {
	if isDigits(a) && isDigits(b) && len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
