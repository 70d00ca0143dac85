package hub

import (
	"fmt"
	"hash/maphash"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/gorilla/websocket"

	"esmon/core/store"
	"esmon/core/wire"
)

// agentAs dials and completes the hello as host.
func agentAs(t *testing.T, url, host string) *websocket.Conn {
	t.Helper()
	ws := dial(t, url)
	h := hello(goodToken)
	h.Host.Hostname = host
	send(t, ws, h)
	recv[wire.Welcome](t, ws)
	return ws
}

// seriesBatch defines series ids from..to-1 (metric m_<id>) and sends one
// value of each.
func seriesBatch(seq uint64, from, to uint32) *wire.Batch {
	b := &wire.Batch{Seq: seq}
	snap := wire.Snapshot{TimeMS: 1000}
	for id := from; id < to; id++ {
		b.Defs = append(b.Defs, wire.SeriesDef{ID: id, Metric: "m", Labels: []wire.Label{{Name: "n", Value: fmt.Sprint(id)}}})
		snap.IDs = append(snap.IDs, id)
		snap.Values = append(snap.Values, float64(id))
	}
	b.Snapshots = []wire.Snapshot{snap}
	return b
}

// TestAgentSeriesLimit: a host that defines more series than its limit has
// the samples of the extra series refused, with the reason in its ack and a
// count in the metrics, across reconnects; another host is not affected.
func TestAgentSeriesLimit(t *testing.T) {
	in := &fakeIngester{}
	a, reg, url := newAgents(t, in)
	if err := a.SetLimits(Limits{MaxSeriesPerHost: 3}, reg); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name         string
		host         string
		batch        *wire.Batch
		wantRejected int
		wantStored   int
	}{
		{"five series, three fit", "bomb", seriesBatch(1, 1, 6), 2, 3},
		{"another host has its own budget", "calm", seriesBatch(1, 1, 4), 0, 3},
		{"a reconnect does not reset the budget", "bomb", seriesBatch(2, 1, 6), 2, 3},
		{"new series stay refused", "bomb", seriesBatch(3, 100, 200), 100, 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ws := agentAs(t, url, st.host)
			before := len(in.got())
			send(t, ws, st.batch)
			ack := recv[wire.Ack](t, ws)
			if ack.Seq != st.batch.Seq || ack.Rejected != st.wantRejected {
				t.Fatalf("ack %+v, want seq %d with %d rejected", *ack, st.batch.Seq, st.wantRejected)
			}
			if st.wantRejected > 0 && !strings.Contains(ack.Reason, "max_series_per_host") {
				t.Errorf("ack reason %q does not name the limit", ack.Reason)
			}
			got := in.got()
			if len(got) != before+1 || len(got[before]) != st.wantStored {
				t.Fatalf("stored %v, want one batch of %d samples", got[before:], st.wantStored)
			}
			ws.Close()
		})
	}
	if n := metric(t, reg, "esmon_samples_rejected_total", "reason", "series_limit"); n != 104 {
		t.Errorf("series_limit samples counted %v, want 104", n)
	}
	if n := metric(t, reg, "esmon_agent_series_refused_total"); n != 104 {
		t.Errorf("refused series definitions counted %v, want 104", n)
	}
}

// TestAgentRateLimit: a host within its burst is served at once, one over
// it is held back (counted), and one whose batch would wait too long is
// closed with CloseRateLimit and its batch left unacknowledged.
func TestAgentRateLimit(t *testing.T) {
	in := &fakeIngester{}
	a, reg, url := newAgents(t, in)
	// 10 samples/s: a burst of 100; a batch of 10 right after the burst
	// waits up to a second; one of 100 after that would wait ten, over
	// the 3s allowed.
	if err := a.SetLimits(Limits{MaxSamplesPerSecond: 10, MaxThrottle: 3 * time.Second}, reg); err != nil {
		t.Fatal(err)
	}
	ws := agentAs(t, url, "fast")
	send(t, ws, seriesBatch(1, 1, 101))
	if ack := recv[wire.Ack](t, ws); ack.Seq != 1 || ack.Rejected != 0 {
		t.Fatalf("burst: ack %+v", *ack)
	}
	send(t, ws, seriesBatch(2, 200, 210))
	if ack := recv[wire.Ack](t, ws); ack.Seq != 2 || ack.Rejected != 0 {
		t.Fatalf("held back: ack %+v", *ack)
	}
	if s := metric(t, reg, "esmon_agent_throttled_seconds_total"); s <= 0 {
		t.Errorf("throttled seconds %v, want > 0", s)
	}
	calm := agentAs(t, url, "calm")
	send(t, calm, seriesBatch(1, 1, 100)) // its own burst
	if ack := recv[wire.Ack](t, calm); ack.Seq != 1 {
		t.Fatalf("other host: ack %+v", *ack)
	}

	send(t, ws, seriesBatch(3, 300, 400))
	code, reason := closeCode(t, ws)
	if code != CloseRateLimit || !strings.Contains(reason, "samples/s") {
		t.Fatalf("closed with %d %q, want %d about samples/s", code, reason, CloseRateLimit)
	}
	if n := metric(t, reg, "esmon_agent_rate_limited_total"); n != 1 {
		t.Errorf("rate-limited connections %v, want 1", n)
	}
	if n := len(in.got()); n != 3 {
		t.Errorf("%d batches stored, want 3 (the refused one stays with the agent)", n)
	}
}

