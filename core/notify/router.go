package notify

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/apiv1"
	"esmon/core/internal/pause"
	"esmon/core/store"
)

// Route sends the transitions of alerts at or above MinSeverity to Channel.
// An empty MinSeverity takes every transition, whatever its severity.
type Route struct {
	Channel     Notifier
	MinSeverity string
	// Always keeps the channel on every transition, even those of a rule
	// that names its own channels (the log, the record of everything).
	Always bool
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
	// Outbox, when set, makes delivery durable: each notification is
	// written there before it is queued and deleted once its channel took
	// it (or refused it for good), and what NewRouter finds there is sent
	// first, except what a channel had in hand when the core died (see
	// RedeliverUnknown). Stop then leaves what is still unsent in the Outbox for the
	// next start instead of waiting out a channel that is down.
	Outbox Outbox
	// RedeliverUnknown chooses what happens to notifications a channel had
	// in hand when the core stopped without hearing its answer (a crash,
	// a kill): by default they are not sent again, so that nothing reaches
	// a channel twice, and are kept as "delivery unknown" (see Unknown).
	// Set, they are sent again, marked Redelivery with their notification
	// id, for teams that prefer a possible duplicate to a possible loss.
	RedeliverUnknown bool
	// GroupWait is how long a sender waits after the first notification of
	// a burst before it sends, so that alerts firing together reach the
	// channel as one message. Default 0: send at once.
	GroupWait time.Duration
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
		o.Sleep = pause.For
	}
	return o
}

// Outcomes counted by esmon_notify_notifications_total, one per transition.
const (
	OutcomeSent    = "sent"    // the channel took it
	OutcomeFailed  = "failed"  // given up: a permanent error or too many attempts
	OutcomeRetried = "retried" // one more try is scheduled after a temporary error
	OutcomeDropped = "dropped" // never delivered: the queue overflowed or Stop's deadline passed
	// OutcomeUnknown counts notifications the core stopped while the
	// channel had them in hand, found at the next start and not sent
	// again (at most once); see idempotency.go.
	OutcomeUnknown = "unknown"
	// OutcomeRedelivered counts notifications sent again after such a
	// stop, with Options.RedeliverUnknown.
	OutcomeRedelivered = "redelivered"
)

// Outbox is the durable record of notifications not yet sent; store.KV
// satisfies it. Keys start with store.PrefixOutbox.
type Outbox interface {
	Put(key, value []byte) error
	Delete(key []byte) error
	Scan(prefix []byte, fn func(key, value []byte) bool) error
}

// RetryAfterError is a temporary refusal that says how long to wait, such as
// an HTTP 429 or 503 with Retry-After. The Router waits After (capped at
// MaxBackoff) instead of its own backoff before the next try.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// Router hands each alert transition to the channels routed for its
// severity, or to the channels its rule names. Every channel has its own
// bounded queue and its own sender goroutine, so a slow or broken channel
// delays nobody else. With an Outbox, every notification is on disk before
// it is queued and leaves it only once its channel answered, so a restart
// loses nothing that no channel had in hand; what one had in hand when the
// core died is, by default, kept as "delivery unknown" rather than sent
// twice (see idempotency.go).
// NewRouter starts the senders; Stop ends them.
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

	seqMu sync.Mutex // guards seq
	// seq numbers outbox records so that a channel's records sort in the
	// order they were sent.
	seq uint64

	notifications *prometheus.CounterVec
	queueLength   *prometheus.GaugeVec
}

type route struct {
	minRank int
	always  bool
	s       *sender
}

// item is one queued notification: the transition and, with an Outbox, the
// key of its record there.
type item struct {
	key []byte
	t   apiv1.Transition
}

