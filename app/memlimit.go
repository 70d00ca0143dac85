package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"esmon/core/store"
)

// The core's soft memory limit. Without one the Go heap grows to twice the
// live heap before a collection and the runtime hands freed pages back
// lazily: a store with 100,000 series (about 160 MB live) peaks near
// 600 MB. A fixed limit would hold that, but a larger fleet whose live
// heap passes it would make the collector run without pause. So the limit
// follows the live heap: never under store.RecommendedMemoryLimit, and
// above that the live heap, the growth growthFor allows it between
// collections, and what the runtime holds besides heap objects (goroutine
// stacks, the free room inside the heap's spans, the collector's own
// tables); under the limit the runtime also returns what it freed. The
// limit counts all of the runtime's memory: without the overhead, the
// stacks of 10,000 agent connections and the spans' free room (together
// about a third of the live heap) took the whole headroom, and the
// collector ran back to back (heap goal at the live heap, 22 % of the
// core's CPU). The live heap is read every second: while thousands of
// agents connect it grows by hundreds of MB in seconds, and a limit left
// behind it makes the collector run back to back (it had half of the
// core's CPU during a 10,000-agent connect with the limit read every 5 s).
const memoryEvery = time.Second

// memoryGrowthCap bounds the growth growthFor allows a live heap of more
// than twice its size. Half the live heap (GOGC=50) costs a small heap
// little, but at 10,000 agents (a live heap of ~1.06 GB) it was 530 MB
// of a 1.93 GB RSS, for a collection every ~35 s that took ~0.6 s of CPU
// (2 % of a core); a growth of a quarter (265 MB there) collects about
// twice as often for ~2 % more of a core and takes the RSS down by that
// much.
const memoryGrowthCap = 256 << 20

// growthFor is how much the heap may grow past a live heap of live bytes
// before the next collection: half of it up to memoryGrowthCap, and never
// less than a quarter.
func growthFor(live uint64) uint64 {
	return max(live/4, min(live/2, memoryGrowthCap))
}

// limitFor is the soft memory limit for a live heap of live bytes when
// the runtime holds overhead bytes besides heap objects.
func limitFor(live, overhead uint64) int64 {
	return max(int64(store.RecommendedMemoryLimit), int64(live+growthFor(live)+overhead))
}

// startGCPercent is the collector's GOGC while the core starts, before
// governMemory follows the live heap: loading a large store (the index,
// the log's replay after a crash) takes the live heap from nothing to
// over a GB in seconds, which a limit read each second lags behind, and
// under the default GOGC of 100 the heap grew to twice the live heap (a
// restart at 10,000 agents peaked at 2.03 GB). A quarter collects more
// often, in proportion to the heap, never back to back.
const startGCPercent = 25

// startMemory sets the collector for the core's start (startGCPercent)
// unless the operator chose GOGC or GOMEMLIMIT; governMemory takes over.
func startMemory() {
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(startGCPercent)
	}
}

// runtimeMemory names the runtime metrics governMemory reads: the live
// heap and the runtime's memory by class (liveAndOverhead), and the count
// of collections.
var runtimeMemory = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
	"/gc/cycles/total:gc-cycles",
}

// memoryReading is what governMemory reads of the runtime.
type memoryReading struct {
	live     uint64 // live heap at the end of the last collection
	overhead uint64 // runtime memory besides heap objects and free pages
	cycles   uint64 // collections so far
}

// readMemory reads the live heap, the runtime's memory besides heap
// objects and free pages (what the soft limit counts and the heap cannot
// use) and the collections so far.
func readMemory(sample []metrics.Sample) memoryReading {
	metrics.Read(sample)
	var v [6]uint64
	for i := range sample {
		if sample[i].Value.Kind() == metrics.KindUint64 {
			v[i] = sample[i].Value.Uint64()
		}
	}
	r := memoryReading{live: v[0], cycles: v[5]}
	total, released, free, objects := v[1], v[2], v[3], v[4]
	if used := released + free + objects; total > used {
		r.overhead = total - used
	}
	return r
}

// liveHeaps remembers the live heap of the last two collections. The
// limit follows the lower: a collection's live heap counts what was
// allocated while it marked, and in a burst of allocation (the hourly
// rollup's writes) one read 1,158 MB between two of 1,061: a limit raised
// by the 100 MB of floating garbage let the heap grow by 120 MB more
// before the next collection, which then found 1,061 again. A live heap
// that did grow is followed one collection later.
type liveHeaps struct {
	cycles     uint64
	last, prev uint64
}

// observe records reading r and returns the live heap the limit follows.
func (h *liveHeaps) observe(r memoryReading) uint64 {
	if r.cycles != h.cycles {
		h.cycles, h.prev, h.last = r.cycles, h.last, r.live
		if h.prev == 0 {
			h.prev = r.live
		}
	}
	return min(h.prev, h.last)
}

// governMemory sets the soft memory limit now, puts the collector's GOGC
// back to its default (see startMemory) and follows the live heap until
// the returned stop is called: after the core has stopped, so that its
// shutdown is held too. A GOGC or GOMEMLIMIT in the environment is the
// operator's choice and is left alone.
func governMemory(log *slog.Logger) (stop func()) {
	if os.Getenv("GOMEMLIMIT") != "" || os.Getenv("GOGC") != "" {
		log.Info("memory limit from the environment", "GOMEMLIMIT", os.Getenv("GOMEMLIMIT"), "GOGC", os.Getenv("GOGC"))
		return func() {}
	}
	sample := make([]metrics.Sample, len(runtimeMemory))
	for i, name := range runtimeMemory {
		sample[i].Name = name
	}
	var heaps liveHeaps
	set := func() int64 {
		r := readMemory(sample)
		limit := limitFor(heaps.observe(r), r.overhead)
		debug.SetMemoryLimit(limit)
		return limit
	}
	limit := set()
	debug.SetGCPercent(100)
	log.Debug("memory limit", "limit_bytes", limit)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(memoryEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				set()
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}
