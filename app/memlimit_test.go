package main

import (
	"testing"

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
