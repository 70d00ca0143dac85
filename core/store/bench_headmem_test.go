package store

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkHeadMemory measures the live heap the head keeps per active
// series: a real store on disk with the write-ahead log on (as the core
// opens it), a fleet of hosts of about 60 series each in the shape the
// agent sends (cpu, load, memory, swap, disks by mount and by device,
// network by interface, the top processes, the agent's own counters),
// looked up once by Ref as the hub does and appended at a 5 s interval
// for a whole chunk piece (360 samples a series). The series' names are
// fresh strings per series, as the wire decoder hands them over.
//
// It reports, after a full collection, the live heap per series, the
// scannable (pointer-holding) part of it (the part the collector marks;
// the runtime's figure, which counts objects allocated since the last
// collection too: Badger's index writes make the first one high) and the
// heap objects per series:
// once the series exist (before any sample), at half a piece and at the
// full piece (every open chunk holds 360 samples at 5 s, the most a
// head holds: see chunkPiece). At the full piece it also reports the CPU a full
// collection spends marking, per series (markns, the mean of five, over
// the empty store's). The heap of the opened, empty store is subtracted; Badger's
// memtables are in it and move by a few MB, so use enough hosts
// (ESMON_HEADMEM_HOSTS, default 1000 = 60,000 series).
// ESMON_HEADMEM_INTERVAL (default 5s) is the sampling interval: at 10s a
// full piece is 180 samples. ESMON_HEADMEM_PROFILE=file writes a heap
// profile at the full piece.
// Run it with
//
//	nice -n 5 go test -run XXX -bench HeadMemory -benchtime 1x ./core/store/
func BenchmarkHeadMemory(b *testing.B) {
	hosts := 1000
	if s := os.Getenv("ESMON_HEADMEM_HOSTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("ESMON_HEADMEM_HOSTS=%q: want a positive number", s)
		}
		hosts = n
	}
	for range b.N {
		benchHeadMemory(b, hosts)
	}
}

// fleetSeries is one series of the test fleet and how its value moves.
type fleetSeries struct {
	metric string
	labels Labels
	kind   int // see the kinds below
	v      float64
	step   float64
}

const (
	walk2    = iota // a percentage with 2 decimals, random walk in 0..100
	intWalk         // an integer gauge moving by up to step
	pageWalk        // bytes in whole 4 KiB pages (memory, disk blocks) moving by up to step
	counter         // an integer rising by about step a sample
	konst           // never changes
)

