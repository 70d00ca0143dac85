// Package link is esmon-agent's connection to the core: one WebSocket that
// the agent dials, says hello on, and sends batches of snapshots over, with
// every batch kept until the core acknowledges it.
//
// The connection is an explicit state machine:
//
//	disconnected → dialing → hello sent → connected → backoff → dialing …
//
// Snapshots are queued whatever the state, in a Queue (the on-disk spool,
// or memory) that drops the oldest when full. Each snapshot has a seq; a
// batch carries consecutive snapshots and the seq of its last one, and the
// core's ack of that seq covers every snapshot up to it. On each new
// connection the unacknowledged snapshots are encoded again (series are
// numbered per connection) and sent in order.
package link

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"esmon/agentsvc/collect"
	"esmon/agentsvc/spool"
	"esmon/core/wire"
)

// State is where the connection is in its life.
type State int32

// The states of a Client, in the order a connection goes through them.
const (
	Disconnected State = iota // not started, or stopped
	Dialing                   // opening the WebSocket
	HelloSent                 // waiting for the core's Welcome
	Connected                 // sending batches, receiving acks
	Waiting                   // backing off before the next dial
)

func (s State) String() string {
	switch s {
	case Disconnected:
		return "disconnected"
	case Dialing:
		return "dialing"
	case HelloSent:
		return "hello sent"
	case Connected:
		return "connected"
	case Waiting:
		return "backoff"
	}
	return fmt.Sprintf("state(%d)", int32(s))
}

// Close codes the core uses to refuse an agent. CloseRevoked is final:
// the agent stops instead of retrying.
const (
	CloseBadToken   = 4001
	CloseBadVersion = 4002
	CloseRevoked    = 4006
)

// Errors a Client reports in Status when the core refuses it. It keeps
// retrying, with RejectBackoff between attempts, since an operator may fix
// the token or upgrade the core meanwhile.
var (
	ErrBadToken   = errors.New("core refused the agent token")
	ErrBadVersion = errors.New("core refused the protocol version")
	// ErrRevoked ends Run: an operator revoked this agent, and retrying
	// would only fill the core's log.
	ErrRevoked = errors.New("core revoked this agent")
)

// Defaults of Options.
const (
	DefaultQueueSnapshots   = 10_000
	DefaultBatchSnapshots   = 64
	DefaultWindow           = 16
	DefaultRejectBackoff    = 5 * time.Minute
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultPingPeriod       = 25 * time.Second
)

// Options configure a Client. URL and AgentID are required.
type Options struct {
	// URL of the core, http(s):// or ws(s)://; see CoreURL.
	URL          string
	Token        string
	AgentID      string
	AgentVersion string
	Host         wire.HostFacts
	Tags         []string      // the host's tags, told to the core in the Hello
	Interval     time.Duration // told to the core in the Hello; see SetInterval
	Logger       *slog.Logger
	// ConfigVersion, when set, gives the version of the pushed config the
	// agent runs, for the Hello.
	ConfigVersion func() uint64
	// OnConfig, when set, receives the configs the core pushes. It is
	// called from the connection's reader: it must not block.
	OnConfig  func(*wire.Config)
	TLSConfig *tls.Config

	// Queue keeps the snapshots until the core acknowledges them; nil
	// means a spool.Memory of QueueSnapshots, numbered from FirstSeq.
	Queue Queue
	// QueueSnapshots is the most snapshots a memory queue keeps
	// unacknowledged; past it the oldest are dropped and counted.
	QueueSnapshots int
	// BatchSnapshots is the most snapshots in one batch, which matters when
	// snapshots pile up while the core is away.
	BatchSnapshots int
	// Window is the most batches sent and not yet acknowledged.
	Window int
	// Backoff is the wait between failed connections.
	Backoff Backoff
	// RejectBackoff is the wait after the core refused the token or
	// version.
	RejectBackoff time.Duration
	// FirstSeq is the seq of the first snapshot of a memory queue; zero
	// means 1.
	FirstSeq uint64

	HandshakeTimeout time.Duration
	WriteTimeout     time.Duration
	// PingPeriod is how often the agent pings the core; the connection is
	// dropped when nothing was heard for twice as long.
	PingPeriod time.Duration

	// OnSent and OnAck, when set, are told of every batch written to the
	// core and of every batch the core acknowledged, with how long that
	// took from the write; load tools (`esmon-agent simulate`) measure
	// with them. OnAck is called from the connection's reader: neither may
	// block. A batch sent on a connection that ends before its ack is
	// sent again on the next and timed from there.
	OnSent func(Batch)
	OnAck  func(b Batch, latency time.Duration)
}

