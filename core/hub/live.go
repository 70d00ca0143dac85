package hub

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/maphash"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/apiv1"
)

// CloseTooSlow is sent to a live subscriber whose queue overflowed; the page
// reconnects and gets a fresh snapshot.
const CloseTooSlow = 4008

// CloseSignedOut ends a live connection whose session or token ended
// (sign-out, a disabled or demoted user, a revoked token); the page goes
// back to its sign-in form.
const CloseSignedOut = 4401

// validityCheck is how often an open live connection asks whether the
// credential it was opened with still stands.
const validityCheck = time.Second

// Sizes and times of the /ws/live fan-out.
const (
	// liveRingMin and liveRingMax bound how many encoded events the feed
	// keeps for pages that have not sent them yet: its bounded queue,
	// shared by every page. A page further behind than the ring is closed
	// with CloseTooSlow. The ring starts at liveRingMin (2 s of 10,000
	// agents at 5 s) and doubles whenever a page would otherwise lose
	// events, up to liveRingMax: 131,072 events are 65 s of 10,000 agents
	// (about 15 MB with their encodings) and hold a burst of every host
	// going offline at once. A page must be able to fall that far behind
	// while a thousand pages connect at once (after a core restart), each
	// taking a snapshot of every host first: at a fixed 32,768 (16 s), 250
	// to 960 of 1,000 pages connecting to a core with 10,000 agents were
	// closed as too slow before their snapshot was through. A feed whose
	// pages keep up keeps the small ring (8 MB of ring entries would be
	// 8 KB a page at 1,000 pages).
	liveRingMin = 1 << 12
	liveRingMax = 1 << 17
	// liveMaxBatch bounds the events in one message.
	liveMaxBatch = 4096
	// liveMinGap is the least time between two messages to one page.
	// A page that has had nothing for that long gets the next event at
	// once; on a busy feed, what piles up in the gap goes as one message.
	// It trades up to liveMinGap of delay for far fewer writes (system
	// calls, TLS records, wake-ups of the reader) when thousands of
	// hosts report.
	liveMinGap = 50 * time.Millisecond
	// liveGapPages and liveMaxGap widen the gap as pages grow in number:
	// beyond liveGapPages pages it grows in proportion to them, up to
	// liveMaxGap. Each message costs the core a system call and a TLS
	// record, and the page a wake-up, whatever it carries; with
	// thousands of hosts reporting, a thousand pages at 50 ms would be
	// 20,000 writes a second. At 1,000 pages the gap is 150 ms: an
	// update is still on every page well inside a quarter of a second.
	liveGapPages = 250
	liveMaxGap   = 150 * time.Millisecond
	// liveSnapshotReuse is how long a snapshot's encoding serves new
	// pages, which then get the events since it from the queue: a
	// thousand pages connecting at once cost one snapshot, not a thousand.
	liveSnapshotReuse = time.Second
	// liveSnapshotSlots bounds the pages being sent their first message,
	// the snapshot (some 330 bytes a host and alert): others queue for a
	// slot and take their snapshot when they get one. A thousand pages
	// opening at once would otherwise share the core's and the network's
	// time, each taking its snapshot a thousandth as fast, and those that
	// took longest would fall a whole ring behind and be cut off; in turn,
	// each gets its snapshot at full speed, fresh, with little to catch
	// up. liveSnapshotHold bounds how long a slow page keeps its slot.
	liveSnapshotSlots = 16
	liveSnapshotHold  = 2 * time.Second
	// liveMinWriteRate is the slowest a page may take a message, in bytes
	// a second: a write's deadline is writeWait plus its size at this
	// rate. A page that takes its snapshot (some 330 bytes a host, 3.3 MB
	// at 10,000 hosts) slowly while a thousand pages connect at once is
	// receiving, not gone; with writeWait alone, 770 of 1,000 such pages
	// were cut off at 10,000 agents.
	liveMinWriteRate = 64 << 10
	// liveReadLimit bounds a message from a page (a watch list).
	liveReadLimit = 4096
	// liveWriteBuffer is the size of the pooled buffers messages are
	// written through; an idle page holds none. A full buffer goes out as
	// one frame, its 4-byte header and the payload: 16 KB less the header
	// makes that exactly one TLS record (16,384 bytes at most), one
	// write. With 16 KB of payload every frame of a long message took a
	// full record and one of 4 bytes, two system calls.
	liveWriteBuffer = 16<<10 - 4
	// liveBatchBuffer is the size of a writer's buffer for a batch
	// message (see writeBatch): a write buffer and room for the part that
	// passes it (a short host event is some 40 bytes, a full one some
	// 330); 18,428 bytes fill the allocator's 18,432-byte class.
	liveBatchBuffer = liveWriteBuffer + 2048
	// liveMaxPooledMsg bounds a message buffer kept for the next writer:
	// one stays at liveBatchBuffer unless a single event (a long alert)
	// was larger.
	liveMaxPooledMsg = 256 << 10
	// livePublishQueue is how many published events may wait for the
	// fan-out goroutine.
	livePublishQueue = 1 << 14
	// liveKnownAlerts bounds the alerts the feed remembers for the short
	// form of an alert that fires (Live.alerts): an alert leaves when it
	// ends, and only one whose ending event was dropped stays; past the
	// bound they are all forgotten, and the next to fire go whole.
	liveKnownAlerts = 1 << 16
	// liveMaxRules bounds the rules the feed numbers (apiv1.LiveRule),
	// which every snapshot carries: past it, alerts of a rule not
	// numbered yet carry the rule's fields.
	liveMaxRules = 1 << 14
)