// hostFleetSeries are the ~60 series of one host, with fresh strings.
func hostFleetSeries(host string, rng *rand.Rand) []fleetSeries {
	var out []fleetSeries
	add := func(metric string, kind int, v, step float64, kv ...string) {
		ls := Labels{{Name: strings.Clone("host"), Value: strings.Clone(host)}}
		for i := 0; i+1 < len(kv); i += 2 {
			ls = append(ls, Label{Name: strings.Clone(kv[i]), Value: strings.Clone(kv[i+1])})
		}
		ls.Sort()
		if kind == walk2 {
			v = math.Round(v*100) / 100
		}
		out = append(out, fleetSeries{metric: strings.Clone(metric), labels: ls, kind: kind, v: v, step: step})
	}
	pct := func() float64 { return 5 + 90*rng.Float64() }
	add("cpu_usage_percent", walk2, pct(), 2)
	for c := range 4 {
		add("cpu_core_usage_percent", walk2, pct(), 3, "core", strconv.Itoa(c))
	}
	for _, m := range []string{"load_average_1m", "load_average_5m", "load_average_15m"} {
		add(m, walk2, 4*rng.Float64(), 0.1)
	}
	add("memory_total_bytes", konst, 16<<30, 0)
	add("memory_used_bytes", pageWalk, 6<<30, 4<<20)
	add("memory_available_bytes", pageWalk, 10<<30, 4<<20)
	add("memory_used_percent", walk2, pct(), 0.5)
	add("swap_total_bytes", konst, 2<<30, 0)
	add("swap_used_bytes", pageWalk, 100<<20, 1<<12)
	add("swap_used_percent", walk2, 5, 0.05)
	for _, m := range []string{"/", "/var"} {
		add("disk_total_bytes", konst, 100<<30, 0, "mount", m)
		add("disk_used_bytes", pageWalk, 40<<30, 1<<20, "mount", m)
		add("disk_free_bytes", pageWalk, 60<<30, 1<<20, "mount", m)
		add("disk_used_percent", walk2, pct(), 0.02, "mount", m)
	}
	for _, d := range []string{"sda", "sdb"} {
		add("disk_read_bytes_total", counter, 1e9*rng.Float64(), 200_000, "device", d)
		add("disk_written_bytes_total", counter, 1e9*rng.Float64(), 500_000, "device", d)
		add("disk_reads_total", counter, 1e6*rng.Float64(), 50, "device", d)
		add("disk_writes_total", counter, 1e6*rng.Float64(), 120, "device", d)
		add("disk_io_time_seconds_total", walk2, 1000*rng.Float64(), 0, "device", d) // rising, 2 decimals
	}
	for _, i := range []string{"eth0", "lo"} {
		add("network_received_bytes_total", counter, 1e10*rng.Float64(), 300_000, "interface", i)
		add("network_sent_bytes_total", counter, 1e10*rng.Float64(), 200_000, "interface", i)
		add("network_received_packets_total", counter, 1e7*rng.Float64(), 400, "interface", i)
		add("network_sent_packets_total", counter, 1e7*rng.Float64(), 300, "interface", i)
		add("network_receive_errors_total", counter, 3, 0.01, "interface", i)
		add("network_transmit_errors_total", counter, 0, 0.01, "interface", i)
	}
	add("uptime_seconds", counter, 1e6*rng.Float64(), 5)
	add("process_count", intWalk, 250, 2)
	for p, name := range []string{"java", "postgres", "nginx", "esmon-agent", "sshd"} {
		pid := strconv.Itoa(1000 + p*37 + rng.IntN(30000))
		add("process_cpu_usage_percent", walk2, 10*rng.Float64(), 1, "process", name, "pid", pid)
		add("process_resident_memory_bytes", pageWalk, 500<<20, 1<<16, "process", name, "pid", pid)
	}
	add("esmon_agent_snapshots_total", counter, 1000, 1)
	add("esmon_agent_spool_pending_snapshots", konst, 0, 0)
	add("esmon_agent_spool_bytes", konst, 0, 0)
	return out
}

// next moves the series' value one sample on.
func (s *fleetSeries) next(rng *rand.Rand) float64 {
	switch s.kind {
	case walk2:
		if s.step == 0 { // a rising seconds counter with 2 decimals
			s.v = math.Round((s.v+rng.Float64()*0.05)*100) / 100
			break
		}
		s.v = math.Round(min(100, max(0, s.v+(rng.Float64()*2-1)*s.step))*100) / 100
	case intWalk:
		s.v = max(0, s.v+math.Round((rng.Float64()*2-1)*s.step))
	case pageWalk:
		s.v = max(0, s.v+4096*math.Round((rng.Float64()*2-1)*s.step/4096))
	case counter:
		s.v += math.Round(s.step * (0.5 + rng.Float64()))
	}
	return s.v
}

type heapFigures struct{ live, scan, objects uint64 }

// liveHeap collects twice and returns the live heap and its scannable part.
func liveHeap() heapFigures {
	runtime.GC()
	runtime.GC()
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/heap:bytes"}, {Name: "/gc/heap/objects:objects"}}
	rtmetrics.Read(s)
	return heapFigures{s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()}
}

// markSeconds is the CPU time one full collection spends marking, the
// mean of five (runtime/metrics' mark figures: assists, dedicated and
// idle workers).
func markSeconds() float64 {
	s := []rtmetrics.Sample{{Name: "/cpu/classes/gc/mark/assist:cpu-seconds"}, {Name: "/cpu/classes/gc/mark/dedicated:cpu-seconds"}, {Name: "/cpu/classes/gc/mark/idle:cpu-seconds"}}
	sum := func() float64 {
		rtmetrics.Read(s)
		return s[0].Value.Float64() + s[1].Value.Float64() + s[2].Value.Float64()
	}
	runtime.GC()
	before := sum()
	for range 5 {
		runtime.GC()
	}
	return (sum() - before) / 5
}