// Batch is what OnSent and OnAck are told about one batch.
type Batch struct {
	Seq       uint64 // the seq of its last snapshot
	Snapshots int
	Samples   int
}

// Status is a Client's state for logs, tests and the status command.
type Status struct {
	State    State
	Err      error  // why the last connection failed or ended; nil when connected
	Queued   int    // snapshots not yet acknowledged
	Dropped  uint64 // snapshots dropped because the queue was full, or unsendable
	LastAck  uint64 // highest acknowledged seq
	Connects uint64 // successful handshakes so far
	HostID   string // the name the core files the agent's series under, from its last Welcome
}

// Client sends snapshots to the core. Enqueue may be called from any
// goroutine; Run owns the connection.
type Client struct {
	opt    Options
	url    string
	log    *slog.Logger
	dialer *websocket.Dialer
	wake   chan struct{} // capacity 1: the writer has something to do

	q Queue

	state    atomic.Int32
	connects atomic.Uint64
	lastAck  atomic.Uint64
	interval atomic.Int64 // nanoseconds, for the Hello

	mu         sync.Mutex // guards the fields below
	unsendable uint64     // snapshots skipped because no frame could hold them
	err        error
	hostID     string    // from the last Welcome
	lastDrop   time.Time // when a drop was last logged
	lastQErr   time.Time // when a queue error was last logged

	sentMu sync.Mutex  // guards sent
	sent   []sentBatch // batches written on this connection and not yet acked, oldest first; only with OnAck
}

// writeBufferSize is the room a connection writes a message through: a
// batch of a few snapshots goes out as one frame and one write rather
// than in pieces of gorilla's default 4 KB. The room comes from
// writeBuffers only while a message is being written, so thousands of
// clients in one process (the simulator) share a few.
const writeBufferSize = 64 << 10

var writeBuffers sync.Pool

// sentBatch is a batch waiting for its ack, for OnAck.
type sentBatch struct {
	Batch
	at time.Time
}

// New checks o and returns a Client; Run starts it.
func New(o Options) (*Client, error) {
	u, err := CoreURL(o.URL)
	if err != nil {
		return nil, err
	}
	if o.AgentID == "" {
		return nil, errors.New("link: agent id is empty")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.QueueSnapshots, DefaultQueueSnapshots)
	def(&o.BatchSnapshots, DefaultBatchSnapshots)
	def(&o.Window, DefaultWindow)
	o.BatchSnapshots = min(o.BatchSnapshots, o.QueueSnapshots, wire.MaxSnapshots)
	if o.Backoff == (Backoff{}) {
		o.Backoff = DefaultBackoff
	}
	defDur(&o.RejectBackoff, DefaultRejectBackoff)
	defDur(&o.HandshakeTimeout, DefaultHandshakeTimeout)
	defDur(&o.WriteTimeout, DefaultWriteTimeout)
	defDur(&o.PingPeriod, DefaultPingPeriod)
	if o.FirstSeq == 0 {
		o.FirstSeq = 1
	}
	if o.Queue == nil {
		o.Queue = spool.NewMemory(o.QueueSnapshots, o.FirstSeq)
	}
	c := &Client{
		opt: o,
		url: u,
		log: o.Logger.With("core", redactURL(u)),
		dialer: &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: o.HandshakeTimeout,
			TLSClientConfig:  o.TLSConfig,
			WriteBufferSize:  writeBufferSize,
			WriteBufferPool:  &writeBuffers,
		},
		wake: make(chan struct{}, 1),
		q:    o.Queue,
	}
	c.lastAck.Store(o.Queue.Stats().Acked)
	c.interval.Store(int64(o.Interval))
	return c, nil
}

// CoreURL turns the core address an operator gives into the agent
// endpoint: http becomes ws, https becomes wss, and wire.Path is appended
// to the path unless it is already there.
func CoreURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("no core URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse core URL: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("core URL %q: scheme must be http, https, ws or wss", redactURL(raw))
	}
	if u.Host == "" {
		return "", fmt.Errorf("core URL %q has no host", redactURL(raw))
	}
	if !strings.HasSuffix(strings.TrimRight(u.Path, "/"), wire.Path) {
		u.Path = strings.TrimRight(u.Path, "/") + wire.Path
	} else {
		u.Path = strings.TrimRight(u.Path, "/")
	}
	u.RawPath = ""
	u.Fragment = ""
	return u.String(), nil
}

