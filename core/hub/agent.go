// Package hub holds the core's WebSocket endpoints: /ws/agent, where agents
// deliver batches, and /ws/live, where dashboards and the console receive
// events. Every connection has a read limit and ping/pong with deadlines.
// An agent connection has one goroutine, which reads a batch, hands its
// decode and ingest to a short-lived one and writes the ack (one pinger
// serves every agent); a page has a reader and, while it has something to
// send, a writer fed from the shared event ring (live.go).
package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/store"
	"esmon/core/wire"
)

// Close codes the core sends to agents. 4000-4999 are for applications.
const (
	CloseBadToken     = 4001
	CloseBadVersion   = 4002
	CloseMalformed    = 4003
	CloseUnknownType  = 4004
	CloseProtocol     = 4005
	CloseShuttingDown = websocket.CloseGoingAway
	// CloseBusy (1013, Try Again Later) refuses a hello the core has no
	// room for now; the agent retries after its backoff.
	CloseBusy = websocket.CloseTryAgainLater
)

// Timeouts of agent connections.
const (
	helloWait  = 10 * time.Second
	writeWait  = 10 * time.Second
	pongWait   = 90 * time.Second
	pingPeriod = 30 * time.Second
	// pingWriteWait bounds each ping's write: one goroutine pings every
	// agent in turn, and a connection that cannot take a ping for that
	// long is closed.
	pingWriteWait = 2 * time.Second
	// maxHellos bounds the hellos handled at once: each writes the agent's
	// contact and host records to the store, and thousands of agents
	// coming back after a restart would otherwise queue thousands of
	// writers there, each holding a connection open long after its agent
	// gave up waiting (the agent waits 10 s for its Welcome).
	maxHellos = 128
	// helloQueueWait is the longest a hello waits for one of the
	// maxHellos slots before the agent is told to come back later.
	helloQueueWait = 4 * time.Second
	// maxBatchWork bounds the batches decoded and ingested at once (see
	// handOff): enough for the store's group commit to gather many
	// writers per sync (2,000 batches a second fill 256 only if a sync
	// takes over 100 ms), few enough that their stacks stay a few MB. It
	// was 1,024: when a collection or a slow sync held ingest up, a
	// thousand goroutines became runnable at once, and every step of
	// every batch (the log's writer among them) waited its turn behind
	// them. At 10,000 agents and 124,000 samples/s, 256 took the agents'
	// ack p99 in the window from 446 to 137-199 ms.
	maxBatchWork = 256
)

// Ingester is what the agent endpoint hands data to. The core wires it to
// the store, the alert engine and the live feed.
type Ingester interface {
	// Hello authenticates an agent and registers its host; it returns the
	// host id the agent's series are filed under.
	Hello(h *wire.Hello) (hostID string, err error)
	// Ingest stores samples durably and evaluates and publishes them. The
	// batch is acknowledged once it returns nil. The hub reuses the
	// samples' slice, and the slice their Labels are cut from, for the
	// next batch once Ingest returns: whatever of them is kept must be
	// copied (the strings need not be: they are never changed).
	Ingest(ctx context.Context, hostID string, samples []store.Sample) error
}

// SeriesRefs is what an Ingester implements to let the hub look each series
// up once, when a connection declares it (store.DB.Ref), instead of by name
// and labels on every append: the hot path then skips building the series
// key and the map lookup. The hub reuses the labels' slice once Ref
// returns.
type SeriesRefs interface {
	Ref(metric string, labels store.Labels) (store.SeriesRef, error)
}

// AgentConfigs is what an Ingester implements to push settings to agents:
// after Welcome, an agent whose Hello names another config version gets
// AgentConfig's answer. Nil pushes nothing.
type AgentConfigs interface {
	AgentConfig(hostID string) *wire.Config
}

// AgentMetrics count what happens on /ws/agent.
type AgentMetrics struct {
	Connections    prometheus.Gauge
	Rejected       *prometheus.CounterVec // reason: token, no_token, revoked, other_agent, version, hello
	InvalidFrames  *prometheus.CounterVec // reason: malformed, unknown_type, oversize, protocol
	Batches        prometheus.Counter
	Samples        prometheus.Counter
	RejectedValues *prometheus.CounterVec // reason: non_finite, unknown_series
	AckSeconds     prometheus.Histogram
	IngestErrors   prometheus.Counter
}

