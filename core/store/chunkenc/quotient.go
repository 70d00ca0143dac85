package chunkenc

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// EncQuotient names a chunk that holds no samples of its own: its
// timestamps are those of another chunk, the numerator, and its values a
// percentage of the numerator's and a third chunk's (the denominator's)
// values, sample by sample, or their difference (see Form). Monitoring
// data has such series: memory used percent is used bytes over total
// bytes times 100, computed by the agent (gopsutil) from the two figures
// it sends beside it; a disk's used percent is used over used plus free;
// memory available is total minus used; a file system's free bytes on
// Linux are total minus used minus a constant. Coded as a float of its own a
// percentage costs ~6 bytes a sample at full precision, a byte count
// that moves with the machine's memory 1–2; as a quotient chunk either
// costs the chunk's ~10 bytes. A quotient chunk is written only where
// every value comes back bit for bit (see FindQuotients). (The name is
// the first form's: most of them are quotients.)
//
// Its serialised form: the encoding byte, the 16-bit sample count (as
// every chunk), the form byte, then the numerator's and the
// denominator's series as uvarints: numbers the store gives (its series
// ids); the store reads the two chunks of those series with the same
// window and first timestamp. A form byte with formOffset set is followed
// by the offset c, a zigzag uvarint (see Quotient.C).
const EncQuotient Encoding = 6

// Form is how a quotient chunk's values follow from its operands a and b.
// The low three bits name the kind, c being the quotient's offset
// (Quotient.C, zero unless stored):
//
//	FormRatio  a / (b + c) × 100
//	FormShare  a / (a + b) × 100
//	FormDiff   a − b + c (integers: exact)
//
// and the high four bits, when not zero, are 1 + a number of decimals d
// that the result is rounded to, as math.Round(x × 10^d) / 10^d (with -0
// read as 0): what an agent sending percentages with d decimals does
// (never for a difference).
type Form byte

// The kinds of Form.
const (
	FormRatio Form = 1
	FormShare Form = 2
	FormDiff  Form = 3
)

// formOffset, in a stored form byte, says an offset follows the
// operands; a Form in a Quotient or Derivation never has it.
const formOffset Form = 0x08

// Rounded is the form f rounded to d decimals (0..maxScale).
func (f Form) Rounded(d int) Form { return f&0x0f | Form(d+1)<<4 }

func (f Form) kind() Form { return f & 0x07 }

// decimals is the number of decimals f rounds to, -1 for none.
func (f Form) decimals() int { return int(f>>4) - 1 }

func (f Form) valid() bool {
	if f&formOffset != 0 {
		return false
	}
	switch f.kind() {
	case FormRatio, FormShare:
		return f.decimals() <= maxScale
	case FormDiff:
		return f.decimals() < 0
	}
	return false
}

func (f Form) String() string {
	s := "a/b*100"
	switch f.kind() {
	case FormShare:
		s = "a/(a+b)*100"
	case FormDiff:
		s = "a-b"
	}
	if d := f.decimals(); d >= 0 {
		s += fmt.Sprintf(" to %d decimals", d)
	}
	return s
}

// Value is the value of f for operands a and b and offset c (integers
// all, below 2^53, where there is one: every sum is exact).
func (f Form) Value(a, b, c float64) float64 {
	var x float64
	switch f.kind() {
	case FormDiff:
		return a - b + c
	case FormShare:
		x = a / (a + b) * 100
	default:
		x = a / (b + c) * 100
	}
	if d := f.decimals(); d >= 0 {
		p := pow10[d]
		if x = math.Round(x*p) / p; x == 0 {
			x = 0
		}
	}
	return x
}

// numerators returns the interval of operands a for which f(a, b) can be
// x: a little wider than exact, for the screening in FindQuotients,
// which then computes f itself. ok is false when there is none to find.
func (f Form) numerators(x, b float64) (lo, hi float64, ok bool) {
	if !(b > 0) || x < 0 {
		return 0, 0, false
	}
	slack := math.Abs(x)*1e-12 + 1e-12
	if d := f.decimals(); d >= 0 {
		slack += 0.5 / pow10[d]
	}
	xlo, xhi := max(0, x-slack), x+slack
	if f.kind() == FormShare { // a = x·b / (100 − x), rising in x
		if xlo >= 100 {
			return 0, 0, false
		}
		lo = xlo * b / (100 - xlo)
		hi = math.Inf(1)
		if xhi < 100 {
			hi = xhi * b / (100 - xhi)
		}
	} else {
		lo, hi = xlo*b/100, xhi*b/100
	}
	return lo*(1-1e-12) - 1, hi*(1+1e-12) + 1, true
}

