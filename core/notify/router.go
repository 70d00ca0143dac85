package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/apiv1"
)

// Route sends the transitions of alerts at or above MinSeverity to Channel.
// An empty MinSeverity takes every transition, whatever its severity.
type Route struct {
	Channel     Notifier
	MinSeverity string
}

// Options tune a Router. The zero value gives the defaults below.
type Options struct {
	// QueueSize bounds the transitions waiting for one channel; when it is
	// full the oldest is dropped and counted. Default 1000.
	QueueSize int
	// BatchSize is the most transitions handed to one Notify call. Default 64.
	BatchSize int
	// Timeout bounds one Notify call. Default 30s.
	Timeout time.Duration
	// MinBackoff is the wait before the first retry; each further retry
	// waits twice as long, up to MaxBackoff. Defaults 1s and 5m.
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts is how many times a batch is tried before the Router gives
	// up on it. Default 12 (about 14 minutes with the default backoff);
	// negative means until Stop.
	MaxAttempts int
	// Logger receives retries, give-ups and drops. Default slog.Default().
	Logger *slog.Logger
	// Sleep waits d, or less if ctx is done, and then returns ctx.Err().
	// Tests replace it to run backoff without waiting. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o Options) withDefaults() Options {
	if o.QueueSize <= 0 {
		o.QueueSize = 1000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 12
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return o
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Outcomes counted by esmon_notify_notifications_total, one per transition.
const (
	OutcomeSent    = "sent"    // the channel took it
	OutcomeFailed  = "failed"  // given up: a permanent error or too many attempts
	OutcomeRetried = "retried" // one more try is scheduled after a temporary error
	OutcomeDropped = "dropped" // never delivered: the queue overflowed or Stop's deadline passed
)

// Router hands each alert transition to the channels routed for its
// severity. Every channel has its own bounded queue and its own sender
// goroutine, so a slow or broken channel delays nobody else. NewRouter starts
// the senders; Stop ends them.
type Router struct {
	opts    Options
	log     *slog.Logger
	routes  []route
	senders []*sender

	// ctx bounds every delivery; Stop cancels it once its deadline passes.
	ctx    context.Context
	cancel context.CancelFunc
	// stopping is closed by Stop: the senders drain their queues and exit.
	stopping chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	notifications *prometheus.CounterVec
	queueLength   *prometheus.GaugeVec
}

type route struct {
	minRank int
	s       *sender
}

// NewRouter checks the routes, registers the Router's metrics with reg
// (unless reg is nil) and starts one sender goroutine per channel. A channel
// may appear in one route only, so that no transition reaches it twice.
func NewRouter(routes []Route, reg prometheus.Registerer, opts Options) (*Router, error) {
	opts = opts.withDefaults()
	r := &Router{
		opts:     opts,
		log:      opts.Logger,
		stopping: make(chan struct{}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "esmon",
			Subsystem: "notify",
			Name:      "notifications_total",
			Help:      "Alert transitions handled per notification channel, by outcome: sent, failed (given up), retried (per retry), dropped (queue overflow or shutdown).",
		}, []string{"channel", "outcome"}),
		queueLength: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "esmon",
			Subsystem: "notify",
			Name:      "queue_length",
			Help:      "Alert transitions waiting to be sent, per notification channel.",
		}, []string{"channel"}),
	}

	var errs []error
	seen := map[string]bool{}
	for i, rt := range routes {
		if rt.Channel == nil {
			errs = append(errs, fmt.Errorf("route %d: no channel", i))
			continue
		}
		name := rt.Channel.Name()
		rank := 0
		if rt.MinSeverity != "" {
			rank = apiv1.SeverityRank(rt.MinSeverity)
			if rank == 0 {
				errs = append(errs, fmt.Errorf("route %d (%s): unknown severity %q", i, name, rt.MinSeverity))
			}
		}
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("route %d: channel has no name", i))
			continue
		case seen[name]:
			errs = append(errs, fmt.Errorf("route %d: channel %q is routed twice", i, name))
			continue
		}
		seen[name] = true
		s := &sender{
			r:       r,
			n:       rt.Channel,
			name:    name,
			wake:    make(chan struct{}, 1),
			queued:  r.queueLength.WithLabelValues(name),
			outcome: map[string]prometheus.Counter{},
		}
		for _, o := range []string{OutcomeSent, OutcomeFailed, OutcomeRetried, OutcomeDropped} {
			s.outcome[o] = r.notifications.WithLabelValues(name, o)
		}
		r.senders = append(r.senders, s)
		r.routes = append(r.routes, route{minRank: rank, s: s})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("notify routes: %w", err)
	}
	if reg != nil {
		if err := reg.Register(r.notifications); err != nil {
			return nil, fmt.Errorf("register notify metrics: %w", err)
		}
		if err := reg.Register(r.queueLength); err != nil {
			reg.Unregister(r.notifications)
			return nil, fmt.Errorf("register notify metrics: %w", err)
		}
	}

	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(len(r.senders))
	for _, s := range r.senders {
		go s.run(r.ctx, r.stopping)
	}
	return r, nil
}

// Routed reports whether the Router passes t on at all: only an alert that
// starts firing or resolves is news for a channel; pending and cleared
// alerts stay in the history.
func Routed(t apiv1.Transition) bool {
	return t.To == apiv1.StateFiring || t.To == apiv1.StateResolved
}

