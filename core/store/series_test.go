package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"

	"esmon/core/store/chunkenc"
	"esmon/core/store/wal"
	"esmon/internal/flock"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	goleak.VerifyTestMain(m)
}

func hostLabels(h string, extra ...Label) Labels {
	ls := append(Labels{{Name: "host", Value: h}}, extra...)
	ls.Sort()
	return ls
}

// abandon stops the store as a crash would after the last append: no
// checkpoint, no flush of the head.
func (d *DB) abandon() {
	d.hmu.Lock()
	d.closed = true
	d.flushed.Broadcast()
	d.hmu.Unlock()
	close(d.stop)
	<-d.done
	d.wal.Close()
	d.db.Close()
	flock.Release(d.claim) // as the system does for a process that died
}

func open(t *testing.T, opts Options) *DB {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLog
	}
	db, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestAggregations(t *testing.T) {
	db := open(t, Options{InMemory: true})
	defer db.Close()
	ctx := context.Background()
	// A counter rising 10/s with a reset at 60 s, and a gauge 0..11.
	var in []Sample
	for i := range int64(12) {
		c := float64(100 * i)
		if i >= 6 {
			c = float64(100 * (i - 5))
		}
		in = append(in,
			Sample{Metric: "c_total", Labels: hostLabels("a"), T: i * 10_000, V: c},
			Sample{Metric: "g", Labels: hostLabels("a"), T: i * 10_000, V: float64(i)})
	}
	if err := db.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		q      Query
		want   []Point
		wantTi string
	}{
		{"avg", Query{Metric: "g", From: 0, To: 119_999, Step: 30_000, Agg: AggAvg}, []Point{{0, 1}, {30_000, 4}, {60_000, 7}, {90_000, 10}}, TierRaw},
		{"min", Query{Metric: "g", From: 0, To: 119_999, Step: 60_000, Agg: AggMin}, []Point{{0, 0}, {60_000, 6}}, TierMinute},
		{"max", Query{Metric: "g", From: 0, To: 119_999, Step: 60_000, Agg: AggMax}, []Point{{0, 5}, {60_000, 11}}, TierMinute},
		{"last", Query{Metric: "g", From: 0, To: 119_999, Step: 3_600_000, Agg: AggLast}, []Point{{0, 11}}, TierHour},
		{"sum", Query{Metric: "g", From: 0, To: 119_999, Step: 3_600_000, Agg: AggSum}, []Point{{0, 66}}, TierHour},
		{"rate across a reset", Query{Metric: "c_total", From: 0, To: 119_999, Step: 30_000, Agg: AggRate}, []Point{{0, 10}, {30_000, 10}, {60_000, 10}, {90_000, 10}}, TierRaw},
		{"rate per sample", Query{Metric: "c_total", From: 0, To: 20_000, Agg: AggRate}, []Point{{10_000, 10}, {20_000, 10}}, TierRaw},
		{"raw range", Query{Metric: "g", From: 25_000, To: 45_000}, []Point{{30_000, 3}, {40_000, 4}}, TierRaw},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := db.Select(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if sel.Tier != tc.wantTi {
				t.Errorf("tier %q, want %q", sel.Tier, tc.wantTi)
			}
			if len(sel.Series) != 1 {
				t.Fatalf("%d series", len(sel.Series))
			}
			got := sel.Series[0].Points
			if len(got) != len(tc.want) {
				t.Fatalf("points %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("points %v, want %v", got, tc.want)
				}
			}
		})
	}
	if _, err := db.Select(ctx, Query{Metric: "g", Agg: "median"}); err == nil {
		t.Error("unknown aggregation accepted")
	}
}

