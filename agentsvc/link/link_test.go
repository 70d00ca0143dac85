package link

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"esmon/agentsvc/collect"
	"esmon/agentsvc/spool"
	"esmon/core/wire"
	"esmon/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// received is one batch as the test core saw it.
type received struct {
	conn  int
	batch *wire.Batch
	acked bool
}

// testCore speaks the core's side of the wire protocol on loopback.
type testCore struct {
	t   *testing.T
	srv *httptest.Server

	// refuse, when set, closes every connection after the hello with
	// this code and reason.
	refuseCode   int
	refuseReason string
	// policy decides per batch whether to ack it and whether to drop the
	// connection instead; nil acks everything.
	policy func(conn int, b *wire.Batch) (ack, drop bool)

	mu      sync.Mutex // guards the fields below
	conns   int
	hellos  []wire.Hello
	batches []received
	changed chan struct{} // closed and replaced on every change
}

func newTestCore(t *testing.T, setup func(*testCore)) *testCore {
	c := &testCore{t: t, changed: make(chan struct{})}
	if setup != nil {
		setup(c)
	}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	return c
}

func (c *testCore) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitFor waits until cond, called under c.mu, holds.
func (c *testCore) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		ok, ch := cond(), c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			c.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (c *testCore) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != wire.Path {
		http.NotFound(w, r)
		return
	}
	up := websocket.Upgrader{}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetReadLimit(wire.MaxFrameBytes)
	c.mu.Lock()
	c.conns++
	id := c.conns
	c.notify()
	c.mu.Unlock()

	_, data, err := conn.ReadMessage()
	if err != nil {
		return
	}
	msg, err := wire.Decode(data)
	if err != nil {
		c.t.Errorf("core: decode hello: %v", err)
		return
	}
	hello, ok := msg.(*wire.Hello)
	if !ok {
		c.t.Errorf("core: first message is %T, want hello", msg)
		return
	}
	c.mu.Lock()
	c.hellos = append(c.hellos, *hello)
	c.notify()
	c.mu.Unlock()
	if c.refuseCode != 0 {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(c.refuseCode, c.refuseReason), time.Now().Add(time.Second))
		return
	}
	if err := c.send(conn, &wire.Welcome{Version: wire.Version, CoreVersion: "test", HostID: hello.Host.Hostname}); err != nil {
		return
	}
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		msg, err := wire.Decode(data)
		if err != nil {
			c.t.Errorf("core: decode: %v", err)
			return
		}
		b, ok := msg.(*wire.Batch)
		if !ok {
			c.t.Errorf("core: got %T, want batch", msg)
			return
		}
		ack, drop := true, false
		if c.policy != nil {
			ack, drop = c.policy(id, b)
		}
		c.mu.Lock()
		c.batches = append(c.batches, received{conn: id, batch: b, acked: ack && !drop})
		c.notify()
		c.mu.Unlock()
		if drop {
			return
		}
		if ack {
			if err := c.send(conn, &wire.Ack{Seq: b.Seq}); err != nil {
				return
			}
		}
	}
}

func (c *testCore) send(conn *websocket.Conn, msg any) error {
	frame, err := wire.Encode(msg)
	if err != nil {
		c.t.Errorf("core: encode: %v", err)
		return err
	}
	return conn.WriteMessage(websocket.BinaryMessage, frame)
}

// startClient runs a client against core until the test ends.
func startClient(t *testing.T, core *testCore, edit func(*Options)) (*Client, *testenv.Buffer) {
	t.Helper()
	logs := &testenv.Buffer{}
	o := Options{
		URL:          core.srv.URL,
		Token:        "s3cret-token",
		AgentID:      "agent-1",
		AgentVersion: "test",
		Host:         wire.HostFacts{Hostname: "web1", OS: "linux"},
		Interval:     time.Second,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff:      Backoff{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond},
		PingPeriod:   time.Second,
	}
	if edit != nil {
		edit(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5 s of cancel")
		}
		core.srv.Close()
		if strings.Contains(logs.String(), "s3cret-token") {
			t.Error("the token appears in the logs")
		}
	})
	return c, logs
}

