package wal

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// A directory WriteDir writes is synced as it goes, not only at its end,
// and holds every record.
func TestWriteDirSyncsAsItGoes(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "checkpoint.00000001")
	rec := bytes.Repeat([]byte{7}, 64<<10)
	const n = 160 // 10 MiB
	syncs, err := writeDir(dst, 1<<20, func(add func([]byte) error) error {
		for i := range n {
			rec[0] = byte(i)
			if err := add(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if syncs < 10 {
		t.Fatalf("%d syncs writing 10 MiB, want one at least each MiB", syncs)
	}
	var got int
	if _, err := Replay(dst, 0, false, func(r []byte) error {
		if len(r) != len(rec) || r[0] != byte(got) {
			return fmt.Errorf("record %d: %d bytes, first %d", got, len(r), r[0])
		}
		got++
		return nil
	}); err != nil || got != n {
		t.Fatalf("replayed %d of %d records: %v", got, n, err)
	}
}

// BenchmarkLogSyncDuringCheckpoint measures what a batch's
// acknowledgement waits for while a checkpoint of 256 MiB is written:
// the log's append-and-sync of 16 KB records, one after another, for as
// long as the checkpoint takes, synced at its end only (sync=end, as
// before) or every 8 MiB (as WriteDir does). It reports the p99 and the
// longest wait.
func BenchmarkLogSyncDuringCheckpoint(b *testing.B) {
	for _, c := range []struct {
		name  string
		every int
	}{{"sync=end", 0}, {"sync=8MiB", syncEvery}} {
		b.Run(c.name, func(b *testing.B) {
			var waits []time.Duration
			for b.Loop() {
				dir := b.TempDir()
				l, err := Open(Options{Dir: dir})
				if err != nil {
					b.Fatal(err)
				}
				rec, big := make([]byte, 16<<10), make([]byte, 1<<20)
				var wg sync.WaitGroup
				done := make(chan struct{})
				wg.Go(func() {
					defer close(done)
					if _, err := writeDir(filepath.Join(dir, "checkpoint.00000001"), c.every, func(add func([]byte) error) error {
						for range 256 {
							if err := add(big); err != nil {
								return err
							}
						}
						return nil
					}); err != nil {
						b.Error(err)
					}
				})
			loop:
				for {
					select {
					case <-done:
						break loop
					default:
					}
					start := time.Now()
					pos, err := l.Append(rec)
					if err == nil {
						err = l.Wait(pos)
					}
					if err != nil {
						b.Fatal(err)
					}
					waits = append(waits, time.Since(start))
				}
				wg.Wait()
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
			}
			slices.Sort(waits)
			b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(waits[len(waits)-1].Microseconds())/1000, "max-ms")
		})
	}
}
