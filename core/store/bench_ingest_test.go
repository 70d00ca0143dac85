package store_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"esmon/core/store"
	"esmon/core/store/dataset"
)

// BenchmarkAppendDevops appends host batches of the devops fleet (about
// 100 samples each, one Append per batch as the hub makes them) from many
// writers at once, with the write-ahead log on and fsynced: the figure is
// samples per second through the whole append path. With refs, the
// samples name their series by a SeriesRef looked up once per host, as
// the hub does per agent connection.
func BenchmarkAppendDevops(b *testing.B) {
	for _, writers := range []int{100, 1000} {
		for _, refs := range []bool{false, true} {
			b.Run("writers="+itoa(writers)+"/refs="+map[bool]string{false: "no", true: "yes"}[refs], func(b *testing.B) {
				benchAppendDevops(b, writers, refs)
			})
		}
	}
}

func benchAppendDevops(b *testing.B, writers int, refs bool) {
	db, err := store.Open(store.Options{Dir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	hosts := writers // one agent connection per host
	// Recent timestamps: Badger's TTL runs on the real clock.
	fleet := dataset.NewFleet(hosts, time.Now().Add(-72*time.Hour), 10*time.Second, 20*time.Millisecond, 1)
	per := dataset.SeriesPerHost()
	steps := b.N/hosts + 1
	// Batches are made ahead so the benchmark times the store only.
	work := make([][][]store.Sample, steps)
	var refOf [][]store.SeriesRef // host, field
	for s := range work {
		for h, bt := range fleet.Next() {
			batch := append([]store.Sample(nil), bt...)
			if refs {
				if s == 0 {
					refOf = append(refOf, make([]store.SeriesRef, len(bt)))
					for i := range bt {
						ref, err := db.Ref(bt[i].Metric, bt[i].Labels)
						if err != nil {
							b.Fatal(err)
						}
						refOf[h][i] = ref
					}
				}
				for i := range batch {
					batch[i].Ref = refOf[h][i]
				}
			}
			work[s] = append(work[s], batch)
		}
	}
	b.ResetTimer()
	cpu := cpuNow()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range steps {
				for h := w; h < hosts; h += writers {
					if err := db.Append(context.Background(), work[s][h]); err != nil {
						b.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(steps*hosts*per)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(cpuNow()-cpu)/float64(steps*hosts*per), "cpu-ns/sample")
}

// cpuNow is the process's CPU time so far: the machine is shared, so the
// CPU cost per sample says more than the wall time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
