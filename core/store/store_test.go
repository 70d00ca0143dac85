package store

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestAppendSelectSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	host := func(h string, extra ...Label) Labels {
		ls := append(Labels{{Name: "host", Value: h}}, extra...)
		ls.Sort()
		return ls
	}
	// Recent, hour-aligned times: Badger's TTL runs on the real clock.
	base := floorTo(time.Now().UnixMilli()-dayMS, hourMS)
	var in []Sample
	for i := int64(0); i < 100; i++ {
		in = append(in,
			Sample{Metric: "cpu_usage_percent", Labels: host("a"), T: base + 1000*i, V: float64(i)},
			Sample{Metric: "cpu_usage_percent", Labels: host("b"), T: base + 1000*i, V: 100 - float64(i)},
			Sample{Metric: "disk_used_percent", Labels: host("a", Label{"mount", "/"}), T: base + 1000*i, V: 50},
		)
	}
	in = append(in, Sample{Metric: "cpu_usage_percent", Labels: host("a"), T: base + 200_000, V: math.NaN()})
	if err := db.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	tests := []struct {
		name       string
		q          Query
		wantSeries int
		wantPoints int
		firstV     float64
	}{
		{"one host", Query{Metric: "cpu_usage_percent", Match: map[string]string{"host": "a"}, From: base, To: base + 1e9}, 1, 100, 0},
		{"both hosts", Query{Metric: "cpu_usage_percent", From: base, To: base + 1e9}, 2, 100, 0},
		{"range cut", Query{Metric: "cpu_usage_percent", Match: map[string]string{"host": "a"}, From: base + 10_000, To: base + 19_000}, 1, 10, 10},
		{"step averages", Query{Metric: "cpu_usage_percent", Match: map[string]string{"host": "a"}, From: base, To: base + 99_000, Step: 10_000}, 1, 10, 4.5},
		{"label match", Query{Metric: "disk_used_percent", Match: map[string]string{"mount": "/"}, From: base, To: base + 1e9}, 1, 100, 50},
		{"no match", Query{Metric: "disk_used_percent", Match: map[string]string{"mount": "/x"}, From: base, To: base + 1e9}, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := db.Select(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			res := sel.Series
			if len(res) != tc.wantSeries {
				t.Fatalf("got %d series, want %d", len(res), tc.wantSeries)
			}
			if tc.wantSeries == 0 {
				return
			}
			if got := len(res[0].Points); got != tc.wantPoints {
				t.Fatalf("got %d points, want %d", got, tc.wantPoints)
			}
			if res[0].Points[0].V != tc.firstV {
				t.Fatalf("first value %v, want %v", res[0].Points[0].V, tc.firstV)
			}
		})
	}
	if st := db.Stats(); st.Series != 3 {
		t.Fatalf("series after reopen = %d, want 3", st.Series)
	}
}

func TestKV(t *testing.T) {
	db, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Get([]byte("rx")); err != ErrNotFound {
		t.Fatalf("missing key: %v", err)
	}
	for _, k := range []string{"r1", "r2", "h1"} {
		if err := db.Put([]byte(k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	db.Scan([]byte("r"), func(k, v []byte) bool { keys = append(keys, string(k)); return true })
	if len(keys) != 2 || keys[0] != "r1" {
		t.Fatalf("scan r = %v", keys)
	}
	db.Delete([]byte("r1"))
	if _, err := db.Get([]byte("r1")); err != ErrNotFound {
		t.Fatal("deleted key still there")
	}
}

func TestSeriesKey(t *testing.T) {
	got := SeriesKey("m", Labels{{"a", `x"y`}, {"b", "z"}})
	if want := `m{a="x\"y",b="z"}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}
