package chunkenc

import (
	"encoding/binary"
	"math/bits"
)

// An adaptive sequence codes a series of int64 (timestamps, exact integer
// values, or floats read as order-preserving integers) as the residual
// against a predicted value, in a Rice code whose parameter follows the
// recent size of the residuals. Encoder and decoder keep the same state
// and update it from the values already coded, so nothing about the
// choice is stored: the coding adapts per chunk and per stretch of a chunk
// to the shape of the series, as LOCO-I/JPEG-LS does for pixels.
//
// Three predictors compete, each scored by the bit length of the residual
// it would have had over the last few values:
//   - the previous value (gauges, random walks: the delta is coded);
//   - the previous value plus the previous delta (delta-of-delta: regular
//     timestamps, counters with a steady rate);
//   - the previous value plus a running mean of the deltas (counters with
//     a noisy rate, timestamps with jitter: the noise is coded once
//     instead of twice, as delta-of-delta would).
//
// Residuals often share trailing zero bits: byte counts in KiB or disk
// blocks, percentages of such counts (their floats have short mantissas).
// Once a few residuals are in, the Rice code leaves out the zero bits that
// every residual so far had; a residual without them is escaped, and the
// shift drops to what it has.
//
// The first value is written in 64 bits and the second as a length-
// prefixed delta; from the third on each value is a Rice code: q = r>>k
// as q zero bits and a one, then the low k bits of r, where r is the
// zigzag of the residual. A quotient of riceEscape or more is written as
// riceEscape zeros and the length-prefixed residual.

const (
	// riceEscape zero bits mark a residual too big for its Rice code.
	riceEscape = 24
	// statsWarm residuals are summed for the Rice statistics; after
	// them the sum is a running one that forgets 1/statsWarm per value,
	// so that it follows the recent values.
	statsWarm = 16
	// statsCap bounds one residual's weight in the statistics, so that
	// the sum cannot overflow.
	statsCap = 1 << 58
	// lengthBits hold a length of 0..64 in a length-prefixed value.
	lengthBits = 7
)

// seq is the state of one adaptive sequence, the same in the encoder and
// the decoder.
type seq struct {
	x    int64     // last value
	d    int64     // last delta
	avg  int64     // running mean of the deltas
	pred int64     // the prediction for the next value, worked out once after each value
	a    uint64    // recent residual sum, of n or statsWarm residuals (Rice statistics)
	cost [3]uint32 // recent residual bit lengths of each predictor, ×128
	i    int32     // values coded (a chunk holds at most MaxSamples); from the third on each is a residual
	n    uint8     // residuals in a, up to statsWarm
	// shift is the trailing zero bits left out of residuals: the fewest
	// any nonzero delta had (minTZ), once shiftAfter are in.
	shift, minTZ uint8
	k            uint8 // the Rice parameter for the next value
	best         uint8 // the predictor of least cost
}

// shiftAfter residuals are seen before trailing zeros are left out.
const shiftAfter = 4

// update takes value v, whose residual was r, into the state, and works
// out pred and k for the next value. pred comes from the predictor with
// the smallest recent cost: the last value, the last value plus the last
// delta, or the last value plus the mean delta cut to the shift (so that
// every prediction keeps the trailing zeros of the values). k is the bit
// length of 3/8 of the recent mean residual (measured best on the devops
// set among 1, 2/3, 1/2, 3/8, 1/3, 1/4) without the shifted-out bits; the
// mean is exact over the first statsWarm residuals and a running mean (a
// shift, no division) after. It is written out flat, without loops over
// the predictors: it runs for every timestamp and value decoded.
func (s *seq) update(v, r int64) {
	d := v - s.x
	// costs: an EMA of the residual bit length ×128 (the sums wrap back
	// into range). Scoring every fourth value only saved a tenth of the
	// decoding time and cost 1.3 % in size.
	c0 := uint32(bits.Len64(zigzag(d)))
	c1 := uint32(bits.Len64(zigzag(d - s.d)))
	c2 := uint32(bits.Len64(zigzag(d - s.avg>>s.shift<<s.shift)))
	s.cost[0] += c0<<4 - s.cost[0]>>3
	s.cost[1] += c1<<4 - s.cost[1]>>3
	s.cost[2] += c2<<4 - s.cost[2]>>3
	switch {
	case s.cost[1] < s.cost[0] && s.cost[1] <= s.cost[2]:
		s.best = 1
	case s.cost[2] < s.cost[0] && s.cost[2] < s.cost[1]:
		s.best = 2
	default:
		s.best = 0
	}
	if d != 0 {
		s.minTZ = min(s.minTZ, uint8(bits.TrailingZeros64(uint64(d))))
	}
	if s.i-1 >= shiftAfter { // s.i-1 residuals coded, this one included
		s.shift = s.minTZ
	}
	zz := min(zigzag(r), statsCap)
	if s.n < statsWarm {
		s.a += zz
		s.n++
	} else {
		s.a += zz - s.a/statsWarm
	}
	s.avg += (d - s.avg) >> 3
	s.x, s.d = v, d
	s.i++
	s.next()
}

