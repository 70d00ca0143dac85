package store

import (
	"context"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"esmon/core/store/chunkenc"
	"esmon/core/store/segment"
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
	appendFleet(t, db, base, hosts, n, []string{"cpu", "mem"}, nil)
	if err := db.checkpoint(true); err != nil { // every chunk to Badger
		t.Fatal(err)
	}
	windows := map[string]map[int64]bool{} // host -> pieces of its chunks
	for id, cs := range storedChunks(t, db) {
		ms := db.byID.get(id)
		if windows[ms.host()] == nil {
			windows[ms.host()] = map[int64]bool{}
		}
		for _, c := range cs {
			windows[ms.host()][c.Piece] = true
		}
	}
	starts := map[int64]bool{}
	for _, h := range hosts {
		off := windowOffset(h)
		probe := memSeries{off: int32(off)}
		inWindows := map[int64]bool{}
		for p := range windows[h] { // keys hold pieces (see chunkPiece)
			if mod(p-off, chunkPiece) != 0 {
				t.Errorf("host %s: key's piece %d is not at its offset %d", h, p, off)
			}
			inWindows[probe.windowOf(p)] = true
		}
		if len(inWindows) != 4 { // three hours at an offset span four windows
			t.Errorf("host %s: chunks in %d windows, want 4 (cpu and mem share them)", h, len(inWindows))
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
	db = reopenAfter(t, db, dir, func(txn *badger.Txn) error {
		if err := txn.Set(chunkKey(base, ms.id, base), c.Bytes()); err != nil {
			return err
		}
		return txn.Delete(layoutKey)
	})
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
// Badger as a chunk under its piece's key, and reads see every sample.
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
	for id, cs := range storedChunks(t, db) {
		for _, c := range cs {
			if got := chunkenc.Count(c.Data); got > perPiece {
				t.Errorf("chunk of series %d at %d: %d samples, more than a piece's %d", id, c.FirstT, got, perPiece)
			}
			if c.Piece != probe.pieceOf(c.FirstT) || c.FirstT != probe.pieceOf(c.FirstT) {
				t.Errorf("chunk of series %d at %d of piece %d: want a piece's start, and its piece that", id, c.FirstT, c.Piece)
			}
			chunks[id]++
		}
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

// TestChunksAreNotInBadger checks that finished chunks go to the segment
// files and none to Badger, whose compactions would rewrite them: over
// hours of a fleet flushed step by step, Badger holds no chunk key and
// the segment files every finished piece.
func TestChunksAreNotInBadger(t *testing.T) {
	db := open(t, Options{Dir: t.TempDir()})
	defer db.Close()
	base := floorTo(time.Now().UnixMilli()-dayMS, hourMS)
	hosts := []string{"h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"}
	const n = 3 * 360 // three hours at 10 s
	appendFleet(t, db, base, hosts, n, []string{"cpu"}, func() {
		if err := db.flush(); err != nil { // one write for what each step finished
			t.Fatal(err)
		}
	})
	if db.hasPrefix(prefixChunk) {
		t.Fatal("chunks written to Badger")
	}
	got := 0
	for _, cs := range storedChunks(t, db) {
		got += len(cs)
	}
	// Three hours are six pieces, the last still open: at least five
	// finished a host.
	if got < 5*len(hosts) {
		t.Fatalf("%d chunks in the segment files, want the finished pieces of %d hosts over three hours", got, len(hosts))
	}
	if db.BytesByTier()[TierRaw] < db.segs.Size() || db.segs.Size() == 0 {
		t.Fatalf("raw tier %d bytes, segment files %d", db.BytesByTier()[TierRaw], db.segs.Size())
	}
}

// storedChunks returns every chunk in the segment files, by series.
func storedChunks(t *testing.T, db *DB) map[uint64][]segment.Chunk {
	t.Helper()
	out := map[uint64][]segment.Chunk{}
	r := db.segs.NewReader()
	for _, ms := range db.byID.list() {
		err := r.Chunks(ms.id, math.MinInt64, math.MaxInt64, func(c segment.Chunk) error {
			out[c.ID] = append(out[c.ID], c)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestWindowKeyedChunksAreRead checks that chunks written when a chunk's
// key held its window (both pieces of a window under the window's start)
// are still read in full beside chunks keyed by piece.
func TestWindowKeyedChunksAreRead(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := open(t, Options{Dir: dir})
	const host = "h0"
	probe := memSeries{off: int32(windowOffset(host))}
	start := probe.windowOf(time.Now().UnixMilli()-dayMS) + chunkWindow
	const n = 3 * 360 // three windows at 10 s
	for i := range int64(n) {
		if err := db.Append(ctx, []Sample{{Metric: "cpu", Labels: hostLabels(host), T: start + i*10_000, V: float64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.checkpoint(true); err != nil { // every chunk to Badger
		t.Fatal(err)
	}
	// The chunks go to Badger, as earlier versions kept them, the first
	// two windows' second pieces under their window's key, and the
	// segment files go.
	moved := 0
	stored := storedChunks(t, db)
	err := db.db.Update(func(txn *badger.Txn) error {
		for id, cs := range stored {
			for _, c := range cs {
				k := chunkKey(c.Piece, id, c.FirstT)
				if w := probe.windowOf(c.Piece); c.Piece != w && w < start+2*chunkWindow {
					k = chunkKey(w, id, c.FirstT)
					moved++
				}
				if err := txn.Set(k, c.Data); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Each chunk in Badger and in the segment files too (a replay after
	// the upgrade rewrites what Badger held): every sample once.
	db = open(t, Options{Dir: dir})
	sel, err := db.Select(ctx, Query{Metric: "cpu", Match: map[string]string{"host": host}, From: start, To: start + n*10_000})
	if err != nil || len(sel.Series) != 1 || len(sel.Series[0].Points) != n {
		t.Fatalf("chunks in both places: %v, %d series, want %d points once", err, len(sel.Series), n)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "chunks")); err != nil {
		t.Fatal(err)
	}
	if moved != 2 {
		t.Fatalf("moved %d chunks under their window's key, want 2", moved)
	}
	db = open(t, Options{Dir: dir})
	defer db.Close()
	for _, r := range []struct{ from, to int64 }{
		{start, start + n*10_000},                           // everything
		{start + chunkPiece, start + chunkPiece + 10_000*9}, // ten samples of a window's moved second piece
	} {
		sel, err := db.Select(ctx, Query{Metric: "cpu", Match: map[string]string{"host": host}, From: r.from, To: r.to})
		if err != nil {
			t.Fatal(err)
		}
		pts := sel.Series[0].Points
		want := int(min(r.to, start+(n-1)*10_000)-r.from)/10_000 + 1
		if len(pts) != want {
			t.Fatalf("[%d, %d]: %d points, want %d", r.from, r.to, len(pts), want)
		}
		for _, p := range pts {
			if p.V != float64((p.T-start)/10_000) {
				t.Fatalf("point %+v", p)
			}
		}
	}
}

// appendFleet appends n samples at 10 s from base to each metric of each
// host, the k-th metric's i-th sample (k+1)·i, and calls after (if any)
// after each step.
func appendFleet(t *testing.T, db *DB, base int64, hosts []string, n int64, metrics []string, after func()) {
	t.Helper()
	for i := range n {
		var in []Sample
		for _, h := range hosts {
			for k, m := range metrics {
				in = append(in, Sample{Metric: m, Labels: hostLabels(h), T: base + i*10_000, V: float64(int64(k+1) * i)})
			}
		}
		if err := db.Append(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		if after != nil {
			after()
		}
	}
}