// snap makes snapshot i: cpu usage i, core 0 usage 10·i, and from i = 7 on
// a memory series that the connection has not seen before.
func snap(i int) collect.Snapshot {
	s := collect.Snapshot{
		Time: time.UnixMilli(int64(1_000_000 + i)),
		Samples: []collect.Sample{
			{Metric: wire.CPUUsagePercent, Value: float64(i)},
			{Metric: wire.CPUCoreUsagePercent, Labels: []wire.Label{{Name: wire.LabelCore, Value: "0"}}, Value: float64(10 * i)},
		},
	}
	if i >= 7 {
		s.Samples = append(s.Samples, collect.Sample{Metric: wire.MemoryUsedBytes, Value: float64(100 * i)})
	}
	return s
}

func snapIndex(s wire.Snapshot) int { return int(s.TimeMS - 1_000_000) }

func hasSnap(b *wire.Batch, i int) bool {
	for _, s := range b.Snapshots {
		if snapIndex(s) == i {
			return true
		}
	}
	return false
}

func TestResendAfterReconnect(t *testing.T) {
	const total = 10
	core := newTestCore(t, func(c *testCore) {
		// First connection: ack what holds snapshots up to 3 only; drop
		// the connection on the batch holding snapshot 5.
		c.policy = func(conn int, b *wire.Batch) (ack, drop bool) {
			if conn > 1 {
				return true, false
			}
			if hasSnap(b, 5) {
				return false, true
			}
			for _, s := range b.Snapshots {
				if snapIndex(s) > 3 {
					return false, false
				}
			}
			return true, false
		}
	})
	client, _ := startClient(t, core, nil)

	// One batch per snapshot on the first connection: 1-3 acked, 4 not,
	// and the connection drops on 5.
	waitStatus(t, client, func(s Status) bool { return s.State == Connected })
	for i := 1; i <= 5; i++ {
		client.Enqueue(snap(i))
		core.waitFor(fmt.Sprintf("snapshot %d on the first connection", i), func() bool {
			return len(core.batches) > 0 && hasSnap(core.batches[len(core.batches)-1].batch, i)
		})
	}
	for i := 6; i <= total; i++ {
		client.Enqueue(snap(i))
	}
	core.waitFor("every snapshot acked", func() bool {
		n := 0
		for _, r := range core.batches {
			if r.acked {
				n += len(r.batch.Snapshots)
			}
		}
		return n == total
	})
	waitStatus(t, client, func(s Status) bool { return s.Queued == 0 })

	core.mu.Lock()
	defer core.mu.Unlock()
	if core.conns < 2 {
		t.Fatalf("%d connections, want a reconnect", core.conns)
	}

	// What the core stored: acked batches, each snapshot exactly once, in order.
	var stored []int
	ackedSeq := map[uint64]bool{}
	for _, r := range core.batches {
		if r.acked {
			ackedSeq[r.batch.Seq] = true
			for _, s := range r.batch.Snapshots {
				stored = append(stored, snapIndex(s))
			}
		}
	}
	want := make([]int, total)
	for i := range want {
		want[i] = i + 1
	}
	if !reflect.DeepEqual(stored, want) {
		t.Errorf("stored snapshots %v, want %v", stored, want)
	}

	// Per connection: each batch starts right after the last snapshot of
	// the one before, no acked seq is sent again, every
	// id is defined once before or in the batch that first uses it, and the
	// named series carry the right values.
	type named struct {
		metric string
		labels string
	}
	ackedBefore := map[uint64]bool{}
	lastSeq := map[int]uint64{}
	defs := map[int]map[uint32]named{}
	var firstSeqOf []uint64
	for _, r := range core.batches {
		b := r.batch
		first := b.Seq - uint64(len(b.Snapshots)) + 1
		if prev, ok := lastSeq[r.conn]; ok && first != prev+1 {
			t.Errorf("conn %d: batch from seq %d after %d", r.conn, first, prev)
		}
		if _, ok := lastSeq[r.conn]; !ok {
			firstSeqOf = append(firstSeqOf, first)
		}
		lastSeq[r.conn] = b.Seq
		if ackedBefore[b.Seq] {
			t.Errorf("seq %d sent again after it was acked", b.Seq)
		}
		if r.acked {
			ackedBefore[b.Seq] = true
		}
		if defs[r.conn] == nil {
			defs[r.conn] = map[uint32]named{}
		}
		for _, d := range b.Defs {
			if _, dup := defs[r.conn][d.ID]; dup {
				t.Errorf("conn %d: series %d defined twice", r.conn, d.ID)
			}
			defs[r.conn][d.ID] = named{d.Metric, fmt.Sprint(d.Labels)}
		}
		for _, s := range b.Snapshots {
			i := snapIndex(s)
			got := map[named]float64{}
			for k, id := range s.IDs {
				n, ok := defs[r.conn][id]
				if !ok {
					t.Fatalf("conn %d seq %d: id %d used before its definition", r.conn, b.Seq, id)
				}
				got[n] = s.Values[k]
			}
			wantVals := map[named]float64{}
			for _, smp := range snap(i).Samples {
				wantVals[named{smp.Metric, fmt.Sprint(smp.Labels)}] = smp.Value
			}
			if !reflect.DeepEqual(got, wantVals) {
				t.Errorf("conn %d snapshot %d: %v, want %v", r.conn, i, got, wantVals)
			}
		}
	}
	// The second connection starts right after the last acked seq of the
	// first: the unacked batches again, no gap, no acked one repeated.
	var lastAckedOnFirst uint64
	for _, r := range core.batches {
		if r.conn == 1 && r.acked {
			lastAckedOnFirst = r.batch.Seq
		}
	}
	if lastAckedOnFirst != 3 {
		t.Errorf("last acked seq on the first connection is %d, want 3", lastAckedOnFirst)
	}
	if len(firstSeqOf) < 2 || firstSeqOf[1] != lastAckedOnFirst+1 {
		t.Errorf("connections start at seqs %v; last acked on the first is %d", firstSeqOf, lastAckedOnFirst)
	}
	// A resent snapshot has the seq it had the first time.
	seen := map[uint64]int{}
	for _, r := range core.batches {
		first := r.batch.Seq - uint64(len(r.batch.Snapshots)) + 1
		for k, s := range r.batch.Snapshots {
			seq := first + uint64(k)
			if old, ok := seen[seq]; ok && old != snapIndex(s) {
				t.Errorf("seq %d held snapshot %d, then %d when resent", seq, old, snapIndex(s))
			}
			seen[seq] = snapIndex(s)
		}
	}
	if h := core.hellos[0]; h.Token != "s3cret-token" || h.AgentID != "agent-1" || h.Version != wire.Version || h.IntervalMS != 1000 || h.Host.Hostname != "web1" {
		t.Errorf("hello %+v", h)
	}
}

