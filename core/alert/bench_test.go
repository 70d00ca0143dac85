package alert

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"esmon/core/store"
)

// The benchmark estate: 1,000 hosts × 10 metrics × 5 series = 50,000
// series; 9,950 per-host rules (each host has rules on 10 metrics, a third
// of them with a mount matcher too) plus 50 estate-wide rules with a host
// pattern, 10,000 in all. Values stay under the thresholds, as they do
// almost always.
const (
	benchHosts   = 1000
	benchMetrics = 10
	benchSeries  = 5
)

func benchEngine(b *testing.B) (*Engine, [][]store.Sample) {
	b.Helper()
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	e, err := Open(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	metric := func(m int) string { return fmt.Sprintf("bench_metric_%d_percent", m) }
	var doc strings.Builder
	doc.WriteString("rules:\n")
	n := 0
	for h := 0; h < benchHosts && n < 9950; h++ {
		for m := 0; m < benchMetrics && n < 9950; m++ {
			fmt.Fprintf(&doc, "  - {name: r%d, metric: %s, threshold: 99, warning: 95, severity: critical, enabled: true, match: {host: host-%04d", n, metric(m), h)
			if m%3 == 0 {
				doc.WriteString(", mount: /data")
			}
			doc.WriteString("}}\n")
			n++
		}
	}
	for i := 0; n < 10_000; i++ {
		fmt.Fprintf(&doc, "  - {name: g%d, metric: %s, threshold: 99.5, severity: warning, enabled: true, match: {host: host-0*}}\n", i, metric(i%benchMetrics))
		n++
	}
	if created, _, _, err := e.Import([]byte(doc.String()), "bench"); err != nil || created != 10_000 {
		b.Fatalf("import: %d, %v", created, err)
	}
	batches := make([][]store.Sample, benchHosts)
	mounts := []string{"/", "/data", "/var", "/opt", "/tmp"}
	for h := range batches {
		host := fmt.Sprintf("host-%04d", h)
		for m := 0; m < benchMetrics; m++ {
			for s := 0; s < benchSeries; s++ {
				batches[h] = append(batches[h], store.Sample{Metric: metric(m),
					Labels: store.Labels{{Name: "host", Value: host}, {Name: "mount", Value: mounts[s]}}, V: float64((h + m + s) % 90)})
			}
		}
	}
	return e, batches
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEval evaluates one host's batch of 50 samples against 10,000
// rules. cpu-ns/sample is the figure to compare with the budget of 2,000
// (100,000 samples/s in 20% of one core); CPU time, unlike wall time, holds
// on a machine shared with others.
func BenchmarkEval(b *testing.B) {
	e, batches := benchEngine(b)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	t := int64(0)
	for i := 0; i < b.N; i++ {
		batch := batches[i%len(batches)]
		t += 1000
		for j := range batch {
			batch[j].T = t
		}
		if ts := e.Eval(batch[0].Labels.Get("host"), batch); len(ts) != 0 {
			b.Fatalf("unexpected transitions %v", ts)
		}
	}
	samples := float64(b.N * benchMetrics * benchSeries)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/samples, "ns/sample")
	b.ReportMetric(float64(cpuTime()-cpu0)/samples, "cpu-ns/sample")
}

// BenchmarkEvalAt100kPerSecond feeds 100,000 samples/s, paced every
// 10 ms, for 3 s, and reports the CPU the process used as a share of one
// core, and the rate it reached.
func BenchmarkEvalAt100kPerSecond(b *testing.B) {
	e, batches := benchEngine(b)
	const rate = 100_000
	b.ResetTimer()
	var share, reached float64
	for range b.N {
		cpu0 := cpuTime()
		start := time.Now()
		h, sent := 0, 0
		for time.Since(start) < 3*time.Second {
			due := int(time.Since(start).Seconds() * rate)
			for sent < due {
				batch := batches[h%len(batches)]
				h++
				t := time.Since(start).Milliseconds()
				for j := range batch {
					batch[j].T = t
				}
				e.Eval(batch[0].Labels.Get("host"), batch)
				sent += len(batch)
			}
			time.Sleep(10 * time.Millisecond)
		}
		wall := time.Since(start)
		share = float64(cpuTime()-cpu0) / float64(wall)
		reached = float64(sent) / wall.Seconds()
	}
	b.ReportMetric(share*100, "%core")
	b.ReportMetric(reached, "samples/s")
}
