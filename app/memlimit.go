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
// above that the live heap, a runway for what is allocated until the next
// collection, and what the runtime holds besides heap objects (goroutine
// stacks, the free room inside the heap's spans, the collector's own
// tables). The limit counts all of the runtime's memory: without the
// overhead, the stacks of 10,000 agent connections and the spans' free
// room (together about a third of the live heap) took the whole runway,
// and the collector ran back to back (heap goal at the live heap, 22 % of
// the core's CPU). The live heap is read every second: while thousands of
// agents connect it grows by hundreds of MB in seconds, and a limit left
// behind it makes the collector run back to back (it had half of the
// core's CPU during a 10,000-agent connect with the limit read every 5 s).
//
// The runway is memoryRunway of allocation at the rate of the last
// seconds (the higher of the last 5 s and the last 30 s, so that a burst
// widens it at once), at least memoryMinRunway and at most half the live
// heap (GOGC=50). Half the live heap alone was too much once the store's
// open chunks are the most of it: at 10,000 agents the live heap grows
// with them to over a GB in the first hour while the core allocates some
// 10 MB a second, and a runway of half of it (500-600 MB, a collection a
// minute) took the core's RSS past 2 GB at steady state; 20 s of
// allocation is some 200 MB there, a collection every 20 s.
const (
	memoryHeadroom  = 1.5
	memoryRunway    = 20 * time.Second
	memoryMinRunway = 64 << 20
	memoryEvery     = time.Second
)

// limitFor is the soft memory limit for a live heap of live bytes when
// the runtime holds overhead bytes besides heap objects and the core
// allocates rate bytes a second.
func limitFor(live, overhead uint64, rate float64) int64 {
	runway := min(int64(float64(live)*(memoryHeadroom-1)), max(memoryMinRunway, int64(rate*memoryRunway.Seconds())))
	return max(int64(store.RecommendedMemoryLimit), int64(live)+runway+int64(overhead))
}

// allocRate follows the heap's cumulative allocation, read every
// memoryEvery, and gives its rate over the last seconds.
type allocRate struct {
	at    [31]time.Time
	bytes [31]uint64
	n     int // readings so far
}

// add records a reading of the cumulative allocation.
func (r *allocRate) add(at time.Time, bytes uint64) {
	i := r.n % len(r.at)
	r.at[i], r.bytes[i] = at, bytes
	r.n++
}

// rate is the higher of the allocation rates over the last 5 and the
// last 30 readings, in bytes a second; 0 before two readings.
func (r *allocRate) rate() float64 {
	over := func(k int) float64 {
		k = min(k, r.n-1)
		if k <= 0 {
			return 0
		}
		last, first := (r.n-1)%len(r.at), (r.n-1-k)%len(r.at)
		d := r.at[last].Sub(r.at[first]).Seconds()
		if d <= 0 || r.bytes[last] < r.bytes[first] {
			return 0
		}
		return float64(r.bytes[last]-r.bytes[first]) / d
	}
	return max(over(5), over(len(r.at)-1))
}

// runtimeMemory names the runtime metrics governMemory reads.
var runtimeMemory = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/allocs:bytes",
}

// readMemory reads the live heap, the runtime's memory besides heap
// objects and free pages (what the soft limit counts and the heap cannot
// use) and the bytes allocated on the heap since the process started.
func readMemory(sample []metrics.Sample) (live, overhead, allocated uint64) {
	metrics.Read(sample)
	var v [6]uint64
	for i := range sample {
		if sample[i].Value.Kind() == metrics.KindUint64 {
			v[i] = sample[i].Value.Uint64()
		}
	}
	live, total, released, free, objects := v[0], v[1], v[2], v[3], v[4]
	if used := released + free + objects; total > used {
		overhead = total - used
	}
	return live, overhead, v[5]
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
	var allocs allocRate
	set := func() int64 {
		live, overhead, allocated := readMemory(sample)
		allocs.add(time.Now(), allocated)
		limit := limitFor(live, overhead, allocs.rate())
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
