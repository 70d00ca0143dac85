package chunkenc_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"esmon/agentsvc/collect"
	"esmon/core/store/chunkenc"
	"esmon/core/store/dataset"
)

// seal codes samples (ts, vs) as a finished chunk.
func seal(t testing.TB, ts []int64, vs []float64) []byte {
	t.Helper()
	var c chunkenc.Chunk
	for i := range ts {
		if !c.Append(ts[i], vs[i]) {
			t.Fatal("chunk full")
		}
	}
	return c.SealedBytes()
}

// hostHour is one hour of one host's memory and disk figures, as an agent
// with gopsutil sends them: integer bytes, percentages computed from them.
type hostHour struct {
	ts                               []int64
	total, used, avail, dUsed, dFree []float64
}

func newHostHour(seed uint64) hostHour {
	rng := rand.New(rand.NewPCG(seed, 1))
	var h hostHour
	used, dUsed := 6e9, 4e11
	t := int64(1_700_000_000_000)
	for i := range 360 {
		t += 10_000 + rng.Int64N(41) - 20
		used = math.Max(1, used+math.Round(rng.NormFloat64()*3e7))
		dUsed = math.Max(1, dUsed+math.Round(rng.NormFloat64()*1e9))
		h.ts = append(h.ts, t)
		h.total = append(h.total, 16e9+float64(i%2)) // not constant: an integer walk too
		h.used = append(h.used, used)
		h.avail = append(h.avail, 16e9-used-float64(i%3)*4096) // no difference of the others, with or without an offset
		h.dUsed = append(h.dUsed, dUsed)
		h.dFree = append(h.dFree, 1e12-dUsed)
	}
	return h
}

func apply(f func(a, b float64) float64, a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = f(a[i], b[i])
	}
	return out
}

// TestFindQuotients: percentages that are exact quotients of two integer
// series of the same chunk group are found, in the forms agents compute
// them (gopsutil's used/total×100, a disk's used/(used+free)×100, and
// either rounded to two decimals as esmon's agent sends them), and so are
// integer series that are the difference of two others (memory available
// is total minus used); each comes back bit for bit from the quotient
// chunk and its operands; a series one ulp (or one) off in one sample,
// at other timestamps, or not a quotient at all is left alone; and no
// derived chunk is another's operand.
func TestFindQuotients(t *testing.T) {
	h := newHostHour(1)
	ratio := func(a, b float64) float64 { return a / b * 100 }
	share := func(a, b float64) float64 { return a / (a + b) * 100 }
	sent := func(f func(a, b float64) float64) func(a, b float64) float64 {
		return func(a, b float64) float64 { return collect.Precision("x_percent", f(a, b)) }
	}
	offByUlp := apply(ratio, h.avail, h.total)
	offByUlp[200] = math.Nextafter(offByUlp[200], 0)
	shifted := append([]int64(nil), h.ts...)
	shifted[100]++
	walk := make([]float64, len(h.ts))
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range walk {
		walk[i] = 50 + rng.NormFloat64()
	}
	// p − q = r, so also p − r = q: one of q and r can go, not both.
	p, q := make([]float64, len(h.ts)), make([]float64, len(h.ts))
	for i := range p {
		p[i], q[i] = 9e12+float64(rng.IntN(1<<30)), 1e12+float64(rng.IntN(1<<20))
	}
	r := apply(func(a, b float64) float64 { return a - b }, p, q)
	offByOne := apply(func(a, b float64) float64 { return a - b }, h.total, h.used)
	offByOne[300]++
	chunks := [][]byte{
		seal(t, h.ts, h.total),                              // 0
		seal(t, h.ts, h.used),                               // 1
		seal(t, h.ts, h.avail),                              // 2
		seal(t, h.ts, h.dUsed),                              // 3
		seal(t, h.ts, h.dFree),                              // 4
		seal(t, h.ts, apply(ratio, h.used, h.total)),        // 5: used percent
		seal(t, h.ts, apply(share, h.dUsed, h.dFree)),       // 6: disk used percent
		seal(t, h.ts, apply(sent(ratio), h.used, h.total)),  // 7: as esmon's agent sends it
		seal(t, h.ts, apply(sent(share), h.dUsed, h.dFree)), // 8
		seal(t, h.ts, offByUlp),                             // 9
		seal(t, shifted, apply(ratio, h.used, h.total)),     // 10
		seal(t, h.ts, walk),                                 // 11
		seal(t, h.ts, apply(func(a, b float64) float64 { return a - b }, h.total, h.used)), // 12: available
		seal(t, h.ts, p),        // 13
		seal(t, h.ts, q),        // 14
		seal(t, h.ts, r),        // 15: p − q (or 14 is p − 15)
		seal(t, h.ts, offByOne), // 16
	}
	want := map[int][2]int{5: {1, 0}, 6: {3, 4}, 7: {1, 0}, 8: {3, 4}, 12: {0, 1}, 15: {13, 14}}
	if len(chunks[14]) > len(chunks[15]) { // the larger of the two goes
		delete(want, 15)
		want[14] = [2]int{13, 15}
	}
	got := chunkenc.FindQuotients(chunks)
	found := map[int]bool{}
	for _, d := range got {
		if ab, ok := want[d.X]; !ok || ab != [2]int{d.A, d.B} {
			t.Errorf("chunk %d found as %v of %d and %d, want %v", d.X, d.Form, d.A, d.B, want[d.X])
			continue
		}
		found[d.X] = true
		b := chunkenc.AppendQuotient(nil, chunkenc.Quotient{N: chunkenc.Count(chunks[d.X]), Form: d.Form, Num: uint64(d.A), Den: uint64(d.B), C: d.C})
		if len(b) > 12 || chunkenc.Count(b) != 360 || !chunkenc.IsQuotient(b) {
			t.Errorf("quotient chunk %x", b)
		}
		t.Logf("chunk %d (%d bytes) = %v of %d, %d: %d bytes", d.X, len(chunks[d.X]), d.Form, d.A, d.B, len(b))
	}
	checkDerived(t, chunks, got)
	for x := range want {
		if !found[x] {
			t.Errorf("chunk %d not found a quotient", x)
		}
	}
}

