package hub

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"esmon/core/store"
	"esmon/core/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.DiscardHandler)

// metric reads one counter or gauge from reg; labels pick the series.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

func dial(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// closeCode reads until the connection ends and returns the close code the
// server sent, or -1 if it ended without one.
func closeCode(t *testing.T, ws *websocket.Conn) (int, string) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		t.Logf("connection ended without a close frame: %v", err)
		return -1, ""
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---- /ws/agent ----

const goodToken = "esm_agent_good"

// fakeIngester records what the agent endpoint hands it.
type fakeIngester struct {
	helloErr  error
	ingestErr error

	mu      sync.Mutex // guards batches
	batches [][]store.Sample
}

func (f *fakeIngester) Hello(h *wire.Hello) (string, error) {
	if f.helloErr != nil {
		return "", f.helloErr
	}
	if h.Token != goodToken {
		return "", ErrBadToken
	}
	return strings.ToLower(h.Host.Hostname), nil
}

func (f *fakeIngester) Ingest(_ context.Context, _ string, samples []store.Sample) error {
	if f.ingestErr != nil {
		return f.ingestErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// The hub reuses samples and their labels once Ingest returns (see
	// Ingester).
	kept := slices.Clone(samples)
	for i := range kept {
		kept[i].Labels = slices.Clone(kept[i].Labels)
	}
	f.batches = append(f.batches, kept)
	return nil
}

func (f *fakeIngester) got() [][]store.Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]store.Sample(nil), f.batches...)
}

func newAgents(t testing.TB, in Ingester) (*Agents, *prometheus.Registry, string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	a := NewAgents(in, NewAgentMetrics(reg), "9.9.9", quiet)
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		a.Close()
		srv.Close()
	})
	return a, reg, wsURL(srv)
}

func send(t testing.TB, ws *websocket.Conn, msg any) {
	t.Helper()
	f, err := wire.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
		t.Fatalf("send %T: %v", msg, err)
	}
}

