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
// above that a headroom times the live heap plus what the runtime holds
// besides heap objects (goroutine stacks, the free room inside the heap's
// spans, the collector's own tables). The limit counts all of the
// runtime's memory: without the overhead, the stacks of 10,000 agent
// connections and the spans' free room (together about a third of the
// live heap) took the whole headroom, and the collector ran back to back
// (heap goal at the live heap, 22 % of the core's CPU). The live heap is
// read every second: while thousands of agents connect it grows by
// hundreds of MB in seconds, and a limit left behind it makes the
// collector run back to back (it had half of the core's CPU during a
// 10,000-agent connect with the limit read every 5 s).
//
// The headroom trades the collector's CPU for memory. It starts at
// memoryHeadroomMax, 1.5 (the heap grows by half between collections, as
// with GOGC=50), where a fleet's connect runs at full speed; while the
// collector takes under gcShareLow of the process's CPU it narrows to
// memoryHeadroomMin, 1.2, in a minute, and it widens by a tenth in two
// seconds when the collector takes more than gcShareHigh. At 10,000
// agents the collector took ~1 % of the CPU at 1.5 (a collection every
// ~15 s over a live heap of ~1 GB) while the headroom held 0.5 GB the
// heap did not need, the core's RSS over 2 GB; at 1.2 it holds 0.2 GB
// (BENCHMARKS.md, "Scale", twenty-first round).
const (
	memoryHeadroomMin = 1.2
	memoryHeadroomMax = 1.5
	memoryEvery       = time.Second
	gcShareLow        = 0.05
	gcShareHigh       = 0.10
	gcShareWindow     = 10 // readings (seconds) the collector's share is taken over
)

// limitFor is the soft memory limit for a live heap of live bytes when
// the runtime holds overhead bytes besides heap objects, with headroom.
func limitFor(live, overhead uint64, headroom float64) int64 {
	return max(int64(store.RecommendedMemoryLimit), int64(float64(live)*headroom)+int64(overhead))
}

// nextHeadroom is the headroom after one reading in which the collector
// took gcShare of the CPU the process used: a step towards
// memoryHeadroomMin while the collector is cheap, a larger one towards
// memoryHeadroomMax when it is not (a connect must not wait on it).
func nextHeadroom(h, gcShare float64) float64 {
	switch {
	case gcShare > gcShareHigh:
		h += 0.05
	case gcShare < gcShareLow:
		h -= 0.005
	}
	return min(max(h, memoryHeadroomMin), memoryHeadroomMax)
}

// runtimeMemory names the runtime metrics governMemory reads.
var runtimeMemory = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
}

// runtimeCPU names the runtime metrics the collector's share of the CPU
// is read from: its time and the part of it on otherwise idle processors,
// all the process's time and the idle part of it. The runtime updates
// them at each collection.
var runtimeCPU = []string{
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/gc/mark/idle:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/cpu/classes/idle:cpu-seconds",
}

// gcShare follows the collector's share of the CPU the process used over
// the last gcShareWindow readings.
type gcShare struct {
	sample   []metrics.Sample
	gc, busy [gcShareWindow + 1]float64 // cumulative, one per reading, a ring
	n        int
}

func newGCShare() *gcShare {
	g := &gcShare{sample: make([]metrics.Sample, len(runtimeCPU))}
	for i, name := range runtimeCPU {
		g.sample[i].Name = name
	}
	return g
}

// read takes a reading and returns the collector's share since the oldest
// one kept: of the CPU the process used, what the collector took from the
// program (its marking on idle processors took nothing).
func (g *gcShare) read() float64 {
	metrics.Read(g.sample)
	var v [4]float64
	for i := range g.sample {
		if g.sample[i].Value.Kind() == metrics.KindFloat64 {
			v[i] = g.sample[i].Value.Float64()
		}
	}
	gc, gcIdle, total, idle := v[0], v[1], v[2], v[3]
	i := g.n % len(g.gc)
	g.gc[i], g.busy[i] = gc-gcIdle, total-idle-gcIdle
	g.n++
	oldest := 0
	if g.n > len(g.gc) {
		oldest = g.n % len(g.gc)
	}
	if busy := g.busy[i] - g.busy[oldest]; busy > 0 {
		return (g.gc[i] - g.gc[oldest]) / busy
	}
	return 0
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
	share, headroom := newGCShare(), memoryHeadroomMax
	set := func() int64 {
		headroom = nextHeadroom(headroom, share.read())
		live, overhead := liveAndOverhead(sample)
		limit := limitFor(live, overhead, headroom)
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
