package chunkenc

import (
	"bytes"
	"encoding/hex"
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
	load := 2.0
	return []struct {
		name    string
		samples []sample
		enc     Encoding
	}{
		{"constant", gen(120, regular, func(int) float64 { return 42 }), EncIntAdaptive},
		{"one sample", gen(1, regular, func(int) float64 { return 3.25 }), EncDecimalAdaptive},
		{"float walk", gen(500, jitter, func(int) float64 {
			walk = math.Max(0, math.Min(100, walk+rng.NormFloat64()))
			return walk
		}), EncFloatAdaptive},
		{"counter", gen(500, jitter, func(int) float64 { counter += float64(1000 + rng.IntN(200)); return counter }), EncIntAdaptive},
		{"ints then a decimal", gen(300, regular, func(i int) float64 {
			if i == 200 {
				return 0.5
			}
			return float64(i * 3)
		}), EncDecimalAdaptive},
		{"ints then a float", gen(300, regular, func(i int) float64 {
			if i == 200 {
				return math.Pi
			}
			return float64(i * 3)
		}), EncFloatAdaptive},
		{"load average: two decimals", gen(500, jitter, func(int) float64 {
			load = math.Max(0, load+float64(rng.IntN(41)-20)/100)
			return math.Round(load*100) / 100
		}), EncDecimalAdaptive},
		{"decimals, then more, then negative zero", gen(50, regular, func(i int) float64 {
			switch {
			case i < 20:
				return float64(i) / 10
			case i < 49:
				return float64(i) / 1000
			}
			return math.Copysign(0, -1)
		}), EncFloatAdaptive},
		{"decimals, then more", gen(50, regular, func(i int) float64 {
			if i < 20 {
				return -float64(i+1) / 10
			}
			return float64(i) / 1000
		}), EncDecimalAdaptive},
		{"negative zero and extremes", []sample{{-5, 0}, {-4, math.Copysign(0, -1)}, {0, math.MaxFloat64}, {1, -math.MaxFloat64},
			{2, math.SmallestNonzeroFloat64}, {3, math.Inf(1)}, {4, math.NaN()}, {math.MaxInt64 / 2, 1}}, EncFloatAdaptive},
		{"big integers", gen(100, regular, func(i int) float64 { return float64(maxExactInt - int64(i)*1e12) }), EncIntAdaptive},
		{"beyond exact integers", gen(10, regular, func(i int) float64 { return float64(maxExactInt) * 4 }), EncFloatAdaptive},
		{"irregular times", gen(200, func(i int) int64 { return int64(i*i*i) * 7 }, func(i int) float64 { return float64(i % 5) }), EncIntAdaptive},
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
			for _, b := range [][]byte{c.Bytes(), mustFromBytes(t, c.Bytes()).Bytes(), c.SealedBytes(), mustFromBytes(t, c.SealedBytes()).SealedBytes()} {
				checkSamples(t, b, tc.samples)
			}
			if lt, lv, ok := c.Last(); !ok || lt != tc.samples[len(tc.samples)-1].t ||
				math.Float64bits(lv) != math.Float64bits(tc.samples[len(tc.samples)-1].v) {
				t.Fatalf("Last = %d %v %v", lt, lv, ok)
			}
		})
	}
}

// checkSamples reads chunk b and checks that it holds want, bit for bit.
func checkSamples(t *testing.T, b []byte, want []sample) {
	t.Helper()
	it, err := NewIterator(b)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for ; it.Next(); i++ {
		gt, gv := it.At()
		if i >= len(want) || gt != want[i].t || math.Float64bits(gv) != math.Float64bits(want[i].v) {
			t.Fatalf("sample %d: got (%d, %v) want %v", i, gt, gv, want[min(i, len(want)-1)])
		}
	}
	if it.Err() != nil || i != len(want) {
		t.Fatalf("read %d of %d: %v", i, len(want), it.Err())
	}
}

// TestBatchMatchesNext reads every shape, whole and cut short at many
// lengths, open and sealed, with Batch and with Next, and wants the same samples bit for
// bit and the same error: the batch decoder (warmN) must be the
// per-sample decoder (get, update) value for value.
func TestBatchMatchesNext(t *testing.T) {
	read := func(b []byte, batch bool) ([]sample, error) {
		it, err := NewIterator(b)
		if err != nil {
			return nil, err
		}
		var out []sample
		if batch {
			for ts, vs := it.Batch(); len(ts) > 0; ts, vs = it.Batch() {
				for i := range ts {
					out = append(out, sample{ts[i], vs[i]})
				}
			}
		} else {
			for it.Next() {
				t, v := it.At()
				out = append(out, sample{t, v})
			}
		}
		return out, it.Err()
	}
	for _, tc := range shapes() {
		t.Run(tc.name, func(t *testing.T) {
			var c Chunk
			for _, s := range tc.samples {
				c.Append(s.t, s.v)
			}
			for _, full := range [][]byte{c.Bytes(), c.SealedBytes()} {
				for cut := len(full); cut >= headerSize; cut -= max(1, len(full)/40) {
					b := full[:cut]
					bs, berr := read(b, true)
					ns, nerr := read(b, false)
					if (berr == nil) != (nerr == nil) || (berr != nil && berr.Error() != nerr.Error()) || len(bs) != len(ns) {
						t.Fatalf("cut at %d of %d: Batch %d samples, %v; Next %d samples, %v", cut, len(full), len(bs), berr, len(ns), nerr)
					}
					for i := range bs {
						if bs[i].t != ns[i].t || math.Float64bits(bs[i].v) != math.Float64bits(ns[i].v) {
							t.Fatalf("cut at %d, sample %d: Batch %v, Next %v", cut, i, bs[i], ns[i])
						}
					}
					if cut == len(full) && (berr != nil || len(bs) != len(tc.samples)) {
						t.Fatalf("whole chunk: %d of %d samples, %v", len(bs), len(tc.samples), berr)
					}
				}
			}
		})
	}
}