// redactURL drops user info and query from a URL for logs, in case an
// operator put a secret there.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

// SetInterval changes the collection interval told to the core in the
// next Hello.
func (c *Client) SetInterval(d time.Duration) { c.interval.Store(int64(d)) }

// Enqueue queues a snapshot for sending. It never blocks on the network.
// The queue keeps the samples' names and values, not s.Samples itself,
// which the caller may reuse once Enqueue returns.
func (c *Client) Enqueue(s collect.Snapshot) {
	dropped, err := c.q.Append(s)
	now := time.Now()
	c.mu.Lock()
	logDrop := dropped > 0 && now.Sub(c.lastDrop) >= time.Minute
	if logDrop {
		c.lastDrop = now
	}
	logErr := err != nil && now.Sub(c.lastQErr) >= time.Minute
	if logErr {
		c.lastQErr = now
	}
	c.mu.Unlock()
	if logDrop {
		c.log.Warn("queue full: dropped the oldest snapshots",
			"dropped", dropped, "dropped_total", c.q.Stats().Dropped)
	}
	if logErr {
		c.log.Error("cannot queue a snapshot", "err", err)
	}
	c.poke()
}

func (c *Client) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Status returns the client's current state and counters.
func (c *Client) Status() Status {
	qs := c.q.Stats()
	c.mu.Lock()
	defer c.mu.Unlock()
	return Status{
		State:    State(c.state.Load()),
		Err:      c.err,
		Queued:   qs.Pending,
		Dropped:  qs.Dropped + c.unsendable,
		LastAck:  c.lastAck.Load(),
		Connects: c.connects.Load(),
		HostID:   c.hostID,
	}
}

// State returns the connection's state; it is cheaper than Status.
func (c *Client) State() State { return State(c.state.Load()) }

