package store_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"esmon/agentsvc/collect"
	"esmon/core/store"
	"esmon/core/store/dataset"
)

// TestDevopsQuotientsLossless: three hours of three devops hosts go in,
// each with more series: memory total minus used (as gopsutil's
// available is), and a Linux file system's free bytes (total minus used
// minus the blocks kept for root) and used percent (used / (used + free)
// × 100, two decimals); after a restart every sample of every series
// comes back bit for bit, the percentages, the difference and the
// difference with an offset among them, which the flusher wrote as
// quotient chunks (seven a host and closed window: the counter says how
// many).
func TestDevopsQuotientsLossless(t *testing.T) {
	const hosts, steps = 3, 3 * 360 // a multiple of 30
	dir := t.TempDir()
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	db, err := store.Open(store.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	// Recent times: Badger's TTL runs on the real clock.
	start := time.Now().Add(-4 * time.Hour).Truncate(time.Hour)
	fleet := dataset.NewFleet(hosts, start, 10*time.Second, 20*time.Millisecond, 7)
	type key struct{ metric, host string }
	want := map[key][]store.Point{}
	var batch []store.Sample // a few minutes a commit: the test's time is fsyncs
	for step := range steps {
		for _, b := range fleet.Next() {
			var total, used, fsUsed float64
			for _, s := range b {
				switch s.Metric {
				case "mem_total_bytes":
					total = s.V
				case "mem_used_bytes":
					used = s.V
				case "disk_used_bytes":
					fsUsed = 2 * s.V // not the same series with an offset: that would be a difference too
				}
			}
			const fsTotal, reserved = 500 << 30, 25 << 30
			fsFree := fsTotal - fsUsed - reserved
			ls, at := b[0].Labels, b[0].T
			b = append(b, store.Sample{Metric: "mem_unused_bytes", Labels: ls, T: at, V: total - used},
				store.Sample{Metric: "fs_total_bytes", Labels: ls, T: at, V: fsTotal},
				store.Sample{Metric: "fs_used_bytes", Labels: ls, T: at, V: fsUsed},
				store.Sample{Metric: "fs_free_bytes", Labels: ls, T: at, V: fsFree},
				store.Sample{Metric: "fs_used_percent", Labels: ls, T: at, V: collect.Precision("fs_used_percent", fsUsed/(fsUsed+fsFree)*100)})
			for _, s := range b {
				k := key{s.Metric, s.Labels.Get("host")}
				want[k] = append(want[k], store.Point{T: s.T, V: s.V})
			}
			batch = append(batch, b...)
		}
		if step%30 == 29 {
			if err := db.Append(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	quotients := 0.0
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "esmon_store_quotient_chunks_total" {
			quotients = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	// Each host closes two or three windows in three hours (windows start
	// at an offset of the hour per host).
	if quotients < 7*hosts*2 || math.Mod(quotients, 7) != 0 {
		t.Errorf("%v quotient chunks written, want seven a host and window, at least %d", quotients, 7*hosts*2)
	}
	db, err = store.Open(store.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for k, pts := range want {
		sel, err := db.Select(ctx, store.Query{Metric: k.metric, Match: map[string]string{"host": k.host},
			From: pts[0].T, To: pts[len(pts)-1].T})
		if err != nil {
			t.Fatalf("%v: %v", k, err)
		}
		if len(sel.Series) != 1 || len(sel.Series[0].Points) != len(pts) {
			t.Fatalf("%v: %d series, want 1 of %d points", k, len(sel.Series), len(pts))
		}
		for i, p := range sel.Series[0].Points {
			if p.T != pts[i].T || math.Float64bits(p.V) != math.Float64bits(pts[i].V) {
				t.Fatalf("%v sample %d: %d %v, want %d %v", k, i, p.T, p.V, pts[i].T, pts[i].V)
			}
		}
	}
}