// Send queues each transition for the channels routed for its severity and
// returns at once; it never blocks on a channel. A transition whose severity
// is unknown reaches only routes without a MinSeverity. After Stop,
// transitions are dropped and counted.
func (r *Router) Send(ts ...apiv1.Transition) {
	for _, rt := range r.routes {
		var mine []apiv1.Transition
		for _, t := range ts {
			if Routed(t) && apiv1.SeverityRank(t.Alert.Severity) >= rt.minRank {
				mine = append(mine, t)
			}
		}
		if len(mine) > 0 {
			rt.s.enqueue(mine)
		}
	}
}

// Stop stops taking transitions and waits for every channel to send what
// is queued, retries included. When ctx is done first, deliveries in flight
// are cancelled, what is left is dropped, counted and logged, and Stop
// returns ctx's error once the senders have exited. Stop may be called more
// than once.
func (r *Router) Stop(ctx context.Context) error {
	r.stopOnce.Do(func() { close(r.stopping) })
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		r.cancel()
		return nil
	case <-ctx.Done():
		r.cancel()
		<-done
		return fmt.Errorf("notify: stop before queues drained: %w", ctx.Err())
	}
}

// backoff is the wait after the attempt'th failed try.
func (r *Router) backoff(attempt int) time.Duration {
	d := r.opts.MinBackoff
	for i := 1; i < attempt && d < r.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, r.opts.MaxBackoff)
}

// sender owns one channel's queue and the goroutine that empties it.
type sender struct {
	r    *Router
	n    Notifier
	name string
	// wake holds at most one pending signal that the queue has grown.
	wake   chan struct{}
	queued prometheus.Gauge
	// outcome holds the counter per outcome; it is filled by NewRouter and
	// only read afterwards.
	outcome map[string]prometheus.Counter

	mu sync.Mutex // guards queue and closed
	// queue holds transitions not yet handed to the channel, oldest first.
	queue []apiv1.Transition
	// closed is set when the sender has drained after Stop and exits.
	closed bool
}

func (s *sender) count(outcome string, n int) {
	s.outcome[outcome].Add(float64(n))
}

func (s *sender) enqueue(ts []apiv1.Transition) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.count(OutcomeDropped, len(ts))
		s.r.log.Warn("notification dropped: router stopped", "channel", s.name, "transitions", len(ts))
		return
	}
	s.queue = append(s.queue, ts...)
	over := len(s.queue) - s.r.opts.QueueSize
	if over > 0 {
		s.queue = append(s.queue[:0], s.queue[over:]...)
	}
	s.queued.Set(float64(len(s.queue)))
	s.mu.Unlock()

	if over > 0 {
		s.count(OutcomeDropped, over)
		s.r.log.Warn("notification queue full, oldest dropped", "channel", s.name, "dropped", over, "queue_size", s.r.opts.QueueSize)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take removes and returns up to BatchSize transitions from the head of the
// queue. On the last pass it marks the sender closed when nothing is left,
// under the same lock, so no later enqueue is lost.
func (s *sender) take(last bool) []apiv1.Transition {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		if last {
			s.closed = true
		}
		return nil
	}
	n := min(len(s.queue), s.r.opts.BatchSize)
	batch := make([]apiv1.Transition, n)
	copy(batch, s.queue)
	s.queue = append(s.queue[:0], s.queue[n:]...)
	s.queued.Set(float64(len(s.queue)))
	return batch
}

func (s *sender) run(ctx context.Context, stopping <-chan struct{}) {
	defer s.r.wg.Done()
	for {
		select {
		case <-s.wake:
			s.flush(ctx, false)
		case <-stopping:
			s.flush(ctx, true)
			return
		}
	}
}

func (s *sender) flush(ctx context.Context, last bool) {
	for {
		batch := s.take(last)
		if batch == nil {
			return
		}
		if ctx.Err() != nil {
			s.count(OutcomeDropped, len(batch))
			s.r.log.Error("notification dropped: router stopped before it was sent", "channel", s.name, "transitions", len(batch))
			continue
		}
		s.deliver(ctx, batch)
	}
}

// deliver hands batch to the channel, retrying with backoff while the
// channel calls its failure temporary. Transitions a *PartialError reports
// as delivered are not sent again.
func (s *sender) deliver(ctx context.Context, batch []apiv1.Transition) {
	opts := s.r.opts
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		retry, err := s.n.Notify(cctx, batch...)
		cancel()
		if err == nil {
			s.count(OutcomeSent, len(batch))
			return
		}
		if pe := (*PartialError)(nil); errors.As(err, &pe) && pe.Delivered > 0 {
			d := min(pe.Delivered, len(batch))
			s.count(OutcomeSent, d)
			batch = batch[d:]
			if len(batch) == 0 {
				return
			}
		}
		if !retry {
			s.count(OutcomeFailed, len(batch))
			s.r.log.Error("notification failed, not retrying", "channel", s.name, "transitions", len(batch), "attempt", attempt, "err", err)
			return
		}
		if opts.MaxAttempts > 0 && attempt >= opts.MaxAttempts {
			s.count(OutcomeFailed, len(batch))
			s.r.log.Error("notification failed, giving up", "channel", s.name, "transitions", len(batch), "attempts", attempt, "err", err)
			return
		}
		wait := s.r.backoff(attempt)
		s.count(OutcomeRetried, len(batch))
		s.r.log.Warn("notification failed, will retry", "channel", s.name, "transitions", len(batch), "attempt", attempt, "retry_in", wait, "err", err)
		if err := opts.Sleep(ctx, wait); err != nil {
			s.count(OutcomeDropped, len(batch))
			s.r.log.Error("notification dropped: router stopped during retry", "channel", s.name, "transitions", len(batch), "attempts", attempt)
			return
		}
	}
}
