package chunkenc

import "math"

// The first chunk format (EncXOR, EncInt) is still read, so that chunks
// written before the adaptive codings came keep their samples; it is no
// longer written. Its timestamps and integer values are delta-of-delta in
// fixed classes, its floats Gorilla XOR.

// dodBuckets are the widths of the signed delta-of-delta classes. A value
// is written as a unary class prefix (0, 10, 110, ...) and then that many
// bits; the last class has no terminating zero and holds any int64.
type dodBuckets []uint8

// Timestamp classes of the first format: a fixed interval costs one bit,
// ±63 ms of jitter nine.
var tsBuckets = dodBuckets{0, 7, 12, 20, 64}

// Integer value classes of the first format.
var intBuckets = dodBuckets{0, 6, 13, 20, 32, 64}

func (bs dodBuckets) read(r *bitReader) (int64, bool) {
	last := len(bs) - 1
	i := 0
	for i < last {
		bit, ok := r.readBit()
		if !ok {
			return 0, false
		}
		if !bit {
			break
		}
		i++
	}
	n := bs[i]
	if n == 0 {
		return 0, true
	}
	u, ok := r.readBits(n)
	if !ok {
		return 0, false
	}
	if n == 64 {
		return int64(u), true
	}
	// sign-extend n bits
	shift := 64 - n
	return int64(u<<shift) >> shift, true
}

// legacyState is the decoding state of the first format.
type legacyState struct {
	tDelta            int64
	leading, trailing uint8
	iv, ivDelta       int64
}

// nextLegacy decodes one sample of the first format into it.t and it.v.
func (it *Iterator) nextLegacy() bool {
	st := &it.legacy
	if it.i == 0 {
		u, ok := it.ts.readBits(64)
		if !ok {
			return it.fail("timestamp", it.i)
		}
		it.t = int64(u)
	} else {
		dod, ok := tsBuckets.read(&it.ts)
		if !ok {
			return it.fail("timestamp", it.i)
		}
		st.tDelta += dod
		it.t += st.tDelta
	}
	if it.enc == EncInt {
		dod, ok := intBuckets.read(&it.vs)
		if !ok {
			return it.fail("value", it.i)
		}
		d := dod + st.ivDelta
		st.iv += d
		if it.i == 0 {
			st.ivDelta = 0
		} else {
			st.ivDelta = d
		}
		it.v = float64(st.iv)
	} else if !it.readXOR() {
		return it.fail("value", it.i)
	}
	it.i++
	return true
}

func (it *Iterator) readXOR() bool {
	st := &it.legacy
	if it.i == 0 {
		u, ok := it.vs.readBits(64)
		it.v, st.leading = math.Float64frombits(u), 0xff
		return ok
	}
	same, ok := it.vs.readBit()
	if !ok {
		return false
	}
	if !same {
		return true
	}
	fresh, ok := it.vs.readBit()
	if !ok {
		return false
	}
	if fresh {
		lead, ok1 := it.vs.readBits(5)
		sig, ok2 := it.vs.readBits(6)
		if !ok1 || !ok2 {
			return false
		}
		if sig == 0 {
			sig = 64
		}
		if lead+sig > 64 {
			return false
		}
		st.leading, st.trailing = uint8(lead), uint8(64-lead-sig)
	} else if st.leading == 0xff {
		return false
	}
	x, ok := it.vs.readBits(64 - st.leading - st.trailing)
	if !ok {
		return false
	}
	it.v = math.Float64frombits(math.Float64bits(it.v) ^ x<<st.trailing)
	return true
}