// next works out pred and k (see update) from the state.
func (s *seq) next() {
	switch s.best {
	case 1:
		s.pred = s.x + s.d
	case 2:
		s.pred = s.x + s.avg>>s.shift<<s.shift
	default:
		s.pred = s.x
	}
	m := s.a / statsWarm // a power of two: a shift
	if s.n < statsWarm {
		m = 0
		if s.n > 0 {
			m = s.a / uint64(s.n)
		}
	}
	s.k = 0
	if k := uint8(bits.Len64(m * 3 / 8)); k > s.shift {
		s.k = k - s.shift
	}
}

// start takes the first two values into the state.
func (s *seq) start(v int64) {
	if s.i == 0 {
		s.minTZ = 63 // no delta yet
	} else {
		s.d = v - s.x
		s.avg = s.d
		if s.d != 0 {
			s.minTZ = uint8(bits.TrailingZeros64(uint64(s.d)))
		}
	}
	s.x = v
	s.i++
	if s.i == 2 {
		s.next()
	}
}

// put codes v.
func (s *seq) put(w *bitWriter, v int64) {
	switch s.i {
	case 0:
		w.writeBits(uint64(v), 64)
		s.start(v)
		return
	case 1:
		writeLong(w, zigzag(v-s.x))
		s.start(v)
		return
	}
	r := v - s.pred
	k := s.k
	y := zigzag(r >> s.shift)
	if q := y >> k; q < riceEscape && (r>>s.shift)<<s.shift == r {
		// q zero bits, a one, and y's low k bits; one write when they fit
		// in 64 bits, as nearly all do.
		if n := uint8(q) + 1 + k; n <= 64 {
			w.writeBits(1<<k|y&(1<<k-1), n)
		} else {
			w.writeBits(1, uint8(q)+1)
			w.writeBits(y, k)
		}
	} else {
		w.writeBits(0, riceEscape)
		writeLong(w, zigzag(r))
	}
	s.update(v, r)
}

// get decodes the next value; ok is false when the data ends first.
func (s *seq) get(rd *bitReader) (int64, bool) {
	switch s.i {
	case 0:
		u, ok := rd.readBits(64)
		if !ok {
			return 0, false
		}
		s.start(int64(u))
		return int64(u), true
	case 1:
		zz, ok := readLong(rd)
		if !ok {
			return 0, false
		}
		v := s.x + unzigzag(zz)
		s.start(v)
		return v, true
	}
	k := s.k
	// Fast path: the whole code lies in one 64-bit peek (57 bits sure).
	if rd.pos <= rd.end {
		w := rd.peek()
		z := uint(bits.LeadingZeros64(w))
		if n := z + 1 + uint(k); z < riceEscape && n <= 57 && n <= rd.end-rd.pos {
			rd.pos += n
			r := unzigzag(uint64(z)<<k|(w<<(z+1))>>(64-k)) << s.shift // a shift by 64 gives 0
			v := s.pred + r
			s.update(v, r)
			return v, true
		}
	}
	q, escaped, ok := rd.readZeros(riceEscape)
	if !ok {
		return 0, false
	}
	var r int64
	if escaped {
		zz, ok := readLong(rd)
		if !ok {
			return 0, false
		}
		r = unzigzag(zz)
	} else {
		low, ok := rd.readBits(k)
		if !ok {
			return 0, false
		}
		r = unzigzag(uint64(q)<<k|low) << s.shift
	}
	v := s.pred + r
	s.update(v, r)
	return v, true
}