func recv[T any](t testing.TB, ws *websocket.Conn) *T {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.BinaryMessage {
		t.Fatalf("frame type %d, want binary", typ)
	}
	msg, err := wire.Decode(data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	m, ok := msg.(*T)
	if !ok {
		t.Fatalf("got %T, want %T", msg, m)
	}
	return m
}

func mustEncode(t testing.TB, msg any) []byte {
	t.Helper()
	f, err := wire.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func hello(token string) *wire.Hello {
	return &wire.Hello{Version: wire.Version, AgentID: "agent-1", Token: token, AgentVersion: "1.0.0",
		Host: wire.HostFacts{Hostname: "Web-01", OS: "linux"}}
}

func TestAgentSession(t *testing.T) {
	in := &fakeIngester{}
	_, reg, url := newAgents(t, in)
	ws := dial(t, url)

	send(t, ws, hello(goodToken))
	w := recv[wire.Welcome](t, ws)
	if want := (wire.Welcome{Version: wire.Version, CoreVersion: "9.9.9", HostID: "web-01"}); *w != want {
		t.Fatalf("welcome %+v, want %+v", *w, want)
	}

	hostLabels := func(extra ...store.Label) store.Labels {
		ls := append(store.Labels{{Name: "host", Value: "web-01"}}, extra...)
		ls.Sort()
		return ls
	}
	batches := []struct {
		name         string
		batch        *wire.Batch
		wantSamples  []store.Sample
		wantRejected int
	}{
		{
			name: "defs and first values",
			batch: &wire.Batch{Seq: 41, Defs: []wire.SeriesDef{
				{ID: 1, Metric: wire.CPUUsagePercent},
				{ID: 2, Metric: wire.DiskUsedPercent, Labels: []wire.Label{{Name: "mount", Value: "/"}}},
				// "zone" sorts after "host", "alpha" before it.
				{ID: 3, Metric: "custom", Labels: []wire.Label{{Name: "zone", Value: "z"}, {Name: "alpha", Value: "a"}}},
			}, Snapshots: []wire.Snapshot{{TimeMS: 1000, IDs: []uint32{1, 2, 3}, Values: []float64{12.5, 80, 1}}}},
			wantSamples: []store.Sample{
				{Metric: wire.CPUUsagePercent, Labels: hostLabels(), T: 1000, V: 12.5},
				{Metric: wire.DiskUsedPercent, Labels: hostLabels(store.Label{Name: "mount", Value: "/"}), T: 1000, V: 80},
				{Metric: "custom", Labels: hostLabels(store.Label{Name: "alpha", Value: "a"}, store.Label{Name: "zone", Value: "z"}), T: 1000, V: 1},
			},
		},
		{
			name: "steady state refers to ids",
			batch: &wire.Batch{Seq: 42, Snapshots: []wire.Snapshot{
				{TimeMS: 2000, IDs: []uint32{2, 1}, Values: []float64{81, 13}},
				{TimeMS: 3000, IDs: []uint32{1}, Values: []float64{14}},
			}},
			wantSamples: []store.Sample{
				{Metric: wire.DiskUsedPercent, Labels: hostLabels(store.Label{Name: "mount", Value: "/"}), T: 2000, V: 81},
				{Metric: wire.CPUUsagePercent, Labels: hostLabels(), T: 2000, V: 13},
				{Metric: wire.CPUUsagePercent, Labels: hostLabels(), T: 3000, V: 14},
			},
		},
		{
			name: "bad values are dropped, the rest stored",
			batch: &wire.Batch{Seq: 43, Snapshots: []wire.Snapshot{
				{TimeMS: 4000, IDs: []uint32{1, 2, 99, 1}, Values: []float64{math.NaN(), math.Inf(1), 5, 15}},
			}},
			wantSamples:  []store.Sample{{Metric: wire.CPUUsagePercent, Labels: hostLabels(), T: 4000, V: 15}},
			wantRejected: 3,
		},
		{
			name: "a redefined id takes its new series",
			batch: &wire.Batch{Seq: 44, Defs: []wire.SeriesDef{{ID: 1, Metric: wire.Load1}},
				Snapshots: []wire.Snapshot{{TimeMS: 5000, IDs: []uint32{1}, Values: []float64{0.5}}}},
			wantSamples: []store.Sample{{Metric: wire.Load1, Labels: hostLabels(), T: 5000, V: 0.5}},
		},
	}
	for i, b := range batches {
		send(t, ws, b.batch)
		ack := recv[wire.Ack](t, ws)
		if ack.Seq != b.batch.Seq || ack.Rejected != b.wantRejected {
			t.Errorf("%s: ack %+v, want seq %d rejected %d", b.name, *ack, b.batch.Seq, b.wantRejected)
		}
		if b.wantRejected > 0 && ack.Reason == "" {
			t.Errorf("%s: ack with rejected samples has no reason", b.name)
		}
		got := in.got()
		if len(got) != i+1 {
			t.Fatalf("%s: %d batches ingested, want %d", b.name, len(got), i+1)
		}
		if !reflect.DeepEqual(got[i], b.wantSamples) {
			t.Errorf("%s: ingested\n%+v\nwant\n%+v", b.name, got[i], b.wantSamples)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"esmon_agent_connections", nil, 1},
		{"esmon_agent_batches_total", nil, 4},
		{"esmon_ingested_samples_total", nil, 8},
		{"esmon_samples_rejected_total", []string{"reason", "non_finite"}, 2},
		{"esmon_samples_rejected_total", []string{"reason", "unknown_series"}, 1},
	} {
		if got := metric(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// A clean close by the agent ends the connection on the core too.
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	waitFor(t, "connection gauge back to 0", func() bool { return metric(t, reg, "esmon_agent_connections") == 0 })
}

// labelAppender adds a label to every sample's labels in place before it
// records them, as an Ingester that extends them might.
type labelAppender struct{ fakeIngester }

func (f *labelAppender) Ingest(ctx context.Context, host string, samples []store.Sample) error {
	for i := range samples {
		samples[i].Labels = append(samples[i].Labels, store.Label{Name: "~added", Value: "x"})
	}
	return f.fakeIngester.Ingest(ctx, host, samples)
}

// TestAgentSampleLabelsApart: the samples of a batch have labels of their
// own (read into one slice from their series' names): an Ingester that
// appends to one sample's labels does not change the next one's.
func TestAgentSampleLabelsApart(t *testing.T) {
	in := &labelAppender{}
	_, _, url := newAgents(t, in)
	ws := agentAs(t, url, "web-01")
	b := &wire.Batch{Seq: 1, Defs: []wire.SeriesDef{
		{ID: 1, Metric: "a", Labels: []wire.Label{{Name: "n", Value: "1"}}},
		{ID: 2, Metric: "b"},
		{ID: 3, Metric: "c", Labels: []wire.Label{{Name: "m", Value: "3"}, {Name: "n", Value: "3"}}},
	}, Snapshots: []wire.Snapshot{
		{TimeMS: 1000, IDs: []uint32{1, 2, 3}, Values: []float64{1, 2, 3}},
		{TimeMS: 2000, IDs: []uint32{3, 1, 2}, Values: []float64{3, 1, 2}},
	}}
	want := map[string]store.Labels{
		"a": {{Name: "host", Value: "web-01"}, {Name: "n", Value: "1"}},
		"b": {{Name: "host", Value: "web-01"}},
		"c": {{Name: "host", Value: "web-01"}, {Name: "m", Value: "3"}, {Name: "n", Value: "3"}},
	}
	send(t, ws, b)
	// The second batch refers to the series by id.
	send(t, ws, &wire.Batch{Seq: 2, Snapshots: b.Snapshots})
	for range 2 {
		if ack := recv[wire.Ack](t, ws); ack.Rejected != 0 {
			t.Fatalf("ack %+v", *ack)
		}
	}
	got := in.got()
	if len(got) != 2 {
		t.Fatalf("%d batches ingested, want 2", len(got))
	}
	for _, batch := range got {
		if len(batch) != 6 {
			t.Fatalf("ingested %+v, want 6 samples", batch)
		}
		for _, s := range batch {
			if w := append(slices.Clone(want[s.Metric]), store.Label{Name: "~added", Value: "x"}); !reflect.DeepEqual(s.Labels, w) {
				t.Errorf("sample of %s at %d has labels %v, want %v", s.Metric, s.T, s.Labels, w)
			}
		}
	}
}

func TestAgentRefused(t *testing.T) {
	batch := &wire.Batch{Seq: 1, Defs: []wire.SeriesDef{{ID: 1, Metric: "m"}},
		Snapshots: []wire.Snapshot{{TimeMS: 1, IDs: []uint32{1}, Values: []float64{1}}}}
	binary := func(b ...byte) func(*testing.T, *websocket.Conn) {
		return func(t *testing.T, ws *websocket.Conn) { ws.WriteMessage(websocket.BinaryMessage, b) }
	}
	msg := func(m any) func(*testing.T, *websocket.Conn) {
		return func(t *testing.T, ws *websocket.Conn) { send(t, ws, m) }
	}
	tests := []struct {
		name       string
		in         *fakeIngester
		welcomed   bool // hello is sent and answered first
		then       func(*testing.T, *websocket.Conn)
		wantCode   int
		wantReason string
		wantMetric []string // name, label, value that must now be 1
	}{
		{"wrong token", &fakeIngester{}, false, msg(hello("esm_agent_wrong")),
			CloseBadToken, "invalid agent token", []string{"esmon_agent_connections_rejected_total", "reason", "token"}},
		{"wrong version", &fakeIngester{}, false, msg(&wire.Hello{Version: wire.Version + 1, AgentID: "a", Token: goodToken}),
			CloseBadVersion, "protocol version 2 not supported; this core speaks 1", []string{"esmon_agent_connections_rejected_total", "reason", "version"}},
		{"batch before hello", &fakeIngester{}, false, msg(batch),
			CloseProtocol, "expected hello", []string{"esmon_agent_frames_invalid_total", "reason", "protocol"}},
		{"text frame", &fakeIngester{}, false,
			func(t *testing.T, ws *websocket.Conn) { ws.WriteMessage(websocket.TextMessage, []byte(`{"hello":1}`)) },
			CloseMalformed, "frames must be binary", []string{"esmon_agent_frames_invalid_total", "reason", "malformed"}},
		{"garbage", &fakeIngester{}, false, binary(byte(wire.TypeHello), 0xff, 0xff),
			CloseMalformed, "malformed message", []string{"esmon_agent_connections_rejected_total", "reason", "hello"}},
		{"unknown type", &fakeIngester{}, false, binary(77, 0xa0),
			CloseUnknownType, "unknown message type 77", []string{"esmon_agent_frames_invalid_total", "reason", "unknown_type"}},
		{"hello fails in the core", &fakeIngester{helloErr: errors.New("disk full")}, false, msg(hello(goodToken)),
			websocket.CloseInternalServerErr, "could not register", nil},
		{"second hello", &fakeIngester{}, true, msg(hello(goodToken)),
			CloseProtocol, "unexpected *wire.Hello after hello", []string{"esmon_agent_frames_invalid_total", "reason", "protocol"}},
		{"invalid batch after hello", &fakeIngester{}, true,
			msg(&wire.Batch{Seq: 1, Defs: []wire.SeriesDef{{ID: 1, Metric: "m", Labels: []wire.Label{{Name: "host", Value: "other"}}}}}),
			CloseMalformed, `invalid label name "host"`, []string{"esmon_agent_frames_invalid_total", "reason", "malformed"}},
		{"ingest fails: no ack", &fakeIngester{ingestErr: errors.New("disk full")}, true, msg(batch),
			websocket.CloseInternalServerErr, "could not store the batch", []string{"esmon_ingest_errors_total"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, reg, url := newAgents(t, tt.in)
			ws := dial(t, url)
			if tt.welcomed {
				send(t, ws, hello(goodToken))
				recv[wire.Welcome](t, ws)
			}
			tt.then(t, ws)
			// The next frame must be the close: in particular no ack for a
			// batch that was not stored.
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, data, err := ws.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("read: frame %x, err %v; want close %d", data, err, tt.wantCode)
			}
			if ce.Code != tt.wantCode || !strings.Contains(ce.Text, tt.wantReason) {
				t.Errorf("close %d %q, want %d containing %q", ce.Code, ce.Text, tt.wantCode, tt.wantReason)
			}
			if len(ce.Text) > 123 {
				t.Errorf("close reason %d bytes, over the 123 a close frame allows", len(ce.Text))
			}
			if tt.wantMetric != nil {
				waitFor(t, tt.wantMetric[0], func() bool { return metric(t, reg, tt.wantMetric[0], tt.wantMetric[1:]...) == 1 })
			}
			if n := len(tt.in.got()); n != 0 {
				t.Errorf("%d batches ingested, want 0", n)
			}
		})
	}
}

func TestAgentOversizeFrame(t *testing.T) {
	_, reg, url := newAgents(t, &fakeIngester{})
	ws := dial(t, url)
	send(t, ws, hello(goodToken))
	recv[wire.Welcome](t, ws)
	big := make([]byte, wire.MaxFrameBytes+1)
	big[0] = byte(wire.TypeBatch)
	ws.WriteMessage(websocket.BinaryMessage, big) // may fail once the core closes
	// The core sends close 1009 and hangs up while the rest of the frame is
	// still arriving, so the agent may see a reset instead of the close.
	if code, _ := closeCode(t, ws); code != -1 && code != websocket.CloseMessageTooBig {
		t.Errorf("close code %d, want %d", code, websocket.CloseMessageTooBig)
	}
	waitFor(t, "oversize counted", func() bool {
		return metric(t, reg, "esmon_agent_frames_invalid_total", "reason", "oversize") == 1
	})
}

func TestAgentsCloseTellsAgents(t *testing.T) {
	a, _, url := newAgents(t, &fakeIngester{})
	ws := dial(t, url)
	send(t, ws, hello(goodToken))
	recv[wire.Welcome](t, ws)

	done := make(chan struct{})
	go func() { a.Close(); close(done) }()
	if code, _ := closeCode(t, ws); code != CloseShuttingDown {
		t.Errorf("close code %d, want %d (going away)", code, CloseShuttingDown)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Agents.Close did not return")
	}
	// A connection after Close is not served.
	ws2 := dial(t, url)
	ws2.WriteMessage(websocket.BinaryMessage, mustEncode(t, hello(goodToken))) // may fail: the core hangs up
	ws2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, data, err := ws2.ReadMessage(); err == nil {
		t.Fatalf("connection after Close got frame %x", data)
	}
}