// TestAdmitCopiesNamesInBlocks: an admitted series keeps a copy of the
// name it was admitted with (the connection reuses its buffer for the next
// definition), and the names are kept in blocks, not an allocation each.
func TestAdmitCopiesNamesInBlocks(t *testing.T) {
	l := newLimiter(Limits{MaxSeriesPerHost: 100000})
	defer l.close()
	const n = 2000
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprintf("v%04d", i)
	}
	ls := make(store.Labels, 0, 3)
	var buf []byte
	var kept []string
	admit := func(i int) {
		ls = append(ls[:0], store.Label{Name: "host", Value: "h"}, store.Label{Name: "n", Value: values[i]}, store.Label{Name: "z", Value: "same"})
		buf = store.AppendSeriesName(buf[:0], "m", ls)
		name, ok := l.admit("h", buf)
		if !ok {
			t.Fatalf("series %d refused", i)
		}
		kept = append(kept, l.names.String(name))
	}
	kept = make([]string, 0, 2*n)
	admit(0) // the host's budget and the first name block
	allocs := testing.AllocsPerRun(1, func() {
		for i := 1; i < n; i++ {
			admit(i)
		}
	})
	if per := allocs / (n - 1); per > 0.1 {
		t.Errorf("%.3f allocations a new series; want them in blocks (under 0.1)", per)
	}
	clear(buf[:cap(buf)]) // the connection's next definition
	gaps := 0
	for i, name := range kept[:n] {
		var m string
		m, ls = store.SeriesNameParts(ls[:0], name)
		if m != "m" || len(ls) != 3 || ls[1].Value != values[i] || ls[2].Value != "same" {
			t.Fatalf("series %d is %s %v after the caller reused its buffer", i, m, ls)
		}
		if i == 0 {
			continue
		}
		if prev := kept[i-1]; unsafe.Pointer(unsafe.StringData(name)) != unsafe.Add(unsafe.Pointer(unsafe.StringData(prev)), len(prev)) {
			gaps++
		}
	}
	// The names fill a block after another: a new block is the only gap
	// between one name and the next.
	if gaps > 1 {
		t.Errorf("%d of %d names do not follow the one before; want them in one or two blocks", gaps, n)
	}
	// Defined again (another connection of the host): the same series.
	before := len(kept)
	admit(7)
	if unsafe.StringData(kept[before]) != unsafe.StringData(kept[7]) {
		t.Error("a series defined again is not the one admitted")
	}
}

// TestAdmitHashCollision: a series whose hash is another's of its host is
// admitted as that one (not counted again) but keeps its own name.
func TestAdmitHashCollision(t *testing.T) {
	l := newLimiter(Limits{MaxSeriesPerHost: 1})
	defer l.close()
	one := store.AppendSeriesName(nil, "m", store.Labels{{Name: "host", Value: "h"}, {Name: "n", Value: "1"}})
	two := store.AppendSeriesName(nil, "m", store.Labels{{Name: "host", Value: "h"}, {Name: "n", Value: "2"}})
	if _, ok := l.admit("h", one); !ok {
		t.Fatal("first series refused")
	}
	if _, ok := l.admit("h", two); ok {
		t.Fatal("second series admitted over the limit of one")
	}
	b := l.hosts["h"]
	b.series[maphash.Bytes(l.seed, two)] = b.series[maphash.Bytes(l.seed, one)]
	name, ok := l.admit("h", two)
	if !ok || l.names.String(name) != string(two) {
		t.Fatalf("colliding series: admitted %v as %q, want its own name %q", ok, l.names.String(name), two)
	}
	if len(b.names) != 1 {
		t.Errorf("host keeps %d names, want 1", len(b.names))
	}
}

// TestSeriesScanHeap: the series hosts define leave the garbage collector
// little to scan: their names in blocks without pointers, a map without
// pointers, and their names' numbers (no pointers) in the host's budget
// and in each connection's series table. A series was a metric, a slice
// of labels and two strings per label, a pointer in its host's map and a
// pointer and a store.SeriesRef in each connection's table: 185 bytes to
// scan; then a string in the budget and one in the connection's table: 56.
func TestSeriesScanHeap(t *testing.T) {
	// The map of a host's series holds no pointers, so the collector
	// skips it.
	var _ map[uint64]uint32 = budget{}.series
	h := seriesHeap(t, 500, 60)
	t.Logf("a series: %.1f bytes to scan, %.3f objects, %.1f bytes", h.scan, h.objects, h.live)
	// A string a series in the host's budget and in the connection's
	// table was 56 bytes to scan; their names' numbers leave the
	// connection's own objects, a few bytes a series.
	if h.scan > 16 {
		t.Errorf("%.1f bytes to scan a series, want at most 16", h.scan)
	}
	if h.objects > 0.2 {
		t.Errorf("%.3f objects a series, want at most 0.2", h.objects)
	}
}