func waitStatus(t *testing.T, c *Client, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := c.Status()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out; status %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRefusedAgent(t *testing.T) {
	tests := []struct {
		name string
		code int
		want error
	}{
		{"bad token", CloseBadToken, ErrBadToken},
		{"bad version", CloseBadVersion, ErrBadVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core := newTestCore(t, func(c *testCore) {
				c.refuseCode, c.refuseReason = tt.code, "refused by test core"
			})
			client, logs := startClient(t, core, func(o *Options) { o.RejectBackoff = time.Hour })
			st := waitStatus(t, client, func(s Status) bool { return s.State == Waiting && s.Err != nil })
			if !errors.Is(st.Err, tt.want) {
				t.Errorf("status error %v, want %v", st.Err, tt.want)
			}
			if !strings.Contains(st.Err.Error(), "refused by test core") {
				t.Errorf("status error %q does not give the core's reason", st.Err)
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "refused by test core") {
				t.Errorf("no error log naming the reason:\n%s", logs)
			}
			time.Sleep(100 * time.Millisecond) // a short backoff would redial by now
			core.mu.Lock()
			defer core.mu.Unlock()
			if core.conns != 1 {
				t.Errorf("%d connections; a refused agent must wait long", core.conns)
			}
		})
	}
}

func TestRunStopsWhileCoreUnreachable(t *testing.T) {
	core := newTestCore(t, nil)
	core.srv.Close() // nothing listens on its address now
	client, _ := startClient(t, core, nil)
	client.Enqueue(snap(1))
	st := waitStatus(t, client, func(s Status) bool { return s.Err != nil })
	if st.Queued != 1 {
		t.Errorf("queued %d, want the snapshot kept while the core is away", st.Queued)
	}
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 30 * time.Second}
	tests := []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{0, 0, time.Second},
		{0, 0.999999, time.Second},
		{1, 1, 2 * time.Second},
		{2, 0.5, 2500 * time.Millisecond}, // uniform in [1 s, 4 s]
		{3, 1, 8 * time.Second},
		{4, 1, 16 * time.Second},
		{5, 1, 30 * time.Second}, // capped
		{60, 1, 30 * time.Second},
		{1000, 0, time.Second},
	}
	for _, tt := range tests {
		if got := b.Delay(tt.attempt, tt.r); got != tt.want {
			t.Errorf("Delay(%d, %v) = %v, want %v", tt.attempt, tt.r, got, tt.want)
		}
	}
	// With real jitter: always within bounds, and spread out.
	distinct := map[time.Duration]bool{}
	for i := range 200 {
		d := b.Delay(10, jitter())
		if d < b.Min || d > b.Max {
			t.Fatalf("sample %d: delay %v outside [%v, %v]", i, d, b.Min, b.Max)
		}
		distinct[d] = true
	}
	if len(distinct) < 100 {
		t.Errorf("only %d distinct delays of 200: not jittered", len(distinct))
	}
}