// Quotient is a parsed quotient chunk.
type Quotient struct {
	N        int    // samples
	Form     Form   // how its values follow from its operands'
	Num, Den uint64 // the operands' series
	// C is the offset of a FormRatio or FormDiff: a file system's free
	// bytes are total minus used minus the blocks kept for root, a
	// constant; and its used percent, used / (used + free) × 100, is
	// then used / (total − reserved) × 100.
	C int64
}

// AppendQuotient appends the serialised quotient chunk q to dst.
func AppendQuotient(dst []byte, q Quotient) []byte {
	dst = append(dst, byte(EncQuotient))
	dst = binary.BigEndian.AppendUint16(dst, uint16(q.N))
	f := q.Form
	if q.C != 0 {
		f |= formOffset
	}
	dst = append(dst, byte(f))
	dst = binary.AppendUvarint(dst, q.Num)
	dst = binary.AppendUvarint(dst, q.Den)
	if q.C != 0 {
		dst = binary.AppendUvarint(dst, zigzag(q.C))
	}
	return dst
}

// IsQuotient reports whether the serialised chunk b is a quotient chunk,
// which an Iterator does not read: its reader parses it (ParseQuotient),
// fetches its operands and calls QuotientSamples.
func IsQuotient(b []byte) bool { return len(b) > 0 && Encoding(b[0]) == EncQuotient }

// ParseQuotient parses a serialised quotient chunk.
func ParseQuotient(b []byte) (Quotient, error) {
	if len(b) < headerSize+1 || Encoding(b[0]) != EncQuotient {
		return Quotient{}, fmt.Errorf("%w: not a quotient chunk", ErrCorrupt)
	}
	q := Quotient{N: int(binary.BigEndian.Uint16(b[1:3])), Form: Form(b[3]) &^ formOffset}
	offset := Form(b[3])&formOffset != 0
	if !q.Form.valid() || (offset && q.Form.kind() == FormShare) {
		return Quotient{}, fmt.Errorf("%w: quotient of unknown form %#x", ErrCorrupt, b[3])
	}
	p := headerSize + 1
	var k int
	if q.Num, k = binary.Uvarint(b[p:]); k <= 0 {
		return Quotient{}, fmt.Errorf("%w: bad quotient numerator", ErrCorrupt)
	}
	p += k
	if q.Den, k = binary.Uvarint(b[p:]); k <= 0 || (!offset && p+k != len(b)) {
		return Quotient{}, fmt.Errorf("%w: bad quotient denominator", ErrCorrupt)
	}
	if offset {
		p += k
		zz, k := binary.Uvarint(b[p:])
		if q.C = unzigzag(zz); k <= 0 || p+k != len(b) || q.C == 0 || q.C >= maxExactInt || q.C <= -maxExactInt {
			return Quotient{}, fmt.Errorf("%w: bad quotient offset", ErrCorrupt)
		}
	}
	return q, nil
}

// QuotientSamples appends to ts and vs the samples of quotient chunk q
// whose operands' serialised chunks are num and den. The operands must
// hold q.N samples each at the same timestamps: anything else is
// ErrCorrupt (an operand chunk not the one the quotient was made from).
func QuotientSamples(q Quotient, num, den []byte, ts []int64, vs []float64) ([]int64, []float64, error) {
	var a, b Iterator
	if err := a.Reset(num); err != nil {
		return ts, vs, fmt.Errorf("quotient's numerator: %w", err)
	}
	if err := b.Reset(den); err != nil {
		return ts, vs, fmt.Errorf("quotient's denominator: %w", err)
	}
	if a.Len() != q.N || b.Len() != q.N {
		return ts, vs, fmt.Errorf("%w: quotient of %d samples over operands of %d and %d", ErrCorrupt, q.N, a.Len(), b.Len())
	}
	c := float64(q.C)
	for {
		at, av := a.Batch()
		bt, bv := b.Batch()
		if len(at) != len(bt) {
			break // one ended early: an error below
		}
		if len(at) == 0 {
			break
		}
		for j, t := range at {
			if bt[j] != t {
				return ts, vs, fmt.Errorf("%w: quotient's operands at different times (%d, %d)", ErrCorrupt, t, bt[j])
			}
			ts = append(ts, t)
			vs = append(vs, q.Form.Value(av[j], bv[j], c))
		}
	}
	if err := a.Err(); err != nil {
		return ts, vs, fmt.Errorf("quotient's numerator: %w", err)
	}
	if err := b.Err(); err != nil {
		return ts, vs, fmt.Errorf("quotient's denominator: %w", err)
	}
	if len(ts) < q.N { // a.Len() == b.Len() == q.N, and neither failed
		return ts, vs, fmt.Errorf("%w: quotient's operands cut short", ErrCorrupt)
	}
	return ts, vs, nil
}

