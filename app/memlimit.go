package main

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"

	"esmon/core/store"
)

// The core's soft memory limit. Without one the Go heap grows to twice the
// live heap before a collection and the runtime hands freed pages back
// lazily: a store with 100,000 series (about 160 MB live) peaks near
// 600 MB. A fixed limit would hold that, but a larger fleet whose live
// heap passes it would make the collector run without pause. So the limit
// follows the live heap: never under store.RecommendedMemoryLimit, and
// memoryHeadroom times the live heap above that, which lets the heap grow
// by half between collections (GOGC=50) once the floor is passed, and
// makes the runtime return what it freed.
//
// The limit is set again after every collection, from the live heap that
// collection found. Set on a timer instead (every 5 s, before), a heap
// growing fast (thousands of agents connecting, each with new series)
// outgrew its limit between two readings, and the collector then ran back
// to back, with half of the core's CPU, until the next one.
const memoryHeadroom = 1.5

// limitFor is the soft memory limit for a live heap of live bytes.
func limitFor(live uint64) int64 {
	return max(int64(store.RecommendedMemoryLimit), int64(float64(live)*memoryHeadroom))
}

// governMemory sets the soft memory limit now and follows the live heap
// until ctx ends. A GOMEMLIMIT in the environment is the operator's choice
// and is left alone.
func governMemory(ctx context.Context, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		log.Info("memory limit from GOMEMLIMIT", "limit", os.Getenv("GOMEMLIMIT"))
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := func() int64 {
		metrics.Read(sample)
		var live uint64
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = sample[0].Value.Uint64()
		}
		limit := limitFor(live)
		debug.SetMemoryLimit(limit)
		return limit
	}
	log.Debug("memory limit", "limit_bytes", set())
	afterEachGC(func() bool {
		if ctx.Err() != nil {
			return false
		}
		set()
		return true
	})
}

// gcSentinel is garbage as soon as it is made; its cleanup runs after the
// collection that found it so. It holds a pointer so that it is not a tiny
// allocation, whose cleanups may wait for neighbours.
type gcSentinel struct{ _ *int }

// afterEachGC calls f after every garbage collection until f returns
// false. f runs on the runtime's cleanup goroutine: it must be quick.
func afterEachGC(f func() bool) {
	runtime.AddCleanup(&gcSentinel{}, func(f func() bool) {
		if f() {
			afterEachGC(f)
		}
	}, f)
}
