package hub

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"esmon/core/store"
)

// CloseRateLimit is the close code for an agent whose batch would have to
// wait longer than MaxThrottle for the sample-rate limit. The batch is not
// acknowledged, so the agent keeps it and sends it again after its backoff.
const CloseRateLimit = 4029

// Defaults of Limits.
const (
	DefaultMaxSeriesPerHost    = 50_000
	DefaultMaxSamplesPerSecond = 50_000
	DefaultMaxThrottle         = 20 * time.Second
)

// Limits bound what one host's agent may cost the core, so that one broken
// or hostile agent (a label with a request id in it, a loop that sends as
// fast as it can) cannot starve the store and the other agents. The zero
// value takes the defaults.
type Limits struct {
	// MaxSeriesPerHost is how many distinct series one host may define
	// since the core started. Samples of further series are dropped from
	// their batch, which is still acknowledged with the count and the
	// reason, so the host's other series keep flowing. Default 50,000
	// (a busy WebSphere host sends a few thousand).
	MaxSeriesPerHost int `yaml:"max_series_per_host"`
	// MaxSamplesPerSecond is the sustained rate of samples one host may
	// send; bursts of ten seconds' worth pass at once. A faster agent is
	// slowed down: its next batch is read only when the rate allows, and
	// its data waits in its own spool, not in the core. Default 50,000.
	MaxSamplesPerSecond float64 `yaml:"max_samples_per_second"`
	// MaxThrottle is the longest one batch is held for the rate; a batch
	// that would wait longer closes the connection with CloseRateLimit.
	// It must stay well under the agent's read timeout. Default 20s.
	MaxThrottle time.Duration `yaml:"max_throttle"`
}

func (l Limits) withDefaults() Limits {
	if l.MaxSeriesPerHost <= 0 {
		l.MaxSeriesPerHost = DefaultMaxSeriesPerHost
	}
	// A budget numbers its series in a uint32.
	l.MaxSeriesPerHost = min(l.MaxSeriesPerHost, math.MaxInt32)
	if l.MaxSamplesPerSecond <= 0 {
		l.MaxSamplesPerSecond = DefaultMaxSamplesPerSecond
	}
	if l.MaxThrottle <= 0 {
		l.MaxThrottle = DefaultMaxThrottle
	}
	return l
}

// limiter keeps each host's series budget and sample-rate bucket. It is
// shared by the host's connections, so a reconnect does not reset it.
type limiter struct {
	lim  Limits
	seed maphash.Seed
	// stop is closed by close: throttled readers give up their wait.
	stop     chan struct{}
	stopOnce sync.Once

	seriesRefused prometheus.Counter
	throttled     prometheus.Counter
	rateRefused   prometheus.Counter

	mu    sync.Mutex // guards hosts, every budget in it, and adding to names
	hosts map[string]*budget
	// names holds the names of admitted series of every host, in blocks:
	// one object for the collector to mark for the names of a thousand
	// series or so, and numbers in place of strings where they are
	// kept, which the collector does not scan. Admitted series are
	// never forgotten, nor are their names. Connections read them
	// without the lock.
	names store.NameTable
}

// budget is one host's share: the series it defined and its rate bucket.
type budget struct {
	// series are the host's series: the hash of a series' name to one
	// more than its index in names. Each series is described once, by
	// its name in the limiter's table, for all the host's connections,
	// which is why a connection itself keeps only that name's number per
	// series. Neither holds pointers, so the garbage collector scans
	// neither: a series was a slab entry with a metric, a slice of labels
	// and two strings per label, and a pointer in this map, about eight
	// pointers each for every collection to follow (620,000 series at
	// 10,000 agents), then a string here and one in each connection's
	// table (56 bytes a series to scan; BenchmarkSeriesHeap).
	series map[uint64]uint32
	names  []store.NameRef
	rate   *rate.Limiter
}

func newLimiter(l Limits) *limiter {
	return &limiter{
		lim: l.withDefaults(), seed: maphash.MakeSeed(), stop: make(chan struct{}), hosts: map[string]*budget{},
		seriesRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_agent_series_refused_total",
			Help: "Series definitions refused because their host reached max_series_per_host."}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_agent_throttled_seconds_total",
			Help: "Seconds agent batches were held back by max_samples_per_second."}),
		rateRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_agent_rate_limited_total",
			Help: "Agent connections closed because a batch would wait longer than max_throttle."}),
	}
}