// NewAgentMetrics creates the metrics and registers them with reg (if not nil).
func NewAgentMetrics(reg prometheus.Registerer) *AgentMetrics {
	m := &AgentMetrics{
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "esmon_agent_connections", Help: "Agent WebSocket connections open now."}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esmon_agent_connections_rejected_total",
			Help: "Agent connections refused at hello, by reason (busy: too many hellos at once, told to retry)."}, []string{"reason"}),
		InvalidFrames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esmon_agent_frames_invalid_total",
			Help: "Agent frames that closed their connection as invalid, by reason."}, []string{"reason"}),
		Batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_agent_batches_total", Help: "Agent batches stored and acknowledged."}),
		Samples: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_ingested_samples_total", Help: "Samples stored from agents."}),
		RejectedValues: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esmon_samples_rejected_total",
			Help: "Samples dropped from otherwise good batches, by reason."}, []string{"reason"}),
		AckSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "esmon_batch_ack_seconds",
			Help:    "Time from receiving a batch to sending its acknowledgement.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		IngestErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_ingest_errors_total", Help: "Batches the core failed to store."}),
	}
	for _, r := range append([]string{"version", "hello", "busy"}, authReasons...) {
		m.Rejected.WithLabelValues(r)
	}
	for _, r := range []string{"malformed", "unknown_type", "oversize", "protocol"} {
		m.InvalidFrames.WithLabelValues(r)
	}
	for _, r := range []string{"non_finite", "unknown_series", "series_limit"} {
		m.RejectedValues.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Connections, m.Rejected, m.InvalidFrames, m.Batches, m.Samples, m.RejectedValues, m.AckSeconds, m.IngestErrors)
	}
	return m
}

// Agents serves /ws/agent.
type Agents struct {
	in      Ingester
	log     *slog.Logger
	m       *AgentMetrics
	version string
	up      websocket.Upgrader

	mu     sync.Mutex // guards conns, closed and lim
	conns  map[*websocket.Conn]struct{}
	idx    agentIndex // welcomed connections by agent id, see agentauth.go
	closed bool
	lim    *limiter // per-host limits, see limits.go
	wg     sync.WaitGroup
	// hellos holds a token per hello being handled; see maxHellos.
	hellos chan struct{}
	// work holds a token per batch being handled; see maxBatchWork.
	work chan struct{}
	// pinging starts pinger with the first connection; stop ends it.
	pinging sync.Once
	stop    chan struct{}
}

// NewAgents returns the agent endpoint.
func NewAgents(in Ingester, m *AgentMetrics, coreVersion string, log *slog.Logger) *Agents {
	return &Agents{
		in: in, log: log, m: m, version: coreVersion,
		up: websocket.Upgrader{
			// A zero read size makes gorilla reuse the 4 KiB read buffer
			// net/http already gave the connection, instead of more per
			// agent; a batch frame larger than it is read through it all
			// the same. Writes (a welcome, then small acks) take a buffer
			// from a pool only while they run, so an idle agent holds
			// none.
			WriteBufferSize: 4 << 10, WriteBufferPool: &sync.Pool{},
			// Agents are programs, not pages: they send no Origin, and a
			// token, not a cookie, authenticates them.
			CheckOrigin: func(*http.Request) bool { return true },
		},
		conns:  make(map[*websocket.Conn]struct{}),
		hellos: make(chan struct{}, maxHellos),
		work:   make(chan struct{}, maxBatchWork),
		stop:   make(chan struct{}),
	}
}

// ServeHTTP upgrades and runs one agent connection.
func (a *Agents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := a.up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered with an HTTP error.
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		ws.Close()
		return
	}
	a.conns[ws] = struct{}{}
	a.wg.Add(1)
	a.mu.Unlock()
	a.pinging.Do(func() { go a.pinger() })
	a.m.Connections.Inc()
	c := &agentConn{Agents: a, ws: ws, remote: r.RemoteAddr, since: time.Now(), lim: a.limiter()}
	c.last.Store(c.since.UnixNano())
	// The connection runs on a goroutine of its own and ServeHTTP
	// returns: net/http's goroutine would otherwise hold its request
	// state and 4 KiB write buffer, which a hijacked connection never
	// uses, for the connection's whole life.
	go func() {
		defer func() {
			a.m.Connections.Dec()
			a.mu.Lock()
			delete(a.conns, ws)
			a.mu.Unlock()
			a.wg.Done()
		}()
		c.run()
	}()
}

