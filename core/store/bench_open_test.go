package store

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkOpen opens a store whose index holds many series (1,000 hosts
// × 100 series unless ESMON_OPEN_SERIES says), as a core restarting after a
// crash does before it can take agents again: Badger, the series index,
// the head's maps and postings, the log's replay. CPU per series is the
// figure to watch (cpu-ns/series); wall time depends on the machine's load.
func BenchmarkOpen(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("ESMON_OPEN_SERIES")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	d, err := Open(Options{Dir: dir, Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UnixMilli()
	batch := make([]Sample, 0, 100)
	for h := 0; h < n/100; h++ {
		batch = batch[:0]
		host := fmt.Sprintf("host-%05d", h)
		for m := range 100 {
			batch = append(batch, Sample{Metric: fmt.Sprintf("metric_%02d", m%20), Labels: Labels{{Name: "host", Value: host}, {Name: "n", Value: strconv.Itoa(m)}}, T: now, V: float64(m)})
		}
		if err := d.Append(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		d, err := Open(Options{Dir: dir, Logger: quietLog})
		if err != nil {
			b.Fatal(err)
		}
		if got := d.byID.len(); got != n/100*100 {
			b.Fatalf("opened %d series, want %d", got, n/100*100)
		}
		b.StopTimer()
		d.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/float64(n), "cpu-ns/series")
}
