package store

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestLongReadDecodedInParallel: 16 hours of three series at 1 s, the
// first half in Badger (the used percent as quotient chunks), the rest in
// the head, are read back bit for bit over the whole range and over
// ranges that start and end inside chunks: long enough that the reads are
// decoded on more than one goroutine (parallelDecodeMin), short ones not.
func TestLongReadDecodedInParallel(t *testing.T) {
	ctx := context.Background()
	db := open(t, Options{Dir: t.TempDir()})
	defer db.Close()
	start := floorTo(time.Now().UnixMilli()-dayMS, hourMS)
	rng := rand.New(rand.NewPCG(9, 9))
	const n = 16 * 3600
	want := map[string][]Point{}
	used := 6e9
	var in []Sample
	add := func(metric string, t int64, v float64) {
		in = append(in, Sample{Metric: metric, Labels: hostLabels("a"), T: t, V: v})
		want[metric] = append(want[metric], Point{T: t, V: v})
	}
	for i := range n {
		ts := start + int64(i)*1000 + rng.Int64N(41) - 20
		used = math.Max(1, used+math.Round(rng.NormFloat64()*3e6))
		add("memory_total_bytes", ts, 16e9)
		add("memory_used_bytes", ts, used)
		add("memory_used_percent", ts, used/16e9*100)
		if i == n/2 {
			if err := db.Append(ctx, in); err != nil {
				t.Fatal(err)
			}
			in = in[:0]
			if err := db.checkpoint(true); err != nil { // every chunk so far to Badger
				t.Fatal(err)
			}
		}
	}
	if err := db.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	if q := counterValue(db.m.quotients); q == 0 {
		t.Error("no quotient chunk written")
	}
	for metric, pts := range want {
		for _, r := range [][2]int{{0, n - 1}, {1234, n - 777}, {n/2 - 20_000, n/2 + 20_000}, {100, 5000}, {n - 10, n - 1}} {
			from, to := pts[r[0]].T, pts[r[1]].T
			sel, err := db.Select(ctx, Query{Metric: metric, From: from, To: to})
			if err != nil {
				t.Fatal(err)
			}
			if len(sel.Series) != 1 {
				t.Fatalf("%s %v: %d series", metric, r, len(sel.Series))
			}
			got, exp := sel.Series[0].Points, pts[r[0]:r[1]+1]
			if len(got) != len(exp) {
				t.Fatalf("%s %v: %d points, want %d", metric, r, len(got), len(exp))
			}
			for i := range got {
				if got[i].T != exp[i].T || math.Float64bits(got[i].V) != math.Float64bits(exp[i].V) {
					t.Fatalf("%s %v point %d: %d %v, want %d %v", metric, r, i, got[i].T, got[i].V, exp[i].T, exp[i].V)
				}
			}
		}
	}
}