// Close tells every agent the core is going away and waits for their
// connections to end.
func (a *Agents) Close() {
	a.limiter().close()
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.stop)
	}
	for ws := range a.conns {
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseShuttingDown, "core shutting down"), time.Now().Add(time.Second))
		ws.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

type agentConn struct {
	*Agents
	ws     *websocket.Conn
	remote string
	since  time.Time
	last   atomic.Int64 // Unix nanoseconds of the last frame read
	// agentID is the authenticated agent's id, once welcomed.
	agentID string
	host    string
	series  seriesTable
	lim     *limiter
	result  chan error // the outcome of the frame handOff handles
}

// seriesRef is what a connection knows of one series it defined. It
// holds no pointer, so a connection's table of them is never scanned by
// the garbage collector.
type seriesRef struct {
	// name is the series' name (store.AppendSeriesName's form) in the
	// limiter's names, which the samples' metric and labels are read
	// from; it is shared by every connection of the host (see
	// limiter.admit), or refusedSeries for a series over its host's
	// limit, whose samples are dropped and counted. 0: not defined.
	name store.NameRef
	// ref is the store's handle of the series, when the Ingester gives
	// one; the zero ref makes the store find the series by name.
	ref store.SeriesRef
	// parts locates the name's metric and labels, which every sample of
	// the series is given.
	parts store.NameParts
}

// refusedSeries marks the series refused for their host's limit. No
// NameTable hands it out.
const refusedSeries = ^store.NameRef(0)

// denseIDs is how many series ids a connection keeps in a slice indexed
// by id; agents number their series 0, 1, 2 …, so that is all of them.
// Larger ids go to a map, so an odd id costs no memory.
const denseIDs = 1 << 16

// seriesTable maps a connection's series ids to its series.
type seriesTable struct {
	dense  []seriesRef // by id
	sparse map[uint32]seriesRef
	n      int // ids defined
}

func (t *seriesTable) get(id uint32) (seriesRef, bool) {
	if id < denseIDs {
		if int(id) < len(t.dense) && t.dense[id].name != 0 {
			return t.dense[id], true
		}
		return seriesRef{}, false
	}
	r, ok := t.sparse[id]
	return r, ok
}

func (t *seriesTable) set(id uint32, r seriesRef) {
	if _, ok := t.get(id); !ok {
		t.n++
	}
	if id < denseIDs {
		if int(id) >= len(t.dense) {
			t.dense = append(t.dense, make([]seriesRef, int(id)+1-len(t.dense))...)
		}
		t.dense[id] = r
		return
	}
	if t.sparse == nil {
		t.sparse = make(map[uint32]seriesRef)
	}
	t.sparse[id] = r
}

// refusal is a reason to close a connection: a close code and its text.
type refusal struct {
	code   int
	reason string
}

func (r *refusal) Error() string { return r.reason }

// run serves the connection until it ends. The connection has no writer
// goroutine: the welcome and the acks are written in turn by the one
// goroutine handling the agent's frames, and pings by the endpoint's
// pinger for every connection (WriteControl may run beside them).
func (c *agentConn) run() {
	err := c.reader()
	var ref *refusal
	switch {
	case errors.As(err, &ref):
		lvl := slog.LevelWarn
		if ref.code == CloseBusy {
			lvl = slog.LevelDebug // counted; thousands at once after a restart
		}
		c.log.Log(context.Background(), lvl, "agent connection refused", "remote", c.remote, "host", c.host, "code", ref.code, "reason", ref.reason)
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(ref.code, ref.reason), time.Now().Add(writeWait))
	case errors.Is(err, websocket.ErrReadLimit):
		c.m.InvalidFrames.WithLabelValues("oversize").Inc()
		c.log.Warn("agent frame over the size limit", "remote", c.remote, "host", c.host, "limit", wire.MaxFrameBytes)
		// gorilla has already sent close 1009 (message too big).
	case err != nil && !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway):
		c.log.Info("agent connection ended", "remote", c.remote, "host", c.host, "err", err)
	}
	c.ws.Close()
}