func TestCoreURL(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: "http://core:8080", want: "ws://core:8080/ws/agent"},
		{in: "https://core.example", want: "wss://core.example/ws/agent"},
		{in: "wss://core/", want: "wss://core/ws/agent"},
		{in: "ws://core/ws/agent", want: "ws://core/ws/agent"},
		{in: "https://proxy/esmon/", want: "wss://proxy/esmon/ws/agent"},
		{in: "HTTPS://core", want: "wss://core/ws/agent"},
		{in: "ftp://core", err: true},
		{in: "core:8080", err: true},
		{in: "", err: true},
		{in: "https://", err: true},
	}
	for _, tt := range tests {
		got, err := CoreURL(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("CoreURL(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestEncoderDefinesSeriesOncePerConnection(t *testing.T) {
	q := spool.NewMemory(100, 1)
	for i := 6; i <= 8; i++ {
		q.Append(snap(i))
	}
	es, _ := q.Read(0, 10)
	for conn := range 2 {
		enc := newEncoder()
		var ndefs []int
		var seqs []uint64
		for _, e := range es {
			frame, err := enc.encode([]spool.Entry{e})
			if err != nil {
				t.Fatal(err)
			}
			msg, err := wire.Decode(frame)
			if err != nil {
				t.Fatal(err)
			}
			ndefs = append(ndefs, len(msg.(*wire.Batch).Defs))
			seqs = append(seqs, msg.(*wire.Batch).Seq)
		}
		// Snapshot 6: cpu and core 0; 7: memory is new; 8: nothing new.
		if want := []int{2, 1, 0}; !reflect.DeepEqual(ndefs, want) {
			t.Errorf("connection %d: defs per batch %v, want %v", conn, ndefs, want)
		}
		if want := []uint64{1, 2, 3}; !reflect.DeepEqual(seqs, want) {
			t.Errorf("connection %d: seqs %v, want %v", conn, seqs, want)
		}
	}
	// A batch of several snapshots carries the seq of its last one.
	frame, err := newEncoder().encode(es)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := wire.Decode(frame)
	if b := msg.(*wire.Batch); b.Seq != 3 || len(b.Snapshots) != 3 || len(b.Defs) != 3 {
		t.Errorf("batch of three: seq %d, %d snapshots, %d defs", b.Seq, len(b.Snapshots), len(b.Defs))
	}
}

func TestCut(t *testing.T) {
	es := []spool.Entry{{Values: make([]float64, 3)}, {Values: make([]float64, 3)}, {Values: make([]float64, 3)}}
	tests := []struct {
		name string
		max  int
		want int
	}{
		{"all fit", 9, 3},
		{"two fit", 8, 2},
		{"at least one", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(cut(es, tt.max)); got != tt.want {
				t.Errorf("cut(9 values, %d) kept %d entries, want %d", tt.max, got, tt.want)
			}
		})
	}
}
