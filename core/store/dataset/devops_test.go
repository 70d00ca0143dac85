package dataset

import (
	"math"
	"testing"
	"time"
)

func TestFleetShape(t *testing.T) {
	f := NewFleet(3, time.Unix(1000, 0), 10*time.Second, 20*time.Millisecond, 1)
	if n := SeriesPerHost(); n < 95 || n > 110 {
		t.Fatalf("%d series per host, want about 100", n)
	}
	var prev [][]float64
	for step := range 50 {
		bs := f.Next()
		for h, b := range bs {
			for i, s := range b {
				if s.T != b[0].T {
					t.Fatal("series of one host do not share the timestamp")
				}
				if d := s.T - (1_000_000 + int64(step)*10_000); d < -20 || d > 20 {
					t.Fatalf("jitter %d ms", d)
				}
				if math.IsNaN(s.V) || s.V < 0 {
					t.Fatalf("%s = %v", s.Metric, s.V)
				}
				if prev != nil && devopsFields[i].kind == counter && s.V < prev[h][i] {
					t.Fatalf("counter %s fell", s.Metric)
				}
				if devopsFields[i].kind == floatWalk && s.V > 100 {
					t.Fatalf("%s = %v above 100", s.Metric, s.V)
				}
			}
		}
		prev = nil
		for _, b := range bs {
			vs := make([]float64, len(b))
			for i, s := range b {
				vs[i] = s.V
			}
			prev = append(prev, vs)
		}
	}
}
