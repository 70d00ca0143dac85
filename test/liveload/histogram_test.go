package main

import (
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		delays []time.Duration
		q      float64
		want   time.Duration
	}{
		{"single", []time.Duration{5 * time.Millisecond}, 0.99, 5 * time.Millisecond},
		{"median of 1..100 ms", ramp(100), 0.5, 50 * time.Millisecond},
		{"p99 of 1..100 ms", ramp(100), 0.99, 99 * time.Millisecond},
		{"max", ramp(100), 1, 100 * time.Millisecond},
		{"below the first bucket", []time.Duration{time.Microsecond}, 0.5, time.Microsecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for _, d := range tc.delays {
				h.add(d)
			}
			n, q := h.quantiles(tc.q)
			if n != int64(len(tc.delays)) {
				t.Fatalf("count %d, want %d", n, len(tc.delays))
			}
			// Buckets are 2% wide: the answer is the bucket's upper edge,
			// never past the largest delay seen.
			if q[0] < tc.want*98/100 || q[0] > tc.want*103/100 {
				t.Errorf("q%.2f = %v, want %v within a bucket", tc.q, q[0], tc.want)
			}
		})
	}
}

func ramp(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}