type validityKey struct{}

// WithValidity returns a context that tells ServeHTTP how to ask whether
// the credential that opened a live connection still stands. The
// connection closes with CloseSignedOut within a second of it failing.
func WithValidity(ctx context.Context, valid func() bool) context.Context {
	return context.WithValue(ctx, validityKey{}, valid)
}

// Live fans events out to subscribers: /ws/live pages and in-process
// consumers such as the console. Publish never blocks.
//
// One goroutine (run) takes published events, hands them to in-process
// subscribers and encodes each once into a ring shared by every page;
// a page's place in the ring is its queue. A page has one goroutine that
// reads what it sends (watch lists, pongs, its close); a writer goroutine
// runs only while the page has something to send: it sends everything
// queued as one message and ends. A page that falls a ring behind is
// dropped, never waited on.
type Live struct {
	snapshot  func(latest bool) apiv1.Event
	log       *slog.Logger
	up        websocket.Upgrader
	minGap    time.Duration // tests change it before the first page
	ringMask  uint64        // the ring's size less one; tests change it before the first page
	ringMax   uint64        // the largest ringMask; tests change it before the first page
	writeWait time.Duration // tests change it before the first page
	snapSlots int           // liveSnapshotSlots; tests change it before the first page

	events     chan apiv1.Event
	register   chan *subscriber
	unregister chan *subscriber
	stop       chan struct{}
	stopped    chan struct{} // run has ended
	wg         sync.WaitGroup
	restWake   chan struct{}

	// known maps a host to the hash of the identity its last host event
	// carried; only run uses it.
	known map[string]uint64
	seed  maphash.Seed
	// alerts are the pending and firing alerts as their last event
	// carried them, for the short form of an alert that fires; only run
	// uses it.
	alerts map[string]apiv1.Alert

	numMu sync.Mutex // guards nums: run and the snapshots' encoders number hosts
	nums  map[string]uint32

	// ruleNums numbers the rules alerts name, keyed by the rule's four
	// fields (apiv1.RuleOf, N zero); only run uses it. rules, under mu, are the
	// numbered rules in the order of their numbers as of the ring's head,
	// each as the array a snapshot carries (from the rule events that
	// entered the ring): append-only, so a snapshot takes the slice as it
	// stands.
	ruleNums map[apiv1.LiveRule]uint32

	// encEpoch is the epoch the short host events run encodes count
	// their last_seen from (apiv1.EventEpoch); only run uses it. epoch,
	// under mu, is the one in force at the ring's head, which a snapshot
	// gives its page.
	encEpoch int64

	snapMu sync.Mutex // one snapshot is built at a time

	inProcess atomic.Int32 // in-process subscribers; see WantsLatest

	// watchMu guards watched, the number of pages watching each host. It
	// is apart from mu because every agent batch asks WantsLatest: under
	// mu, 2,000 batches a second queued behind the pages' writers (a
	// fifth of the time ingest goroutines spent waiting on locks at
	// 10,000 agents and 1,000 pages). Taken after mu where both are.
	watchMu sync.RWMutex
	watched map[string]int

	mu        sync.Mutex // guards the fields below and every liveConn's mutable fields
	ring      []liveEntry
	head      uint64 // sequence number of the next event
	epoch     int64  // the epoch in force at head
	rules     []json.RawMessage
	lowCursor uint64 // no page's cursor is below it (see roomLocked)
	conns     map[*liveConn]struct{}
	waiting   []*liveConn // idle pages: the next event starts their writer
	spare     []*liveConn
	resting   []*liveConn // pages in their gap after a message, due in order
	queued    []*liveConn // pages waiting for a snapshot slot, in order
	sending   int         // snapshot slots taken
	snap      liveSnapshot
	closed    bool
	outBatch  sync.Pool // *liveOut

	subscribers prometheus.Gauge
	dropped     *prometheus.CounterVec // what: event, subscriber
	messages    prometheus.Counter
	sent        prometheus.Counter
	badMessages prometheus.Counter
}

// subscriber is an in-process subscriber.
type subscriber struct {
	events chan apiv1.Event
}

// liveEntry is one encoded event in the ring. full, set only when a page
// watched the host when the event was published, adds the host's Latest.
// epoch is set in an epoch event's entry, the epoch it starts.
type liveEntry struct {
	host  string
	slim  []byte
	full  []byte
	epoch int64
}

// liveSnapshot is the last snapshot's encoding and where in the ring it
// stands.
type liveSnapshot struct {
	b   []byte
	seq uint64
	at  time.Time
}

// writer states of a page.
const (
	connWaiting = iota // nothing to send: in Live.waiting
	connRunning        // its writer goroutine runs
	connResting        // in its gap after a message: in Live.resting
	connQueued         // waiting for a snapshot slot: in Live.queued
)

// liveConn is one /ws/live page. Its fields after valid are guarded by
// Live.mu.
type liveConn struct {
	ws    *websocket.Conn
	valid func() bool // nil: nothing to check

	cursor    uint64 // sequence number of the next event to send; set with the snapshot
	needSnap  bool   // the snapshot is still to be taken (when the page gets a slot)
	slot      bool   // it holds a snapshot slot, since slotAt
	slotAt    time.Time
	first     []byte // the snapshot, until sent
	watch     []string
	state     int
	inWaiting bool
	due       time.Time // when resting ends
	ping      bool
	lastPing  time.Time
	closeCode int
	closeText string
	gone      bool
}

// liveMsgPart is an event's encoding picked for one page.
type liveMsgPart = []byte