func (c *agentConn) reader() error {
	c.ws.SetReadLimit(wire.MaxFrameBytes)
	c.ws.SetReadDeadline(time.Now().Add(helloWait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(pongWait)) })
	msg, err := c.readMessage()
	if err != nil {
		var ref *refusal
		if errors.As(err, &ref) {
			c.m.Rejected.WithLabelValues("hello").Inc()
		}
		return err
	}
	hello, ok := msg.(*wire.Hello)
	if !ok {
		c.m.Rejected.WithLabelValues("hello").Inc()
		c.m.InvalidFrames.WithLabelValues("protocol").Inc()
		return &refusal{CloseProtocol, fmt.Sprintf("expected hello, got %T", msg)}
	}
	if hello.Version != wire.Version {
		c.m.Rejected.WithLabelValues("version").Inc()
		return &refusal{CloseBadVersion, fmt.Sprintf("protocol version %d not supported; this core speaks %d", hello.Version, wire.Version)}
	}
	if err := c.helloSlot(); err != nil {
		return err
	}
	host, err := c.hello(hello)
	if err != nil {
		<-c.hellos
		return err
	}
	c.host, c.agentID = host, hello.AgentID
	unregister, err := c.register()
	<-c.hellos
	if err != nil {
		return err
	}
	defer unregister()
	c.log.Info("agent connected", "remote", c.remote, "host", host, "agent_version", hello.AgentVersion)
	if err := c.write(&wire.Welcome{Version: wire.Version, CoreVersion: c.version, HostID: host}); err != nil {
		return err
	}
	if ac, ok := c.in.(AgentConfigs); ok {
		if cfg := ac.AgentConfig(host); cfg != nil && cfg.Version != hello.ConfigVersion {
			c.log.Info("pushing config to agent", "host", host, "version", cfg.Version, "agent_runs", hello.ConfigVersion)
			if err := c.write(cfg); err != nil {
				return err
			}
		}
	}
	c.ws.SetReadDeadline(time.Now().Add(pongWait))
	c.result = make(chan error, 1)
	for {
		f, err := c.readFrame()
		if err != nil {
			return err
		}
		read := time.Now()
		c.last.Store(read.UnixNano())
		c.ws.SetReadDeadline(read.Add(pongWait))
		err = c.handOff(f.Bytes(), read)
		releaseFrame(f)
		if err != nil {
			return err
		}
	}
}

// A batch is handled in pooled memory, so the decode and ingest of
// thousands of batches a second allocate almost nothing (the garbage
// collector had half of the core's CPU at 500,000 samples/s), and an idle
// connection holds none of it: its frame, taken once a frame begins to
// arrive and given back when the batch is acked, and its batchWork (the
// batch decoded from the frame and the samples made of that), taken only
// once the batch holds one of the maxBatchWork hand-off tokens. So
// however many readers wait for a token with a frame read, at most
// maxBatchWork batchWorks are in use (with 10,000 agents replaying their
// queues, taking both at the read kept 700 MB of them).
type batchWork struct {
	batch   wire.Batch
	samples []store.Sample
	// labels holds a definition's labels until it is admitted and looked
	// up, then the samples' labels, read from their series' names: a
	// series keeps only its name, one pointer, where its labels were
	// another slice and two strings per label for the collector to follow.
	labels store.Labels
	name   []byte // a definition's name, until admitted (copied)
}

var (
	batchWorks = sync.Pool{New: func() any { return new(batchWork) }}
	frames     = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// Sizes above which a batch's memory is dropped rather than pooled: an
// agent replaying its spool sends frames up to wire.MaxFrameBytes, which
// the steady flow of small batches (one snapshot, 60 to 500 samples, a
// few KB) would never use again.
const (
	maxPooledFrame     = 64 << 10
	maxPooledSamples   = 1 << 10
	maxPooledLabels    = 8 * maxPooledSamples
	maxPooledSnapshots = 16
)

func (w *batchWork) release() {
	clear(w.samples) // the series names and labels they point to
	w.samples = w.samples[:0]
	clear(w.labels[:cap(w.labels)]) // the strings of series names
	w.labels = w.labels[:0]
	w.batch.Defs = nil
	if cap(w.samples) > maxPooledSamples || cap(w.labels) > maxPooledLabels || cap(w.batch.Snapshots) > maxPooledSnapshots {
		return
	}
	batchWorks.Put(w)
}

func releaseFrame(f *bytes.Buffer) {
	if f.Cap() <= maxPooledFrame {
		frames.Put(f)
	}
}

// readFrame reads one frame, which must be binary, into a pooled buffer.
func (c *agentConn) readFrame() (*bytes.Buffer, error) {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return nil, err
	}
	if typ != websocket.BinaryMessage {
		c.m.InvalidFrames.WithLabelValues("malformed").Inc()
		return nil, &refusal{CloseMalformed, "frames must be binary"}
	}
	f := frames.Get().(*bytes.Buffer)
	f.Reset()
	if _, err := f.ReadFrom(r); err != nil {
		releaseFrame(f)
		return nil, err
	}
	return f, nil
}

