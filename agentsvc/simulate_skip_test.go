package main

import (
	"slices"
	"testing"
	"time"
)

// An agent notes the collections it skipped: a snapshot more than 1.5
// intervals after the last, as the times on either side; a late one within
// that is not a skip.
func TestSimAgentNotesSkippedCollections(t *testing.T) {
	var a simAgent
	for _, ms := range []int64{1000, 6000, 13400, 18400, 28400, 33400, 48400} {
		a.collected(ms, 5*time.Second)
	}
	want := [][2]int64{{18400, 28400}, {33400, 48400}}
	if !slices.Equal(a.skips, want) {
		t.Errorf("skips %v, want %v", a.skips, want)
	}
}