// liveOut is what a page's writer uses while it runs, pooled: an idle page
// holds none. parts are the events picked for the message, msg the
// message built of them.
type liveOut struct {
	parts []liveMsgPart
	msg   []byte
}

// NewLive starts the fan-out. snapshot builds the first event every new
// subscriber gets: in-process subscribers get it as it is, asked with the
// hosts' Latest values (latest true); pages get its hosts without them,
// and it is asked without (latest false).
func NewLive(snapshot func(latest bool) apiv1.Event, reg prometheus.Registerer, log *slog.Logger) *Live {
	l := &Live{
		snapshot: snapshot, log: log,
		up: websocket.Upgrader{ReadBufferSize: 512, WriteBufferSize: liveWriteBuffer,
			WriteBufferPool: &sync.Pool{}},
		minGap:     liveMinGap,
		ringMask:   liveRingMin - 1,
		ringMax:    liveRingMax - 1,
		writeWait:  writeWait,
		snapSlots:  liveSnapshotSlots,
		events:     make(chan apiv1.Event, livePublishQueue),
		register:   make(chan *subscriber),
		unregister: make(chan *subscriber),
		stop:       make(chan struct{}),
		stopped:    make(chan struct{}),
		restWake:   make(chan struct{}, 1),
		known:      map[string]uint64{},
		alerts:     map[string]apiv1.Alert{},
		nums:       map[string]uint32{},
		ruleNums:   map[apiv1.LiveRule]uint32{},
		seed:       maphash.MakeSeed(),
		conns:      map[*liveConn]struct{}{},
		watched:    map[string]int{},
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "esmon_live_subscribers",
			Help: "Live feed subscribers: web pages and consoles."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esmon_live_dropped_total",
			Help: "Live events dropped because the feed was full, and subscribers dropped for being too slow."}, []string{"what"}),
		messages: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_live_messages_total",
			Help: "WebSocket messages sent to /ws/live pages (snapshots, events and batches)."}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_live_sent_events_total",
			Help: "Events sent to /ws/live pages, counted once per page; over esmon_live_messages_total it is the batching."}),
		badMessages: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_live_bad_messages_total",
			Help: "Messages from /ws/live pages the core could not read; the page is closed with 1007."}),
	}
	l.dropped.WithLabelValues("event")
	l.dropped.WithLabelValues("subscriber")
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esmon_live_queued_events",
		Help: "Live events published and waiting to be fanned out to the subscribers."},
		func() float64 { return float64(len(l.events)) })
	if reg != nil {
		reg.MustRegister(l.subscribers, l.dropped, queued, l.messages, l.sent, l.badMessages)
	}
	l.wg.Add(2)
	go l.rest()
	go l.maintain()
	go l.run()
	return l
}

// Publish queues an event for every subscriber without blocking.
func (l *Live) Publish(ev apiv1.Event) {
	select {
	case l.events <- ev:
	default:
		l.dropped.WithLabelValues("event").Inc()
	}
}

// WantsLatest reports whether a host event for host should carry the
// host's Latest values: when a page watches the host, or an in-process
// subscriber (the console) takes every event as it is. Pages that do not
// watch a host never get them, so the ingest of its batches need not copy
// them.
func (l *Live) WantsLatest(host string) bool {
	if l.inProcess.Load() > 0 {
		return true
	}
	l.watchMu.RLock()
	defer l.watchMu.RUnlock()
	return l.watched[host] > 0
}

// Subscribe returns a channel of events, starting with a snapshot, and a
// function that ends the subscription. The channel is closed when the
// subscription ends, also when the subscriber fell too far behind; a consumer
// that sees it closed subscribes again to get a fresh snapshot. Events come
// one by one, hosts with their Latest values.
func (l *Live) Subscribe() (<-chan apiv1.Event, func()) {
	s := &subscriber{events: make(chan apiv1.Event, 1024)}
	select {
	case l.register <- s:
	case <-l.stopped:
		close(s.events)
		return s.events, func() {}
	}
	var once sync.Once
	return s.events, func() {
		once.Do(func() {
			select {
			case l.unregister <- s:
			case <-l.stopped:
			}
		})
	}
}

// Close ends the fan-out and every subscription: pages get close code
// 1001 (going away).
func (l *Live) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.stopped
		l.wg.Wait()
		return
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.stopped
	l.mu.Lock()
	var start []*liveConn
	for c := range l.conns {
		c.closeCode, c.closeText = websocket.CloseGoingAway, "core shutting down"
		if c.state != connRunning {
			c.state = connRunning
			start = append(start, c)
		}
	}
	l.mu.Unlock()
	l.startWriters(start)
	l.wg.Wait()
}

// run owns the in-process subscribers and the encoding of events.
func (l *Live) run() {
	subs := make(map[*subscriber]struct{})
	drop := func(s *subscriber) {
		if _, ok := subs[s]; !ok {
			return
		}
		delete(subs, s)
		// Counted out before the close: whoever sees the channel closed
		// sees the gauge without it.
		l.subscribers.Dec()
		l.inProcess.Add(-1)
		close(s.events)
	}
	defer func() {
		for s := range subs {
			drop(s)
		}
		close(l.stopped)
	}()
	batch := make([]apiv1.Event, 0, 256)
	for {
		select {
		case s := <-l.register:
			subs[s] = struct{}{}
			l.subscribers.Inc()
			l.inProcess.Add(1)
			l.deliver(s, l.snapshot(true), drop)
		case s := <-l.unregister:
			drop(s)
		case ev := <-l.events:
			// Take what else is waiting: one wake-up of the pages for all.
			batch = append(batch[:0], ev)
		more:
			for len(batch) < cap(batch) {
				select {
				case ev := <-l.events:
					batch = append(batch, ev)
				default:
					break more
				}
			}
			for _, ev := range batch {
				for s := range subs {
					l.deliver(s, ev, drop)
				}
			}
			l.publish(batch)
			clear(batch)
		case <-l.stop:
			return
		}
	}
}