// SetLimits replaces the limits of agent connections and registers their
// metrics with reg (unless nil). Call it before serving: connections open
// now keep the limits they started with.
func (a *Agents) SetLimits(l Limits, reg prometheus.Registerer) error {
	nl := newLimiter(l)
	if reg != nil {
		for _, c := range []prometheus.Collector{nl.seriesRefused, nl.throttled, nl.rateRefused} {
			if err := reg.Register(c); err != nil {
				return fmt.Errorf("register agent limit metrics: %w", err)
			}
		}
	}
	a.mu.Lock()
	a.lim = nl
	a.mu.Unlock()
	return nil
}

// limiter returns the limits in force for a new connection.
func (a *Agents) limiter() *limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lim == nil {
		a.lim = newLimiter(Limits{})
	}
	return a.lim
}

func (l *limiter) close() { l.stopOnce.Do(func() { close(l.stop) }) }

// budget returns host's budget; the caller holds l.mu.
func (l *limiter) budget(host string) *budget {
	b := l.hosts[host]
	if b == nil {
		burst := max(1, int(l.lim.MaxSamplesPerSecond*10))
		b = &budget{series: map[uint64]uint32{}, rate: rate.NewLimiter(rate.Limit(l.lim.MaxSamplesPerSecond), burst)}
		l.hosts[host] = b
	}
	return b
}

// admit reports whether host may define the series of name k (in
// store.AppendSeriesName's form, labels sorted, host label included): one
// it defined before, or a new one while it is under its series limit. It
// returns the series' name shared by the host's connections, a copy of k in
// the limiter's names, so the caller may reuse k.
func (l *limiter) admit(host string, k []byte) (store.NameRef, bool) {
	key := maphash.Bytes(l.seed, k)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.budget(host)
	if i, ok := b.series[key]; ok {
		if name := b.names[i-1]; l.names.String(name) == string(k) {
			return name, true
		}
		// Two series with one hash: admitted as the one counted, and
		// described on its own.
		return l.names.Add(k), true
	}
	if len(b.series) >= l.lim.MaxSeriesPerHost {
		l.seriesRefused.Inc()
		return 0, false
	}
	name := l.names.Add(k)
	b.names = append(b.names, name)
	b.series[key] = uint32(len(b.names))
	return name, true
}

// throttle waits until host may hand n more samples to the store. It
// returns a refusal when the wait would exceed MaxThrottle (the batch is
// then left unacknowledged) or ctx ends or the limiter is closed first.
func (l *limiter) throttle(ctx context.Context, host string, n int) error {
	if n == 0 {
		return nil
	}
	now := time.Now()
	l.mu.Lock()
	lim := l.budget(host).rate
	if lim.AllowN(now, n) { // what nearly every batch finds, without a reservation to allocate
		l.mu.Unlock()
		return nil
	}
	var rs []*rate.Reservation
	var wait time.Duration
	// A batch larger than the burst is reserved in burst-sized parts; the
	// last part's delay is the whole batch's.
	for left := n; left > 0; {
		k := min(left, lim.Burst())
		r := lim.ReserveN(now, k)
		rs = append(rs, r)
		wait = max(wait, r.DelayFrom(now))
		left -= k
	}
	l.mu.Unlock()
	cancel := func() {
		for i := len(rs) - 1; i >= 0; i-- {
			rs[i].CancelAt(now)
		}
	}
	if wait > l.lim.MaxThrottle {
		cancel()
		l.rateRefused.Inc()
		return &refusal{CloseRateLimit, fmt.Sprintf("over %g samples/s: batch of %d would wait %s; slow down", l.lim.MaxSamplesPerSecond, n, wait.Round(time.Second))}
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		l.throttled.Add(wait.Seconds())
		return nil
	case <-ctx.Done():
		cancel()
		return ctx.Err()
	case <-l.stop:
		cancel()
		return &refusal{CloseShuttingDown, "core shutting down"}
	}
}

// rejectReason is the reason an ack gives for the samples it dropped.
func rejectReason(nonFinite, unknown, overLimit, limit int) string {
	var parts []string
	if nonFinite > 0 || unknown > 0 {
		parts = append(parts, fmt.Sprintf("%d non-finite values (NaN or Inf), %d samples of undefined series ids", nonFinite, unknown))
	}
	if overLimit > 0 {
		parts = append(parts, fmt.Sprintf("%d samples of series over the host's limit of %d series (max_series_per_host)", overLimit, limit))
	}
	return strings.Join(parts, "; ")
}
