package store

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// BenchmarkCheckpoint writes checkpoints of a head of 100,000 series (1,000
// hosts × 100) with an open chunk of 120 samples each, as the core does
// every 256 MiB of log: every open chunk is copied out under the head's
// lock. B/op is the garbage a checkpoint leaves the collector; cpu-ns/series
// its CPU.
func BenchmarkCheckpoint(b *testing.B) {
	const hosts, perHost, samples = 1000, 100, 120
	d, err := Open(Options{Dir: b.TempDir(), Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	start := time.Now().Truncate(time.Hour).UnixMilli()
	names := make([]string, perHost)
	for m := range names {
		names[m] = strconv.Itoa(m)
	}
	batch := make([]Sample, 0, hosts*perHost)
	for i := range samples {
		batch = batch[:0]
		for h := range hosts {
			host := fmt.Sprintf("host-%05d", h)
			for m := range perHost {
				batch = append(batch, Sample{Metric: "metric", Labels: Labels{{Name: "host", Value: host}, {Name: "n", Value: names[m]}},
					T: start + int64(i)*10_000, V: float64(m*i%977) / 7})
			}
		}
		if err := d.Append(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		if err := d.Checkpoint(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/float64(hosts*perHost), "cpu-ns/series")
}