func (l *Live) deliver(s *subscriber, ev apiv1.Event, drop func(*subscriber)) {
	select {
	case s.events <- ev:
	default:
		l.dropped.WithLabelValues("subscriber").Inc()
		drop(s)
	}
}

// publish encodes events into the ring and starts the writers of the
// pages that were waiting for them.
func (l *Live) publish(events []apiv1.Event) {
	entries := make([]liveEntry, 0, len(events))
	watched := make([]bool, len(events))
	l.mu.Lock()
	if l.ring == nil {
		// No page has ever connected: nothing to encode for. The first
		// page's snapshot has these events in it; the alerts are kept,
		// so that those pending now go short when they fire.
		l.mu.Unlock()
		for _, ev := range events {
			l.rememberAlert(ev)
		}
		return
	}
	l.mu.Unlock()
	l.watchMu.RLock()
	for i, ev := range events {
		if ev.Type == apiv1.EventHost && ev.Host != nil {
			watched[i] = l.watched[ev.Host.ID] > 0
		}
	}
	l.watchMu.RUnlock()
	for i, ev := range events {
		var err error
		entries, err = l.encode(entries, ev, watched[i])
		if err != nil {
			l.log.Error("encode live event", "type", ev.Type, "err", err)
			l.dropped.WithLabelValues("event").Inc()
		}
	}
	l.mu.Lock()
	l.roomLocked(uint64(len(entries)))
	for _, e := range entries {
		l.ring[l.head&l.ringMask] = e
		l.head++
		if e.epoch != 0 {
			l.epoch = e.epoch
		}
		if row, ok := apiv1.RuleEventRow(e.slim); ok {
			l.rules = append(l.rules, row)
		}
	}
	wake := l.waiting
	l.waiting = l.spare[:0]
	start := wake[:0]
	for _, c := range wake {
		c.inWaiting = false
		if c.state == connWaiting && !c.gone {
			c.state = connRunning
			start = append(start, c)
		}
	}
	l.spare = wake
	l.mu.Unlock()
	l.startWriters(start)
	clear(start)
}

// roomLocked grows the ring, up to ringMax, so that n more events do not
// overwrite one a page has yet to send. lowCursor is a lower bound of the
// pages' cursors (they only move on; a new page lowers it), so the pages
// are looked at only when the ring may be short. The caller holds l.mu.
func (l *Live) roomLocked(n uint64) {
	if l.head+n-l.lowCursor <= l.ringMask+1 || l.ringMask >= l.ringMax {
		return
	}
	l.lowCursor = l.head
	for c := range l.conns {
		if !c.gone && !c.needSnap {
			l.lowCursor = min(l.lowCursor, c.cursor)
		}
	}
	for l.head+n-l.lowCursor > l.ringMask+1 && l.ringMask < l.ringMax {
		size := l.ringMask + 1
		ring := make([]liveEntry, 2*size)
		for seq := l.head - min(l.head, size); seq < l.head; seq++ {
			ring[seq&(2*size-1)] = l.ring[seq&l.ringMask]
		}
		l.ring, l.ringMask = ring, 2*size-1
	}
}

func (l *Live) startWriters(cs []*liveConn) {
	l.wg.Add(len(cs))
	for _, c := range cs {
		go l.write(c)
	}
}

// liveEventJSON is the envelope of one event on /ws/live; the type comes
// first, so a reader can tell a message by its first bytes.
type liveEventJSON struct {
	Type       string            `json:"type"`
	Epoch      int64             `json:"epoch,omitempty"`
	Rules      []json.RawMessage `json:"rules,omitempty"`
	Host       *apiv1.LiveHost   `json:"host,omitempty"`
	Transition *apiv1.Transition `json:"transition,omitempty"`
	Hosts      []apiv1.LiveHost  `json:"hosts,omitempty"`
	Alerts     []apiv1.Alert     `json:"alerts,omitempty"`
}