// getN decodes up to len(dst) values into dst, the same values get
// would return one by one, and says how many it decoded: fewer than
// len(dst) only when the data ends first or is corrupt.
func (s *seq) getN(rd *bitReader, dst []int64) int {
	i := 0
	for i < len(dst) {
		if s.n >= statsWarm {
			if i += s.warmN(rd, dst[i:]); i == len(dst) {
				break
			}
		}
		v, ok := s.get(rd)
		if !ok {
			return i
		}
		dst[i] = v
		i++
	}
	return i
}

// warmN is get and update written as one loop, for a warm state (the
// first statsWarm residuals in: the Rice statistics are a running sum
// and the shift follows minTZ), with the state in local variables, so
// that the compiler keeps it in registers rather than in memory, and
// without a call per value. It decodes into dst every code that lies in
// one 64-bit load at least 8 bytes before the end of the data, and
// stops at the first that does not (an escape, a code over 57 bits, the
// last bytes), which get decodes. It must stay value for value what
// update and next do: TestBatchMatchesNext and the fuzz tests hold it.
func (s *seq) warmN(rd *bitReader, dst []int64) int {
	b, pos, end := rd.b, rd.pos, rd.end
	if end > uint(len(b))*8 || pos > end {
		return 0
	}
	x, d, avg, pred, a := s.x, s.d, s.avg, s.pred, s.a
	c0, c1, c2 := s.cost[0], s.cost[1], s.cost[2]
	shift, minTZ, k := s.shift, s.minTZ, s.k
	var best uint8
	i := 0
	for ; i < len(dst) && end-pos >= 64; i++ {
		w := binary.BigEndian.Uint64(b[pos>>3:]) << (pos & 7)
		z := uint(bits.LeadingZeros64(w))
		n := z + 1 + uint(k)
		if z >= riceEscape || n > 57 {
			break
		}
		pos += n
		r := unzigzag(uint64(z)<<k|(w<<(z+1))>>(64-k)) << shift // a shift by 64 gives 0
		v := pred + r
		dst[i] = v
		// update
		dv := v - x
		c0 += uint32(bits.Len64(zigzag(dv)))<<4 - c0>>3
		c1 += uint32(bits.Len64(zigzag(dv-d)))<<4 - c1>>3
		c2 += uint32(bits.Len64(zigzag(dv-avg>>shift<<shift)))<<4 - c2>>3
		// The trailing zeros of 0 are 64, more than minTZ ever is.
		minTZ = min(minTZ, uint8(bits.TrailingZeros64(uint64(dv))))
		shift = minTZ
		a += min(zigzag(r), statsCap) - a/statsWarm
		avg += (dv - avg) >> 3
		x, d = v, dv
		// next: the predictor chosen as update does, written as
		// conditional moves rather than branches, which a walk whose
		// predictors score alike would mispredict.
		step := int64(0)
		if c2 < min(c0, c1) {
			step = avg >> shift << shift
		}
		if c1 < min(c0, c2+1) {
			step = d
		}
		pred = x + step
		k = max(uint8(bits.Len64(a/statsWarm*3/8)), shift) - shift
	}
	switch {
	case c1 < c0 && c1 <= c2:
		best = 1
	case c2 < c0 && c2 < c1:
		best = 2
	default:
		best = 0
	}
	rd.pos = pos
	s.x, s.d, s.avg, s.pred, s.a = x, d, avg, pred, a
	s.cost = [3]uint32{c0, c1, c2}
	s.shift, s.minTZ, s.k, s.best = shift, minTZ, k, best
	s.i += int32(i)
	return i
}

// writeLong writes u as its bit length and the bits below its top bit.
func writeLong(w *bitWriter, u uint64) {
	n := uint8(bits.Len64(u))
	w.writeBits(uint64(n), lengthBits)
	if n > 1 {
		w.writeBits(u, n-1)
	}
}

func readLong(r *bitReader) (uint64, bool) {
	n, ok := r.readBits(lengthBits)
	if !ok || n > 64 {
		return 0, false
	}
	if n <= 1 {
		return n, true
	}
	low, ok := r.readBits(uint8(n - 1))
	return 1<<(n-1) | low, ok
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }
