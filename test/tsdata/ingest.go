package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"esmon/core/store"
	"esmon/core/store/dataset"
)

// ingest appends a dataset to a fresh store, makes its rollups, closes and
// compacts it, and prints the throughput and the bytes per sample of the
// whole data directory.
func ingest(args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ExitOnError)
	kind := fs.String("dataset", "devops", "devops or recorded")
	in := fs.String("in", "recorded.gob", "recorded dataset (from tsdata record)")
	dir := fs.String("dir", "", "data directory to create (must not exist)")
	hosts := fs.Int("hosts", 100, "devops: hosts")
	hours := fs.Float64("hours", 24, "devops: hours of data")
	memprofile := fs.String("memprofile", "", "write a heap profile after ingesting")
	refs := fs.Bool("refs", true, "devops: append by series ref (looked up once per host, as the hub does per connection)")
	fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	if _, err := os.Stat(*dir); err == nil {
		return fmt.Errorf("%s exists", *dir)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(store.Options{Dir: *dir, Logger: log})
	if err != nil {
		return err
	}
	start := time.Now()
	var n int64
	switch *kind {
	case "devops":
		n, err = ingestDevops(db, *hosts, *hours, *refs)
	case "recorded":
		n, err = ingestRecorded(db, *in)
	default:
		err = fmt.Errorf("unknown dataset %q", *kind)
	}
	if err != nil {
		db.Close()
		return err
	}
	took := time.Since(start)
	fmt.Printf("ingested %d samples in %v: %.0f samples/s (write-ahead log on, fsync per group commit)\n", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("peak RSS %s MiB, Go heap in use %d MiB\n", vmHWM(), ms.HeapInuse>>20)
	if *memprofile != "" {
		f, err := os.Create(*memprofile)
		if err != nil {
			return err
		}
		runtime.GC()
		pprof.WriteHeapProfile(f)
		f.Close()
	}

	rstart := time.Now()
	for i := 0; i < 200; i++ {
		if err := db.Rollup(context.Background()); err != nil {
			return err
		}
	}
	fmt.Printf("rollups made in %v\n", time.Since(rstart).Round(time.Millisecond))
	if err := db.Close(); err != nil {
		return err
	}
	if db, err = store.Open(store.Options{Dir: *dir, Logger: log}); err != nil {
		return err
	}
	if err := db.Compact(); err != nil {
		return err
	}
	tiers := db.BytesByTier()
	if err := db.Close(); err != nil {
		return err
	}
	total := dirSize(*dir)
	fmt.Printf("on disk after compaction: %d bytes = %.3f bytes/sample (whole data directory)\n", total, float64(total)/float64(n))
	fmt.Printf("by tier (Badger tables by first key): %v\n", tiers)
	return nil
}

func ingestDevops(db *store.DB, hosts int, hours float64, byRef bool) (int64, error) {
	steps := int(hours * 360)
	// The day before yesterday: recent enough for Badger's TTL, which
	// runs on the real clock, and old enough to be rolled up.
	day := time.Now().Add(-48 * time.Hour).Truncate(24 * time.Hour)
	fleet := dataset.NewFleet(hosts, day, 10*time.Second, 20*time.Millisecond, 42)
	per := dataset.SeriesPerHost()
	work := make([]chan []store.Sample, hosts)
	errs := make(chan error, hosts)
	var wg sync.WaitGroup
	var step sync.WaitGroup
	for h := range work {
		work[h] = make(chan []store.Sample, 1)
		wg.Add(1)
		go func() { // one writer per host, like one agent connection
			defer wg.Done()
			var refs []store.SeriesRef // the host's series, in batch order
			for b := range work[h] {
				if byRef && refs == nil {
					for _, s := range b {
						ref, err := db.Ref(s.Metric, s.Labels)
						if err != nil { // reported; the batches go by name
							select {
							case errs <- err:
							default:
							}
							byRef, refs = false, nil
							break
						}
						refs = append(refs, ref)
					}
				}
				for i := range refs {
					b[i].Ref = refs[i]
				}
				if err := db.Append(context.Background(), b); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
				step.Done()
			}
		}()
	}
	bufs := [2][][]store.Sample{}
	for s := range steps {
		// Double-buffered: the next step is made while this one is written.
		cur := &bufs[s%2]
		*cur = (*cur)[:0]
		for _, b := range fleet.Next() {
			*cur = append(*cur, append([]store.Sample(nil), b...))
		}
		step.Wait()
		step.Add(hosts)
		for h, b := range *cur {
			work[h] <- b
		}
	}
	step.Wait()
	for _, c := range work {
		close(c)
	}
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return int64(steps * hosts * per), nil
}

func ingestRecorded(db *store.DB, path string) (int64, error) {
	snaps, err := readRecorded(path)
	if err != nil {
		return 0, err
	}
	var n int64
	var batch []store.Sample
	for i, s := range snaps {
		batch = append(batch, s.Samples...)
		n += int64(len(s.Samples))
		if i%60 == 59 || i == len(snaps)-1 {
			if err := db.Append(context.Background(), batch); err != nil {
				return 0, err
			}
			batch = batch[:0]
		}
	}
	fmt.Printf("recorded dataset: %d snapshots of %d samples each, %v\n", len(snaps), len(snaps[0].Samples),
		time.Duration(snaps[len(snaps)-1].T-snaps[0].T)*time.Millisecond)
	return n, nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// vmHWM is the process's peak resident set in MiB, from /proc.
func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			var kb int64
			fmt.Sscan(f[1], &kb)
			return fmt.Sprint(kb >> 10)
		}
	}
	return "?"
}