// encode appends ev's entry to entries, encoded once for every page: a
// host event without the host's Latest values, with them too when the
// host is watched, and with its identity only when the feed has not sent
// that identity last. Without its identity and Latest values a host event
// goes in the short form (apiv1.EventHostBrief, with the host's number
// for its id and its last_seen since the feed's epoch, after an epoch
// event when it needs a new one): that is nearly every event of a busy
// feed, and each is written to every page. A fresh alert going pending,
// and a pending alert that ends without firing or fires with nothing else
// changed, go in the short form apiv1.EventAlertBrief; any other alert
// event without what repeats
// another of its fields (apiv1.LiveTransition). On an error ev's entry is
// left out (an epoch event it brought stays: it is right for what follows).
func (l *Live) encode(entries []liveEntry, ev apiv1.Event, watched bool) ([]liveEntry, error) {
	if t := ev.Transition; ev.Type == apiv1.EventAlert && t != nil {
		// A fresh alert going pending, and a pending alert ending without
		// firing or firing, in the short form (the latter two: the page
		// has the alert from when it went pending).
		known := l.rememberAlert(ev)
		var refs apiv1.BriefRefs
		if t.From == apiv1.StateInactive && t.To == apiv1.StatePending {
			var err error
			if entries, refs, err = l.briefRefs(entries, &t.Alert); err != nil {
				return entries, err
			}
		}
		b, ok, err := apiv1.AlertBrief(t, known, refs)
		if !ok && err == nil {
			b, err = apiv1.LiveTransition(t)
		}
		if err != nil {
			return entries, err
		}
		return append(entries, liveEntry{slim: b}), nil
	}
	if ev.Type != apiv1.EventHost || ev.Host == nil {
		b, err := json.Marshal(liveEventJSON{Type: ev.Type, Transition: ev.Transition,
			Hosts: l.liveHosts(ev.Hosts), Alerts: ev.Alerts})
		if err != nil {
			return entries, err
		}
		return append(entries, liveEntry{slim: b}), nil
	}
	h := ev.Host
	sum := l.identityHash(h)
	e := liveEntry{host: h.ID}
	var err error
	short := false
	if old, ok := l.known[h.ID]; ok && old == sum {
		epoch := l.encEpoch
		if !h.LastSeen.IsZero() && h.LastSeen.UnixMilli()-epoch >= apiv1.LiveEpochSpan {
			epoch = h.LastSeen.Truncate(time.Hour).UnixMilli()
		}
		if e.slim, short, err = apiv1.HostBrief(h, l.num(h.ID), epoch); err != nil {
			return entries, err
		}
		if short && epoch != l.encEpoch {
			l.encEpoch = epoch
			entries = append(entries, liveEntry{slim: apiv1.EpochEvent(epoch), epoch: epoch})
		}
	}
	// The host's full form, built only when it is sent: a copy of the
	// host for every event was 7 % of what the core allocated at 10,000
	// agents, where nearly every event goes short.
	liveHost := func(latest map[string]float64) *apiv1.LiveHost {
		lh := &apiv1.LiveHost{Host: *h}
		lh.Latest = latest
		if short {
			lh.AgentVersion, lh.AgentTags, lh.TagsByAdmin = "", nil, false
		} else {
			lh.Facts, lh.N = &h.Facts, l.num(h.ID)
		}
		return lh
	}
	if !short {
		l.known[h.ID] = sum
		if e.slim, err = json.Marshal(liveEventJSON{Type: ev.Type, Host: liveHost(nil)}); err != nil {
			return entries, err
		}
	}
	if watched && len(h.Latest) > 0 {
		if e.full, err = json.Marshal(liveEventJSON{Type: ev.Type, Host: liveHost(h.Latest)}); err != nil {
			return entries, err
		}
	}
	return append(entries, e), nil
}

// briefRefs numbers an alert's host and rule for the short form of an
// alert going pending. The host goes by its number only when the feed has
// sent the host's identity (which carries the number) before this event:
// every page then has the number, from its snapshot or from that event.
// A rule new to the feed gets the next number, and a rule event before
// this one gives it to the pages (and the snapshots after it); past
// liveMaxRules a new rule gets none.
func (l *Live) briefRefs(entries []liveEntry, a *apiv1.Alert) ([]liveEntry, apiv1.BriefRefs, error) {
	var refs apiv1.BriefRefs
	if _, ok := l.known[a.Host]; ok {
		refs.Host = l.num(a.Host)
	}
	r := apiv1.RuleOf(a)
	n, ok := l.ruleNums[r]
	if !ok {
		if len(l.ruleNums) >= liveMaxRules {
			return entries, refs, nil
		}
		r.N = uint32(len(l.ruleNums) + 1)
		msg, err := apiv1.RuleEvent(r)
		if err != nil {
			return entries, refs, err
		}
		n = r.N
		r.N = 0
		l.ruleNums[r] = n
		entries = append(entries, liveEntry{slim: msg})
	}
	refs.Rule = n
	return entries, refs, nil
}

// rememberAlert keeps the alert of an alert event in Live.alerts while it
// is pending or firing, and returns the one kept before, nil if none.
func (l *Live) rememberAlert(ev apiv1.Event) (known *apiv1.Alert) {
	t := ev.Transition
	if ev.Type != apiv1.EventAlert || t == nil {
		return nil
	}
	if a, ok := l.alerts[t.Alert.ID]; ok {
		known = &a
	}
	if t.To == apiv1.StatePending || t.To == apiv1.StateFiring {
		if len(l.alerts) >= liveKnownAlerts {
			clear(l.alerts) // alerts whose end was dropped; the next go whole
		}
		l.alerts[t.Alert.ID] = t.Alert
	} else {
		delete(l.alerts, t.Alert.ID)
	}
	return known
}

// liveHosts turns a snapshot's hosts into what pages get: each with its
// identity and number, none with its Latest values.
func (l *Live) liveHosts(hs []apiv1.Host) []apiv1.LiveHost {
	if hs == nil {
		return nil
	}
	out := make([]apiv1.LiveHost, len(hs))
	for i := range hs {
		out[i] = apiv1.LiveHost{Host: hs[i], Facts: &hs[i].Facts, N: l.num(hs[i].ID)}
		out[i].Latest = nil
	}
	return out
}

// num returns the host's number on the feed, which short host events
// carry in place of its id (a random agent id is 32 characters, most of
// a short event): given the first time it is asked for, and kept for the
// feed's life. A page learns it with the host's identity, which comes
// before any short event of the host (in the snapshot, or the host's
// first event on the feed).
func (l *Live) num(id string) uint32 {
	l.numMu.Lock()
	defer l.numMu.Unlock()
	n, ok := l.nums[id]
	if !ok {
		n = uint32(len(l.nums) + 1)
		l.nums[id] = n
	}
	return n
}

