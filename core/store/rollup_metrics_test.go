package store

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestRollupMetrics: an operator sees from /metrics how far each tier is
// rolled up and how long an hour's rollup takes; a failed run moves
// neither.
func TestRollupMetrics(t *testing.T) {
	ctx := context.Background()
	h := floorTo(time.Now().UnixMilli(), hourMS) - 3*hourMS
	now := time.UnixMilli(h + hourMS + rollupGrace)
	reg := prometheus.NewRegistry()
	db := open(t, Options{Dir: t.TempDir(), Registerer: reg, Now: func() time.Time { return now }})
	defer db.Close()
	appendHour(t, db, h, 7)
	gather := func() (wm map[string]float64, runs map[string]uint64) {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		wm, runs = map[string]float64{}, map[string]uint64{}
		tier := func(m *dto.Metric) string {
			for _, l := range m.GetLabel() {
				if l.GetName() == "tier" {
					return l.GetValue()
				}
			}
			return ""
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch mf.GetName() {
				case "esmon_store_rollup_watermark_seconds":
					wm[tier(m)] = m.GetGauge().GetValue()
				case "esmon_store_rollup_seconds":
					runs[tier(m)] = m.GetHistogram().GetSampleCount()
				}
			}
		}
		return wm, runs
	}
	if wm, _ := gather(); len(wm) != 0 {
		t.Fatalf("watermarks before any rollup: %v", wm)
	}

	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.Rollup(done); err == nil {
		t.Fatal("a rollup out of time succeeded")
	}
	day := floorTo(h, dayMS)
	wm, runs := gather()
	if wm[TierHour] != float64(day)/1000 || wm[TierMinute] != float64(h)/1000 {
		t.Fatalf("after a failed run: watermarks %v, want 1h at the day's start %d and 1m at the first hour %d", wm, day/1000, h/1000)
	}
	if runs[TierHour] != 0 {
		t.Fatalf("a failed run counted: %v", runs)
	}

	if err := db.Rollup(ctx); err != nil {
		t.Fatal(err)
	}
	wm, runs = gather()
	if wm[TierHour] != float64(h+hourMS)/1000 {
		t.Fatalf("1h watermark %v, want %d (the end of the hour rolled up)", wm[TierHour], (h+hourMS)/1000)
	}
	// Every hour from the day's start to h, one observation each; the
	// minute tier waits for the raw samples' retention (14 days).
	if want := uint64((h-day)/hourMS + 1); runs[TierHour] != want || runs[TierMinute] != 0 {
		t.Fatalf("rollup runs %v, want %d of 1h and none of 1m", runs, want)
	}
}
