package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"esmon/agentsvc/collect"
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
	speed := fs.Float64("speed", 0, "devops: pace the batches at this multiple of the real 10 s interval (1 = the real rate); 0 = as fast as the store takes them")
	asSent := fs.Bool("as-sent", true, "recorded: pass every value through collect.Precision, as the agent sends it now (recordings made before it rounded)")
	procEvery := fs.Duration("process-every", 0, "recorded: keep the process_* samples of one snapshot per this interval, as an agent with its background process scan sends them (recordings made with the scan inline in every snapshot); 0 keeps all")
	stampEvery := fs.Duration("stamp-every", 0, "recorded, what-if: move each snapshot's time to the nearest multiple of this interval (an agent stamping its schedule's ticks instead of the clock at each collection); 0 keeps the recorded times")
	compact := fs.Bool("compact", true, "make rollups, reopen and compact, and print the bytes on disk; false stops after the ingest (memory runs)")
	verify := fs.Bool("verify", false, "devops: after compacting, read every series back and check that every sample is there bit for bit")
	fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	if _, err := os.Stat(*dir); err == nil {
		return fmt.Errorf("%s exists", *dir)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	db, err := store.Open(store.Options{Dir: *dir, Logger: log, Registerer: reg})
	if err != nil {
		return err
	}
	rss := startRSSSampler()
	start := time.Now()
	var n int64
	// The day before yesterday: recent enough for Badger's TTL, which
	// runs on the real clock, and old enough to be rolled up.
	day := time.Now().Add(-48 * time.Hour).Truncate(24 * time.Hour)
	switch *kind {
	case "devops":
		n, err = ingestDevops(db, day, *hosts, *hours, *refs, *speed, rss)
	case "recorded":
		n, err = ingestRecorded(db, *in, *asSent, *procEvery, *stampEvery)
	default:
		err = fmt.Errorf("unknown dataset %q", *kind)
	}
	if err != nil {
		db.Close()
		return err
	}
	took := time.Since(start)
	fmt.Printf("ingested %d samples in %v: %.0f samples/s (write-ahead log on, fsync per group commit)\n", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	rss.stop()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("peak RSS %s MiB, Go heap in use %d MiB\n", vmHWM(), ms.HeapInuse>>20)
	if *kind == "devops" {
		fmt.Printf("RSS sampled every 250 ms: peak %d MiB over the whole ingest, %d MiB after the first hour of data (every series past its first chunk window: the steady state)\n",
			rss.peak.Load()>>20, rss.steadyPeak.Load()>>20)
	}
	if *memprofile != "" {
		f, err := os.Create(*memprofile)
		if err != nil {
			return err
		}
		runtime.GC()
		pprof.WriteHeapProfile(f)
		f.Close()
	}

	if !*compact {
		cstart := time.Now()
		if err := db.Close(); err != nil {
			return err
		}
		fmt.Printf("closed in %v (every open chunk finished and written); peak RSS including the close %s MiB\n", time.Since(cstart).Round(time.Millisecond), vmHWM())
		return nil
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
	fmt.Printf("quotient chunks written: %.0f\n", counter(reg, "esmon_store_quotient_chunks_total"))
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
	files, total, alloc := dirSize(*dir)
	fmt.Printf("on disk after compaction: %d bytes = %.3f bytes/sample (whole data directory, apparent size as du -b)\n", total, float64(total)/float64(n))
	fmt.Printf("allocated blocks: %d bytes = %.3f bytes/sample (as du -B1)\n", alloc, float64(alloc)/float64(n))
	if len(files) <= 40 {
		for _, f := range files {
			fmt.Printf("  %-40s %12d apparent %12d allocated\n", f.name, f.size, f.alloc)
		}
	}
	fmt.Printf("by tier (Badger tables by first key): %v\n", tiers)
	if *verify && *kind == "devops" {
		return verifyDevops(*dir, log, day, *hosts, *hours)
	}
	return nil
}

// counter is the value of the counter name in reg, 0 if absent.
func counter(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// verifyDevops reopens the store in dir and checks that every series of
// the devops fleet ingested from day holds every sample, bit for bit: it
// makes the fleet again, sums each series' samples (FNV-1a over time and
// value bits), and compares with the same sum over what a raw query of the
// series returns.
func verifyDevops(dir string, log *slog.Logger, day time.Time, hosts int, hours float64) error {
	start := time.Now()
	type key struct{ metric, host string }
	type sum struct {
		h     hash.Hash64
		n     int
		first int64
		last  int64
	}
	sums := map[key]*sum{}
	fleet := dataset.NewFleet(hosts, day, 10*time.Second, 20*time.Millisecond, devopsSeed)
	var buf [16]byte
	add := func(s *sum, t int64, v float64) {
		binary.LittleEndian.PutUint64(buf[:8], uint64(t))
		binary.LittleEndian.PutUint64(buf[8:], math.Float64bits(v))
		s.h.Write(buf[:])
		s.n++
		s.last = t
	}
	for range int(hours * 360) {
		for _, b := range fleet.Next() {
			for _, smp := range b {
				k := key{smp.Metric, smp.Labels.Get("host")}
				s := sums[k]
				if s == nil {
					s = &sum{h: fnv.New64a(), first: smp.T}
					sums[k] = s
				}
				add(s, smp.T, smp.V)
			}
		}
	}
	db, err := store.Open(store.Options{Dir: dir, Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	samples := 0
	for k, want := range sums {
		sel, err := db.Select(context.Background(), store.Query{Metric: k.metric, Match: map[string]string{"host": k.host}, From: want.first, To: want.last})
		if err != nil {
			return fmt.Errorf("verify %s of %s: %w", k.metric, k.host, err)
		}
		if len(sel.Series) != 1 {
			return fmt.Errorf("verify %s of %s: %d series", k.metric, k.host, len(sel.Series))
		}
		got := &sum{h: fnv.New64a()}
		for _, p := range sel.Series[0].Points {
			add(got, p.T, p.V)
		}
		if got.n != want.n || got.h.Sum64() != want.h.Sum64() {
			return fmt.Errorf("verify %s of %s: %d samples read back, %d written, or not the same bits", k.metric, k.host, got.n, want.n)
		}
		samples += got.n
	}
	fmt.Printf("verified: %d series, %d samples read back bit for bit in %v\n", len(sums), samples, time.Since(start).Round(time.Millisecond))
	return nil
}

// devopsSeed seeds the devops fleet of ingest and verify.
const devopsSeed = 42

func ingestDevops(db *store.DB, day time.Time, hosts int, hours float64, byRef bool, speed float64, rss *rssSampler) (int64, error) {
	steps := int(hours * 360)
	const interval = 10 * time.Second
	fleet := dataset.NewFleet(hosts, day, interval, 20*time.Millisecond, devopsSeed)
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
	paceStart := time.Now()
	for s := range steps {
		if s == 360 { // one hour of data in: every series has finished a chunk
			rss.steady.Store(true)
		}
		// Double-buffered: the next step is made while this one is written.
		cur := &bufs[s%2]
		*cur = (*cur)[:0]
		for _, b := range fleet.Next() {
			*cur = append(*cur, append([]store.Sample(nil), b...))
		}
		step.Wait()
		if speed > 0 { // the step's batches leave at their time, scaled
			time.Sleep(time.Until(paceStart.Add(time.Duration(float64(s) * float64(interval) / speed))))
		}
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

func ingestRecorded(db *store.DB, path string, asSent bool, procEvery, stampEvery time.Duration) (int64, error) {
	snaps, err := readRecorded(path)
	if err != nil {
		return 0, err
	}
	if len(snaps) == 0 {
		return 0, fmt.Errorf("%s holds no snapshot", path)
	}
	var n, rounded, thinned int64
	var batch []store.Sample
	var lastProc int64
	series := map[string]bool{}
	for i, s := range snaps {
		keepProc := procEvery <= 0 || i == 0 || s.T-lastProc >= procEvery.Milliseconds()
		if keepProc {
			lastProc = s.T
		}
		t := s.T
		if e := stampEvery.Milliseconds(); e > 0 {
			t = (t + e/2) / e * e
		}
		for _, smp := range s.Samples {
			smp.T = t
			if !keepProc && strings.HasPrefix(smp.Metric, "process_") {
				thinned++
				continue
			}
			if asSent {
				if v := collect.Precision(smp.Metric, smp.V); math.Float64bits(v) != math.Float64bits(smp.V) {
					smp.V = v
					rounded++
				}
			}
			series[store.SeriesKey(smp.Metric, smp.Labels)] = true
			batch = append(batch, smp)
		}
		if i%60 == 59 || i == len(snaps)-1 {
			if err := db.Append(context.Background(), batch); err != nil {
				return 0, err
			}
			n += int64(len(batch))
			batch = batch[:0]
		}
	}
	fmt.Printf("recorded dataset: %d snapshots over %v, %d series; %d samples ingested, %d values rounded by collect.Precision, %d process samples left out (-process-every %v); times moved to multiples of %v\n",
		len(snaps), time.Duration(snaps[len(snaps)-1].T-snaps[0].T)*time.Millisecond, len(series), n, rounded, thinned, procEvery, stampEvery)
	return n, nil
}

// fileSize is one file of a data directory: its apparent size (du -b)
// and the bytes of the blocks allocated to it (du -B1; less for a sparse
// file, more for a small one).
type fileSize struct {
	name        string
	size, alloc int64
}

func dirSize(dir string) (files []fileSize, size, alloc int64) {
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		f := fileSize{size: fi.Size()}
		f.name, _ = filepath.Rel(dir, path)
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			f.alloc = st.Blocks * 512
		}
		files = append(files, f)
		size += f.size
		alloc += f.alloc
		return nil
	})
	return files, size, alloc
}

// rssSampler reads the process's resident set every 250 ms and keeps the
// peak, and the peak since steady was set.
type rssSampler struct {
	peak, steadyPeak atomic.Int64
	steady           atomic.Bool
	done             chan struct{}
	wg               sync.WaitGroup
}

func startRSSSampler() *rssSampler {
	r := &rssSampler{done: make(chan struct{})}
	r.wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if b := vmRSS(); b > 0 {
				if b > r.peak.Load() {
					r.peak.Store(b)
				}
				if r.steady.Load() && b > r.steadyPeak.Load() {
					r.steadyPeak.Store(b)
				}
			}
			select {
			case <-r.done:
				return
			case <-t.C:
			}
		}
	})
	return r
}

func (r *rssSampler) stop() {
	close(r.done)
	r.wg.Wait()
}

// vmRSS is the process's resident set in bytes now, from /proc, or 0.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			var kb int64
			fmt.Sscan(f[1], &kb)
			return kb << 10
		}
	}
	return 0
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