// Derivation says that the values of chunk X are Form of the values of
// chunks A (the numerator) and B (the denominator) and offset C, at the
// same timestamps: indexes into the slice given to FindQuotients.
type Derivation struct {
	X, A, B int
	Form    Form
	C       int64
}

// minQuotientSamples is the fewest samples a chunk must have to be
// written as a quotient: below it the chunk is small anyway.
const minQuotientSamples = 4

// headLen first values of each integer chunk screen the differences: an
// integer chunk with fewer samples takes no part in them. Fewer let
// through too many pairs of small walks (steps of a few units) that
// agree by chance, each then decoded whole.
const headLen = 8

// FindQuotients finds, among serialised chunks that hold the same
// timestamps (one window of one host's series; the caller groups them),
// the float chunks whose every value is a percentage (Form) of two
// integer chunks' values, and then the integer chunks whose every value
// is the difference of two others' (plus a constant), bit for bit.
// Operands are integer chunks that are not themselves derived, so a
// derived chunk is never another's operand: reading one never takes more
// than its two operands.
//
// It screens by the first sample: for each candidate, form and
// denominator, the numerators whose first value could give the
// candidate's lie in an interval (findQuotient walks them with one cursor
// over the integer chunks' first values sorted), so the cost grows with
// the chunks, not with their pairs; the few survivors are then decoded
// and compared whole. Differences: see findDifferences.
func FindQuotients(chunks [][]byte) []Derivation {
	var ints []firstVal  // integer chunks' first values, sorted by the first
	var cands []firstVal // float and decimal chunks' first value
	var scales []int     // cands' decimal scales (0: a float chunk)
	for i, c := range chunks {
		if Count(c) < minQuotientSamples {
			continue
		}
		enc, head, scale, ok := firstValues(c)
		switch {
		case !ok:
		case enc == EncIntAdaptive:
			ints = append(ints, firstVal{i, head})
		case enc == EncFloatAdaptive || enc == EncDecimalAdaptive:
			cands, scales = append(cands, firstVal{i, head}), append(scales, scale)
		}
	}
	if len(ints) < 2 {
		return nil
	}
	slices.SortFunc(ints, func(x, y firstVal) int { return cmp.Or(cmp.Compare(x.v(), y.v()), x.i-y.i) })
	decoded := map[int]decodedChunk{}
	decode := func(i int) (decodedChunk, bool) {
		d, ok := decoded[i]
		if !ok {
			d.ts, d.vs, d.ok = decodeAll(chunks[i])
			decoded[i] = d
		}
		return d, d.ok
	}
	var out []Derivation
	for j, x := range cands {
		forms := []Form{FormRatio, FormShare}
		if scales[j] > 0 {
			// Its values have at most scale decimals: rounded ones.
			forms = forms[:0]
			for d := scales[j]; d <= maxScale; d++ {
				forms = append(forms, FormRatio.Rounded(d), FormShare.Rounded(d))
			}
		}
		if found, ok := findQuotient(x.i, x.v(), forms, chunks, ints, decode); ok {
			out = append(out, found)
		}
	}
	var long []firstVal // ints with headLen samples or more
	for _, a := range ints {
		if Count(chunks[a.i]) >= headLen {
			long = append(long, a)
		}
	}
	return findDifferences(chunks, long, out, decode)
}

// minDiffBytes and two bits a sample are the fewest bytes of values an
// integer chunk written as a difference has: a difference chunk takes ~8
// bytes, and reading it two other chunks. A constant (a series of zeros:
// errors that never came, a machine without swap) is left alone, though
// it is the difference of two others: its values take a bit a sample,
// and its timestamps, the same as its host's other chunks', cost little
// once the blocks are compressed.
const minDiffBytes = 32

