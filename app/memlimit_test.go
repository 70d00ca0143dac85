package main

import (
	"runtime"
	"testing"
	"time"

	"esmon/core/store"
)

func TestLimitFollowsLiveHeap(t *testing.T) {
	floor := int64(store.RecommendedMemoryLimit)
	for _, c := range []struct {
		live uint64
		want int64
	}{
		{0, floor},
		{160 << 20, floor},             // 100,000 series: the floor holds it
		{uint64(floor) * 2 / 3, floor}, // where the two meet
		{1 << 30, 3 << 29},             // a large fleet: half the live heap above it
	} {
		if got := limitFor(c.live); got != c.want {
			t.Errorf("limitFor(%d MiB) = %d MiB, want %d MiB", c.live>>20, got>>20, c.want>>20)
		}
	}
}

// The limit follows each collection: after a collection the callback has
// run, and it stops once it says so.
func TestAfterEachGC(t *testing.T) {
	calls := make(chan int, 16)
	n := 0
	afterEachGC(func() bool {
		n++
		calls <- n
		return n < 3
	})
	for want := 1; want <= 3; want++ {
		deadline := time.After(10 * time.Second)
	wait:
		for {
			runtime.GC()
			select {
			case got := <-calls:
				if got != want {
					t.Fatalf("call %d, want %d", got, want)
				}
				break wait
			case <-deadline:
				t.Fatalf("no call %d after collections", want)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	for range 5 {
		runtime.GC()
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case got := <-calls:
		t.Fatalf("call %d after the callback said stop", got)
	default:
	}
}
