package store

import (
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}

// cpuTime is the process's user and system CPU time so far. Benchmarks
// report it per operation beside the wall time, because the build machine
// is shared and wall time there includes waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU milliseconds per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// findLocked is find under the head's lock, for tests.
func (d *DB) findLocked(metric string, ls Labels) *memSeries {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	return d.find(metric, ls)
}