// walk makes n samples of a float random walk at interval ms from start.
// appendHour appends a random walk at 10 s over hour h, as series "m"
// of host a.
func appendHour(t *testing.T, db *DB, h int64, seed uint64) {
	t.Helper()
	var in []Sample
	for _, p := range walk(rand.New(rand.NewPCG(seed, seed+1)), h+1000, 10_000, 360) {
		in = append(in, Sample{Metric: "m", Labels: hostLabels("a"), T: p.T, V: p.V})
	}
	if err := db.Append(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

func walk(rng *rand.Rand, start, interval int64, n int) []Point {
	out := make([]Point, n)
	v := 50.0
	for i := range out {
		v = math.Max(0, math.Min(100, v+rng.NormFloat64()))
		out[i] = Point{T: start + int64(i)*interval + rng.Int64N(41) - 20, V: v}
	}
	return out
}

func TestTiersAgreeWithRaw(t *testing.T) {
	ctx := context.Background()
	// Badger's TTL runs on the real clock: the data must be recent.
	day := floorTo(time.Now().UnixMilli(), dayMS) - 3*dayMS
	now := time.UnixMilli(day + 3*dayMS)
	// Raw kept 3 days: minute rollups are stored for the first day (two
	// days old), computed from raw samples for the second.
	db := open(t, Options{Dir: t.TempDir(), Now: func() time.Time { return now }, Retention: Retention{Raw: 3 * 24 * time.Hour}})
	defer db.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	pts := walk(rng, day, 10_000, 2*8640)
	var in []Sample
	for _, p := range pts {
		in = append(in, Sample{Metric: "cpu_usage_percent", Labels: hostLabels("a"), T: p.T, V: p.V})
	}
	if err := db.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	for db.watermark(tierHourCode) < day+2*dayMS || db.watermark(tierMinuteCode) < day+dayMS {
		if err := db.Rollup(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("watermarks %d %d (day %d)", db.watermark(tierMinuteCode), db.watermark(tierHourCode), day)
	expect := func(step int64, agg string) []Point {
		var rows []row
		for _, p := range pts {
			rows = append(rows, row{t: p.T, min: p.V, max: p.V, sum: p.V, count: 1, last: p.V})
		}
		return aggregate(rows, step, agg)
	}
	for _, step := range []int64{minuteMS, 5 * minuteMS, hourMS, 6 * hourMS} {
		for _, agg := range []string{AggAvg, AggMin, AggMax, AggSum, AggLast} {
			sel, err := db.Select(ctx, Query{Metric: "cpu_usage_percent", From: day, To: day + 2*dayMS - 1, Step: step, Agg: agg})
			if err != nil {
				t.Fatal(err)
			}
			if want := tierFor(step); sel.Tier != want || want == TierRaw {
				t.Fatalf("step %d: tier %q", step, sel.Tier)
			}
			got, want := sel.Series[0].Points, expect(step, agg)
			if len(got) != len(want) {
				t.Fatalf("step %d %s: %d points, want %d", step, agg, len(got), len(want))
			}
			for i := range got {
				if got[i].T != want[i].T || math.Abs(got[i].V-want[i].V) > 1e-9*math.Max(1, math.Abs(want[i].V)) {
					t.Fatalf("step %d %s point %d: %v, want %v", step, agg, i, got[i], want[i])
				}
			}
		}
	}
	// A series that first reports late, for hours already rolled up, is
	// rolled up on the next run.
	late := walk(rng, day, 60_000, 60)
	in = in[:0]
	for _, p := range late {
		in = append(in, Sample{Metric: "cpu_usage_percent", Labels: hostLabels("b"), T: p.T, V: p.V})
	}
	if err := db.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := db.Rollup(ctx); err != nil {
		t.Fatal(err)
	}
	sel, err := db.Select(ctx, Query{Metric: "cpu_usage_percent", Match: map[string]string{"host": "b"}, From: day, To: day + dayMS - 1, Step: hourMS, Agg: AggMax})
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Series) != 1 || len(sel.Series[0].Points) != 1 {
		t.Fatalf("late series: %+v", sel.Series)
	}
	if got := storedRollup(t, db, tierHourCode, db.findLocked("cpu_usage_percent", hostLabels("b")).id, day, day+dayMS-1); len(got) == 0 {
		t.Fatal("late series has no stored hour rollup")
	}
}

// A rollup that fails (here: out of time) leaves its hour to the next
// run: the watermark is neither left past rows never made nor stored.
func TestFailedRollupLeavesTheHour(t *testing.T) {
	ctx := context.Background()
	h := floorTo(time.Now().UnixMilli(), hourMS) - 3*hourMS
	now := time.UnixMilli(h + hourMS + rollupGrace)
	dir := t.TempDir()
	// Raw samples kept a day and a grace: the minute rollups are made as
	// soon as the hour's hour rollup is.
	opts := Options{Dir: dir, Now: func() time.Time { return now }, Retention: Retention{Raw: time.Duration(dayMS+rollupGrace) * time.Millisecond}}
	db := open(t, opts)
	appendHour(t, db, h, 5)
	ms := db.findLocked("m", hostLabels("a"))
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.Rollup(done); err == nil {
		t.Fatal("a rollup out of time succeeded")
	}
	for _, code := range []byte{tierMinuteCode, tierHourCode} {
		if wm := db.watermark(code); wm > h {
			t.Fatalf("tier %d: watermark %d past the hour %d not rolled up", code, wm, h)
		}
	}
	if rows := storedRollup(t, db, tierHourCode, ms.id, h, h+hourMS-1); len(rows) != 0 {
		t.Fatalf("hour rollup stored by a failed run: %+v", rows)
	}
	// Stored too: a restart starts from the hour again.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, opts)
	defer db.Close()
	if err := db.Rollup(ctx); err != nil {
		t.Fatal(err)
	}
	for _, code := range []byte{tierMinuteCode, tierHourCode} {
		if wm := db.watermark(code); wm != h+hourMS {
			t.Fatalf("tier %d: watermark %d, want %d", code, wm, h+hourMS)
		}
	}
	ms = db.findLocked("m", hostLabels("a"))
	for _, code := range []byte{tierMinuteCode, tierHourCode} {
		rows := storedRollup(t, db, code, ms.id, h, h+hourMS-1)
		if len(rows) == 0 {
			t.Fatalf("tier %d: no rows stored", code)
		}
		want, last := 60, h+59*minuteMS
		if code == tierHourCode {
			want, last = 1, h
		}
		if len(rows) != want || rows[len(rows)-1].t != last {
			t.Fatalf("tier %d: %d rows, last at %d", code, len(rows), rows[len(rows)-1].t)
		}
	}
}

// A rollup of more series than one batch holds (the later batches read
// with the segment reader of the first, after a pause) makes every
// series' rows, from the segment files.
func TestRollupAcrossBatches(t *testing.T) {
	ctx := context.Background()
	h := floorTo(time.Now().UnixMilli(), hourMS) - 3*hourMS
	now := time.UnixMilli(h + hourMS + rollupGrace)
	db := open(t, Options{Dir: t.TempDir(), Now: func() time.Time { return now }})
	defer db.Close()
	const series = 2500
	var in []Sample
	for i := range series {
		for k := range 6 { // one sample every 10 minutes, the last worth i
			in = append(in, Sample{Metric: "m", Labels: hostLabels(fmt.Sprint("h", i)), T: h + 1000 + int64(k)*10*minuteMS, V: float64(i * k / 5)})
		}
	}
	if err := db.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := db.checkpoint(true); err != nil { // the chunks to the segment files
		t.Fatal(err)
	}
	if err := db.Rollup(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range series {
		ms := db.findLocked("m", hostLabels(fmt.Sprint("h", i)))
		rows := storedRollup(t, db, tierHourCode, ms.id, h, h+hourMS-1)
		if len(rows) != 1 || rows[0].t != h || rows[0].count != 6 || rows[0].last != float64(i) || rows[0].max != float64(i) {
			t.Fatalf("series %d: rows %+v", i, rows)
		}
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	tests := []struct {
		name       string
		checkpoint bool // checkpoint halfway
		crash      bool // stop without a checkpoint
		tornTail   bool // garbage at the end of the log
		byRef      bool // series looked up once with Ref, samples carry only the ref
	}{
		{"clean close", false, false, false, false},
		{"crash", false, true, false, false},
		{"checkpoint then crash", true, true, false, false},
		{"crash with torn tail", true, true, true, false},
		{"crash, appended by ref", false, true, false, true},
		{"checkpoint then crash, appended by ref", true, true, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			db := open(t, Options{Dir: dir})
			rng := rand.New(rand.NewPCG(9, 10))
			recent := time.Now().UnixMilli() - dayMS // Badger's TTL runs on the real clock
			want := map[string][]Point{}
			hosts := []string{"a", "b", "c"}
			refs := map[string]SeriesRef{}
			for h, host := range hosts {
				want[host] = walk(rng, recent+int64(h), 30_000, 600) // crosses several chunk windows
				if tc.byRef {
					ref, err := db.Ref("m", hostLabels(host))
					if err != nil {
						t.Fatal(err)
					}
					refs[host] = ref
				}
			}
			for i := range 600 {
				if tc.checkpoint && i == 300 {
					if err := db.Checkpoint(); err != nil {
						t.Fatal(err)
					}
				}
				var in []Sample
				for _, host := range hosts {
					p := want[host][i]
					if tc.byRef {
						in = append(in, Sample{Ref: refs[host], T: p.T, V: p.V})
					} else {
						in = append(in, Sample{Metric: "m", Labels: hostLabels(host), T: p.T, V: p.V})
					}
				}
				if err := db.Append(ctx, in); err != nil {
					t.Fatal(err)
				}
			}
			if tc.crash {
				db.abandon()
			} else if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.tornTail {
				segs, _ := wal.Segments(filepath.Join(dir, "wal"))
				f, _ := os.OpenFile(wal.SegmentName(filepath.Join(dir, "wal"), segs[len(segs)-1]), os.O_APPEND|os.O_WRONLY, 0)
				f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 5})
				f.Close()
			}
			db = open(t, Options{Dir: dir})
			defer db.Close()
			checkAll(t, db, want)
			if lat := db.Latest("b"); len(lat) != 1 || lat[0].T != want["b"][599].T || lat[0].V != want["b"][599].V {
				t.Errorf("latest of b = %+v", lat)
			}
			if tc.tornTail && counterValue(db.m.tornRecords) != 1 {
				t.Errorf("torn records counted %v, want 1", counterValue(db.m.tornRecords))
			}
		})
	}
}

func checkAll(t *testing.T, db *DB, want map[string][]Point) {
	t.Helper()
	for host, pts := range want {
		sel, err := db.Select(context.Background(), Query{Metric: "m", Match: map[string]string{"host": host}, From: math.MinInt64 / 2, To: math.MaxInt64 / 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(sel.Series) != 1 {
			t.Fatalf("host %s: %d series", host, len(sel.Series))
		}
		got := sel.Series[0].Points
		if len(got) != len(pts) {
			t.Fatalf("host %s: %d points, want %d", host, len(got), len(pts))
		}
		for i := range got {
			if got[i].T != pts[i].T || math.Float64bits(got[i].V) != math.Float64bits(pts[i].V) {
				t.Fatalf("host %s point %d: %v, want %v", host, i, got[i], pts[i])
			}
		}
	}
}

func TestAppendRefusesBadSamples(t *testing.T) {
	db := open(t, Options{Dir: t.TempDir()})
	defer db.Close()
	other := open(t, Options{InMemory: true})
	defer other.Close()
	foreign, err := other.Ref("m", hostLabels("z"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ref("", hostLabels("a")); err == nil {
		t.Error("Ref of an empty metric name: no error")
	}
	now := time.Now().UnixMilli()
	tests := []struct {
		name    string
		sample  Sample
		stored  bool
		invalid float64 // counted as invalid
	}{
		{"NaN", Sample{Metric: "m", Labels: hostLabels("a"), T: now, V: math.NaN()}, false, 1},
		{"infinity", Sample{Metric: "m", Labels: hostLabels("a"), T: now, V: math.Inf(-1)}, false, 1},
		{"no metric and no ref", Sample{Labels: hostLabels("a"), T: now, V: 1}, false, 1},
		{"ref of another store and no metric", Sample{Labels: hostLabels("a"), T: now, V: 3, Ref: foreign}, false, 1},
		{"ref of another store: stored by name", Sample{Metric: "m", Labels: hostLabels("a"), T: now, V: 2, Ref: foreign}, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := counterValue(db.m.invalid)
			if err := db.Append(context.Background(), []Sample{tc.sample}); err != nil {
				t.Fatal(err)
			}
			if got := counterValue(db.m.invalid) - before; got != tc.invalid {
				t.Errorf("invalid samples counted %v, want %v", got, tc.invalid)
			}
			lat := db.Latest("a")
			if stored := len(lat) == 1 && lat[0].V == tc.sample.V; stored != tc.stored {
				t.Errorf("stored = %v, want %v (latest %+v)", stored, tc.stored, lat)
			}
		})
	}
	if got := other.Latest("a"); len(got) != 0 {
		t.Errorf("the other store got samples: %+v", got)
	}
}

func TestDamagedLogIsReported(t *testing.T) {
	dir := t.TempDir()
	db := open(t, Options{Dir: dir})
	for i := range int64(100) {
		if err := db.Append(context.Background(), []Sample{{Metric: "m", Labels: hostLabels("a"), T: time.Now().UnixMilli() + i, V: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	db.abandon()
	segs, _ := wal.Segments(filepath.Join(dir, "wal"))
	path := wal.SegmentName(filepath.Join(dir, "wal"), segs[len(segs)-1])
	b, _ := os.ReadFile(path)
	b[20] ^= 0xff // inside an early record, with good records after it
	os.WriteFile(path, b, 0o600)

	_, err := Open(Options{Dir: dir, Logger: quietLog})
	var ce *wal.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("open on a damaged log: %v, want a corruption error", err)
	}
	db = open(t, Options{Dir: dir, RepairWAL: true})
	defer db.Close()
	if counterValue(db.m.corruptLog) != 1 {
		t.Error("repair not counted")
	}
}

func TestRetentionRemovesOldData(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	start := now.UnixMilli() - 10*dayMS
	// Written with a 30-day retention, then enforced with 2 days.
	dir := t.TempDir()
	db := open(t, Options{Dir: dir, Retention: Retention{Raw: 30 * 24 * time.Hour}})
	var in []Sample
	for i := int64(0); i < 10*24; i++ { // ten days, hourly
		in = append(in, Sample{Metric: "m", Labels: hostLabels("a"), T: start + i*hourMS, V: float64(i)})
	}
	if err := db.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // writes the finished chunks
		t.Fatal(err)
	}
	db = open(t, Options{Dir: dir, Retention: Retention{Raw: 2 * 24 * time.Hour}})
	defer db.Close()
	if err := db.EnforceRetention(ctx); err != nil {
		t.Fatal(err)
	}
	sel, err := db.Select(ctx, Query{Metric: "m", From: 0, To: now.UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	pts := sel.Series[0].Points
	if len(pts) == 0 || pts[0].T < now.UnixMilli()-2*dayMS-2*hourMS {
		t.Fatalf("oldest of %d points after retention %v old, want at most 2 days", len(pts), now.Sub(time.UnixMilli(pts[0].T)))
	}
}

func TestListAndLatest(t *testing.T) {
	db := open(t, Options{InMemory: true})
	defer db.Close()
	var in []Sample
	for h := range 3 {
		host := string(rune('a' + h))
		in = append(in,
			Sample{Metric: "cpu", Labels: hostLabels(host), T: 1, V: float64(h)},
			Sample{Metric: "cpu", Labels: hostLabels(host), T: 2, V: float64(h) + 0.5},
			Sample{Metric: "disk", Labels: hostLabels(host, Label{"mount", "/"}), T: 2, V: 7})
	}
	if err := db.Append(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		metric string
		match  map[string]string
		want   int
	}{
		{"all", "", nil, 6},
		{"by metric", "cpu", nil, 3},
		{"by host", "", map[string]string{"host": "b"}, 2},
		{"by host and metric", "disk", map[string]string{"host": "b"}, 1},
		{"by other label", "", map[string]string{"mount": "/"}, 3},
		{"none", "nope", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.List(context.Background(), tc.metric, tc.match)
			if err != nil || len(got) != tc.want {
				t.Fatalf("got %d series (%v), want %d", len(got), err, tc.want)
			}
		})
	}
	lat := db.Latest("b", "cpu")
	if len(lat) != 1 || lat[0].T != 2 || lat[0].V != 1.5 {
		t.Fatalf("latest = %+v", lat)
	}
	if n := len(db.Latest("")); n != 6 {
		t.Fatalf("latest of all hosts: %d", n)
	}
}

func TestBackpressureWaitsForFlusher(t *testing.T) {
	db := open(t, Options{Dir: t.TempDir(), MaxPendingBytes: 1, FlushBytes: 1})
	defer db.Close()
	start := time.Now().UnixMilli() - 50*hourMS
	appendAt := func(i int64) error { // every sample finishes the chunk before it
		return db.Append(context.Background(), []Sample{{Metric: "m", Labels: hostLabels("a"), T: start + i*hourMS, V: 1}})
	}
	// The flusher is held, as if Badger were slow: the second sample's
	// finished chunk waits, over MaxPendingBytes.
	db.flushMu.Lock()
	for i := range int64(2) {
		if err := appendAt(i); err != nil {
			db.flushMu.Unlock()
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- appendAt(2) }()
	// The next append must wait for the flusher, and count the wait.
	for counterValue(db.m.backpressure) == 0 {
		select {
		case err := <-done:
			db.flushMu.Unlock()
			t.Fatalf("append returned (%v) while finished chunks over MaxPendingBytes waited for the flusher", err)
		case <-time.After(time.Millisecond):
		}
	}
	select {
	case err := <-done:
		db.flushMu.Unlock()
		t.Fatalf("append returned (%v) before the flusher wrote the waiting chunks", err)
	default:
	}
	db.flushMu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSeriesEntryRoundTrip reads back index entries as encodeSeries writes
// them, and refuses damaged ones with an error instead of a wrong series.
func TestSeriesEntryRoundTrip(t *testing.T) {
	for _, c := range []struct {
		metric string
		ls     Labels
	}{
		{"cpu_usage_percent", Labels{{Name: "host", Value: "web-01"}}},
		{"disk_used_bytes", Labels{{Name: "host", Value: "web-01"}, {Name: "mount", Value: "/var"}}},
		{"up", Labels{}},
		{"x", Labels{{Name: "empty", Value: ""}}},
	} {
		b := encodeSeries(c.metric, c.ls)
		k := string(b)
		if err := checkSeriesKey(b); err != nil || keyMetric(k) != c.metric || !slices.Equal(keyLabels(k), c.ls) {
			t.Errorf("encode(%s %v) = %q: %v, read back as %s %v", c.metric, c.ls, k, err, keyMetric(k), keyLabels(k))
		}
		for _, l := range c.ls {
			if keyLabel(k, l.Name) != l.Value || !keyMatches(k, map[string]string{l.Name: l.Value}) {
				t.Errorf("%q: label %s is %q", k, l.Name, keyLabel(k, l.Name))
			}
		}
		if keyLabel(k, "nope") != "" || keyMatches(k, map[string]string{"nope": "1"}) {
			t.Errorf("%q has a label it has not", k)
		}
		r, err := decodeSeriesRecord(appendSeriesEntry([]byte{recSeries}, 9, k))
		if err != nil || len(r) != 1 || r[0].id != 9 || r[0].metric != c.metric || len(r[0].labels) != len(c.ls) ||
			len(c.ls) > 0 && !slices.Equal(r[0].labels, c.ls) {
			t.Errorf("series record of %q read back as %+v, %v", k, r, err)
		}
	}
	for _, bad := range []string{"", "cpu", "cpu\x00host", "cpu\x00host\x00", "cpu\x00host\x00web"} {
		if err := checkSeriesKey([]byte(bad)); err == nil {
			t.Errorf("check(%q) passed, want an error", bad)
		}
	}
}

// TestSeriesIDs files series by id as the index, the log and new series
// do (in order, with holes), and as only damage could (an id far past the
// rest): every one is found, counted once and listed in id order, and a
// far id does not grow the table to its size.
func TestSeriesIDs(t *testing.T) {
	var a seriesAlloc
	s := seriesIDs{a: &a}
	want := map[uint64]*memSeries{}
	put := func(id uint64) {
		sl, ms := a.series()
		ms.id, ms.slot = id, sl
		s.set(id, ms)
		want[id] = ms
	}
	for id := uint64(1); id <= 1000; id++ {
		if id%7 != 0 {
			put(id)
		}
	}
	put(1 << 40)               // far past the end: the map
	put(1000 + denseGap + 500) // past the gap: the map, until the slice reaches it
	put(500)                   // again: replaced, not counted twice
	for id := uint64(1001); id <= 1000+denseGap+10; id += 100 {
		put(id) // grows the slice past the second far id
	}
	if len(s.dense) > 2*denseGap+2000 {
		t.Fatalf("the table grew to %d slots for %d series", len(s.dense), len(want))
	}
	if s.len() != len(want) {
		t.Fatalf("len %d, want %d", s.len(), len(want))
	}
	for id, ms := range want {
		if s.get(id) != ms {
			t.Fatalf("get(%d) = %v, want the series filed", id, s.get(id))
		}
	}
	for _, id := range []uint64{0, 7, 14, 994, 1 << 39, 1<<40 + 1} {
		if s.get(id) != nil {
			t.Fatalf("get(%d) found a series never filed", id)
		}
	}
	var ids []uint64
	for ms := range s.all() {
		ids = append(ids, ms.id)
	}
	if len(ids) != len(want) || !slices.IsSorted(ids) {
		t.Fatalf("all listed %d series (sorted %v), want %d in id order", len(ids), slices.IsSorted(ids), len(want))
	}
}

// FuzzNameParts: a name's parts sliced at the ends PartsOf located are the
// parts SeriesNameParts finds, for any string; whole names of up to three
// labels and 255 bytes are located, the rest read by search.
func FuzzNameParts(f *testing.F) {
	for _, ls := range []Labels{nil, hostLabels("h"), hostLabels("web-01", Label{"mount", "/"}),
		hostLabels("h", Label{"a", ""}, Label{"b", "2"}), hostLabels("h", Label{"a", "1"}, Label{"b", "2"}, Label{"c", "3"})} {
		f.Add(string(appendSeriesKey(nil, "cpu_usage_percent", ls)))
	}
	f.Add(string(appendSeriesKey(nil, "m", Labels{{"x", strings.Repeat("v", 300)}})))
	f.Add("no zero byte")
	f.Add("")
	f.Add("m\x00dangling\x00")
	f.Fuzz(func(t *testing.T, name string) {
		p := PartsOf(name)
		m, ls := p.Split(nil, name)
		wm, wls := SeriesNameParts(nil, name)
		if m != wm || !slices.Equal(ls, wls) {
			t.Fatalf("Split(%q) = %q %v, SeriesNameParts = %q %v", name, m, ls, wm, wls)
		}
		whole := len(name) > 0 && name[len(name)-1] == 0 && strings.Count(name, "\x00")%2 == 1
		if located := p != (NameParts{}); whole && len(name) <= 255 && len(wls) <= 3 && !located {
			t.Errorf("PartsOf(%q) located nothing", name)
		}
	})
}

// TestOldPostingsDropped: a directory written when postings were kept in
// Badger (never read: they are made in memory from the series records)
// loses them at Open, and its series are found by host and by metric as
// before.
func TestOldPostingsDropped(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := Open(Options{Dir: dir, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	for _, h := range []string{"a", "b"} {
		if err := db.Append(ctx, []Sample{{Metric: "m", Labels: Labels{{Name: "host", Value: h}}, T: now, V: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if hasP := func() bool { // what the earlier versions wrote beside each series
		db, err = Open(Options{Dir: dir, Logger: quietLog})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if db.hasPrefix(prefixOldPosting) {
			t.Fatal("a new directory has postings in Badger")
		}
		for _, k := range []string{"pha\x00\x00\x00\x00\x00\x00\x00\x00\x01", "pmm\x00\x00\x00\x00\x00\x00\x00\x00\x01"} {
			if err := db.Put([]byte(k), nil); err != nil {
				t.Fatal(err)
			}
		}
		return db.hasPrefix(prefixOldPosting)
	}(); !hasP {
		t.Fatal("old postings not written")
	}
	db, err = Open(Options{Dir: dir, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.hasPrefix(prefixOldPosting) {
		t.Error("old postings still there after Open")
	}
	byHost, err := db.List(ctx, "", map[string]string{"host": "b"})
	if err != nil || len(byHost) != 1 || byHost[0].Labels.Get("host") != "b" {
		t.Errorf("series of host b: %v, %v", byHost, err)
	}
	if byMetric, err := db.List(ctx, "m", nil); err != nil || len(byMetric) != 2 {
		t.Errorf("series of m: %v, %v", byMetric, err)
	}
}

// TestRollupCodec: rows come back as encoded, only those in the asked
// range, after what the slice held; damaged encodings are errors.
func TestRollupCodec(t *testing.T) {
	var rows []row
	for i := range 100 {
		v := float64(i) * 1.5
		rows = append(rows, row{t: int64(i) * minuteMS, min: v - 1, max: v + 1, sum: v * 6, count: 6, last: v})
	}
	b := encodeRollup(rows)
	held := []row{{t: -1}}
	got, err := decodeRollup(b, held, 10*minuteMS, 20*minuteMS)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 || got[0] != held[0] || got[1] != rows[10] || got[11] != rows[20] {
		t.Fatalf("got %d rows: %v", len(got), got)
	}
	for n := range len(b) {
		if _, err := decodeRollup(b[:n], nil, 0, math.MaxInt64); err == nil {
			t.Errorf("cut to %d of %d bytes: no error", n, len(b))
		}
	}
	// the last column shorter than the others
	var cols [5]chunkenc.Chunk
	for i, rw := range rows {
		for c, v := range [5]float64{rw.min, rw.max, rw.sum, rw.count, rw.last} {
			if c < 4 || i < 50 {
				cols[c].Append(rw.t, v)
			}
		}
	}
	var uneven []byte
	for i := range cols {
		c := cols[i].Bytes()
		uneven = append(binary.AppendUvarint(uneven, uint64(len(c))), c...)
	}
	if _, err := decodeRollup(uneven, nil, 0, math.MaxInt64); err == nil {
		t.Error("columns of unequal length: no error")
	}
}

// FuzzDecodeRollup: no input makes the rollup decoder panic.
func FuzzDecodeRollup(f *testing.F) {
	f.Add(encodeRollup([]row{{t: 0, min: 1, max: 2, sum: 3, count: 2, last: 2}, {t: minuteMS, min: 1, max: 1, sum: 1, count: 1, last: 1}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeRollup(b, nil, math.MinInt64, math.MaxInt64)
	})
}

// TestNameTable: every name added reads back as it was, empty and long
// ones (a block of their own) among them, while other goroutines read
// names added before (the hub's connections read their series' names
// while the limiter adds other hosts'); run with -race. Blocks are made
// only as they fill.
func TestNameTable(t *testing.T) {
	var tab NameTable
	rng := rand.New(rand.NewPCG(3, 5))
	var names []string
	var refs []NameRef
	var mu sync.Mutex // guards names and refs, handed to the readers
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				mu.Lock()
				n := len(refs)
				var r NameRef
				var want string
				if n > 0 {
					i := rand.IntN(n)
					r, want = refs[i], names[i]
				}
				mu.Unlock()
				if n > 0 && tab.String(r) != want {
					t.Errorf("name %d reads %q, want %q", n, tab.String(r), want)
					return
				}
			}
		})
	}
	buf := make([]byte, 0, 3*nameBlock)
	total := 0
	for i := range 20000 {
		n := rng.IntN(200)
		switch {
		case i%997 == 0:
			n = nameBlock/8 + rng.IntN(2*nameBlock) // a block of its own
		case i%101 == 0:
			n = 0
		case i%503 == 0:
			n = nameBlock / 8 // the longest kept in a shared block
		}
		buf = buf[:n]
		for j := range buf {
			buf[j] = byte('a' + rng.IntN(26))
		}
		want := string(buf)
		r := tab.Add(buf)
		clear(buf) // the caller's buffer, used again
		if got := tab.String(r); got != want {
			t.Fatalf("name %d of %d bytes reads %q, want %q", i, n, got, want)
		}
		mu.Lock()
		names, refs = append(names, want), append(refs, r)
		mu.Unlock()
		if n <= nameBlock/8 {
			total += n
		}
	}
	close(done)
	wg.Wait()
	for i, r := range refs {
		if got := tab.String(r); got != names[i] {
			t.Fatalf("name %d reads %q, want %q", i, got, names[i])
		}
	}
	long := 0
	for i := range refs {
		if i%997 == 0 {
			long++
		}
	}
	if blocks := len(*tab.blocks.Load()) - long; blocks > total/(nameBlock*9/10)+1 {
		t.Errorf("%d blocks for %d bytes of names in blocks of %d", blocks, total, nameBlock)
	}
}

// BenchmarkMarkPointers times a full collection (runtime.GC, both cores)
// of 600,000 series-sized structs in blocks of 256, beside 600,000
// 100-byte buffers and a 64 MB block of names, by what the structs point
// to, and of 600,000 names kept as strings into one block, as strings of
// their own, or as NameRef-sized numbers: what a pointer and what an
// object a series cost each mark. Run alone: it measures the whole
// process's heap.
func BenchmarkMarkPointers(b *testing.B) {
	const n = 600_000
	type series struct {
		name string
		buf  []byte
		ptr  *int
		_    [20]uint64
	}
	names := make([]byte, 64<<20)
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, 100)
	}
	var global int
	mark := func(b *testing.B, keep any) {
		runtime.GC()
		b.ResetTimer()
		for b.Loop() {
			runtime.GC()
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/GC")
		runtime.KeepAlive(keep)
	}
	for _, tc := range []struct {
		label          string
		name, buf, ptr bool
	}{{"none", false, false, false}, {"name", true, false, false}, {"buffer", false, true, false}, {"global", false, false, true}, {"all three", true, true, true}} {
		b.Run("struct/"+tc.label, func(b *testing.B) {
			blocks := make([][256]series, (n+255)/256)
			for i := range n {
				s := &blocks[i/256][i%256]
				if tc.name {
					s.name = unsafe.String(&names[i*10], 40)
				}
				if tc.buf {
					s.buf = bufs[i]
				}
				if tc.ptr {
					s.ptr = &global
				}
			}
			mark(b, blocks)
		})
	}
	b.Run("names/string", func(b *testing.B) {
		strs := make([]string, n)
		for i := range strs {
			strs[i] = unsafe.String(&names[i*10], 40)
		}
		mark(b, strs)
	})
	b.Run("names/string of its own", func(b *testing.B) {
		strs := make([]string, n)
		for i := range strs {
			strs[i] = string(names[i*10 : i*10+40]) // an object each
		}
		mark(b, strs)
	})
	b.Run("names/number", func(b *testing.B) {
		refs := make([]NameRef, n)
		for i := range refs {
			refs[i] = NameRef(i)
		}
		mark(b, refs)
	})
	runtime.KeepAlive(bufs)
	runtime.KeepAlive(names)
}