// handOff decodes and ingests a frame read after the hello on a goroutine
// of its own, and waits for it. The reader, one per agent connection and
// idle in a read most of its life, so keeps the small stack a read needs;
// the deep one of decoding and ingest lives only while a batch is handled
// (a stack grown once stays until a garbage collection shrinks it, and
// with 10,000 agents that was 12 KB a connection). At most maxBatchWork
// batches are handled at once; the others' readers wait.
//
// read is when the frame arrived: the batch's acknowledgement latency
// counts from there, the wait for a token included.
func (c *agentConn) handOff(frame []byte, read time.Time) error {
	c.work <- struct{}{}
	go func() {
		w := batchWorks.Get().(*batchWork)
		defer func() {
			w.release()
			<-c.work
		}()
		msg, err := c.decodeInto(frame, &w.batch)
		if err == nil {
			b, ok := msg.(*wire.Batch)
			if !ok {
				c.m.InvalidFrames.WithLabelValues("protocol").Inc()
				err = &refusal{CloseProtocol, fmt.Sprintf("unexpected %T after hello", msg)}
			} else {
				err = c.batch(b, w, read)
			}
		}
		c.result <- err
	}()
	return <-c.result
}

// helloSlot waits up to helloQueueWait for room to handle a hello; the
// caller frees the slot with <-c.hellos. Without room the agent is told to
// retry later, which spreads a crowd of reconnecting agents over their
// backoff instead of over the core's memory.
func (c *agentConn) helloSlot() error {
	select {
	case c.hellos <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(helloQueueWait)
	defer t.Stop()
	select {
	case c.hellos <- struct{}{}:
		return nil
	case <-t.C:
		c.m.Rejected.WithLabelValues("busy").Inc()
		return &refusal{CloseBusy, "core busy with other agents' hellos: try again later"}
	}
}

// readMessage reads and decodes one frame, turning decode errors into
// refusals that name the problem.
func (c *agentConn) readMessage() (any, error) {
	f, err := c.readFrame()
	if err != nil {
		return nil, err
	}
	defer releaseFrame(f) // a decoded message holds no part of its frame
	return c.decode(f.Bytes())
}

// decode decodes a frame, turning errors into refusals that name the
// problem.
func (c *agentConn) decode(data []byte) (any, error) {
	return c.decodeInto(data, nil)
}

// decodeInto is decode, decoding a batch into b (see wire.DecodeInto).
func (c *agentConn) decodeInto(data []byte, b *wire.Batch) (any, error) {
	msg, err := wire.DecodeInto(data, b)
	switch {
	case errors.Is(err, wire.ErrUnknownType):
		c.m.InvalidFrames.WithLabelValues("unknown_type").Inc()
		return nil, &refusal{CloseUnknownType, err.Error()}
	case err != nil:
		c.m.InvalidFrames.WithLabelValues("malformed").Inc()
		return nil, &refusal{CloseMalformed, clip(err.Error())}
	}
	return msg, nil
}

// batch turns a batch into samples (in w's), hands them to the ingester
// and writes the ack; start is when its frame arrived.
func (c *agentConn) batch(b *wire.Batch, w *batchWork, start time.Time) error {
	for i := range b.Defs {
		if err := c.define(&b.Defs[i], w); err != nil {
			return err
		}
	}
	n := 0
	for _, s := range b.Snapshots {
		n += len(s.IDs)
	}
	samples := slices.Grow(w.samples[:0], n)
	ls := w.labels[:0]
	defer func() { w.samples, w.labels = samples, ls }()
	var nonFinite, unknown, overLimit int
	for _, s := range b.Snapshots {
		for i, id := range s.IDs {
			ref, ok := c.series.get(id)
			switch {
			case !ok:
				unknown++
			case ref.name == refusedSeries:
				overLimit++
			case !wire.Finite(s.Values[i]):
				nonFinite++
			default:
				// Each sample's labels are clipped to their length, so an
				// append to them (by the Ingester) cannot write over the
				// next sample's. An append here that moves ls leaves the
				// labels before it where they are.
				at := len(ls)
				var metric string
				metric, ls = ref.parts.Split(ls, c.lim.names.String(ref.name))
				samples = append(samples, store.Sample{Metric: metric, Labels: ls[at:len(ls):len(ls)], T: s.TimeMS, V: s.Values[i], Ref: ref.ref})
			}
		}
	}
	ack := &wire.Ack{Seq: b.Seq}
	if nonFinite+unknown+overLimit > 0 {
		c.m.RejectedValues.WithLabelValues("non_finite").Add(float64(nonFinite))
		c.m.RejectedValues.WithLabelValues("unknown_series").Add(float64(unknown))
		c.m.RejectedValues.WithLabelValues("series_limit").Add(float64(overLimit))
		ack.Rejected = nonFinite + unknown + overLimit
		ack.Reason = rejectReason(nonFinite, unknown, overLimit, c.lim.lim.MaxSeriesPerHost)
		c.log.Warn("dropped samples from batch", "host", c.host, "seq", b.Seq, "non_finite", nonFinite, "unknown_series", unknown, "series_limit", overLimit)
	}
	if err := c.lim.throttle(context.Background(), c.host, len(samples)); err != nil {
		return err
	}
	// No deadline: the store's waits (for its log's room and its group
	// commit) read none; a deadline here was only checked as the append
	// began, and its context and timer were 8 % of what the core
	// allocated at 10,000 agents.
	if err := c.in.Ingest(context.Background(), c.host, samples); err != nil {
		c.m.IngestErrors.Inc()
		c.log.Error("store batch", "host", c.host, "seq", b.Seq, "err", err)
		// No ack: the agent keeps the batch and sends it again.
		return &refusal{websocket.CloseInternalServerErr, "core could not store the batch"}
	}
	c.m.Batches.Inc()
	c.m.Samples.Add(float64(len(samples)))
	if err := c.write(ack); err != nil {
		return err
	}
	c.m.AckSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// define files the connection's series d: admitted by its host's budget,
// or marked refused.
func (c *agentConn) define(d *wire.SeriesDef, w *batchWork) error {
	if c.series.n >= wire.MaxSeriesPerConn {
		c.m.InvalidFrames.WithLabelValues("protocol").Inc()
		return &refusal{CloseProtocol, fmt.Sprintf("more than %d series on one connection", wire.MaxSeriesPerConn)}
	}
	ls := append(w.labels[:0], store.Label{Name: "host", Value: c.host})
	for _, l := range d.Labels {
		ls = append(ls, store.Label{Name: l.Name, Value: l.Value})
	}
	ls.Sort()
	w.labels = ls
	w.name = store.AppendSeriesName(w.name[:0], d.Metric, ls)
	sr := seriesRef{name: refusedSeries}
	if name, ok := c.lim.admit(c.host, w.name); ok {
		sr.name, sr.parts = name, store.PartsOf(c.lim.names.String(name))
		if refs, ok := c.in.(SeriesRefs); ok {
			// An error (an empty metric name) leaves the zero ref: the
			// append then refuses the samples and counts them.
			sr.ref, _ = refs.Ref(d.Metric, ls)
		}
	}
	c.series.set(d.ID, sr)
	return nil
}

// write sends a message to the agent. An agent that does not read what it
// is sent (its acks) stalls the write until writeWait, which ends the
// connection.
func (c *agentConn) write(msg any) error {
	f, err := wire.Encode(msg)
	if err != nil {
		return err
	}
	c.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return c.ws.WriteMessage(websocket.BinaryMessage, f)
}

// pinger pings every connection each pingPeriod, so that a dead peer is
// found (its pong never comes and the read deadline ends the reader) and
// idle middleboxes keep the connection. One goroutine for all agents.
func (a *Agents) pinger() {
	t := time.NewTicker(pingPeriod)
	defer t.Stop()
	var conns []*websocket.Conn
	for {
		select {
		case <-t.C:
		case <-a.stop:
			return
		}
		a.mu.Lock()
		for ws := range a.conns {
			conns = append(conns, ws)
		}
		a.mu.Unlock()
		for _, ws := range conns {
			if ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(pingWriteWait)) != nil {
				ws.Close() // the reader sees it and ends the connection
			}
		}
		clear(conns)
		conns = conns[:0]
	}
}

func clip(s string) string {
	// A close frame's reason is at most 123 bytes.
	if len(s) > 120 {
		return s[:120]
	}
	return s
}
