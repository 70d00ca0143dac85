package collect

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// BenchmarkCollectLinux is one full collection of this machine, leaving out
// the process scan and temperatures (they run every 30 s, off the hot
// path). Besides wall time it reports the CPU time a collection costs
// (user and system, from getrusage), which is what the issue bounds: at
// most 1 ms.
func BenchmarkCollectLinux(b *testing.B) {
	set := New(System{}, Options{})
	ctx := context.Background()
	if _, err := set.Collect(ctx); err != nil {
		b.Logf("first collection: %v", err)
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.ReportAllocs()
	start := cpu()
	samples := 0
	for b.Loop() {
		snap, _ := set.Collect(ctx)
		samples = len(snap.Samples)
	}
	b.ReportMetric(float64((cpu()-start).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(samples), "samples/op")
}

// BenchmarkProcessScanLinux is one scan of the processes, which runs every
// 30 s by default, off the hot path.
func BenchmarkProcessScanLinux(b *testing.B) {
	c := &Processes{Source: System{}}
	ctx := context.Background()
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	procs := 0
	for b.Loop() {
		var s Sink
		if err := c.Collect(ctx, &s); err != nil {
			b.Fatal(err)
		}
		procs = int(values(s.Samples())["process_count"])
	}
	b.ReportMetric(float64((cpu()-start).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(procs), "processes")
}