// TestSealedGridTimes: a finished chunk stores its timestamps on a grid
// when they are jittered ticks (smaller, and read without an adaptive
// sequence), and keeps them adaptive when a grid would not be smaller.
func TestSealedGridTimes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		name string
		t    func(i int) int64
		grid bool
	}{
		{"1 s, ±20 ms jitter", func(i int) int64 { return 1_700_000_000_000 + int64(i)*1000 + rng.Int64N(41) - 20 }, true},
		{"10 s, ±2 ms jitter, negative times", func(i int) int64 { return -5_000_000 + int64(i)*10_000 + rng.Int64N(5) - 2 }, true},
		{"gaps that double", func(i int) int64 { return int64(1) << (i % 60) * int64(i/60+1) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Chunk
			var want []sample
			last := int64(math.MinInt64)
			for i := range 3600 {
				ts := max(tc.t(i), last+1)
				last = ts
				c.Append(ts, float64(i%7))
				want = append(want, sample{ts, float64(i % 7)})
			}
			b := c.SealedBytes()
			if got := b[0]&gridTimes != 0; got != tc.grid {
				t.Fatalf("grid = %v, want %v", got, tc.grid)
			}
			if len(b) > len(c.Bytes()) {
				t.Fatalf("sealed %d bytes, open %d", len(b), len(c.Bytes()))
			}
			t.Logf("sealed %d bytes, open %d", len(b), len(c.Bytes()))
			checkSamples(t, b, want)
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
		{"load average (two decimals)", 3.0, func(i int, rng *rand.Rand) float64 { return float64(1000+i%37*3) / 100 }},
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

// firstFormat are chunks written by the first format (EncInt, EncXOR),
// which stores still hold and must read: 40 samples each, at
// 1_700_000_000_000 + i*10_000 + (i%3)*7 of 1000 + 37*i*i, and at
// 1_700_000_000_000 + i*1000 of 50 + 0.37*(i%7).
var firstFormat = []string{
	"020028290000018bcfe56800e027175ae2ab5c556b8aad7155ae2ab5c556b8aad7155ae2ab5c556b8aad7155acc3e8c025c04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04ac04a",
	"0100280f0000018bcfe56800c7d000000000004049000000000000e575eb851eb851fc6be3c8f23c8f3c30d0ac2b0ac2b18cd9364d9364e51bc6f1bc6f0dd97e1c8721c872363851eb851eb905eb851eb851f0e3c8f23c8f211a15856158563066c9b26c9b270a378de378de17e1c8721c872363851eb851eb905eb851eb851f0e3c8f23c8f211a15856158563066c9b26c9b270a378de378de17e1c8721c872363851eb851eb905eb851eb851f0e3c8f23c8f211a15856158563066c9b26c9b270a378de378de17e1c8721c872363851eb851eb905eb851eb851f0e3c8f23c8f211a15856158563066c9b26c9b270a378de378de17e1c8721c872363851eb851eb905eb851eb851f0e3c8f23c8f211a15856158563066c9b26c9b26",
}

func TestFirstFormatIsRead(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		enc  Encoding
		want func(i int) (int64, float64)
	}{
		{"int", firstFormat[0], EncInt, func(i int) (int64, float64) {
			return 1_700_000_000_000 + int64(i)*10_000 + int64(i%3)*7, float64(1000 + i*i*37)
		}},
		{"xor", firstFormat[1], EncXOR, func(i int) (int64, float64) {
			return 1_700_000_000_000 + int64(i)*1_000, 50 + float64(i%7)*0.37
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			if Encoding(b[0]) != tc.enc {
				t.Fatalf("encoding %v, want %v", Encoding(b[0]), tc.enc)
			}
			var want []sample
			for i := range 40 {
				wt, wv := tc.want(i)
				want = append(want, sample{wt, wv})
			}
			checkSamples(t, b, want)
			// Appending to a first-format chunk goes on in the current one.
			c := mustFromBytes(t, b)
			if !c.Append(1_800_000_000_000, 0.25) || c.Encoding() != EncDecimalAdaptive || c.Len() != 41 {
				t.Fatalf("rebuilt chunk: encoding %v, %d samples", c.Encoding(), c.Len())
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
	for _, h := range firstFormat {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	for _, tc := range shapes() {
		var c Chunk
		for _, s := range tc.samples {
			c.Append(s.t, s.v)
		}
		f.Add(c.Bytes())
		f.Add(c.SealedBytes())
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

// FuzzRoundTrip appends samples made from arbitrary bytes (times with
// any gaps, values of any bits, integers and floats mixed) and checks
// that every one comes back bit for bit.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x01\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var want []sample
		var c Chunk
		tm := int64(-1 << 40)
		for i := 0; i+4 <= len(b) && len(want) < MaxSamples; i += 4 {
			// gap: small or huge; value: a small integer, a fraction,
			// raw bits, a big integer or a decimal
			tm += 1 + int64(b[i])<<(b[i+1]%40)
			var v float64
			switch b[i+2] % 5 {
			case 4:
				v = float64(int8(b[i+3])) / pow10[b[i+1]%(maxScale+1)]
			case 0:
				v = float64(int8(b[i+3]))
			case 1:
				v = float64(b[i+3]) / 7
			case 2:
				v = math.Float64frombits(uint64(b[i+3]) * 0x0101010101010101)
			default:
				v = float64(int64(b[i+3]) << 50)
			}
			if !c.Append(tm, v) {
				t.Fatal("chunk full")
			}
			want = append(want, sample{tm, v})
		}
		if len(want) > 0 {
			checkSamples(t, c.Bytes(), want)
			checkSamples(t, c.SealedBytes(), want)
		}
	})
}

// TestSizeHint: a chunk told the size of its series' last chunk grows in
// a few large steps, and holds what the same chunk without the hint holds.
func TestSizeHint(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var first, hinted Chunk
	for i := range 3600 {
		first.Append(int64(i)*1000, rng.Float64()*100)
	}
	hinted.SizeHint(len(first.SealedBytes()))
	var plain Chunk
	grows := map[string]int{}
	rng = rand.New(rand.NewPCG(7, 8))
	for i := range 3600 {
		v := rng.Float64() * 100
		for name, c := range map[string]*Chunk{"hinted": &hinted, "plain": &plain} {
			before := cap(c.vs.b)
			if !c.Append(int64(i)*1000, v) {
				t.Fatalf("%s: append %d refused", name, i)
			}
			if cap(c.vs.b) != before {
				grows[name]++
			}
		}
	}
	if !bytes.Equal(hinted.SealedBytes(), plain.SealedBytes()) {
		t.Fatal("a hinted chunk holds other bytes than a plain one")
	}
	// Doubling up to the step, then eight steps: about 13 grows for
	// 3,600 samples, where an eighth of the size each time takes 30.
	if grows["hinted"] > 14 || grows["plain"] < 2*grows["hinted"] {
		t.Errorf("buffer grew %d times with the hint, %d without; want at most 14, and half of the plain chunk's", grows["hinted"], grows["plain"])
	}
	if slack := cap(hinted.vs.b) - len(hinted.vs.b); slack > len(first.SealedBytes())/8+64 {
		t.Errorf("a hinted chunk ends with %d bytes of slack, over an eighth of the hint", slack)
	}
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

// BenchmarkIterate decodes one hour-long chunk of 3,600 samples: regular
// times and uniform values, and the shape of the raw query benchmark
// (1 s with ±20 ms jitter, a float random walk in 0–100), by Next and by
// Batch.
func BenchmarkIterate(b *testing.B) {
	shapes := []struct {
		name string
		t    func(i int, rng *rand.Rand) int64
		v    func(v float64, rng *rand.Rand) float64
	}{
		{"regular-uniform", func(i int, _ *rand.Rand) int64 { return int64(i) * 1000 },
			func(_ float64, rng *rand.Rand) float64 { return 50 + rng.Float64() }},
		{"jitter-walk", func(i int, rng *rand.Rand) int64 { return int64(i)*1000 + rng.Int64N(41) - 20 },
			func(v float64, rng *rand.Rand) float64 { return math.Max(0, math.Min(100, v+rng.NormFloat64())) }},
	}
	for _, sh := range shapes {
		rng := rand.New(rand.NewPCG(5, 6))
		var c Chunk
		v := 50.0
		for i := range 3600 {
			v = sh.v(v, rng)
			c.Append(sh.t(i, rng), v)
		}
		buf := c.Bytes()
		for _, mode := range []string{"next", "batch"} {
			b.Run(sh.name+"/"+mode, func(b *testing.B) {
				var it Iterator
				n := 0
				for b.Loop() {
					it.Reset(buf)
					if mode == "next" {
						for it.Next() {
							n++
						}
						continue
					}
					for ts, _ := it.Batch(); len(ts) > 0; ts, _ = it.Batch() {
						n += len(ts)
					}
				}
				if n != b.N*3600 {
					b.Fatalf("decoded %d samples, want %d", n, b.N*3600)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/sample")
			})
		}
	}
}
