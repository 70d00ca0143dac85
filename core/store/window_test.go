package store

import (
	"context"
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"esmon/core/store/chunkenc"
)

// TestChunkWindowsAreStaggeredByHost checks that the chunks of different
// hosts close at different times while the series of one host share their
// windows, and that queries across the staggered windows see every sample.
func TestChunkWindowsAreStaggeredByHost(t *testing.T) {
	db := open(t, Options{Dir: t.TempDir()})
	defer db.Close()
	ctx := context.Background()
	base := floorTo(time.Now().UnixMilli()-dayMS, hourMS)
	hosts := []string{"h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"}
	const n = 3 * 360 // three hours at 10 s
	for i := range int64(n) {
		var in []Sample
		for _, h := range hosts {
			in = append(in,
				Sample{Metric: "cpu", Labels: hostLabels(h), T: base + i*10_000, V: float64(i)},
				Sample{Metric: "mem", Labels: hostLabels(h), T: base + i*10_000, V: float64(2 * i)})
		}
		if err := db.Append(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.checkpoint(true); err != nil { // every chunk to Badger
		t.Fatal(err)
	}
	windows := map[string]map[int64]bool{} // host -> windows of its chunks
	err := db.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			ms := db.byID.get(binary.BigEndian.Uint64(k[9:17]))
			if windows[ms.host()] == nil {
				windows[ms.host()] = map[int64]bool{}
			}
			windows[ms.host()][keyTime(k[1:9])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	starts := map[int64]bool{}
	for _, h := range hosts {
		off := windowOffset(h)
		if len(windows[h]) != 4 { // three hours at an offset span four windows
			t.Errorf("host %s: chunks in %d windows, want 4 (cpu and mem share them)", h, len(windows[h]))
		}
		for w := range windows[h] {
			if mod(w-off, chunkWindow) != 0 {
				t.Errorf("host %s: window %d is not at its offset %d", h, w, off)
			}
		}
		starts[off] = true
	}
	if len(starts) < len(hosts)/2 {
		t.Errorf("%d hosts share %d window offsets: chunks would all close together", len(hosts), len(starts))
	}
	tests := []struct {
		name     string
		from, to int64
		want     int
	}{
		{"everything", base, base + 3*hourMS, n},
		{"one hour across a boundary", base + hourMS/2, base + hourMS/2 + hourMS - 1, 360},
		{"one sample", base + 7*10_000, base + 7*10_000, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, h := range hosts {
				sel, err := db.Select(ctx, Query{Metric: "mem", Match: map[string]string{"host": h}, From: tc.from, To: tc.to})
				if err != nil {
					t.Fatal(err)
				}
				pts := sel.Series[0].Points
				if len(pts) != tc.want {
					t.Fatalf("host %s: %d points, want %d", h, len(pts), tc.want)
				}
				for _, p := range pts {
					if p.V != float64(2*(p.T-base)/10_000) {
						t.Fatalf("host %s: point %+v", h, p)
					}
				}
			}
		})
	}
}

// TestClockHourChunksAreRead checks that a data directory with chunks of
// the first layout (clock-hour windows, no layout mark) is still read in
// full next to chunks written since.
func TestClockHourChunksAreRead(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := open(t, Options{Dir: dir})
	base := floorTo(time.Now().UnixMilli()-dayMS, hourMS)
	if err := db.Append(ctx, []Sample{{Metric: "m", Labels: hostLabels("a"), T: base - 2*hourMS, V: -1}}); err != nil {
		t.Fatal(err)
	}
	ms := db.findLocked("m", hostLabels("a"))
	if ms.off == 0 {
		t.Skip("host a has no offset")
	}
	// An old hour of 360 samples at the clock hour, as the first layout wrote it.
	var c chunkenc.Chunk
	for i := range int64(360) {
		c.Append(base+i*10_000, float64(i))
	}
	if err := db.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(chunkKey(base, ms.id, base), c.Bytes()); err != nil {
			return err
		}
		return txn.Delete(layoutKey)
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, Options{Dir: dir})
	defer db.Close()
	if !db.alignedChunks {
		t.Fatal("chunks without the layout mark not taken as clock-hour chunks")
	}
	if err := db.Append(ctx, []Sample{{Metric: "m", Labels: hostLabels("a"), T: base + 2*hourMS, V: 1e6}}); err != nil {
		t.Fatal(err)
	}
	sel, err := db.Select(ctx, Query{Metric: "m", Match: map[string]string{"host": "a"}, From: math.MinInt64 / 2, To: math.MaxInt64 / 2})
	if err != nil {
		t.Fatal(err)
	}
	if pts := sel.Series[0].Points; len(pts) != 362 || pts[0].V != -1 || pts[1].V != 0 || pts[360].V != 359 || pts[361].V != 1e6 {
		t.Fatalf("got %d points: first %v, last %v", len(pts), pts[:min(2, len(pts))], pts[len(pts)-1])
	}
}

// TestChunksAreCutIntoPieces checks that a series' open chunk never holds
// more than a piece (half of its window): the head keeps minutes of
// a series, not up to an hour. A host's series cut at the same instants,
// so they go on sharing each piece's timestamps; every piece reaches
// Badger as a chunk under its window's key, and reads see every sample.
func TestChunksAreCutIntoPieces(t *testing.T) {
	db := open(t, Options{Dir: t.TempDir()})
	defer db.Close()
	ctx := context.Background()
	const host = "h0"
	probe := memSeries{off: int32(windowOffset(host))}
	start := probe.pieceOf(time.Now().UnixMilli()-dayMS) + chunkPiece
	const n = 600 // 100 minutes at 10 s: three full pieces and 60 samples of a fourth
	perPiece := int(chunkPiece / 10_000)
	for i := range int64(n) {
		ts := start + i*10_000
		err := db.Append(ctx, []Sample{
			{Metric: "cpu", Labels: hostLabels(host), T: ts, V: float64(i)},
			{Metric: "mem", Labels: hostLabels(host), T: ts, V: float64(2 * i)},
		})
		if err != nil {
			t.Fatal(err)
		}
		db.hmu.Lock()
		for _, m := range []string{"cpu", "mem"} {
			ms := db.find(m, hostLabels(host))
			if ms.head.Len() > perPiece || ms.pieceOf(ms.firstT) != ms.pieceOf(ts) {
				db.hmu.Unlock()
				t.Fatalf("%s after %d samples: open chunk of %d samples from %d, want at most %d from the piece of %d",
					m, i+1, ms.head.Len(), ms.firstT, perPiece, ts)
			}
		}
		if ht := db.times[host]; ht.piece != probe.pieceOf(ts) {
			db.hmu.Unlock()
			t.Fatalf("after %d samples the host's shared timestamps are of the piece at %d, want %d", i+1, ht.piece, probe.pieceOf(ts))
		}
		db.hmu.Unlock()
	}
	if err := db.checkpoint(true); err != nil { // every chunk to Badger
		t.Fatal(err)
	}
	chunks := map[uint64]int{}
	err := db.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			w, id, firstT := keyTime(k[1:9]), binary.BigEndian.Uint64(k[9:17]), keyTime(k[17:25])
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if got := chunkenc.Count(v); got > perPiece {
				t.Errorf("chunk of series %d at %d: %d samples, more than a piece's %d", id, firstT, got, perPiece)
			}
			if w != probe.windowOf(firstT) || firstT != probe.pieceOf(firstT) {
				t.Errorf("chunk of series %d at %d under window %d: want window %d and a piece's start", id, firstT, w, probe.windowOf(firstT))
			}
			chunks[id]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if counts := slices.Collect(maps.Values(chunks)); len(counts) != 2 || counts[0] != 4 || counts[1] != 4 {
		t.Errorf("chunks by series: %v, want 4 for each of 2", chunks)
	}
	for _, m := range []struct {
		name string
		mul  float64
	}{{"cpu", 1}, {"mem", 2}} {
		sel, err := db.Select(ctx, Query{Metric: m.name, Match: map[string]string{"host": host}, From: start, To: start + n*10_000})
		if err != nil {
			t.Fatal(err)
		}
		pts := sel.Series[0].Points
		if len(pts) != n {
			t.Fatalf("%s: %d points, want %d", m.name, len(pts), n)
		}
		for i, p := range pts {
			if p.T != start+int64(i)*10_000 || p.V != m.mul*float64(i) {
				t.Fatalf("%s: point %d is %+v", m.name, i, p)
			}
		}
	}
}