// valueBytes is the length of a serialised chunk's value section.
func valueBytes(b []byte) int {
	if len(b) < headerSize {
		return 0
	}
	tsLen, k := binary.Uvarint(b[headerSize:])
	if k <= 0 || tsLen > uint64(len(b)-headerSize-k) {
		return 0
	}
	return len(b) - headerSize - k - int(tsLen)
}

// findDifferences finds, after the quotients (out), the integer chunks x
// whose every value is a − b + c for two other integer chunks a and b that
// are not derived and a constant c: memory available is total minus used
// (c = 0), a file system's free bytes on Linux its total minus its used
// minus the blocks kept for root. The chunks with the most bytes of
// values go first: they save the most. No derived chunk is another's
// operand, so a chunk taken as an operand is not derived in turn (used =
// total − available and available = total − used both hold: one goes),
// with one exception: a file system's free bytes are an operand already,
// of its used percentage, used / (used + free) × 100 (gopsutil on Linux).
// x may go where it is the second operand of percentages alone, of the
// form b / (b + x) × 100 with b its own b: with x = a − b + c those are
// b / (a + c) × 100, bit for bit (b + x and a + c are the same integer,
// computed exactly), and are rewritten so. For a candidate x and an
// operand b, a's first step (second value less first) must be x's plus
// b's, which rises with b's: one pass over the chunks sorted by first
// step moves a cursor over them as a; the first headLen values screen
// the few that agree by chance (small walks, constants) before the three
// chunks are decoded and compared whole.
func findDifferences(chunks [][]byte, ints []firstVal, out []Derivation, decode func(int) (decodedChunk, bool)) []Derivation {
	if len(ints) < 3 {
		return out
	}
	derived := make([]bool, len(chunks))
	for _, d := range out {
		derived[d.X] = true
	}
	type step struct {
		s1 float64 // the chunk's second value less its first
		j  int     // the chunk's index in ints
	}
	steps := make([]step, len(ints))
	count := make([]int, len(chunks))
	size := make([]int, len(chunks))
	var xs []int // candidates: indexes into steps
	for j, a := range ints {
		steps[j] = step{a.head[1] - a.head[0], j}
		count[a.i] = Count(chunks[a.i])
		size[a.i] = valueBytes(chunks[a.i])
	}
	slices.SortFunc(steps, func(x, y step) int { return cmp.Or(cmp.Compare(x.s1, y.s1), x.j-y.j) })
	for k, st := range steps {
		if i := ints[st.j].i; !derived[i] && size[i] >= minDiffBytes+count[i]/4 {
			xs = append(xs, k)
		}
	}
	slices.SortStableFunc(xs, func(x, y int) int { return size[ints[steps[y].j].i] - size[ints[steps[x].j].i] })
	top := steps[len(steps)-1].s1
	var uses []int
	for _, xk := range xs {
		sx, x := steps[xk], &ints[steps[xk].j]
		// x's uses as an operand: percentages with x second alone.
		uses = uses[:0]
		keep := false
		for u, d := range out {
			if d.A == x.i || d.B == x.i {
				keep = keep || d.Form.kind() != FormShare || d.B != x.i
				uses = append(uses, u)
			}
		}
		if keep {
			continue
		}
		n, k := count[x.i], 0
	search:
		for _, sb := range steps {
			b := &ints[sb.j]
			want := sx.s1 + sb.s1
			if want > top {
				break
			}
			for k < len(steps) && steps[k].s1 < want {
				k++
			}
			if b.i == x.i || derived[b.i] || count[b.i] != n {
				continue
			}
			for _, u := range uses {
				if out[u].A != b.i {
					continue search
				}
			}
			for ak := k; ak < len(steps) && steps[ak].s1 == want; ak++ {
				sa := steps[ak]
				a := &ints[sa.j]
				c := x.v() - a.v() + b.v() // integers: exact
				if a.i == x.i || a.i == b.i || derived[a.i] || count[a.i] != n || !headsMatch(a, b, x, c) {
					continue
				}
				if math.Abs(c) >= maxExactInt || !derives(x.i, a.i, b.i, FormDiff, int64(c), decode) {
					continue
				}
				rewrite := make([]Derivation, len(uses))
				ok := true
				for r, u := range uses {
					rewrite[r] = Derivation{X: out[u].X, A: b.i, B: a.i, Form: FormRatio | out[u].Form&^0x0f, C: int64(c)}
					ok = ok && derives(rewrite[r].X, b.i, a.i, rewrite[r].Form, int64(c), decode)
				}
				if !ok {
					continue
				}
				for r, u := range uses {
					out[u] = rewrite[r]
				}
				out = append(out, Derivation{X: x.i, A: a.i, B: b.i, Form: FormDiff, C: int64(c)})
				derived[x.i] = true
				break search
			}
		}
	}
	return out
}

