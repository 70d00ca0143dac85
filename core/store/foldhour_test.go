package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"esmon/core/store/chunkenc"
)

// The 1-hour rows are the head's folds of the hours it has every sample
// of, and made from the samples stored for the others: the hour a store
// was reopened in, an hour whose rollup failed, a series' samples that
// came after its hour was rolled up. Either way a row is the fold of
// the hour's raw samples.
func TestHourRowsFoldedOrReadBack(t *testing.T) {
	ctx := context.Background()
	h0 := floorTo(time.Now().UnixMilli(), hourMS) - 5*hourMS
	h1, h2, h3 := h0+hourMS, h0+2*hourMS, h0+3*hourMS
	now := time.UnixMilli(h0 + 30*minuteMS)
	dir := t.TempDir()
	opts := Options{Dir: dir, Now: func() time.Time { return now }}
	rng := rand.New(rand.NewPCG(11, 12))
	sent := map[string][]Point{}
	send := func(db *DB, host string, pts []Point) {
		t.Helper()
		var in []Sample
		for _, p := range pts {
			in = append(in, Sample{Metric: "m", Labels: hostLabels(host), T: p.T, V: p.V})
		}
		if err := db.Append(ctx, in); err != nil {
			t.Fatal(err)
		}
		sent[host] = append(sent[host], pts...)
	}
	// check compares the stored 1-hour row of host's hour h with the fold
	// of the samples sent for it.
	check := func(db *DB, host string, h int64) {
		t.Helper()
		var in []Point
		for _, p := range sent[host] {
			if floorTo(p.T, hourMS) == h {
				in = append(in, p)
			}
		}
		want := fold(in, hourMS)
		ms := db.findLocked("m", hostLabels(host))
		rows := storedRollup(t, db, tierHourCode, ms.id, h, h+hourMS-1)
		if len(rows) != 1 || len(want) != 1 || rows[0] != want[0] {
			t.Fatalf("%s, hour %d: row %+v, want %+v", host, (h-h0)/hourMS, rows, want)
		}
	}
	rollup := func(db *DB, at int64) {
		t.Helper()
		now = time.UnixMilli(at)
		if err := db.Rollup(ctx); err != nil {
			t.Fatal(err)
		}
	}

	db := open(t, opts)
	a := walk(rng, h0+1000, 10_000, 360) // h0, every 10 s
	send(db, "a", a[:180])
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened in h0: the head has not every sample of h0, but of h1.
	db = open(t, opts)
	defer db.Close()
	send(db, "a", a[180:])
	send(db, "a", walk(rng, h1+1000, 10_000, 360))
	send(db, "b", walk(rng, h1+1000, 10_000, 180)) // stops halfway through h1: its row is still open
	send(db, "c", walk(rng, h1+1000, 10_000, 360))
	send(db, "c", walk(rng, h2+1000, 10_000, 6)) // closes its row of h1
	rollup(db, h2+rollupGrace)
	for _, host := range []string{"a", "b", "c"} {
		check(db, host, h1)
	}
	check(db, "a", h0)

	// Samples of b's h1 after its row was made: marked dirty and read back.
	send(db, "b", walk(rng, h1+40*minuteMS, 10_000, 6))
	rollup(db, h2+rollupGrace+minuteMS)
	check(db, "b", h1)

	// A series first heard of after its hour was rolled up: marked dirty
	// and read back, and no rows of the hour folded again.
	send(db, "d", walk(rng, h1+1000, 60_000, 60))
	send(db, "d", walk(rng, h2+1000, 10_000, 6))
	if got := folding(db); len(got) != 1 || got[0] != h2 {
		t.Fatalf("rows folded for hours %v, want only h2 %d", got, h2)
	}
	rollup(db, h2+rollupGrace+2*minuteMS)
	check(db, "d", h1)

	// A rollup that fails has taken the rows of h2: the next makes them
	// from the samples stored.
	send(db, "a", walk(rng, h2+1000, 10_000, 360))
	send(db, "a", walk(rng, h3+1000, 10_000, 6))
	now = time.UnixMilli(h3 + rollupGrace)
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.Rollup(done); err == nil {
		t.Fatal("a rollup out of time succeeded")
	}
	rollup(db, h3+rollupGrace)
	check(db, "a", h2)
	check(db, "c", h2)
	if wm := db.watermark(tierHourCode); wm != h3 {
		t.Fatalf("1h watermark at hour %d, want 3", (wm-h0)/hourMS)
	}
	if got := folding(db); len(got) != 1 || got[0] != h3 {
		t.Fatalf("rows folded for hours %v, want only h3 %d", got, h3)
	}
}

// folding returns the hours the head holds folded rows of.
func folding(db *DB) []int64 {
	db.hmu.Lock()
	defer db.hmu.Unlock()
	return slices.Sorted(maps.Keys(db.hours))
}

