package main

import "testing"

// A gap in a host's points counts as missing unless the simulator says it
// skipped those collections (the same times on either side).
func TestGapsTellSkippedFromMissing(t *testing.T) {
	pts := []point{{T: 0}, {T: 5000}, {T: 12400}, {T: 17400}, {T: 27400}, {T: 32400}, {T: 47400}}
	// 5000 -> 12400: late, but under 1.5 intervals: no gap.
	// 17400 -> 27400: one point; 32400 -> 47400: two.
	for _, c := range []struct {
		skipped       [][2]int64
		missing, skip int
	}{
		{nil, 3, 0},
		{[][2]int64{{17400, 27400}}, 2, 1},
		{[][2]int64{{17400, 27400}, {32400, 47400}}, 0, 3},
		{[][2]int64{{17400, 27401}}, 3, 0}, // not the same gap
	} {
		m, s := gaps(pts, 5000, c.skipped)
		if m != c.missing || s != c.skip {
			t.Errorf("skipped %v: missing %d, skipped %d; want %d, %d", c.skipped, m, s, c.missing, c.skip)
		}
	}
}