// findQuotient is FindQuotients for the one candidate x, whose first
// value is x0; ints are the integer chunks' first values, sorted. The
// numerators that can give x0 over a denominator b lie in an interval
// that rises with b in every form, so one pass over the denominators in
// order moves one cursor over the numerators.
func findQuotient(x int, x0 float64, forms []Form, chunks [][]byte, ints []firstVal,
	decode func(int) (decodedChunk, bool)) (Derivation, bool) {
	n := Count(chunks[x])
	for _, f := range forms {
		k := 0
		for _, b := range ints {
			lo, hi, ok := f.numerators(x0, b.v())
			if !ok {
				continue
			}
			for k < len(ints) && ints[k].v() < lo {
				k++
			}
			if Count(chunks[b.i]) != n {
				continue
			}
			for _, a := range ints[k:] {
				if a.v() > hi {
					break
				}
				if a.i == b.i || Count(chunks[a.i]) != n || math.Float64bits(f.Value(a.v(), b.v(), 0)) != math.Float64bits(x0) {
					continue
				}
				if derives(x, a.i, b.i, f, 0, decode) {
					return Derivation{X: x, A: a.i, B: b.i, Form: f}, true
				}
			}
		}
	}
	return Derivation{}, false
}

// firstVal is a chunk's index and its first headLen values (integer
// chunks; others the first alone).
type firstVal struct {
	i    int
	head [headLen]float64
}

// v is the chunk's first value.
func (f *firstVal) v() float64 { return f.head[0] }

// headsMatch reports whether x's first values are a's less b's plus c.
func headsMatch(a, b, x *firstVal, c float64) bool {
	for k := range headLen {
		if a.head[k]-b.head[k]+c != x.head[k] {
			return false
		}
	}
	return true
}

// derives reports whether chunk x's samples are f of chunks a's and b's
// and offset c.
func derives(x, a, b int, f Form, c int64, decode func(int) (decodedChunk, bool)) bool {
	dx, ok1 := decode(x)
	da, ok2 := decode(a)
	db, ok3 := decode(b)
	if !ok1 || !ok2 || !ok3 || !slices.Equal(dx.ts, da.ts) || !slices.Equal(dx.ts, db.ts) {
		return false
	}
	fc := float64(c)
	for j, v := range dx.vs {
		if math.Float64bits(f.Value(da.vs[j], db.vs[j], fc)) != math.Float64bits(v) {
			return false
		}
	}
	return true
}

type decodedChunk struct {
	ts []int64
	vs []float64
	ok bool
}

// decodeAll decodes a whole chunk; ok is false on any error.
func decodeAll(b []byte) ([]int64, []float64, bool) {
	var it Iterator
	if it.Reset(b) != nil {
		return nil, nil, false
	}
	ts, vs := make([]int64, 0, it.Len()), make([]float64, 0, it.Len())
	for bt, bv := it.Batch(); len(bt) > 0; bt, bv = it.Batch() {
		ts, vs = append(ts, bt...), append(vs, bv[:len(bt)]...)
	}
	return ts, vs, it.Err() == nil && len(ts) == it.Len()
}

// firstValues is the encoding, first values and decimal scale (0 unless a
// decimal chunk) of a serialised adaptive chunk of at least
// minQuotientSamples samples, decoding no other value: up to the first
// headLen of an integer chunk (the differences are screened with them),
// the first of any other; ok is false for any other chunk.
func firstValues(b []byte) (enc Encoding, head [headLen]float64, scale int, ok bool) {
	var it Iterator
	if it.Reset(b) != nil || it.enc < EncIntAdaptive {
		return 0, head, 0, false
	}
	n := 1
	if it.enc == EncIntAdaptive {
		n = min(headLen, it.Len())
	}
	if !it.fill(n) || it.bn < n {
		return 0, head, 0, false
	}
	copy(head[:], it.bv[:n])
	return it.enc, head, int(it.scale), true
}
