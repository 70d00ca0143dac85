package main

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"esmon/core/store"
)

func TestLimitFollowsLiveHeap(t *testing.T) {
	floor := int64(store.RecommendedMemoryLimit)
	const mb = 1 << 20
	for _, c := range []struct {
		live, overhead uint64
		rate           float64 // bytes a second
		want           int64
	}{
		{0, 0, 0, floor},
		{160 * mb, 40 * mb, 10 * mb, floor},                   // 100,000 series: the floor holds it
		{uint64(floor) * 2 / 3, 0, 100 * mb, floor},           // where half the live heap meets it
		{1 << 30, 0, 100 * mb, 3 << 29},                       // a large fleet allocating fast: half the live heap above it
		{1 << 30, 300 * mb, 100 * mb, 3<<29 + 300*mb},         // and the stacks and spans' room besides
		{1 << 30, 300 * mb, 10 * mb, 1<<30 + 200*mb + 300*mb}, // at 10 MB/s: 20 s of it
		{1 << 30, 0, 0, 1<<30 + memoryMinRunway},              // idle: the least runway
	} {
		if got := limitFor(c.live, c.overhead, c.rate); got != c.want {
			t.Errorf("limitFor(%d MiB, %d MiB, %.0f MiB/s) = %d MiB, want %d MiB", c.live>>20, c.overhead>>20, c.rate/mb, got>>20, c.want>>20)
		}
	}
}

// The allocation rate is the higher of the last 5 and the last 30
// seconds': a burst counts at once, a steady rate over the longer span.
func TestAllocRate(t *testing.T) {
	var r allocRate
	t0 := time.Unix(1000, 0)
	if got := r.rate(); got != 0 {
		t.Fatalf("no readings: rate %v", got)
	}
	var total uint64
	at := func(sec int, perSec uint64) {
		total += perSec
		r.add(t0.Add(time.Duration(sec)*time.Second), total)
	}
	at(0, 0)
	if got := r.rate(); got != 0 {
		t.Fatalf("one reading: rate %v", got)
	}
	for s := 1; s <= 60; s++ {
		at(s, 10<<20)
	}
	if got := r.rate(); got != 10<<20 {
		t.Fatalf("steady 10 MiB/s: rate %.1f MiB/s", got/(1<<20))
	}
	for s := 61; s <= 62; s++ {
		at(s, 110<<20) // a burst: 100 MiB/s more for 2 s
	}
	if got, want := r.rate(), float64(3*10<<20+2*110<<20)/5; got != want {
		t.Fatalf("burst: rate %.1f MiB/s, want the last 5 s's %.1f", got/(1<<20), want/(1<<20))
	}
	for s := 63; s <= 70; s++ {
		at(s, 0) // quiet after it: the 30 s span still holds the burst
	}
	if got, want := r.rate(), float64(20*10<<20+2*110<<20)/30; got != want {
		t.Fatalf("after the burst: rate %.1f MiB/s, want the last 30 s's %.1f", got/(1<<20), want/(1<<20))
	}
}

// The overhead read from this process: its goroutine stacks and the
// runtime's tables are in it, the heap's objects and free pages are not.
// Large stacks (128 KiB here) come from the heap's pages, not from a cache
// of small stacks that earlier goroutines may have left.
func TestOverheadCountsStacks(t *testing.T) {
	sample := make([]metrics.Sample, len(runtimeMemory))
	for i, name := range runtimeMemory {
		sample[i].Name = name
	}
	runtime.GC()
	_, before, _ := readMemory(sample)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const n = 500
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pad [100 << 10]byte // a 100 KiB frame: a 128 KiB stack
			use(pad[:])
			<-stop
		}()
	}
	runtime.GC()
	live, after, _ := readMemory(sample)
	close(stop)
	wg.Wait()
	t.Logf("overhead %d → %d KiB with %d goroutines", before>>10, after>>10, n)
	if want := uint64(n * 64 << 10); live == 0 || after < before+want {
		t.Errorf("%d goroutines' stacks: overhead %d → %d KiB (live heap %d KiB), want at least %d KiB more (half their stacks)",
			n, before>>10, after>>10, live>>10, want>>10)
	}
}

//go:noinline
func use(b []byte) { b[0] = 1 }
