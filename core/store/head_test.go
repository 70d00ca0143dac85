package store

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
	"unsafe"
)

// TestSeriesWithOneHashStayApart files every series under one hash (as
// if all keys collided): each must still keep its own samples, refs and
// latest value, through appends by name and by ref, and a restart.
func TestSeriesWithOneHashStayApart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := open(t, Options{Dir: dir})
	db.hmu.Lock()
	db.hashMask = 0 // every key hashes to 0
	db.hmu.Unlock()
	const hosts, metrics = 5, 4
	labels := func(h, m int) (string, Labels) {
		return fmt.Sprintf("m%d", m), hostLabels(fmt.Sprintf("h%d", h), Label{"mount", fmt.Sprintf("/d%d", m%2)})
	}
	base := floorTo(time.Now().UnixMilli()-dayMS, hourMS) // Badger's TTL runs on the real clock
	value := func(h, m, i int) float64 { return float64(h*1000 + m*100 + i) }
	refs := map[string]SeriesRef{}
	for i := range 3 {
		var in []Sample
		for h := range hosts {
			for m := range metrics {
				metric, ls := labels(h, m)
				s := Sample{Metric: metric, Labels: ls, T: base + int64(1000*(i+1)), V: value(h, m, i)}
				if i == 2 { // the last samples by ref
					ref, err := db.Ref(metric, ls)
					if err != nil {
						t.Fatal(err)
					}
					if old, ok := refs[SeriesKey(metric, ls)]; ok && old != ref {
						t.Fatalf("%s: two refs", SeriesKey(metric, ls))
					}
					refs[SeriesKey(metric, ls)] = ref
					s.Ref = ref
				}
				in = append(in, s)
			}
		}
		if err := db.Append(ctx, in); err != nil {
			t.Fatal(err)
		}
		if i == 1 { // refs made after the series exist
			for h := range hosts {
				for m := range metrics {
					metric, ls := labels(h, m)
					ref, err := db.Ref(metric, ls)
					if err != nil {
						t.Fatal(err)
					}
					refs[SeriesKey(metric, ls)] = ref
				}
			}
		}
	}
	check := func(db *DB, when string) {
		t.Helper()
		if st := db.Stats(); st.Series != hosts*metrics {
			t.Fatalf("%s: %d series, want %d", when, st.Series, hosts*metrics)
		}
		for h := range hosts {
			for m := range metrics {
				metric, ls := labels(h, m)
				sel, err := db.Select(ctx, Query{Metric: metric, Match: ls.Map(), From: base, To: base + 10_000})
				if err != nil {
					t.Fatal(err)
				}
				if len(sel.Series) != 1 || len(sel.Series[0].Points) != 3 {
					t.Fatalf("%s: %s: %+v", when, SeriesKey(metric, ls), sel.Series)
				}
				for i, p := range sel.Series[0].Points {
					if p.V != value(h, m, i) {
						t.Fatalf("%s: %s sample %d = %v, want %v", when, SeriesKey(metric, ls), i, p.V, value(h, m, i))
					}
				}
			}
		}
		if lat := db.Latest("h3", "m2"); len(lat) != 1 || lat[0].V != value(3, 2, 2) {
			t.Fatalf("%s: latest = %+v", when, lat)
		}
	}
	check(db, "before restart")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, Options{Dir: dir})
	defer db.Close()
	check(db, "after restart")
}

// TestHeadKeepsNoCallerStrings checks that a series keeps its own copy
// of its names: the caller (the hub) reuses the memory of a batch's names
// for the next batch, and the series must not change with it. The copy is
// one string, the series' name, that metric and labels are read from.
func TestHeadKeepsNoCallerStrings(t *testing.T) {
	db := open(t, Options{InMemory: true})
	defer db.Close()
	buf := []byte("disk_used_percenthostweb-1mount/var")
	str := func(i, j int) string { return unsafe.String(&buf[i], j-i) }
	ls := Labels{{str(17, 21), str(21, 26)}, {str(26, 31), str(31, 35)}}
	if err := db.Append(context.Background(), []Sample{{Metric: str(0, 17), Labels: ls, T: 1, V: 1}}); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x' // the caller's next batch
	}
	db.hmu.Lock()
	defer db.hmu.Unlock()
	want := hostLabels("web-1", Label{"mount", "/var"})
	ms := db.find("disk_used_percent", want)
	if ms == nil {
		t.Fatal("series not found after its caller's memory changed")
	}
	if ms.name != "disk_used_percent\x00host\x00web-1\x00mount\x00/var\x00" || ms.metric() != "disk_used_percent" ||
		!slices.Equal(ms.labels(), want) || ms.host() != "web-1" {
		t.Fatalf("series is %q: metric %q, labels %v, host %q", ms.name, ms.metric(), ms.labels(), ms.host())
	}
}