// identityHash sums what a host event may leave out.
func (l *Live) identityHash(h *apiv1.Host) uint64 {
	var m maphash.Hash
	m.SetSeed(l.seed)
	f := &h.Facts
	for _, s := range []string{f.Hostname, f.OS, f.Platform, f.PlatformVersion, f.KernelVersion, f.Arch, f.CPUModel, h.AgentVersion} {
		m.WriteString(s)
		m.WriteByte(0)
	}
	var n [25]byte
	binary.LittleEndian.PutUint64(n[0:], uint64(f.Cores))
	binary.LittleEndian.PutUint64(n[8:], f.MemoryBytes)
	binary.LittleEndian.PutUint64(n[16:], uint64(f.BootTime.UnixNano()))
	if h.TagsByAdmin {
		n[24] = 1
	}
	m.Write(n[:])
	for _, t := range h.AgentTags {
		m.WriteString(t)
		m.WriteByte(0)
	}
	m.WriteByte(1) // the tags in force: a short host event leaves them out too
	for _, t := range h.Tags {
		m.WriteString(t)
		m.WriteByte(0)
	}
	return m.Sum64()
}

// ServeHTTP upgrades an authenticated request to a /ws/live connection and
// returns; the connection's reader and writer go on without it. The caller
// checks authentication; the upgrader checks that Origin matches Host.
func (l *Live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := l.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &liveConn{ws: ws, lastPing: time.Now(), needSnap: true}
	c.valid, _ = r.Context().Value(validityKey{}).(func() bool)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "core shutting down"), time.Now().Add(writeWait))
		ws.Close()
		return
	}
	l.conns[c] = struct{}{}
	l.subscribers.Inc()
	l.queued = append(l.queued, c)
	c.state = connQueued
	start := l.admitLocked()
	l.wg.Add(1)
	l.mu.Unlock()
	go l.read(c)
	l.startWriters(start)
}

// admitLocked gives free snapshot slots to queued pages, in order, and
// returns those whose writers the caller must start. The caller holds
// l.mu.
func (l *Live) admitLocked() []*liveConn {
	var start []*liveConn
	for l.sending < l.snapSlots && len(l.queued) > 0 {
		c := l.queued[0]
		l.queued[0] = nil
		l.queued = l.queued[1:]
		if c.gone || c.state != connQueued {
			continue // gone, or Close started its writer
		}
		l.sending++
		c.slot, c.slotAt, c.state = true, time.Now(), connRunning
		start = append(start, c)
	}
	if len(l.queued) == 0 {
		l.queued = nil // let the backing array go
	}
	return start
}

// releaseLocked gives back c's snapshot slot, if it holds one, and returns
// the queued pages whose writers the caller must start. The caller holds
// l.mu.
func (l *Live) releaseLocked(c *liveConn) []*liveConn {
	if !c.slot {
		return nil
	}
	c.slot = false
	l.sending--
	return l.admitLocked()
}

// release is releaseLocked for a caller without l.mu.
func (l *Live) release(c *liveConn) {
	l.mu.Lock()
	start := l.releaseLocked(c)
	l.mu.Unlock()
	l.startWriters(start)
}

// takeSnapshot gives c, which has just got its slot, the snapshot and its
// place in the ring. A page that is gone or closing gets none.
func (l *Live) takeSnapshot(c *liveConn) {
	l.mu.Lock()
	if c.gone || c.closeCode != 0 {
		c.needSnap = false
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	snap, seq, err := l.snapshotFor()
	l.mu.Lock()
	defer l.mu.Unlock()
	c.needSnap = false
	switch {
	case err != nil:
		l.log.Error("encode live snapshot", "err", err)
		c.closeCode, c.closeText = websocket.CloseInternalServerErr, "cannot encode the snapshot"
	case !c.gone:
		c.cursor, c.first = seq, snap
		l.lowCursor = min(l.lowCursor, seq)
	}
}

// snapshotFor returns the encoded snapshot a new page starts with and the
// sequence number of the first event after it.
func (l *Live) snapshotFor() ([]byte, uint64, error) {
	l.snapMu.Lock()
	defer l.snapMu.Unlock()
	l.mu.Lock()
	if l.ring == nil {
		l.ring = make([]liveEntry, l.ringMask+1)
	}
	s, seq, epoch, rules := l.snap, l.head, l.epoch, l.rules
	l.mu.Unlock()
	if s.b != nil && time.Since(s.at) < liveSnapshotReuse && seq-s.seq <= (l.ringMask+1)/2 {
		return s.b, s.seq, nil
	}
	// Every event before seq is in what snapshot returns now; events from
	// seq on follow it from the ring (some of them twice, harmlessly).
	ev := l.snapshot(false)
	b, err := json.Marshal(liveEventJSON{Type: apiv1.EventSnapshot, Epoch: epoch, Rules: rules, Hosts: l.liveHosts(ev.Hosts), Alerts: ev.Alerts})
	if err != nil {
		return nil, 0, err
	}
	l.mu.Lock()
	l.snap = liveSnapshot{b: b, seq: seq, at: time.Now()}
	l.mu.Unlock()
	return b, seq, nil
}

// read reads what the page sends: watch lists, pongs, its close. When the
// connection ends, it drops the page.
func (l *Live) read(c *liveConn) {
	defer l.wg.Done()
	defer l.drop(c)
	ws := c.ws
	ws.SetReadLimit(liveReadLimit)
	ws.SetReadDeadline(time.Now().Add(pongWait))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		ws.SetReadDeadline(time.Now().Add(pongWait))
		var w apiv1.LiveWatch
		switch {
		case typ != websocket.TextMessage:
			err = errors.New("send text: a JSON watch list")
		case json.Unmarshal(data, &w) != nil || w.Watch == nil:
			err = errors.New(`unreadable message; want {"watch":["host-id",...]}`)
		case len(w.Watch) > apiv1.MaxWatch:
			err = errors.New("too many hosts to watch")
		}
		if err != nil {
			l.badMessages.Inc()
			l.closeConn(c, websocket.CloseInvalidFramePayloadData, err.Error())
			continue
		}
		l.setWatch(c, w.Watch)
	}
}

