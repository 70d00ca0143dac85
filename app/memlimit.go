package main

import (
	"context"
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
// above that memoryHeadroom times the live heap plus what the runtime
// holds besides heap objects (goroutine stacks, the free room inside the
// heap's spans, the collector's own tables), which lets the heap grow by
// half between collections (GOGC=50) and makes the runtime return what it
// freed. The limit counts all of the runtime's memory: without the
// overhead, the stacks of 10,000 agent connections and the spans' free
// room (together about a third of the live heap) took the whole headroom,
// and the collector ran back to back (heap goal at the live heap, 22 % of
// the core's CPU). The live heap is read every second: while thousands of
// agents connect it grows by hundreds of MB in seconds, and a limit left
// behind it makes the collector run back to back (it had half of the
// core's CPU during a 10,000-agent connect with the limit read every 5 s).
const (
	memoryHeadroom = 1.5
	memoryEvery    = time.Second
)

// limitFor is the soft memory limit for a live heap of live bytes when
// the runtime holds overhead bytes besides heap objects.
func limitFor(live, overhead uint64) int64 {
	return max(int64(store.RecommendedMemoryLimit), int64(float64(live)*memoryHeadroom)+int64(overhead))
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

// governMemory sets the soft memory limit now and follows the live heap
// until ctx ends. A GOMEMLIMIT in the environment is the operator's choice
// and is left alone.
func governMemory(ctx context.Context, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		log.Info("memory limit from GOMEMLIMIT", "limit", os.Getenv("GOMEMLIMIT"))
		return
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
	log.Debug("memory limit", "limit_bytes", set())
	go func() {
		t := time.NewTicker(memoryEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				set()
			}
		}
	}()
}
