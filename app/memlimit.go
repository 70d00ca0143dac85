package main

import (
	"log/slog"
	"os"
	"runtime"
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
// core's CPU). The live heap is read after each collection and every
// second: while thousands of agents connect it grows by hundreds of MB
// in seconds, and a limit left behind it makes the collector run back to
// back (it had half of the core's CPU during a 10,000-agent connect with
// the limit read every 5 s).
const memoryEvery = time.Second

// memoryGrowthCap bounds the growth growthFor allows a live heap of more
// than 512 MiB (twice the cap). Half the live heap (GOGC=50) costs a small heap
// little, but at 10,000 agents (a live heap of ~1.06 GB) it was 530 MB
// of a 1.93 GB RSS, for a collection every ~35 s that took ~0.6 s of CPU
// (2 % of a core). A growth of a quarter (265 MB there) collects about
// twice as often and takes the RSS down by about that much; the marks'
// assists cost the agents' acknowledgement p99 15-33 ms (BENCHMARKS.md,
// "Scale", twenty-ninth round: 1,308 against 1,432 MiB median RSS at
// ~0.85 GB live, ack p99 82.9-101.4 against 68.6 ms).
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
// restart at 10,000 agents peaked at 2.13 × 10⁹ B). A quarter collects more
// often, in proportion to the heap, never back to back.
const startGCPercent = 25

// startMemory sets the collector for the core's start (startGCPercent)
// unless the operator chose GOGC or GOMEMLIMIT; governMemory takes over.
func startMemory() {
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(startGCPercent)
	}
}

// runtimeMemory names the runtime metrics governMemory reads.
var runtimeMemory = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
}

// liveAndOverhead reads the live heap and the runtime's memory besides
// heap objects and free pages: what the soft limit counts and the heap
// cannot use.
func liveAndOverhead(sample []metrics.Sample) (live, overhead uint64) {
	metrics.Read(sample)
	var v [5]uint64
	for i := range sample {
		if sample[i].Value.Kind() == metrics.KindUint64 {
			v[i] = sample[i].Value.Uint64()
		}
	}
	live, total, released, free, objects := v[0], v[1], v[2], v[3], v[4]
	if used := released + free + objects; total > used {
		overhead = total - used
	}
	return live, overhead
}

// afterEachGC sends on ch (without waiting) after each collection until
// done is closed: a finalizer on an object nothing refers to runs after
// the collection that found it unreachable, and sets itself again.
func afterEachGC(ch chan<- struct{}, done <-chan struct{}) {
	var again func(*gcSentinel)
	again = func(s *gcSentinel) {
		select {
		case <-done:
			return
		default:
		}
		select {
		case ch <- struct{}{}:
		default:
		}
		runtime.SetFinalizer(s, again)
	}
	runtime.SetFinalizer(&gcSentinel{}, again)
}

// gcSentinel is afterEachGC's object: large enough to have an allocation
// of its own (the tiny allocator's may never be freed).
type gcSentinel struct{ _ [32]byte }

// governMemory sets the soft memory limit now, puts the collector's GOGC
// back to its default (see startMemory) and follows the live heap until
// the returned stop is called: after the core has stopped, so that its
// shutdown is held too. It reads the live heap after each collection and
// every second (the goroutine stacks change between collections). Read
// only every second, the limit lagged behind a burst of live heap (a
// Badger compaction's table builders, 150 MB in three seconds after the
// hourly rollup's writes): four collections ran back to back, and the
// agents' acknowledgements waited on their assists (a minute's p99 312
// ms against ~40). A GOGC or GOMEMLIMIT in the environment is the
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
	set := func() int64 {
		limit := limitFor(liveAndOverhead(sample))
		debug.SetMemoryLimit(limit)
		return limit
	}
	limit := set()
	debug.SetGCPercent(100)
	log.Debug("memory limit", "limit_bytes", limit)
	done, stopped := make(chan struct{}), make(chan struct{})
	gc := make(chan struct{}, 1)
	afterEachGC(gc, done)
	go func() {
		defer close(stopped)
		t := time.NewTicker(memoryEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-gc:
			case <-t.C:
			}
			set()
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}