// setWatch replaces the hosts whose Latest values c gets.
func (l *Live) setWatch(c *liveConn, ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.gone {
		return
	}
	for _, id := range c.watch {
		l.unwatchLocked(id)
	}
	c.watch = c.watch[:0]
	for _, id := range ids {
		if id == "" || contains(c.watch, id) {
			continue
		}
		c.watch = append(c.watch, id)
		l.watchMu.Lock()
		l.watched[id]++
		l.watchMu.Unlock()
	}
}

// unwatchLocked counts one page fewer watching id. The caller holds mu.
func (l *Live) unwatchLocked(id string) {
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	if l.watched[id]--; l.watched[id] <= 0 {
		delete(l.watched, id)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// drop forgets a page whose connection ended.
func (l *Live) drop(c *liveConn) {
	l.mu.Lock()
	if !c.gone {
		c.gone = true
		for _, id := range c.watch {
			l.unwatchLocked(id)
		}
		c.watch, c.first = nil, nil
		delete(l.conns, c)
		l.subscribers.Dec()
	}
	l.mu.Unlock()
	c.ws.Close()
}

// closeConn has c's writer send a close frame with code and end the
// connection.
func (l *Live) closeConn(c *liveConn, code int, text string) {
	l.mu.Lock()
	if c.gone || c.closeCode != 0 {
		l.mu.Unlock()
		return
	}
	c.closeCode, c.closeText = code, text
	start := l.wakeLocked(c)
	l.mu.Unlock()
	if start {
		l.startWriters([]*liveConn{c})
	}
}

// wakeLocked marks a waiting page's writer to start and reports whether the
// caller must start it. A resting page's writer starts when its gap ends.
func (l *Live) wakeLocked(c *liveConn) bool {
	if c.state != connWaiting || c.gone {
		return false
	}
	c.state = connRunning
	return true
}

// write sends c what is queued for it: the snapshot, a ping, the events
// it has not had as one message, or its close. It returns when there is
// nothing left, or after a message when the page has a gap to wait.
func (l *Live) write(c *liveConn) {
	defer l.wg.Done()
	out, _ := l.outBatch.Get().(*liveOut)
	if out == nil {
		out = new(liveOut)
	}
	defer func() {
		clear(out.parts)
		out.parts = out.parts[:0]
		if cap(out.msg) > liveMaxPooledMsg {
			out.msg = nil
		}
		l.outBatch.Put(out)
	}()
	if c.needSnap {
		// Only a page still to take its snapshot can hold a slot; the
		// writer runs for every message, and the others skip the lock.
		defer l.release(c) // a slot still held when the writer ends
		l.takeSnapshot(c)
	}
	for {
		l.mu.Lock()
		if c.gone {
			l.mu.Unlock()
			return
		}
		first, ping, code, text := c.first, c.ping, c.closeCode, c.closeText
		c.first, c.ping = nil, false
		if code == 0 && l.head-c.cursor > l.ringMask+1 {
			code, text = CloseTooSlow, "too slow; reconnect for a fresh snapshot"
			l.dropped.WithLabelValues("subscriber").Inc()
		}
		parts := out.parts[:0]
		if code == 0 {
			n := min(l.head-c.cursor, liveMaxBatch)
			if uint64(cap(parts)) < n {
				// Once, at the batch's size: a page catching up after a
				// collection emptied the pool grew a slice of up to 4,096
				// by doubling.
				parts = make([]liveMsgPart, 0, n)
			}
			for seq := c.cursor; seq < c.cursor+n; seq++ {
				e := &l.ring[seq&l.ringMask]
				if e.full != nil && contains(c.watch, e.host) {
					parts = append(parts, e.full)
				} else {
					parts = append(parts, e.slim)
				}
			}
			c.cursor += n
		}
		out.parts = parts
		if first == nil && !ping && code == 0 && len(parts) == 0 {
			c.state = connWaiting
			if !c.inWaiting {
				c.inWaiting = true
				l.waiting = append(l.waiting, c)
			}
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()

		ws := c.ws
		if code != 0 {
			ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(writeWait))
			ws.Close() // the reader sees it and drops the page
			return
		}
		size := len(first)
		for _, p := range parts {
			size += len(p) + 1
		}
		ws.SetWriteDeadline(time.Now().Add(l.writeWait + time.Duration(size)*time.Second/liveMinWriteRate))
		if first != nil {
			err := ws.WriteMessage(websocket.TextMessage, first)
			l.release(c) // the next queued page's turn
			if err != nil {
				l.writeFailed(ws, err)
				return
			}
			l.messages.Inc()
		}
		if ping {
			if err := ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(l.writeWait)); err != nil {
				l.writeFailed(ws, err)
				return
			}
		}
		if len(parts) > 0 {
			if err := writeBatch(ws, parts, &out.msg); err != nil {
				l.writeFailed(ws, err)
				return
			}
			l.messages.Inc()
			l.sent.Add(float64(len(parts)))
		}
		clear(parts)
		if l.minGap <= 0 || len(parts) == 0 && first == nil {
			continue
		}
		l.mu.Lock()
		if c.gone {
			l.mu.Unlock()
			return
		}
		if l.closed {
			l.mu.Unlock()
			continue // Close is about to give it a close frame to send
		}
		c.state, c.due = connResting, time.Now().Add(l.gapLocked())
		l.resting = append(l.resting, c)
		if len(l.resting) == 1 {
			select {
			case l.restWake <- struct{}{}:
			default:
			}
		}
		l.mu.Unlock()
		return
	}
}

// writeFailed ends a page whose write failed; one that timed out (it took
// less than liveMinWriteRate) counts as a subscriber dropped for being too
// slow. The reader sees the connection closed and drops the page.
func (l *Live) writeFailed(ws *websocket.Conn, err error) {
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		l.dropped.WithLabelValues("subscriber").Inc()
	}
	ws.Close()
}

