package main

import (
	"math"
	"math/rand/v2"
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

// bucketOf puts every delay between its bucket's edges, at the edges
// themselves too: the quantiles report upper edges.
func TestBucketOfEdges(t *testing.T) {
	check := func(d time.Duration) {
		t.Helper()
		b := bucketOf(d)
		switch {
		case d <= bucketMin:
			if b != 0 {
				t.Fatalf("%v: bucket %d, want 0", d, b)
			}
		case b == bucketCount-1:
			if d < upper(b-1) {
				t.Fatalf("%v: last bucket, below its lower edge %v", d, upper(b-1))
			}
		case d < upper(b-1) || d >= upper(b):
			t.Fatalf("%v: bucket %d spans %v to %v", d, b, upper(b-1), upper(b))
		}
	}
	for i := 1; i < bucketCount; i++ {
		e := upper(i)
		check(e - 1)
		check(e)
		check(e + 1)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		check(time.Duration(math.Exp(r.Float64() * 27)))
	}
	check(bucketMin)
	check(bucketMin + 1)
	check(-time.Second)
	check(time.Duration(math.MaxInt64))
}
