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
// memoryHeadroom times the live heap above that, which lets the heap grow
// by half between collections (GOGC=50) once the floor is passed, and
// makes the runtime return what it freed. The live heap is read every
// second: while thousands of agents connect it grows by hundreds of MB in
// seconds, and a limit left behind it makes the collector run back to back
// (it had half of the core's CPU during a 10,000-agent connect with the
// limit read every 5 s).
const (
	memoryHeadroom = 1.5
	memoryEvery    = time.Second
)

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
