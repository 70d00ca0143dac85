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
	for _, c := range []struct {
		live, overhead uint64
		want           int64
	}{
		{0, 0, floor},
		{160 << 20, 40 << 20, floor},      // 100,000 series: the floor holds it
		{uint64(floor) * 2 / 3, 0, floor}, // where the two meet
		{400 << 20, 0, 600 << 20},         // half the live heap above it
		{600 << 20, 0, 856 << 20},         // up to memoryGrowthCap
		{1 << 30, 0, 1280 << 20},          // 10,000 agents: a quarter of it
		{1 << 30, 300 << 20, 1580 << 20},  // and the stacks and spans' room besides
		{2 << 30, 0, 2560 << 20},          // never less than a quarter
	} {
		if got := limitFor(c.live, c.overhead); got != c.want {
			t.Errorf("limitFor(%d MiB, %d MiB) = %d MiB, want %d MiB", c.live>>20, c.overhead>>20, got>>20, c.want>>20)
		}
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
	_, before := liveAndOverhead(sample)
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
	live, after := liveAndOverhead(sample)
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

// The governor hears of each collection as it ends (so that the limit
// follows a burst of live heap at once), and of none once stopped.
func TestAfterEachGC(t *testing.T) {
	ch := make(chan struct{}, 1)
	done := make(chan struct{})
	afterEachGC(ch, done)
	for i := range 3 {
		runtime.GC()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("no notice 10 s after collection %d", i+1)
		}
	}
	close(done)
	for range 3 {
		runtime.GC()
	}
	select {
	case <-ch:
		t.Fatal("a notice after stop")
	case <-time.After(200 * time.Millisecond):
	}
}