// NewRouter checks the routes, registers the Router's metrics with reg
// (unless reg is nil), loads what the Outbox still holds and starts one
// sender goroutine per channel. A channel may appear in one route only, so
// that no transition reaches it twice.
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
			Help:      "Alert transitions handled per notification channel, by outcome: sent, failed (given up), retried (per retry), dropped (queue overflow or shutdown), unknown (the core stopped while the channel had it; not sent again), redelivered (sent again after such a stop).",
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
			r:           r,
			n:           rt.Channel,
			name:        name,
			minSeverity: rt.MinSeverity,
			wake:        make(chan struct{}, 1),
			queued:      r.queueLength.WithLabelValues(name),
			outcome:     map[string]prometheus.Counter{},
		}
		for _, o := range []string{OutcomeSent, OutcomeFailed, OutcomeRetried, OutcomeDropped, OutcomeUnknown, OutcomeRedelivered} {
			s.outcome[o] = r.notifications.WithLabelValues(name, o)
		}
		r.senders = append(r.senders, s)
		r.routes = append(r.routes, route{minRank: rank, always: rt.Always, s: s})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("notify routes: %w", err)
	}
	if opts.Outbox != nil {
		if err := r.load(); err != nil {
			return nil, err
		}
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

// Outbox keys are PrefixOutbox, the channel name, a kind byte and a
// big-endian sequence number. Kind recordKind holds a notification not yet
// answered by its channel (sequence 0 is the channel's in-flight mark
// instead, see idempotency.go); kind unknownKind holds one whose delivery is
// unknown.
const (
	recordKind  = 0
	unknownKind = 1
)

// outboxKey is the key of channel's record seq.
func outboxKey(channel string, seq uint64) []byte { return kindKey(channel, recordKind, seq) }

func kindKey(channel string, kind byte, seq uint64) []byte {
	k := make([]byte, 0, 1+len(channel)+1+8)
	k = append(k, store.PrefixOutbox)
	k = append(k, channel...)
	k = append(k, kind)
	return binary.BigEndian.AppendUint64(k, seq)
}

// parseKey splits an outbox key; ok is false for a key of no known shape.
func parseKey(k []byte) (channel string, kind byte, seq uint64, ok bool) {
	if len(k) < 1+1+1+8 {
		return "", 0, 0, false
	}
	kind = k[len(k)-9]
	if kind != recordKind && kind != unknownKind {
		return "", 0, 0, false
	}
	return string(k[1 : len(k)-9]), kind, binary.BigEndian.Uint64(k[len(k)-8:]), true
}

// load queues what the Outbox holds for each channel, oldest first, settles
// what a channel had in hand when the core last stopped (see
// idempotency.go), and forgets records of channels that are no longer
// configured.
func (r *Router) load() error {
	ob := r.opts.Outbox
	byName := map[string]*sender{}
	for _, s := range r.senders {
		byName[s.name] = s
	}
	var stale [][]byte
	var bad int
	marks := map[*sender][]byte{}
	err := ob.Scan([]byte{store.PrefixOutbox}, func(k, v []byte) bool {
		name, kind, seq, ok := parseKey(k)
		s := byName[name]
		if !ok || s == nil {
			if !ok {
				bad++
			}
			stale = append(stale, slices.Clone(k))
			return true
		}
		if kind == recordKind && seq == 0 {
			marks[s] = slices.Clone(v)
			return true
		}
		r.seq = max(r.seq, seq)
		var t apiv1.Transition
		if json.Unmarshal(v, &t) != nil {
			bad++
			stale = append(stale, slices.Clone(k))
			return true
		}
		it := item{key: slices.Clone(k), t: t}
		if kind == unknownKind {
			s.unknown = append(s.unknown, it)
		} else {
			s.queue = append(s.queue, it)
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("load notify outbox: %w", err)
	}
	for _, k := range stale {
		if err := ob.Delete(k); err != nil {
			return fmt.Errorf("clean notify outbox: %w", err)
		}
	}
	if len(stale) > 0 {
		r.log.Warn("notify outbox: dropped records of unknown channels or unreadable", "records", len(stale), "unreadable", bad)
	}
	for _, s := range r.senders {
		mark, ok := marks[s]
		if !ok {
			continue
		}
		if err := s.settle(mark); err != nil {
			return fmt.Errorf("load notify outbox: %w", err)
		}
	}
	for _, s := range r.senders {
		if err := s.trimUnknown(); err != nil {
			return fmt.Errorf("load notify outbox: %w", err)
		}
		if n := len(s.queue); n > 0 {
			s.queued.Set(float64(n))
			s.wake <- struct{}{}
			r.log.Info("notify outbox: sending notifications left from before", "channel", s.name, "transitions", n)
		}
	}
	return nil
}

// Routed reports whether the Router passes t on at all: an alert that
// starts firing, changes severity while firing, resolves, or is due a
// repeat or an escalation is news for a channel; pending and cleared
// alerts, acknowledgements and muted transitions stay in the history and
// on the live feed.
func Routed(t apiv1.Transition) bool {
	return (t.To == apiv1.StateFiring || t.To == apiv1.StateResolved) &&
		t.Reason != "acknowledged" && t.Reason != "unacknowledged"
}

// wants reports whether route rt takes t.
func (rt route) wants(t apiv1.Transition) bool {
	if !Routed(t) {
		return false
	}
	if rt.always {
		return true
	}
	if t.Muted {
		return false
	}
	// An escalation goes to its step's channels, whatever the rule's
	// routing: that is its point.
	if len(t.EscalateTo) > 0 {
		return slices.Contains(t.EscalateTo, rt.s.name)
	}
	if t.Escalated != "" {
		return t.Escalated == rt.s.name
	}
	if chs := t.Alert.Channels; len(chs) > 0 {
		return slices.Contains(chs, rt.s.name)
	}
	return apiv1.SeverityRank(t.Alert.Severity) >= rt.minRank
}

// Send queues each transition for the channels routed for it and returns
// at once; it never blocks on a channel. A muted transition (silence,
// maintenance) reaches only Always routes. A transition whose rule names
// channels goes to those (and to Always routes) whatever its severity; an
// escalation goes to its step's channels; any other goes by severity, and
// one whose severity is unknown reaches only routes without a MinSeverity.
// With an Outbox, each notification is written there before Send returns.
// After Stop, transitions are dropped and counted.
func (r *Router) Send(ts ...apiv1.Transition) {
	ts = slices.Clone(ts)
	for i := range ts {
		if ts[i].NotificationID == "" {
			ts[i].NotificationID = newNotificationID()
		}
	}
	for _, rt := range r.routes {
		var mine []item
		for _, t := range ts {
			if rt.wants(t) {
				mine = append(mine, item{t: t})
			}
		}
		if len(mine) > 0 {
			rt.s.enqueue(mine)
		}
	}
}

// Channels lists the configured channels with what each waits to send.
func (r *Router) Channels() []apiv1.Channel {
	out := make([]apiv1.Channel, 0, len(r.senders))
	for i, s := range r.senders {
		s.mu.Lock()
		n := len(s.queue)
		s.mu.Unlock()
		out = append(out, apiv1.Channel{Name: s.name, MinSeverity: s.minSeverity, Always: r.routes[i].always, Queued: n})
	}
	return out
}

// Unknown returns the notifications whose delivery to channel is unknown,
// oldest first: the core stopped while the channel had them in hand, before
// it heard the answer, and (without Options.RedeliverUnknown) did not send
// them again. The last maxUnknown per channel are kept, in the outbox, over
// restarts. Nil for a channel that is not configured.
func (r *Router) Unknown(channel string) []apiv1.Transition {
	for _, s := range r.senders {
		if s.name != channel {
			continue
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		out := make([]apiv1.Transition, len(s.unknown))
		for i, it := range s.unknown {
			out[i] = it.t
		}
		return out
	}
	return nil
}

// ErrNoChannel is returned by Test for a channel that is not configured.
var ErrNoChannel = errors.New("no such notification channel")

// Test sends one made-up transition straight to channel name, bypassing
// queue, outbox and retry, so that a person sees at once whether the channel
// works and, if not, why.
func (r *Router) Test(ctx context.Context, name, by string) error {
	for _, s := range r.senders {
		if s.name != name {
			continue
		}
		now := time.Now()
		t := apiv1.Transition{
			Alert: apiv1.Alert{
				ID: "test", RuleID: "test", RuleName: "Test notification", Host: "esmon",
				Severity: apiv1.SeverityInfo, State: apiv1.StateFiring, Summary: "Test notification from esmon, sent by " + by,
				ActiveAt: now, FiredAt: now,
			},
			From: apiv1.StateInactive, To: apiv1.StateFiring, At: now,
		}
		ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
		defer cancel()
		if _, err := s.n.Notify(ctx, t); err != nil {
			return fmt.Errorf("test %s: %w", name, err)
		}
		return nil
	}
	return ErrNoChannel
}

// Stop stops taking transitions and waits for every channel to send what
// is queued. Without an Outbox, retries are waited for too; when ctx is
// done first, deliveries in flight are cancelled, what is left is dropped,
// counted and logged. With an Outbox, a channel that is failing is not
// waited for: what it has not taken stays in the Outbox for the next
// start. Stop returns ctx's error if it had to cut deliveries short, once
// the senders have exited. Stop may be called more than once.
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

// nextSeq returns the next outbox sequence number.
func (r *Router) nextSeq() uint64 {
	r.seqMu.Lock()
	defer r.seqMu.Unlock()
	r.seq++
	return r.seq
}

// sender owns one channel's queue and the goroutine that empties it.
type sender struct {
	r           *Router
	n           Notifier
	name        string
	minSeverity string
	// wake holds at most one pending signal that the queue has grown.
	wake   chan struct{}
	queued prometheus.Gauge
	// outcome holds the counter per outcome; it is filled by NewRouter and
	// only read afterwards.
	outcome map[string]prometheus.Counter

	mu sync.Mutex // guards queue, inflight, firstBatch, closed and unknown
	// writeMu orders enqueues: their outbox writes run outside mu.
	writeMu sync.Mutex
	// queue holds notifications not yet handed to the channel, oldest first;
	// its first inflight items are being delivered.
	queue    []item
	inflight int
	// firstBatch, when set, is the size of the first batch: the
	// notifications a channel had in hand when the core last stopped,
	// sent again exactly as they were (see idempotency.go).
	firstBatch int
	// closed is set when the sender has drained after Stop and exits.
	closed bool
	// unknown holds the notifications whose delivery is unknown, oldest
	// first, at most maxUnknown (see idempotency.go).
	unknown []item
}

func (s *sender) count(outcome string, n int) {
	s.outcome[outcome].Add(float64(n))
}

// forget deletes the outbox records of items that are done with: sent,
// refused for good, or dropped.
func (s *sender) forget(items []item) {
	ob := s.r.opts.Outbox
	if ob == nil {
		return
	}
	for _, it := range items {
		if it.key == nil {
			continue
		}
		if err := ob.Delete(it.key); err != nil {
			s.r.log.Error("notify outbox: delete", "channel", s.name, "err", err)
		}
	}
}

// outboxChunk bounds the records one enqueue writes before it queues them,
// and outboxWriters the writes in flight at once, which share the store's
// group commits: a burst of thousands of notifications is written in
// bounded steps, and the channel's sender is never shut out for long.
const (
	outboxChunk   = 256
	outboxWriters = 16
)

func (s *sender) enqueue(items []item) {
	if s.isClosed() {
		s.count(OutcomeDropped, len(items))
		s.r.log.Warn("notification dropped: router stopped", "channel", s.name, "transitions", len(items))
		return
	}
	// writeMu keeps the queue in the order of the outbox's sequence
	// numbers; s.mu is not held across the writes, so the sender and
	// Channels never wait on them.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	for len(items) > 0 {
		n := min(len(items), outboxChunk)
		s.queueChunk(items[:n])
		items = items[n:]
	}
}

func (s *sender) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// writeOutbox gives each item an outbox record; the caller holds writeMu.
func (s *sender) writeOutbox(items []item) {
	ob := s.r.opts.Outbox
	if ob == nil {
		return
	}
	vals := make([][]byte, len(items))
	for i := range items {
		b, err := json.Marshal(items[i].t)
		if err != nil {
			s.r.log.Error("notify outbox: encode", "channel", s.name, "err", err)
			continue
		}
		vals[i] = b
		items[i].key = outboxKey(s.name, s.r.nextSeq())
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(outboxWriters, len(items)) {
		wg.Go(func() {
			for i := range next {
				if err := ob.Put(items[i].key, vals[i]); err != nil {
					// Still sent, just not durably: better late than never.
					items[i].key = nil
					s.r.log.Error("notify outbox: write", "channel", s.name, "err", err)
				}
			}
		})
	}
	for i := range items {
		if items[i].key != nil {
			next <- i
		}
	}
	close(next)
	wg.Wait()
}

// queueChunk writes items to the outbox and queues them; the caller holds
// writeMu.
func (s *sender) queueChunk(items []item) {
	s.writeOutbox(items)
	s.mu.Lock()
	if s.closed {
		// Stopped while writing: the records wait in the outbox for the
		// next start, like the rest of the queue.
		s.mu.Unlock()
		if s.r.opts.Outbox == nil {
			s.count(OutcomeDropped, len(items))
			s.r.log.Warn("notification dropped: router stopped", "channel", s.name, "transitions", len(items))
		}
		return
	}
	s.queue = append(s.queue, items...)
	var dropped []item
	if over := len(s.queue) - s.inflight - s.r.opts.QueueSize; over > 0 {
		dropped = slices.Clone(s.queue[s.inflight : s.inflight+over])
		s.queue = slices.Delete(s.queue, s.inflight, s.inflight+over)
	}
	s.queued.Set(float64(len(s.queue) - s.inflight))
	s.mu.Unlock()

	if len(dropped) > 0 {
		s.forget(dropped)
		s.count(OutcomeDropped, len(dropped))
		s.r.log.Warn("notification queue full, oldest dropped", "channel", s.name, "dropped", len(dropped), "queue_size", s.r.opts.QueueSize)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// peek returns up to BatchSize items from the head of the queue without
// removing them, so that a crash or a stop mid-delivery keeps them. On the
// last pass it marks the sender closed when nothing is left, under the same
// lock, so no later enqueue is lost.
func (s *sender) peek(last bool) []item {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		if last {
			s.closed = true
		}
		return nil
	}
	n := min(len(s.queue), s.r.opts.BatchSize)
	if s.firstBatch > 0 {
		n, s.firstBatch = min(n, s.firstBatch), 0
	}
	s.inflight = n
	s.queued.Set(float64(len(s.queue) - n))
	return slices.Clone(s.queue[:n])
}

// done removes the first n items of the queue (the head peek returned) and
// their outbox records.
func (s *sender) done(n int) {
	s.mu.Lock()
	items := slices.Clone(s.queue[:n])
	s.queue = append(s.queue[:0], s.queue[n:]...)
	s.inflight = max(0, s.inflight-n)
	s.queued.Set(float64(len(s.queue) - s.inflight))
	s.mu.Unlock()
	s.forget(items)
}

// close marks the sender closed and empties its queue, leaving the records
// in the outbox, and returns how many items were left.
func (s *sender) close() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.queue)
	s.queue, s.inflight = nil, 0
	s.closed = true
	s.queued.Set(0)
	return n
}

func (s *sender) run(ctx context.Context, stopping <-chan struct{}) {
	defer s.r.wg.Done()
	for {
		select {
		case <-s.wake:
			if w := s.r.opts.GroupWait; w > 0 {
				select {
				case <-time.After(w):
				case <-stopping:
				}
			}
			if !s.flush(ctx, stopping, false) {
				return
			}
		case <-stopping:
			s.flush(ctx, stopping, true)
			return
		}
	}
}

// flush sends the queue until it is empty. It returns false when it left
// the rest in the outbox because the router is stopping.
func (s *sender) flush(ctx context.Context, stopping <-chan struct{}, last bool) bool {
	for {
		batch := s.peek(last)
		if batch == nil {
			return true
		}
		if ctx.Err() != nil && s.r.opts.Outbox == nil {
			s.count(OutcomeDropped, len(batch))
			s.done(len(batch))
			s.r.log.Error("notification dropped: router stopped before it was sent", "channel", s.name, "transitions", len(batch))
			continue
		}
		if ctx.Err() != nil || !s.deliver(ctx, stopping, batch) {
			if n := s.close(); n > 0 {
				s.r.log.Info("notify outbox: kept unsent notifications for the next start", "channel", s.name, "transitions", n)
			}
			return false
		}
	}
}

// deliver hands batch to the channel, retrying with backoff while the
// channel calls its failure temporary. Transitions a *PartialError reports
// as delivered are not sent again. It returns false when it stopped
// because the router is stopping and the rest stays in the outbox.
func (s *sender) deliver(ctx context.Context, stopping <-chan struct{}, batch []item) bool {
	opts := s.r.opts
	ts := make([]apiv1.Transition, len(batch))
	for i, it := range batch {
		ts[i] = it.t
	}
	for attempt := 1; ; attempt++ {
		// The in-flight window is the channel call alone: the mark is
		// written just before it, and replaced by the list of what the
		// answer settled just after it (see idempotency.go).
		cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		s.markSending(batch[len(batch)-len(ts):])
		retry, err := s.n.Notify(cctx, ts...)
		cancel()
		delivered := len(ts)
		if err != nil {
			delivered = 0
			if pe := (*PartialError)(nil); errors.As(err, &pe) && pe.Delivered > 0 {
				delivered = min(pe.Delivered, len(ts))
			}
		}
		giveUp := delivered < len(ts) && (!retry || (opts.MaxAttempts > 0 && attempt >= opts.MaxAttempts))
		settled := delivered
		if giveUp {
			settled = len(ts)
		}
		answered := batch[len(batch)-len(ts):][:settled]
		s.markAnswered(answered)
		if delivered > 0 {
			s.count(OutcomeSent, delivered)
		}
		if giveUp {
			s.count(OutcomeFailed, len(ts)-delivered)
		}
		s.done(settled)
		if settled > 0 {
			s.clearInflight()
		}
		switch {
		case delivered == len(ts):
			return true
		case giveUp && !retry:
			s.r.log.Error("notification failed, not retrying", "channel", s.name, "transitions", len(ts)-delivered, "attempt", attempt, "err", err)
			return true
		case giveUp:
			s.r.log.Error("notification failed, giving up", "channel", s.name, "transitions", len(ts)-delivered, "attempts", attempt, "err", err)
			return true
		}
		ts = ts[delivered:]
		wait := s.r.backoff(attempt)
		if ra := (*RetryAfterError)(nil); errors.As(err, &ra) && ra.After > 0 {
			wait = min(ra.After, opts.MaxBackoff)
		}
		s.count(OutcomeRetried, len(ts))
		s.r.log.Warn("notification failed, will retry", "channel", s.name, "transitions", len(ts), "attempt", attempt, "retry_in", wait, "err", err)
		sctx := ctx
		if opts.Outbox != nil {
			// With an outbox nothing is lost by not waiting: stop now.
			var cancel context.CancelFunc
			sctx, cancel = context.WithCancel(ctx)
			go func() {
				select {
				case <-stopping:
					cancel()
				case <-sctx.Done():
				}
			}()
			err := opts.Sleep(sctx, wait)
			cancel()
			if err != nil {
				return false
			}
			continue
		}
		if err := opts.Sleep(sctx, wait); err != nil {
			s.count(OutcomeDropped, len(ts))
			s.done(len(ts))
			s.r.log.Error("notification dropped: router stopped during retry", "channel", s.name, "transitions", len(ts), "attempts", attempt)
			return true
		}
	}
}
