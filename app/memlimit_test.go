package main

import (
	"math"
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
		headroom       float64
		want           int64
	}{
		{0, 0, 1.5, floor},
		{160 << 20, 40 << 20, 1.5, floor},           // 100,000 series: the floor holds it
		{uint64(floor) * 2 / 3, 0, 1.5, floor},      // where the two meet
		{1 << 30, 0, 1.5, 3 << 29},                  // a large fleet: half the live heap above it
		{1 << 30, 300 << 20, 1.5, 3<<29 + 300<<20},  // and the stacks and spans' room besides
		{1 << 30, 300 << 20, 1.25, 5<<28 + 300<<20}, // a quarter with the headroom narrowed
	} {
		if got := limitFor(c.live, c.overhead, c.headroom); got != c.want {
			t.Errorf("limitFor(%d MiB, %d MiB, %g) = %d MiB, want %d MiB", c.live>>20, c.overhead>>20, c.headroom, got>>20, c.want>>20)
		}
	}
}

// The headroom narrows to its least in a minute while the collector is
// cheap, widens to its most within seconds when it is not, and holds
// between the two.
func TestHeadroomFollowsTheCollectorsShare(t *testing.T) {
	h := memoryHeadroomMax
	for range 59 {
		h = nextHeadroom(h, 0.01)
	}
	if h <= memoryHeadroomMin+0.001 {
		t.Errorf("headroom %g after 59 s of a cheap collector: narrowed faster than in a minute", h)
	}
	h = nextHeadroom(h, 0.01)
	if math.Abs(h-memoryHeadroomMin) > 1e-9 {
		t.Errorf("headroom %g after a minute of a cheap collector, want %g", h, memoryHeadroomMin)
	}
	if h = nextHeadroom(h, 0); h != memoryHeadroomMin {
		t.Errorf("headroom %g below its least", h)
	}
	if h = nextHeadroom(h, (gcShareLow+gcShareHigh)/2); h != memoryHeadroomMin {
		t.Errorf("headroom %g moved with the collector's share between the bounds", h)
	}
	for range 6 {
		h = nextHeadroom(h, 0.3)
	}
	if math.Abs(h-memoryHeadroomMax) > 1e-9 {
		t.Errorf("headroom %g after 6 s of a collector at 30 %% of the CPU, want %g", h, memoryHeadroomMax)
	}
	if h = nextHeadroom(h, 0.9); h != memoryHeadroomMax {
		t.Errorf("headroom %g above its most", h)
	}
}

// The collector's share read from this process: small over work that does
// not allocate, most of the CPU over collections back to back of a heap
// of pointers.
func TestGCShareIsRead(t *testing.T) {
	g := newGCShare()
	runtime.GC()
	g.read()
	start := time.Now()
	x := 0
	for time.Since(start) < 300*time.Millisecond {
		for i := range 1000 {
			x += i * i
		}
	}
	use([]byte{byte(x)})
	runtime.GC()
	if share := g.read(); share < 0 || share >= gcShareLow {
		t.Errorf("collector's share %g over 300 ms of work without allocations, want under %g", share, gcShareLow)
	}
	type node struct{ next *node }
	var list *node
	for range 1 << 20 {
		list = &node{list}
	}
	for range 20 {
		runtime.GC()
	}
	runtime.KeepAlive(list)
	if share := g.read(); share <= gcShareHigh || share > 1 {
		t.Errorf("collector's share %g over 20 collections back to back, want over %g", share, gcShareHigh)
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