// TestQuotientSamplesRefusesOtherOperands: operands that are not the
// quotient's (another count, other times) are an error, not values.
func TestQuotientSamplesRefusesOtherOperands(t *testing.T) {
	h := newHostHour(3)
	num, den := seal(t, h.ts, h.used), seal(t, h.ts, h.total)
	q := chunkenc.Quotient{N: 360, Form: chunkenc.FormRatio, Num: 1, Den: 0}
	if _, _, err := chunkenc.QuotientSamples(q, num, den, nil, nil); err != nil {
		t.Fatal(err)
	}
	shifted := append([]int64(nil), h.ts...)
	shifted[7]++
	cases := map[string][2][]byte{
		"shorter":   {seal(t, h.ts[:359], h.used[:359]), den},
		"shifted":   {num, seal(t, shifted, h.total)},
		"garbage":   {num, []byte{9, 9, 9}},
		"truncated": {num, den[:len(den)-5]},
	}
	for name, c := range cases {
		if _, _, err := chunkenc.QuotientSamples(q, c[0], c[1], nil, nil); !errors.Is(err, chunkenc.ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
	// Cut short, trailing bytes, 7 decimals, a bad uvarint, a rounded
	// difference, an unknown form; an offset on a share, an offset of
	// zero, one cut short, one past 2^53.
	for _, b := range [][]byte{{6, 0, 4, 1, 1}, {6, 0, 4, 0x31, 1, 1, 0}, {6, 0, 4, 0x81, 1, 1}, {6, 0, 4, 1, 0x80}, {6, 0, 4, 0x13, 1, 1}, {6, 0, 4, 4, 1, 1},
		{6, 0, 4, 0x0a, 1, 1, 2}, {6, 0, 4, 0x0b, 1, 1, 0}, {6, 0, 4, 0x0b, 1, 1}, {6, 0, 4, 0x0b, 1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}} {
		if _, err := chunkenc.ParseQuotient(b); err == nil {
			t.Errorf("%x parsed", b)
		}
	}
}

// FuzzQuotient: no input makes the quotient chunk's reader panic.
func FuzzQuotient(f *testing.F) {
	h := newHostHour(4)
	num, den := seal(f, h.ts[:20], h.used[:20]), seal(f, h.ts[:20], h.total[:20])
	f.Add(chunkenc.AppendQuotient(nil, chunkenc.Quotient{N: 20, Form: chunkenc.FormRatio, Num: 1, Den: 2}), num, den)
	f.Add(chunkenc.AppendQuotient(nil, chunkenc.Quotient{N: 20, Form: chunkenc.FormShare.Rounded(2), Num: 1, Den: 2}), num, den)
	f.Add(chunkenc.AppendQuotient(nil, chunkenc.Quotient{N: 20, Form: chunkenc.FormDiff, Num: 2, Den: 1}), den, num)
	f.Add(chunkenc.AppendQuotient(nil, chunkenc.Quotient{N: 20, Form: chunkenc.FormDiff, Num: 2, Den: 1, C: -12345}), den, num)
	f.Add(chunkenc.AppendQuotient(nil, chunkenc.Quotient{N: 20, Form: chunkenc.FormRatio.Rounded(2), Num: 1, Den: 2, C: 99}), num, den)
	f.Fuzz(func(t *testing.T, q, a, b []byte) {
		qc, err := chunkenc.ParseQuotient(q)
		if err != nil {
			return
		}
		chunkenc.QuotientSamples(qc, a, b, nil, nil)
		chunkenc.FindQuotients([][]byte{a, b, q})
	})
}

// BenchmarkFindQuotients: the flusher's search over one hour of one
// devops host (102 series, 4 of them percentages of two others), against
// decoding the same chunks once.
func BenchmarkFindQuotients(b *testing.B) {
	fleet := dataset.NewFleet(1, time.Unix(1_700_000_000, 0), 10*time.Second, 20*time.Millisecond, 1)
	per := dataset.SeriesPerHost()
	cs := make([]chunkenc.Chunk, per)
	for range 360 {
		for i, s := range fleet.Next()[0] {
			cs[i].Append(s.T, s.V)
		}
	}
	chunks := make([][]byte, per)
	for i := range cs {
		chunks[i] = cs[i].SealedBytes()
	}
	b.Run("find", func(b *testing.B) {
		n := 0
		for b.Loop() {
			n = len(chunkenc.FindQuotients(chunks))
		}
		if n != 4 {
			b.Fatalf("%d quotients, want 4", n)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per*360), "ns/sample")
	})
	b.Run("decode", func(b *testing.B) {
		var it chunkenc.Iterator
		for b.Loop() {
			for _, c := range chunks {
				it.Reset(c)
				for ts, _ := it.Batch(); len(ts) > 0; ts, _ = it.Batch() {
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per*360), "ns/sample")
	})
}

// TestDifferencesNeverChain: r = p − q, and r = s + u where s is r's low
// 20 bits and u the rest, so s = r − u and u = r − s hold too. r, the
// largest, goes first, as p − q; then s and u may not be taken as
// differences of r: no chunk is derived from a derived one (reading it
// would take more than its two operands). What is derived comes back bit
// for bit.
func TestDifferencesNeverChain(t *testing.T) {
	h := newHostHour(5)
	rng := rand.New(rand.NewPCG(5, 5))
	n := len(h.ts)
	p, q, s, u := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range p {
		p[i] = 9e12 + float64(rng.IntN(1<<30))
		q[i] = 1e12 + float64(rng.IntN(1<<20))
		r := int64(p[i] - q[i])
		s[i], u[i] = float64(r&(1<<20-1)), float64(r&^(1<<20-1))
	}
	r := apply(func(a, b float64) float64 { return a - b }, p, q)
	chunks := [][]byte{seal(t, h.ts, p), seal(t, h.ts, q), seal(t, h.ts, r), seal(t, h.ts, s), seal(t, h.ts, u)}
	got := chunkenc.FindQuotients(chunks)
	if len(got) != 1 || got[0] != (chunkenc.Derivation{X: 2, A: 0, B: 1, Form: chunkenc.FormDiff}) {
		t.Errorf("found %v, want chunk 2 as the difference of 0 and 1 alone", got)
	}
	checkDerived(t, chunks, got)
	t.Logf("sizes %d %d %d %d %d", len(chunks[0]), len(chunks[1]), len(chunks[2]), len(chunks[3]), len(chunks[4]))
}

// checkDerived checks that each derivation gives its chunk back bit for
// bit through the serialised quotient chunk, and that no derived chunk is
// another's operand.
func checkDerived(t *testing.T, chunks [][]byte, got []chunkenc.Derivation) {
	t.Helper()
	operands := map[int]bool{}
	for _, d := range got {
		operands[d.A], operands[d.B] = true, true
	}
	for _, d := range got {
		if operands[d.X] {
			t.Errorf("chunk %d is derived (%v of %d, %d) and an operand", d.X, d.Form, d.A, d.B)
		}
		b := chunkenc.AppendQuotient(nil, chunkenc.Quotient{N: chunkenc.Count(chunks[d.X]), Form: d.Form, Num: uint64(d.A), Den: uint64(d.B), C: d.C})
		q, err := chunkenc.ParseQuotient(b)
		if err != nil {
			t.Fatalf("chunk %d: %x: %v", d.X, b, err)
		}
		ts, vs, err := chunkenc.QuotientSamples(q, chunks[q.Num], chunks[q.Den], nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		it, _ := chunkenc.NewIterator(chunks[d.X])
		for i := 0; it.Next(); i++ {
			if wt, wv := it.At(); ts[i] != wt || math.Float64bits(vs[i]) != math.Float64bits(wv) {
				t.Fatalf("chunk %d sample %d: %d %v, want %d %v", d.X, i, ts[i], vs[i], wt, wv)
			}
		}
	}
}

// TestOffsetDifferences: a Linux file system's free bytes are total minus
// used minus the blocks kept for root, and its used percent, as gopsutil
// computes it, used / (used + free) × 100. Free goes as total − used + c
// and the percent is rewritten as used / (total + c) × 100; both come
// back bit for bit. Where free is also the operand of another kind of
// percentage it stays.
func TestOffsetDifferences(t *testing.T) {
	h := newHostHour(6)
	const total, reserved = 5e11, 172759879680
	n := len(h.ts)
	tot, used, free := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range tot {
		tot[i], used[i] = total, 1e11+math.Round(h.dUsed[i]/8)
		free[i] = total - used[i] - reserved
	}
	share := func(a, b float64) float64 { return collect.Precision("x_percent", a/(a+b)*100) }
	freePct := func(a, b float64) float64 { return a / b * 100 }
	offset := chunkenc.Derivation{X: 2, A: 0, B: 1, Form: chunkenc.FormDiff, C: -reserved}
	rewritten := chunkenc.Derivation{X: 3, A: 1, B: 0, Form: chunkenc.FormRatio.Rounded(2), C: -reserved}
	for _, tc := range []struct {
		name string
		more [][]float64 // chunks 3 on: series derived from used (0), total (1), free (2)
		want []chunkenc.Derivation
	}{
		{"used percent of used and free", [][]float64{apply(share, used, free)}, []chunkenc.Derivation{rewritten, offset}},
		{"no percent", nil, nil}, // free or used: the same noise
		{"free also over total", [][]float64{apply(share, used, free), apply(freePct, free, tot)},
			[]chunkenc.Derivation{{X: 3, A: 1, B: 2, Form: chunkenc.FormShare.Rounded(2)}, {X: 4, A: 2, B: 0, Form: chunkenc.FormRatio}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunks := [][]byte{seal(t, h.ts, tot), seal(t, h.ts, used), seal(t, h.ts, free)}
			for _, vs := range tc.more {
				chunks = append(chunks, seal(t, h.ts, vs))
			}
			got := chunkenc.FindQuotients(chunks)
			if tc.want == nil && len(got) == 1 && (got[0] == offset || got[0] == chunkenc.Derivation{X: 1, A: 0, B: 2, Form: chunkenc.FormDiff, C: -reserved}) {
				tc.want = got
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("found %+v\nwant  %+v", got, tc.want)
			}
			checkDerived(t, chunks, got)
		})
	}
}
