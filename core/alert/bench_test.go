package alert

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
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
	e, _ := openEngine(b)
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

// The storm estate: 2,000 hosts × 60 metrics = 120,000 series, one batch
// of 60 samples per host per 5 s round; 2,000 rules: one estate-wide rule
// per metric (over 90, no "for") and 1,940 per-host rules (over 99). Each
// round 1% of the series go over 90 and those of the round before come
// back under: 2,400 transitions per round once it runs, 2% of the samples.
const (
	stormHosts   = 2000
	stormMetrics = 60
	stormRules   = 2000
)

// stormTemplate makes, in dir, a store holding the storm rules: importing
// 2,000 rules takes 4,000 synced writes, made once and copied.
func stormTemplate(b *testing.B, dir string) {
	b.Helper()
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	e, err := Open(db, openHistory(b, dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	var doc strings.Builder
	doc.WriteString("rules:\n")
	for m := range stormMetrics {
		fmt.Fprintf(&doc, "  - {name: estate-%d, metric: storm_%d_percent, threshold: 90, severity: critical, enabled: true}\n", m, m)
	}
	for j := stormMetrics; j < stormRules; j++ {
		fmt.Fprintf(&doc, "  - {name: host-%d, metric: storm_%d_percent, threshold: 99, severity: warning, enabled: true, match: {host: host-%04d}}\n", j, j%stormMetrics, j%stormHosts)
	}
	if n, _, _, err := e.Import([]byte(doc.String()), "bench"); err != nil || n != stormRules {
		b.Fatalf("import: %d, %v", n, err)
	}
}

// BenchmarkEvalStormOnDisk feeds the storm estate through Eval on a real
// store on disk, b.N host batches (run it with -benchtime=6000x: three
// rounds). "sync" is the engine as it was: each transition's state and
// history written at once, synced, under the engine lock (the writer
// closed: writes after Close are made that way). "group" queues them for
// the writer and commits in rounds of separate Puts (the store's PutBatch
// hidden: concurrent Puts, one sync each); "group-batch" does the same
// with the store's PutBatch (one write batch per round). Their time includes the Flush of the last round. ns/sample and samples/s are wall time per sample through
// Eval and the last Flush, eval-ns/sample the time inside Eval alone (what
// an agent's batch waits); p99-batch-ms and max-batch-ms are the time of
// one host's Eval.
func BenchmarkEvalStormOnDisk(b *testing.B) {
	template := b.TempDir()
	stormTemplate(b, template)
	for _, mode := range []string{"sync", "group", "group-batch"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			if err := os.CopyFS(dir, os.DirFS(template)); err != nil {
				b.Fatal(err)
			}
			db := openDisk(b, dir)
			defer db.Close()
			var kv store.KV = db
			if mode != "group-batch" {
				kv = unbatchedKV{db}
			}
			e, err := Open(kv, openHistory(b, dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			if mode == "sync" {
				e.Close()
			}
			batches := make([][]store.Sample, stormHosts)
			for h := range batches {
				host := store.Labels{{Name: "host", Value: fmt.Sprintf("host-%04d", h)}}
				for m := range stormMetrics {
					batches[h] = append(batches[h], store.Sample{Metric: fmt.Sprintf("storm_%d_percent", m), Labels: host})
				}
			}
			took := make([]time.Duration, 0, b.N)
			transitions := 0
			b.ResetTimer()
			for i := range b.N {
				h, round := i%stormHosts, i/stormHosts
				batch := batches[h]
				for m := range batch {
					batch[m].T = int64(round) * 5000
					batch[m].V = 50
					if (h*stormMetrics+m)%100 == round%100 {
						batch[m].V = 95
					}
				}
				began := time.Now()
				transitions += len(e.Eval(batch[0].Labels.Get("host"), batch))
				took = append(took, time.Since(began))
			}
			if err := e.Flush(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			samples := float64(b.N * stormMetrics)
			var inEval time.Duration
			for _, d := range took {
				inEval += d
			}
			b.ReportMetric(float64(inEval.Nanoseconds())/samples, "eval-ns/sample")
			slices.Sort(took)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/samples, "ns/sample")
			b.ReportMetric(samples/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(transitions), "transitions")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-batch-ms")
			b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-batch-ms")
			if mode != "sync" {
				st := e.PersistStats()
				b.ReportMetric(float64(st.Rounds), "commits")
				b.ReportMetric(float64(st.MaxRound), "max-round")
			}
		})
	}
}

// unbatchedKV hides the store's PutBatch: the writer then commits a round
// as separate Puts (one sync each).
type unbatchedKV struct{ store.KV }
