package dataset

import (
	"math"
	"testing"
	"time"

	"esmon/core/store/chunkenc"
)

// phi is the standard normal distribution function.
func phi(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// TestValuesNearEntropy codes an hour of ten hosts as the head codes it
// and sets each series kind's value bytes beside the ideal code length
// under the generator's own model (-log2 P of every step: a float walk's
// Gaussian step at the float's ulp, an integer gauge's rounded Gaussian
// step, a counter's rounded noisy rate; a constant costs nothing). The
// log is BENCHMARKS.md's table ("Block compression level, twelfth
// round"); the test holds the coder within a quarter of a byte a sample
// of the ideal for every kind that is independent of the others. The
// ratios (percentages of two other series of the host) have no
// independent ideal: they are logged only.
func TestValuesNearEntropy(t *testing.T) {
	const hosts, steps = 10, 360
	f := NewFleet(hosts, time.Unix(1_700_000_000, 0), 10*time.Second, 20*time.Millisecond, 1)
	per := len(devopsFields)
	chunks := make([][]chunkenc.Chunk, hosts)
	for h := range chunks {
		chunks[h] = make([]chunkenc.Chunk, per)
	}
	ideal := make([]float64, 5)
	prev := make([][]float64, hosts)
	first := true
	for range steps {
		b := f.Next()
		for h := range b {
			if prev[h] == nil {
				prev[h] = make([]float64, per)
			}
			for i, s := range b[h] {
				chunks[h][i].Append(s.T, s.V)
				fd := devopsFields[i]
				if !first {
					v, v2 := prev[h][i], s.V
					var p float64
					switch fd.kind {
					case floatWalk:
						switch {
						case v2 <= 0:
							p = phi(-v / fd.step)
						case v2 >= 100:
							p = 1 - phi((100-v)/fd.step)
						default:
							ulp := math.Nextafter(v2, math.Inf(1)) - v2
							z := (v2 - v) / fd.step
							p = math.Exp(-z*z/2) / math.Sqrt(2*math.Pi) / fd.step * ulp
						}
					case intWalk:
						k := v2 - v
						p = phi((k+0.5)/fd.step) - phi((k-0.5)/fd.step)
					case counter:
						mu := fd.step
						k := v2 - v
						p = phi((k+0.5-mu)/(0.2*mu)) - phi((k-0.5-mu)/(0.2*mu))
						if k == 0 {
							p = phi((0.5 - mu) / (0.2 * mu))
						}
					default:
						p = 1
					}
					if p > 0 && p <= 1 {
						ideal[fd.kind] += -math.Log2(p) / 8
					}
				}
				prev[h][i] = s.V
			}
		}
		first = false
	}
	got := make([]float64, 5)
	n := make([]int, 5)
	for h := range chunks {
		for i := range chunks[h] {
			got[devopsFields[i].kind] += float64(chunks[h][i].ValueBytes())
			n[devopsFields[i].kind]++
		}
	}
	names := []string{"float walks", "integer gauges", "counters", "constants", "ratios"}
	samples := float64(hosts * steps * per)
	for k := range 5 {
		own, ownIdeal := got[k]/float64(n[k]*steps), ideal[k]/float64(n[k]*(steps-1))
		t.Logf("%-14s %3d a host: coded %.3f bytes a sample of the dataset, ideal %.3f; of their own, coded %.3f, ideal %.3f",
			names[k], n[k]/hosts, got[k]/samples, ideal[k]/samples, own, ownIdeal)
		if k != int(ratio) && own > ownIdeal+0.25 {
			t.Errorf("%s: %.3f bytes a sample, more than a quarter byte above the ideal %.3f", names[k], own, ownIdeal)
		}
	}
	all := 0.0
	for k := range 5 {
		all += got[k]
	}
	t.Logf("all values: coded %.3f bytes a sample", all/samples)
}
