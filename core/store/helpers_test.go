package store

import (
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
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

// storedRollup returns the rows of tier code (tierMinuteCode or
// tierHourCode) stored for series id in [from, to], as queries read them.
func storedRollup(t testing.TB, db *DB, code byte, id uint64, from, to int64) []row {
	t.Helper()
	var rows []row
	err := db.db.View(func(txn *badger.Txn) error {
		r := &reader{d: db, txn: txn}
		defer r.close()
		var err error
		rows, err = r.stored(code, id, from, to)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// reopenAfter writes with fn into db's Badger, as an older version of the
// store would have, closes db and opens the store in dir again.
func reopenAfter(t *testing.T, db *DB, dir string, fn func(txn *badger.Txn) error) *DB {
	t.Helper()
	if err := db.db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return open(t, Options{Dir: dir})
}
