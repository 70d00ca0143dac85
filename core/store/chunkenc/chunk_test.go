package chunkenc

import (
	"math"
	"math/rand/v2"
	"testing"
)

type sample struct {
	t int64
	v float64
}

func shapes() []struct {
	name    string
	samples []sample
	enc     Encoding
} {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func(n int, tf func(i int) int64, vf func(i int) float64) []sample {
		out := make([]sample, n)
		for i := range out {
			out[i] = sample{tf(i), vf(i)}
		}
		return out
	}
	regular := func(i int) int64 { return 1_700_000_000_000 + int64(i)*10_000 }
	jitter := func(i int) int64 { return 1_700_000_000_000 + int64(i)*10_000 + rng.Int64N(41) - 20 }
	walk := 50.0
	counter := 0.0
	return []struct {
		name    string
		samples []sample
		enc     Encoding
	}{
		{"constant", gen(120, regular, func(int) float64 { return 42 }), EncInt},
		{"one sample", gen(1, regular, func(int) float64 { return 3.25 }), EncXOR},
		{"float walk", gen(500, jitter, func(int) float64 {
			walk = math.Max(0, math.Min(100, walk+rng.NormFloat64()))
			return walk
		}), EncXOR},
		{"counter", gen(500, jitter, func(int) float64 { counter += float64(1000 + rng.IntN(200)); return counter }), EncInt},
		{"ints then float", gen(300, regular, func(i int) float64 {
			if i == 200 {
				return 0.5
			}
			return float64(i * 3)
		}), EncXOR},
		{"negative zero and extremes", []sample{{-5, 0}, {-4, math.Copysign(0, -1)}, {0, math.MaxFloat64}, {1, -math.MaxFloat64},
			{2, math.SmallestNonzeroFloat64}, {3, math.Inf(1)}, {4, math.NaN()}, {math.MaxInt64 / 2, 1}}, EncXOR},
		{"big integers", gen(100, regular, func(i int) float64 { return float64(maxExactInt - int64(i)*1e12) }), EncInt},
		{"beyond exact integers", gen(10, regular, func(i int) float64 { return float64(maxExactInt) * 4 }), EncXOR},
		{"irregular times", gen(200, func(i int) int64 { return int64(i*i*i) * 7 }, func(i int) float64 { return float64(i % 5) }), EncInt},
	}
}

func TestRoundTripIsBitExact(t *testing.T) {
	for _, tc := range shapes() {
		t.Run(tc.name, func(t *testing.T) {
			var c Chunk
			for _, s := range tc.samples {
				if !c.Append(s.t, s.v) {
					t.Fatal("chunk full")
				}
			}
			if c.Encoding() != tc.enc {
				t.Fatalf("encoding %v, want %v", c.Encoding(), tc.enc)
			}
			for _, b := range [][]byte{c.Bytes(), mustFromBytes(t, c.Bytes()).Bytes()} {
				it, err := NewIterator(b)
				if err != nil {
					t.Fatal(err)
				}
				i := 0
				for ; it.Next(); i++ {
					gt, gv := it.At()
					if gt != tc.samples[i].t || math.Float64bits(gv) != math.Float64bits(tc.samples[i].v) {
						t.Fatalf("sample %d: got (%d, %v) want (%d, %v)", i, gt, gv, tc.samples[i].t, tc.samples[i].v)
					}
				}
				if it.Err() != nil || i != len(tc.samples) {
					t.Fatalf("read %d of %d: %v", i, len(tc.samples), it.Err())
				}
			}
			if lt, lv, ok := c.Last(); !ok || lt != tc.samples[len(tc.samples)-1].t ||
				math.Float64bits(lv) != math.Float64bits(tc.samples[len(tc.samples)-1].v) {
				t.Fatalf("Last = %d %v %v", lt, lv, ok)
			}
		})
	}
}

func mustFromBytes(t *testing.T, b []byte) *Chunk {
	t.Helper()
	c, err := FromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSizes(t *testing.T) {
	tests := []struct {
		name     string
		maxBytes float64 // per sample, both sections; ±20 ms jitter costs 9 bits
		v        func(i int, rng *rand.Rand) float64
	}{
		{"constant", 1.3, func(int, *rand.Rand) float64 { return 7 }},
		{"counter", 3.0, func(i int, rng *rand.Rand) float64 { return float64(i*1000 + rng.IntN(100)) }},
		{"float walk", 9.5, func(i int, rng *rand.Rand) float64 { return 50 + rng.Float64() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			var c Chunk
			for i := range 360 {
				c.Append(int64(i)*10_000+rng.Int64N(41)-20, tc.v(i, rng))
			}
			if got := float64(len(c.Bytes())) / 360; got > tc.maxBytes {
				t.Fatalf("%.2f bytes per sample, want at most %.2f", got, tc.maxBytes)
			}
		})
	}
}

func TestFullChunkRefuses(t *testing.T) {
	var c Chunk
	for i := range MaxSamples {
		if !c.Append(int64(i), 1) {
			t.Fatalf("refused sample %d", i)
		}
	}
	if c.Append(MaxSamples, 1) {
		t.Fatal("accepted a sample past MaxSamples")
	}
}

func TestCorruptInputIsAnError(t *testing.T) {
	var c Chunk
	for i := range 50 {
		c.Append(int64(i)*1000, float64(i)+0.5)
	}
	good := c.Bytes()
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"bad encoding", append([]byte{9}, good[1:]...)},
		{"cut", good[:len(good)/2]},
		{"count too high", append([]byte{good[0], 0xff, 0xff}, good[3:]...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it, err := NewIterator(tc.b)
			if err != nil {
				return
			}
			for it.Next() {
			}
			if it.Err() == nil {
				t.Fatal("no error")
			}
		})
	}
}

func FuzzIterator(f *testing.F) {
	for _, tc := range shapes() {
		var c Chunk
		for _, s := range tc.samples {
			c.Append(s.t, s.v)
		}
		f.Add(c.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := NewIterator(b)
		if err != nil {
			return
		}
		n := 0
		for it.Next() {
			it.At()
			n++
		}
		if n > it.Len() {
			t.Fatalf("read %d samples of %d", n, it.Len())
		}
		if it.Err() == nil {
			// A chunk that decodes must survive a rebuild unchanged.
			if _, err := FromBytes(b); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	vals := make([]float64, 360)
	for i := range vals {
		vals[i] = 50 + rng.Float64()
	}
	b.ReportAllocs()
	for b.Loop() {
		var c Chunk
		for i, v := range vals {
			c.Append(int64(i)*10_000, v)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(vals)), "ns/sample")
}

func BenchmarkIterate(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	var c Chunk
	for i := range 3600 {
		c.Append(int64(i)*1000, 50+rng.Float64())
	}
	buf := c.Bytes()
	var it Iterator
	for b.Loop() {
		it.Reset(buf)
		for it.Next() {
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*3600), "ns/sample")
}
