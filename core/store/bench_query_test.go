package store

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// BenchmarkQueryRaw24h reads 24 hours of one series sampled every second
// (86,400 samples) from Badger, warm: the chunks are on disk, the block
// cache holds them after the first run.
func BenchmarkQueryRaw24h(b *testing.B) {
	db := open(&testing.T{}, Options{Dir: b.TempDir(), Logger: quietLog})
	defer db.Close()
	ctx := context.Background()
	start := floorTo(time.Now().UnixMilli()-2*dayMS, dayMS)
	rng := rand.New(rand.NewPCG(1, 1))
	pts := walk(rng, start, 1000, 86_400)
	in := make([]Sample, 0, len(pts))
	for _, p := range pts {
		in = append(in, Sample{Metric: "cpu_usage_percent", Labels: hostLabels("a"), T: p.T, V: p.V})
	}
	if err := db.Append(ctx, in); err != nil {
		b.Fatal(err)
	}
	if err := db.checkpoint(true); err != nil { // every chunk to Badger
		b.Fatal(err)
	}
	q := Query{Metric: "cpu_usage_percent", Match: map[string]string{"host": "a"}, From: start - 1000, To: start + dayMS}
	cpu := cpuTime()
	for b.Loop() {
		sel, err := db.Select(ctx, q)
		if err != nil || len(sel.Series[0].Points) != 86_400 {
			b.Fatalf("%v %d", err, len(sel.Series[0].Points))
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkQueryRollup1Year reads one year of 1-hour rollups of one series
// (8,760 rows) at a 1-hour step.
func BenchmarkQueryRollup1Year(b *testing.B) {
	db := open(&testing.T{}, Options{Dir: b.TempDir(), Logger: quietLog})
	defer db.Close()
	ctx := context.Background()
	now := floorTo(time.Now().UnixMilli(), dayMS)
	from := now - 365*dayMS
	if err := db.Append(ctx, []Sample{{Metric: "m", Labels: hostLabels("a"), T: now, V: 1}}); err != nil {
		b.Fatal(err)
	}
	id := db.findLocked("m", hostLabels("a")).id
	rng := rand.New(rand.NewPCG(2, 2))
	wb := db.db.NewWriteBatch()
	for h := from; h < now; h += hourMS {
		v := rng.Float64() * 100
		rw := row{t: h, min: v - 1, max: v + 1, sum: v * 360, count: 360, last: v}
		if err := wb.SetEntry(badger.NewEntry(rollupKey(tierHourRow, id, h), appendHourRow(nil, rw))); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := db.setWatermark(tierHourCode, now); err != nil {
		b.Fatal(err)
	}
	q := Query{Metric: "m", From: from, To: now - 1, Step: hourMS, Agg: AggAvg}
	cpu := cpuTime()
	for b.Loop() {
		sel, err := db.Select(ctx, q)
		if err != nil || sel.Tier != TierHour || len(sel.Series[0].Points) != 8760 {
			b.Fatalf("%v %s %d", err, sel.Tier, len(sel.Series[0].Points))
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkLatest1000Hosts reads the latest values of 10 metrics on each
// of 1,000 hosts.
func BenchmarkLatest1000Hosts(b *testing.B) {
	db := open(&testing.T{}, Options{InMemory: true, Logger: quietLog})
	defer db.Close()
	var in []Sample
	metrics := make([]string, 10)
	for m := range metrics {
		metrics[m] = "metric_" + strconv.Itoa(m)
	}
	for h := range 1000 {
		ls := hostLabels("host_" + strconv.Itoa(h))
		for _, m := range metrics {
			in = append(in, Sample{Metric: m, Labels: ls, T: 1, V: float64(h)})
		}
	}
	if err := db.Append(context.Background(), in); err != nil {
		b.Fatal(err)
	}
	cpu := cpuTime()
	for b.Loop() {
		n := 0
		for h := range 1000 {
			n += len(db.Latest("host_"+strconv.Itoa(h), metrics...))
		}
		if n != 10_000 {
			b.Fatal(n)
		}
	}
	reportCPU(b, cpu)
}