// TestChunksGetSizeHints: a series' first chunk takes the size its first
// samples project over its window, and each later chunk the size of the
// one before, so that its buffer grows in a few large steps (see
// chunkenc.Chunk.SizeHint) rather than many small copies.
func TestChunksGetSizeHints(t *testing.T) {
	db := open(t, Options{InMemory: true})
	defer db.Close()
	ls := hostLabels("web-1")
	start := (time.Now().UnixMilli()/chunkWindow - 10) * chunkWindow
	add := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			err := db.Append(context.Background(), []Sample{{Metric: "m", Labels: ls, T: start + int64(i)*10_000, V: float64(i%7) * 1.37}})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	series := func() *memSeries {
		db.hmu.Lock()
		defer db.hmu.Unlock()
		return db.find("m", ls)
	}
	add(0, hintAfter-1)
	if series().head.Hinted() {
		t.Fatalf("hinted after %d samples", hintAfter-1)
	}
	add(hintAfter-1, 1)
	ms := series()
	if !ms.head.Hinted() {
		t.Fatalf("no hint after %d samples", hintAfter)
	}
	// The rest of the piece, at 10 s, until the next piece's first
	// sample seals the first chunk.
	var sealed []byte
	for i := hintAfter; len(ms.pending) == 0; i++ {
		if i > int(chunkPiece/10_000) {
			t.Fatalf("no chunk sealed after %d samples at 10 s: a piece's worth", i)
		}
		sealed = ms.head.SealedBytes()
		add(i, 1)
	}
	if !ms.head.Hinted() || ms.head.Len() != 1 {
		t.Fatalf("the second chunk (%d samples) has no hint", ms.head.Len())
	}
	if !bytes.Equal(ms.pending[0].data, sealed) {
		t.Fatalf("the first chunk was not sealed as it was")
	}
}

// TestSeriesAllocatedInBlocks: new series and their names are cut from
// blocks (one allocation for many series, not two each), and every name
// stays what it was as later names fill its block and the next.
func TestSeriesAllocatedInBlocks(t *testing.T) {
	db := &DB{}
	db.initHead()
	db.opts.defaults()
	const n = 3000 // about 40 bytes a name: two name blocks, a dozen series blocks
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = appendSeriesKey(nil, "disk_used_bytes", Labels{{Name: "host", Value: "h1"}, {Name: "mount", Value: fmt.Sprintf("/data/%05d", i)}})
	}
	db.addSeries(0, keys[0]) // the host's and the metric's postings
	allocs := testing.AllocsPerRun(1, func() {
		for i := 1; i < n; i++ {
			db.addSeries(uint64(i), keys[i])
		}
	})
	// The maps and postings grow too: a few allocations over all.
	if per := allocs / (n - 1); per > 0.2 {
		t.Errorf("%.2f allocations a new series; want them in blocks (under 0.2)", per)
	}
	for i, k := range keys {
		ms := db.byID.get(uint64(i))
		if ms == nil || ms.name != string(k) || db.find("disk_used_bytes", keyLabels(string(k))) != ms {
			t.Fatalf("series %d: got %v, want the series named %q", i, ms, k)
		}
	}
}

// TestHeadPointersPerSeries counts the pointers the garbage collector
// follows in the head for each series (the maps by hash and by id, the
// postings, the series blocks and what each series points to): every
// mark follows all of them, and at 10,000 agents (620,000 series) a mark
// that followed seven a series took over a second of CPU. A series needs
// three: its name, its chunk's values and the timestamps its host's
// chunks share; the maps, postings and refs hold slots.
func TestHeadPointersPerSeries(t *testing.T) {
	db := open(t, Options{InMemory: true})
	defer db.Close()
	const hosts, perHost = 20, 50
	base := floorTo(time.Now().UnixMilli()-dayMS, hourMS)
	var in []Sample
	for h := range hosts {
		for m := range perHost {
			in = append(in, Sample{Metric: fmt.Sprintf("m%d", m%10), Labels: hostLabels(fmt.Sprintf("h%d", h), Label{"dev", fmt.Sprint(m)}), T: base + 1000, V: float64(m)})
		}
	}
	if err := db.Append(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	db.hmu.Lock()
	seen := map[uintptr]bool{}
	n := 0
	for _, f := range []any{&db.byHash, &db.collide, &db.byID, &db.alloc, &db.byHost, &db.byMetric, &db.times} {
		n += countPointers(reflect.ValueOf(f).Elem(), seen)
	}
	db.hmu.Unlock()
	per := float64(n) / (hosts * perHost)
	t.Logf("%.2f pointers a series", per)
	if per > 3.5 {
		t.Errorf("the head holds %.2f pointers a series for the collector to follow; want at most 3.5", per)
	}
}

// countPointers counts the non-nil pointers in v and in what they point
// to, each object once (seen): pointers, and the pointers of strings,
// slices, maps, interfaces and channels, as the collector sees them.
// Strings are not entered; maps count the pointers of their keys and
// values.
func countPointers(v reflect.Value, seen map[uintptr]bool) int {
	switch v.Kind() {
	case reflect.String:
		if v.Len() > 0 {
			return 1
		}
	case reflect.Pointer:
		if v.IsNil() {
			return 0
		}
		if seen[v.Pointer()] {
			return 1
		}
		seen[v.Pointer()] = true
		return 1 + countPointers(v.Elem(), seen)
	case reflect.Slice:
		if v.IsNil() {
			return 0
		}
		n := 1
		if seen[v.Pointer()] {
			return n
		}
		seen[v.Pointer()] = true
		for i := range v.Len() {
			n += countPointers(v.Index(i), seen)
		}
		return n
	case reflect.Array:
		n := 0
		for i := range v.Len() {
			n += countPointers(v.Index(i), seen)
		}
		return n
	case reflect.Struct:
		n := 0
		for i := range v.NumField() {
			n += countPointers(v.Field(i), seen)
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return 0
		}
		n := 1
		for it := v.MapRange(); it.Next(); {
			n += countPointers(it.Key(), seen) + countPointers(it.Value(), seen)
		}
		return n
	case reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		if !v.IsNil() {
			return 1
		}
	}
	return 0
}
