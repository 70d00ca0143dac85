package hub

import (
	"context"
	"fmt"
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