func benchHeadMemory(b *testing.B, hosts int) {
	b.StopTimer()
	db, err := Open(Options{Dir: b.TempDir(), Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	interval := int64(5000)
	if s := os.Getenv("ESMON_HEADMEM_INTERVAL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second || chunkPiece%d.Milliseconds() != 0 {
			b.Fatalf("ESMON_HEADMEM_INTERVAL=%q: want a duration of at least 1s that divides half an hour", s)
		}
		interval = d.Milliseconds()
	}
	samples := int(chunkPiece / interval)
	// Each host starts at the start of its own chunk piece (pieces are
	// staggered by host), recent because Badger's TTL runs on the clock.
	now := time.Now().UnixMilli() - 3*hourMS
	type host struct {
		start int64
		refs  []SeriesRef
		gen   []fleetSeries
		rng   *rand.Rand
		batch []Sample
	}
	fleet := make([]host, hosts)
	for h := range fleet {
		name := fmt.Sprintf("host-%05d.example.internal", h)
		ms := memSeries{}
		ms.off = int32(windowOffset(name))
		fleet[h].start = ms.pieceOf(now) + chunkPiece
		fleet[h].rng = rand.New(rand.NewPCG(uint64(h), 1))
		fleet[h].refs = make([]SeriesRef, 0, 64)
		fleet[h].batch = make([]Sample, 0, 64)
	}
	base, baseMark := liveHeap(), markSeconds()
	series := 0
	for h := range fleet {
		f := &fleet[h]
		gen := hostFleetSeries(fmt.Sprintf("host-%05d.example.internal", h), f.rng)
		for i := range gen {
			ref, err := db.Ref(gen[i].metric, gen[i].labels)
			if err != nil {
				b.Fatal(err)
			}
			f.refs = append(f.refs, ref)
		}
		// The generator keeps only the values: the names were the
		// caller's, and the store keeps what it needs of them.
		for i := range gen {
			gen[i].metric, gen[i].labels = "", nil
		}
		f.gen = gen
		series += len(gen)
	}
	// The series reach Badger's index with the next flush.
	if err := db.flush(); err != nil {
		b.Fatal(err)
	}
	report := func(what string, at heapFigures) {
		b.ReportMetric(float64(int64(at.live)-int64(base.live))/float64(series), "B/series-"+what)
		b.ReportMetric(float64(int64(at.scan)-int64(base.scan))/float64(series), "scanB/series-"+what)
		b.ReportMetric(float64(int64(at.objects)-int64(base.objects))/float64(series), "objects/series-"+what)
	}
	report("ids", liveHeap())

	// Writers append one host's snapshot per call, as the hub does.
	writers := min(hosts, 128)
	step := func(i int) {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for h := w; h < hosts; h += writers {
					f := &fleet[h]
					t := f.start + int64(i)*interval + f.rng.Int64N(30) // one jittered stamp a snapshot
					f.batch = f.batch[:0]
					for j := range f.gen {
						f.batch = append(f.batch, Sample{Ref: f.refs[j], T: t, V: f.gen[j].next(f.rng)})
					}
					if err := db.Append(context.Background(), f.batch); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	b.StartTimer()
	for i := range samples {
		step(i)
		if i+1 == samples/2 {
			b.StopTimer()
			report("half", liveHeap())
			b.StartTimer()
		}
	}
	b.StopTimer()
	full := liveHeap()
	report("full", full)
	b.ReportMetric((markSeconds()-baseMark)*1e9/float64(series), "markns/series-full")
	if path := os.Getenv("ESMON_HEADMEM_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.ReportMetric(float64(series*samples)/b.Elapsed().Seconds(), "samples/s")
	db.hmu.Lock()
	n := 0
	for ms := range db.byID.all() {
		if ms.head.Len() == samples {
			n++
		}
	}
	db.hmu.Unlock()
	if n != series {
		b.Fatalf("%d of %d series have a full open chunk of %d samples", n, series, samples)
	}
	b.Logf("%d hosts, %d series, %d samples each; live heap %.1f MB (%.1f MB scannable) over the empty store's %.1f MB",
		hosts, series, samples, float64(full.live-base.live)/1e6, float64(full.scan-base.scan)/1e6, float64(base.live)/1e6)
}
