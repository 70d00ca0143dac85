package collect

import (
	"math"
	"math/rand/v2"
	"testing"

	"esmon/core/store/chunkenc"
	"esmon/core/wire"
)

// TestPercentagesAreSentWithTwoDecimals: what a collector adds as a
// percentage leaves the agent rounded to hundredths; byte counts and
// other values are left as they are.
func TestPercentagesAreSentWithTwoDecimals(t *testing.T) {
	var s Sink
	s.Add(wire.CPUUsagePercent, 100.0/3)
	s.Add(wire.DiskUsedPercent, 28.8628221716521, wire.LabelMount, "/")
	s.Add(wire.MemoryUsedPercent, -0.001) // rounds to zero: must be +0
	s.Add(wire.MemoryUsedBytes, 1115119616.5)
	s.Add(wire.DiskIOTimeSecsTotal, 1284.208, wire.LabelDevice, "vda")
	s.Add(wire.Load1, 1.7654321)
	want := []float64{33.33, 28.86, 0, 1115119616.5, 1284.208, 1.7654321}
	got := s.Samples()
	if len(got) != len(want) {
		t.Fatalf("%d samples, want %d", len(got), len(want))
	}
	for i, w := range want {
		if math.Float64bits(got[i].Value) != math.Float64bits(w) {
			t.Errorf("%s = %v (bits %x), want %v", got[i].Metric, got[i].Value, math.Float64bits(got[i].Value), w)
		}
	}
	for _, v := range []float64{1e300, -1e20, 1e15} { // no decimals to round; no overflow to infinity
		if p := Precision(wire.CPUUsagePercent, v); p != v {
			t.Errorf("Precision(%v) = %v", v, p)
		}
	}
}

// TestRoundedPercentagesStoreSmall: the point of the rounding. A CPU
// percentage as the agent now sends it is stored in the decimal coding,
// in a fraction of the bytes its full-precision float took.
func TestRoundedPercentagesStoreSmall(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var full, sent chunkenc.Chunk
	busy, all := 0.0, 0.0
	for i := range 3600 {
		// a 2-core machine's jiffies over about one second
		all = 200 + float64(rng.IntN(3))
		busy = min(all, max(0, busy+float64(rng.IntN(21)-10)))
		p := percent(busy, all)
		t0 := int64(i) * 1000
		full.Append(t0, p)
		sent.Append(t0, Precision(wire.CPUUsagePercent, p))
	}
	if sent.Encoding() != chunkenc.EncDecimalAdaptive {
		t.Errorf("rounded percentages coded as %v, want decimal", sent.Encoding())
	}
	perFull, perSent := float64(full.Size())/3600, float64(sent.Size())/3600
	t.Logf("bytes per sample: full precision %.2f, as sent %.2f", perFull, perSent)
	if perSent > perFull/2 {
		t.Errorf("rounded percentages take %.2f bytes a sample, full precision %.2f: want less than half", perSent, perFull)
	}
}
