package hub

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

	"esmon/core/store"
	"esmon/core/wire"
)

// countingIngester takes batches and keeps nothing but their size.
type countingIngester struct {
	fakeIngester
	samples atomic.Int64
}

func (c *countingIngester) Ingest(_ context.Context, _ string, samples []store.Sample) error {
	c.samples.Add(int64(len(samples)))
	return nil
}

// BenchmarkAgentBatch sends batches of one snapshot over a real websocket
// on loopback and waits for each ack: the hub's whole path for a batch
// (read, decode, samples, ingest call, ack) but the ingest itself. The
// memory it allocates per batch is what the garbage collector pays for
// on every batch at scale (B/op, allocs/op).
func BenchmarkAgentBatch(b *testing.B) {
	for _, n := range []int{60, 500} {
		b.Run(fmt.Sprintf("series=%d", n), func(b *testing.B) {
			in := &countingIngester{}
			a, _, url := newAgents(b, in)
			// One connection sends as fast as acks come back: far over
			// a host's default rate, whose throttle would be measured
			// instead of the hub.
			if err := a.SetLimits(Limits{MaxSamplesPerSecond: 1e12}, nil); err != nil {
				b.Fatal(err)
			}
			ws := dial(b, url)
			send(b, ws, hello(goodToken))
			recv[wire.Welcome](b, ws)
			defs := make([]wire.SeriesDef, n)
			snap := wire.Snapshot{IDs: make([]uint32, n), Values: make([]float64, n)}
			for i := range n {
				defs[i] = wire.SeriesDef{ID: uint32(i), Metric: "synthetic_gauge", Labels: []wire.Label{{Name: "n", Value: fmt.Sprint(i)}}}
				snap.IDs[i] = uint32(i)
				snap.Values[i] = float64(i) * 1.5
			}
			send(b, ws, &wire.Batch{Seq: 1, Defs: defs, Snapshots: []wire.Snapshot{snap}})
			recv[wire.Ack](b, ws)
			frames := make([][]byte, 64)
			for i := range frames {
				snap.TimeMS = int64(1000 * (i + 2))
				for j := range snap.Values {
					snap.Values[j] += 0.25
				}
				frames[i] = mustEncode(b, &wire.Batch{Seq: uint64(i + 2), Snapshots: []wire.Snapshot{snap}})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := ws.WriteMessage(websocket.BinaryMessage, frames[i%len(frames)]); err != nil {
					b.Fatal(err)
				}
				recv[wire.Ack](b, ws)
			}
			b.StopTimer()
			if got, want := in.samples.Load(), int64(n*(b.N+1)); got != want {
				b.Fatalf("ingested %d samples, want %d", got, want)
			}
		})
	}
}

// BenchmarkSeriesHeap defines hosts of 60 series, as their agents' first
// batches do, through the limiter and onto a connection per host, and
// reports what they leave on the heap for every garbage collection: the
// bytes it scans (scanB/series), the objects it marks (objects/series)
// and the live bytes (heapB/series).
func BenchmarkSeriesHeap(b *testing.B) {
	for b.Loop() {
		h := seriesHeap(b, 2000, 60)
		b.ReportMetric(h.scan, "scanB/series")
		b.ReportMetric(h.objects, "objects/series")
		b.ReportMetric(h.live, "heapB/series")
	}
}

// heapUse is what some series hold on the heap after a collection, per
// series.
type heapUse struct{ scan, objects, live float64 }

// seriesHeap defines perHost series on a connection of each of hosts
// hosts and returns what they hold on the heap.
func seriesHeap(tb testing.TB, hosts, perHost int) heapUse {
	tb.Helper()
	a := NewAgents(&fakeIngester{}, NewAgentMetrics(nil), "", quiet)
	m := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}, {Name: "/gc/heap/objects:objects"}, {Name: "/gc/heap/live:bytes"}}
	read := func() [3]int64 {
		runtime.GC()
		metrics.Read(m)
		return [3]int64{int64(m[0].Value.Uint64()), int64(m[1].Value.Uint64()), int64(m[2].Value.Uint64())}
	}
	before := read()
	l := newLimiter(Limits{})
	conns := make([]*agentConn, hosts)
	w := new(batchWork)
	for i := range conns {
		c := &agentConn{Agents: a, host: fmt.Sprintf("host-%05d", i), lim: l}
		for j := range perHost {
			// Strings of their own, as each agent's batch decodes.
			d := wire.SeriesDef{ID: uint32(j), Metric: "synthetic_gauge_" + strconv.Itoa(j%6),
				Labels: []wire.Label{{Name: "n", Value: strconv.Itoa(j)}}}
			if err := c.define(&d, w); err != nil {
				tb.Fatal(err)
			}
		}
		conns[i] = c
	}
	w.release()
	after := read()
	runtime.KeepAlive(conns)
	n := float64(hosts * perHost)
	return heapUse{
		scan:    float64(after[0]-before[0]) / n,
		objects: float64(after[1]-before[1]) / n,
		live:    float64(after[2]-before[2]) / n,
	}
}
