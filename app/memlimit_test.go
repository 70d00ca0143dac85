package main

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"

	"esmon/core/store"
)

func TestLimitFollowsLiveHeap(t *testing.T) {
	floor := int64(store.RecommendedMemoryLimit)
	for _, c := range []struct {
		live, overhead uint64
		want           int64
	}{
		{0, 0, floor},
		{160 << 20, 40 << 20, floor},          // 100,000 series: the floor holds it
		{uint64(floor) * 2 / 3, 0, floor},     // where the two meet
		{1 << 30, 0, 3 << 29},                 // a large fleet: half the live heap above it
		{1 << 30, 300 << 20, 3<<29 + 300<<20}, // and the stacks and spans' room besides
	} {
		if got := limitFor(c.live, c.overhead); got != c.want {
			t.Errorf("limitFor(%d MiB, %d MiB) = %d MiB, want %d MiB", c.live>>20, c.overhead>>20, got>>20, c.want>>20)
		}
	}
}

// The overhead read from this process: its goroutine stacks and the
// runtime's tables are in it, the heap's objects and free pages are not.
func TestOverheadCountsStacks(t *testing.T) {
	sample := make([]metrics.Sample, len(runtimeMemory))
	for i, name := range runtimeMemory {
		sample[i].Name = name
	}
	runtime.GC()
	_, before := liveAndOverhead(sample)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pad [4096]byte // a 4 KB frame: every stack at least 8 KB
			use(pad[:])
			<-stop
		}()
	}
	runtime.GC()
	live, after := liveAndOverhead(sample)
	close(stop)
	wg.Wait()
	if live == 0 || after < before+2000*4<<10 {
		t.Errorf("2,000 goroutines' stacks: overhead %d → %d KiB (live heap %d KiB), want at least 8,000 KiB more (4 KiB a stack; each has 8)", before>>10, after>>10, live>>10)
	}
}

//go:noinline
func use(b []byte) { b[0] = 1 }