func (c *Client) setState(s State) {
	if old := State(c.state.Swap(int32(s))); old != s {
		c.log.Debug("link state", "from", old, "to", s)
	}
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// Run connects to the core and keeps connecting until ctx is cancelled, or
// the core says this agent is revoked; then it closes the connection and
// returns ctx's error or ErrRevoked, with every goroutine it started stopped.
func (c *Client) Run(ctx context.Context) error {
	defer c.setState(Disconnected)
	attempt := 0
	lastErr := ""
	for {
		err := c.connectOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			err = errors.New("connection ended")
		}
		if errors.Is(err, ErrRevoked) {
			c.setErr(err)
			c.log.Error("core revoked this agent; stopping", "err", err)
			return err
		}
		var wait time.Duration
		var ce *connError
		switch {
		case errors.Is(err, ErrBadToken), errors.Is(err, ErrBadVersion):
			// Equal jitter: still long, still spread.
			wait = c.opt.RejectBackoff/2 + time.Duration(jitter()*float64(c.opt.RejectBackoff/2))
		case errors.As(err, &ce) && ce.welcomed:
			attempt = 0 // a connection that worked: retry soon
			wait = c.opt.Backoff.Delay(attempt, jitter())
		default:
			wait = c.opt.Backoff.Delay(attempt, jitter())
			attempt++
		}
		c.setErr(err)
		switch {
		case errors.Is(err, ErrBadToken) || errors.Is(err, ErrBadVersion):
			c.log.Error("core refused this agent; retrying later", "err", err, "retry_in", wait.Round(time.Second))
		case attempt <= 2 || attempt%10 == 0 || err.Error() != lastErr:
			// While the core stays away, say so now and then, not on
			// every attempt.
			c.log.Warn("connection to core failed", "err", err, "attempt", attempt, "retry_in", wait.Round(time.Millisecond))
		default:
			c.log.Debug("connection to core failed", "err", err, "attempt", attempt, "retry_in", wait.Round(time.Millisecond))
		}
		lastErr = err.Error()
		c.setState(Waiting)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// connError is the end of a connection; welcomed says whether it got as
// far as the core's Welcome.
type connError struct {
	welcomed bool
	err      error
}

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// connectOnce dials, says hello and serves one connection until it ends.
func (c *Client) connectOnce(ctx context.Context) error {
	c.setState(Dialing)
	conn, resp, err := c.dialer.DialContext(ctx, c.url, nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("dial: %w (HTTP %s)", err, resp.Status)
		}
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	// Until the writer loop runs, cancelling ctx closes the connection so
	// a blocked handshake returns at once.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	welcome, err := c.handshake(conn)
	if !stop() {
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	c.connects.Add(1)
	c.mu.Lock()
	c.err, c.hostID = nil, welcome.HostID
	c.mu.Unlock()
	c.setState(Connected)
	c.log.Info("connected to core", "host_id", welcome.HostID, "core_version", welcome.CoreVersion)
	if err := c.serve(ctx, conn); err != nil {
		return &connError{welcomed: true, err: err}
	}
	return ctx.Err()
}

func (c *Client) handshake(conn *websocket.Conn) (*wire.Welcome, error) {
	conn.SetReadLimit(wire.MaxFrameBytes)
	hello := &wire.Hello{
		Version:      wire.Version,
		AgentID:      c.opt.AgentID,
		Token:        c.opt.Token,
		AgentVersion: c.opt.AgentVersion,
		Host:         c.opt.Host,
		Tags:         c.opt.Tags,
		IntervalMS:   time.Duration(c.interval.Load()).Milliseconds(),
	}
	if c.opt.ConfigVersion != nil {
		hello.ConfigVersion = c.opt.ConfigVersion()
	}
	frame, err := wire.Encode(hello)
	if err != nil {
		return nil, err
	}
	conn.SetWriteDeadline(time.Now().Add(c.opt.WriteTimeout))
	if err := conn.WriteMessage(websocket.BinaryMessage, frame); err != nil {
		return nil, fmt.Errorf("send hello: %w", err)
	}
	c.setState(HelloSent)
	conn.SetReadDeadline(time.Now().Add(c.opt.HandshakeTimeout))
	_, data, err := conn.ReadMessage()
	if err != nil {
		return nil, closeErr("wait for welcome", err)
	}
	msg, err := wire.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("wait for welcome: %w", err)
	}
	w, ok := msg.(*wire.Welcome)
	if !ok {
		return nil, fmt.Errorf("wait for welcome: got %T", msg)
	}
	if w.Version != wire.Version {
		c.log.Warn("core speaks another protocol version", "core", w.Version, "agent", wire.Version)
	}
	return w, nil
}

// closeErr names the core's close reason in err, and maps the refusal
// codes to ErrBadToken and ErrBadVersion.
func closeErr(during string, err error) error {
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		return fmt.Errorf("%s: %w", during, err)
	}
	reason := ce.Text
	if reason == "" {
		reason = "no reason given"
	}
	switch ce.Code {
	case CloseBadToken:
		return fmt.Errorf("%s: %w (close %d: %s)", during, ErrBadToken, ce.Code, reason)
	case CloseBadVersion:
		return fmt.Errorf("%s: %w (close %d: %s)", during, ErrBadVersion, ce.Code, reason)
	case CloseRevoked:
		return fmt.Errorf("%s: %w (close %d: %s)", during, ErrRevoked, ce.Code, reason)
	}
	return fmt.Errorf("%s: core closed the connection (close %d: %s)", during, ce.Code, reason)
}

// serve runs a welcomed connection: a reader goroutine takes acks, and this
// goroutine writes batches and pings. It returns when either side fails or
// ctx is cancelled, after the reader has stopped.
func (c *Client) serve(ctx context.Context, conn *websocket.Conn) error {
	readTimeout := 2 * c.opt.PingPeriod
	extend := func() { conn.SetReadDeadline(time.Now().Add(readTimeout)) }
	extend()
	conn.SetPongHandler(func(string) error { extend(); return nil })
	conn.SetPingHandler(func(data string) error {
		extend()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.opt.WriteTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})

	readErr := make(chan error, 1)
	go func() { readErr <- c.read(conn, extend) }()

	err := c.write(ctx, conn, readErr)
	if ctx.Err() != nil {
		// Say goodbye; the core answers with its close, which ends the reader.
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "agent stopping")
		_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	}
	conn.Close()
	if rerr := <-readErr; err == nil || errors.Is(rerr, ErrRevoked) {
		err = rerr
	}
	return err
}

// read handles the core's messages until the connection fails.
func (c *Client) read(conn *websocket.Conn, extend func()) error {
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return closeErr("read", err)
		}
		extend()
		msg, err := wire.Decode(data)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		switch m := msg.(type) {
		case *wire.Ack:
			c.ack(m)
		case *wire.Config:
			c.log.Info("core pushed a config", "version", m.Version)
			if c.opt.OnConfig != nil {
				c.opt.OnConfig(m)
			}
		default:
			c.log.Debug("ignoring unexpected message from core", "type", fmt.Sprintf("%T", msg))
		}
	}
}