// gapLocked is the gap after a message to a page now: minGap, widened
// when there are more than liveGapPages pages. The caller holds l.mu.
func (l *Live) gapLocked() time.Duration {
	g := l.minGap
	if n := len(l.conns); n > liveGapPages {
		g = max(g, min(liveMaxGap, g*time.Duration(n)/liveGapPages))
	}
	return g
}

// writeBatch sends one event as it is, and more as one batch message,
// built in *buf (the writer's pooled buffer) a write buffer's worth at a
// time: written through the connection's writer a part at a time, the
// few hundred parts of a message at 1,000 pages cost the core more than
// their bytes (gorilla's Write checks and copies each in turn), and built
// whole, a page catching up (up to liveMaxBatch events, some 150 KB) grew
// its buffer to that: after a stall at 10,000 agents, 1,000 pages doing
// so at once allocated 112 MB in 5 s, which brought the next collection
// on early. The buffer now stays at one write buffer and a part.
func writeBatch(ws *websocket.Conn, parts []liveMsgPart, buf *[]byte) error {
	if len(parts) == 1 {
		return ws.WriteMessage(websocket.TextMessage, parts[0])
	}
	// A buffer's worth at a time, not with WriteMessage or one Write: a
	// long message then goes in frames of the write buffer's size, each
	// with its header one full TLS record (see liveWriteBuffer). Given
	// more at once, gorilla makes one frame of it, whose longer header
	// spills the first record by a few bytes.
	w, err := ws.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	b := (*buf)[:0]
	if cap(b) < liveBatchBuffer {
		b = make([]byte, 0, liveBatchBuffer)
	}
	b = append(b, batchOpen...)
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		// In a batch a short host event is its array alone.
		p, _ = apiv1.HostBriefRow(p)
		b = append(b, p...)
		for len(b) >= liveWriteBuffer {
			if _, err := w.Write(b[:liveWriteBuffer]); err != nil {
				*buf = b
				return err
			}
			b = append(b[:0], b[liveWriteBuffer:]...)
		}
	}
	b = append(b, batchClose...)
	*buf = b
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Close()
}

var (
	batchOpen  = []byte(`{"type":"batch","events":[`)
	batchClose = []byte(`]}`)
)

// rest ends the gaps of resting pages in the order they began: a page with
// something queued gets its writer, the others wait for the next event.
func (l *Live) rest() {
	defer l.wg.Done()
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		l.mu.Lock()
		now := time.Now()
		var start []*liveConn
		i := 0
		for ; i < len(l.resting) && !l.resting[i].due.After(now); i++ {
			c := l.resting[i]
			l.resting[i] = nil
			if c.gone || c.state != connResting {
				continue
			}
			if c.cursor < l.head || c.first != nil || c.ping || c.closeCode != 0 {
				c.state = connRunning
				start = append(start, c)
			} else {
				c.state = connWaiting
				if !c.inWaiting {
					c.inWaiting = true
					l.waiting = append(l.waiting, c)
				}
			}
		}
		l.resting = l.resting[i:]
		if len(l.resting) == 0 {
			l.resting = nil // let the backing array go
		}
		wait := time.Duration(-1)
		if len(l.resting) > 0 {
			wait = l.resting[0].due.Sub(now)
		}
		l.mu.Unlock()
		l.startWriters(start)
		if wait >= 0 {
			t.Reset(wait)
		}
		select {
		case <-t.C:
		case <-l.restWake:
			t.Stop()
		case <-l.stop:
			t.Stop()
			return
		}
	}
}

// maintain checks, once a second, every page's credential, pings pages
// that are due, and lets go of a stale snapshot. One goroutine for all
// pages, instead of two tickers per page.
func (l *Live) maintain() {
	defer l.wg.Done()
	t := time.NewTicker(validityCheck)
	defer t.Stop()
	var conns []*liveConn
	for {
		select {
		case <-t.C:
		case <-l.stop:
			return
		}
		now := time.Now()
		l.mu.Lock()
		conns = conns[:0]
		var start []*liveConn
		for c := range l.conns {
			if c.valid != nil {
				conns = append(conns, c)
			}
			if c.slot && now.Sub(c.slotAt) > liveSnapshotHold {
				// A slow page: its snapshot goes on, but the next
				// page does not wait for it.
				start = append(start, l.releaseLocked(c)...)
			}
			if now.Sub(c.lastPing) >= pingPeriod {
				c.lastPing, c.ping = now, true
				if l.wakeLocked(c) {
					start = append(start, c)
				}
			}
		}
		if l.snap.b != nil && now.Sub(l.snap.at) > 2*liveSnapshotReuse {
			l.snap = liveSnapshot{}
		}
		l.mu.Unlock()
		l.startWriters(start)
		for _, c := range conns {
			if !c.valid() {
				l.closeConn(c, CloseSignedOut, "signed out")
			}
		}
		clear(conns)
	}
}
