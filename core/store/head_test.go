package store

import (
	"context"
	"fmt"
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

// TestHeadKeepsNoCallerStrings checks that the head interns names: a
// series keeps the store's copy of each name and value, one per distinct
// string, however the caller built its labels.
func TestHeadKeepsNoCallerStrings(t *testing.T) {
	db := open(t, Options{InMemory: true})
	defer db.Close()
	fresh := func(s string) string { return string([]byte(s)) }
	var in []Sample
	for _, mount := range []string{"/", "/var"} {
		ls := Labels{{fresh("host"), fresh("web-1")}, {fresh("mount"), fresh(mount)}}
		in = append(in, Sample{Metric: fresh("disk_used_percent"), Labels: ls, T: 1, V: 1})
	}
	if err := db.Append(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	db.hmu.Lock()
	defer db.hmu.Unlock()
	a, b := db.find("disk_used_percent", hostLabels("web-1", Label{"mount", "/"})), db.find("disk_used_percent", hostLabels("web-1", Label{"mount", "/var"}))
	if a == nil || b == nil || a == b {
		t.Fatalf("series not found apart: %p %p", a, b)
	}
	same := func(x, y string) bool { return len(x) == len(y) && unsafe.StringData(x) == unsafe.StringData(y) }
	if !same(a.metric, b.metric) || !same(a.labels[0].Value, b.labels[0].Value) || !same(a.labels[0].Name, b.labels[0].Name) {
		t.Fatal("two series of one host and metric keep two copies of its names")
	}
	if same(a.labels[0].Value, in[0].Labels[0].Value) {
		t.Fatal("the head keeps the caller's string")
	}
}