func (c *Client) ack(a *wire.Ack) {
	if c.opt.OnAck != nil {
		c.timeAck(a.Seq, time.Now())
	}
	if err := c.q.Ack(a.Seq); err != nil {
		c.log.Warn("cannot record an ack", "seq", a.Seq, "err", err)
	}
	for {
		old := c.lastAck.Load()
		if a.Seq <= old || c.lastAck.CompareAndSwap(old, a.Seq) {
			break
		}
	}
	if a.Rejected > 0 {
		c.log.Warn("core rejected samples", "seq", a.Seq, "rejected", a.Rejected, "reason", a.Reason)
	}
	c.poke()
}

// timeAck tells OnAck of every batch up to seq.
func (c *Client) timeAck(seq uint64, now time.Time) {
	c.sentMu.Lock()
	defer c.sentMu.Unlock()
	i := 0
	for ; i < len(c.sent) && c.sent[i].Seq <= seq; i++ {
		c.opt.OnAck(c.sent[i].Batch, now.Sub(c.sent[i].at))
	}
	c.sent = append(c.sent[:0], c.sent[i:]...)
}

// timeSent records a batch just written, for OnSent and OnAck.
func (c *Client) timeSent(es []spool.Entry, at time.Time) {
	b := Batch{Seq: es[len(es)-1].Seq, Snapshots: len(es)}
	for _, e := range es {
		b.Samples += len(e.Values)
	}
	if c.opt.OnSent != nil {
		c.opt.OnSent(b)
	}
	if c.opt.OnAck != nil {
		c.sentMu.Lock()
		c.sent = append(c.sent, sentBatch{Batch: b, at: at})
		c.sentMu.Unlock()
	}
}

// write sends queued snapshots in order, in batches of up to BatchSnapshots,
// with at most Window batches unacknowledged, and pings, until ctx is
// cancelled, a write fails, or the reader stops.
func (c *Client) write(ctx context.Context, conn *websocket.Conn, readErr chan error) error {
	enc := newEncoder()
	c.sentMu.Lock()
	c.sent = c.sent[:0] // what the last connection left unacked is sent again, and timed again
	c.sentMu.Unlock()
	sent := c.lastAck.Load() // seq of the last snapshot sent on this connection
	var inflight []uint64    // last seqs of the batches sent and not yet acked
	ping := time.NewTicker(c.opt.PingPeriod)
	defer ping.Stop()
	for {
		acked := c.lastAck.Load()
		sent = max(sent, acked)
		for len(inflight) > 0 && inflight[0] <= acked {
			inflight = inflight[1:]
		}
		for len(inflight) < c.opt.Window {
			es, err := c.q.Read(sent, c.opt.BatchSnapshots)
			if err != nil {
				return fmt.Errorf("read queue: %w", err)
			}
			if len(es) == 0 {
				break
			}
			es = cut(es, maxBatchSamples)
			frame, err := enc.encode(es)
			for errors.Is(err, errTooLarge) && len(es) > 1 {
				es = es[:len(es)/2]
				frame, err = enc.encode(es)
			}
			if errors.Is(err, errTooLarge) {
				// One snapshot no frame can hold: skip it; the ack of a
				// later batch covers it.
				c.log.Error("dropping a snapshot that can never be sent", "seq", es[0].Seq, "err", err)
				c.mu.Lock()
				c.unsendable++
				c.mu.Unlock()
				sent = es[0].Seq
				continue
			}
			if err != nil {
				return fmt.Errorf("encode batch %d: %w", es[len(es)-1].Seq, err)
			}
			now := time.Now()
			conn.SetWriteDeadline(now.Add(c.opt.WriteTimeout))
			if c.opt.OnSent != nil || c.opt.OnAck != nil {
				// Recorded before the write: the ack may arrive before
				// WriteMessage returns.
				c.timeSent(es, now)
			}
			if err := conn.WriteMessage(websocket.BinaryMessage, frame); err != nil {
				return fmt.Errorf("send batch %d: %w", es[len(es)-1].Seq, err)
			}
			sent = es[len(es)-1].Seq
			inflight = append(inflight, sent)
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			readErr <- err // for serve, which waits for it
			return nil
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opt.WriteTimeout)); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		case <-c.wake:
		}
	}
}