// The retention job walks a rollup tier's keys only while some may have
// been written under a longer retention than the tier's: never for a new
// store, once for one without a record of it, then after the retention is
// shortened, until the rollups written before are past it. Badger's TTL
// drops the others.
func TestRetentionWalksOnlyAfterShrink(t *testing.T) {
	ctx := context.Background()
	h := floorTo(time.Now().UnixMilli(), hourMS) - 10*dayMS
	now := time.Now()
	dir := t.TempDir()
	opts := Options{Dir: dir, Now: func() time.Time { return now }, Retention: Retention{Hour: 30 * 24 * time.Hour}}
	db := open(t, opts)
	appendHour(t, db, h, 3)
	appendHour(t, db, h+9*dayMS, 4) // a day old: kept by either retention
	for db.watermark(tierHourCode) <= h+9*dayMS {
		if err := db.Rollup(ctx); err != nil {
			t.Fatal(err)
		}
	}
	key := rollupKey(tierHourRow, db.findLocked("m", hostLabels("a")).id, h)
	walked := func(want bool) {
		t.Helper()
		before := counterValue(db.m.retention)
		if err := db.EnforceRetention(ctx); err != nil {
			t.Fatal(err)
		}
		if got := counterValue(db.m.retention) > before; got != want {
			t.Fatalf("walked the keys: %v, want %v", got, want)
		}
	}
	walked(false) // a new store: recorded at Open
	// A store from before the record is walked once.
	if err := db.db.Update(func(txn *badger.Txn) error { return txn.Delete(retentionKey(tierHourRow)) }); err != nil {
		t.Fatal(err)
	}
	walked(true)
	walked(false)
	if _, err := db.Get(key); err != nil {
		t.Fatalf("hour rollup 10 days old under a 30-day retention: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	opts.Retention.Hour = 5 * 24 * time.Hour
	db = open(t, opts)
	defer db.Close()
	walked(true)
	if _, err := db.Get(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("hour rollup 10 days old under a 5-day retention: %v", err)
	}
	now = now.Add(5 * 24 * time.Hour) // rollups of the last days may still outlive it
	walked(true)
	now = now.Add(25 * time.Hour)
	walked(false)
}

// A rollup encoder reused (its columns sharing one timestamp section)
// writes what five columns of their own wrote (the format stored), for
// rows of any length after any other.
func TestRollupEncoderReused(t *testing.T) {
	own := func(rows []row) []byte {
		var cols [5]chunkenc.Chunk
		for _, rw := range rows {
			for i, v := range [5]float64{rw.min, rw.max, rw.sum, rw.count, rw.last} {
				cols[i].Append(rw.t, v)
			}
		}
		var b []byte
		for i := range cols {
			c := cols[i].Bytes()
			b = binary.AppendUvarint(b, uint64(len(c)))
			b = append(b, c...)
		}
		return b
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var e rollupEncoder
	for _, n := range []int{24, 1, 0, 7, 24, 3, 60, 2} {
		rows := make([]row, n)
		for i := range rows {
			v := rng.Float64() * 100
			rows[i] = row{t: int64(i)*hourMS + rng.Int64N(2)*minuteMS, min: v - 1, max: v + rng.Float64(), sum: v * 720, count: 720, last: v}
		}
		got := e.append([]byte{0xee}, rows)
		if want := own(rows); !bytes.Equal(got[1:], want) || got[0] != 0xee {
			t.Fatalf("%d rows: encoded %x, want %x", n, got, want)
		}
		if n == 0 {
			continue // never stored
		}
		back, err := decodeRollup(got[1:], nil, math.MinInt64, math.MaxInt64)
		if err != nil || len(back) != n || back[n-1] != rows[n-1] {
			t.Fatalf("%d rows: decoded %d (%v)", n, len(back), err)
		}
	}
}

// A store made before the 1-hour rows had keys of their own holds day
// keys of rows (tierHourCode): queries read them beside the hour keys
// until they expire, a row under an hour key (remade since) winning over
// the day key's row of that hour.
func TestDayKeysReadBesideHourKeys(t *testing.T) {
	ctx := context.Background()
	day := floorTo(time.Now().UnixMilli(), dayMS) - 2*dayMS
	dir := t.TempDir()
	db := open(t, Options{Dir: dir})
	if err := db.Append(ctx, []Sample{{Metric: "m", Labels: hostLabels("a"), T: day + 10*hourMS, V: 1}}); err != nil {
		t.Fatal(err)
	}
	id := db.findLocked("m", hostLabels("a")).id
	var old []row
	for h := range 4 {
		v := float64(h + 1)
		old = append(old, row{t: day + int64(h)*hourMS, min: v, max: v, sum: v, count: 1, last: v})
	}
	db = reopenAfter(t, db, dir, func(txn *badger.Txn) error {
		return txn.Set(rollupKey(tierHourCode, id, day), encodeRollup(old))
	})
	defer db.Close()
	remade := row{t: day + 2*hourMS, min: 20, max: 20, sum: 20, count: 1, last: 20}
	later := row{t: day + 5*hourMS, min: 50, max: 50, sum: 50, count: 1, last: 50}
	for _, rw := range []row{remade, later} {
		if err := db.writeHourRows(ctx, rw.t, []hourRow{{id: id, row: rw}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.setWatermark(tierHourCode, day+6*hourMS); err != nil {
		t.Fatal(err)
	}
	sel, err := db.Select(ctx, Query{Metric: "m", From: day, To: day + 6*hourMS - 1, Step: hourMS, Agg: AggMax})
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Series) != 1 || sel.Tier != TierHour {
		t.Fatalf("tier %s, series %+v", sel.Tier, sel.Series)
	}
	var got []float64
	for _, p := range sel.Series[0].Points {
		got = append(got, p.V)
	}
	if want := []float64{1, 2, 20, 4, 50}; !slices.Equal(got, want) {
		t.Fatalf("hourly max %v, want %v (day key's hours 0-3, hour 2 remade, hour 5 on its own)", got, want)
	}

	// A 1-hour row of the wrong size fails the query with ErrCorrupt.
	if err := db.db.Update(func(txn *badger.Txn) error {
		return txn.Set(rollupKey(tierHourRow, id, day+3*hourMS), []byte{1, 2, 3})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Select(ctx, Query{Metric: "m", From: day, To: day + 6*hourMS - 1, Step: hourMS, Agg: AggMax}); !errors.Is(err, chunkenc.ErrCorrupt) {
		t.Fatalf("query over a torn 1-hour row: %v, want ErrCorrupt", err)
	}
}
