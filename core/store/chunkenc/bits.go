package chunkenc

// bitWriter appends bits most significant first to a byte slice.
type bitWriter struct {
	b    []byte
	free uint8 // unused low bits in the last byte of b
}

func (w *bitWriter) writeBit(bit bool) {
	if w.free == 0 {
		w.b = append(w.b, 0)
		w.free = 8
	}
	w.free--
	if bit {
		w.b[len(w.b)-1] |= 1 << w.free
	}
}

// writeBits writes the low n bits of u (n <= 64).
func (w *bitWriter) writeBits(u uint64, n uint8) {
	for n > 0 {
		if w.free == 0 {
			w.b = append(w.b, 0)
			w.free = 8
		}
		take := min(n, w.free)
		part := byte((u >> (n - take)) & (1<<take - 1))
		w.free -= take
		w.b[len(w.b)-1] |= part << w.free
		n -= take
	}
}

// bitCount is the number of bits written.
func (w *bitWriter) bitCount() int { return len(w.b)*8 - int(w.free) }

// bitReader reads bits most significant first; it never reads past its data.
type bitReader struct {
	b   []byte
	pos uint // next bit
	end uint // bits available
}

func newBitReader(b []byte) bitReader { return bitReader{b: b, end: uint(len(b)) * 8} }

func (r *bitReader) readBit() (bool, bool) {
	if r.pos >= r.end {
		return false, false
	}
	bit := r.b[r.pos>>3]&(0x80>>(r.pos&7)) != 0
	r.pos++
	return bit, true
}

func (r *bitReader) readBits(n uint8) (uint64, bool) {
	if uint(n) > r.end-r.pos || r.pos > r.end {
		return 0, false
	}
	var v uint64
	for n > 0 {
		off := uint8(r.pos & 7)
		avail := 8 - off
		take := min(avail, n)
		bits := uint64(r.b[r.pos>>3]>>(avail-take)) & (1<<take - 1)
		v = v<<take | bits
		r.pos += uint(take)
		n -= take
	}
	return v, true
}

// dodBuckets are the widths of the signed delta-of-delta classes. A value
// is written as a unary class prefix (0, 10, 110, ...) and then that many
// bits; the last class has no terminating zero and holds any int64.
type dodBuckets []uint8

// Timestamp classes suit regular intervals with millisecond jitter: a
// fixed interval costs one bit, ±63 ms of jitter nine.
var tsBuckets = dodBuckets{0, 7, 12, 20, 64}

// Integer value classes suit counters with a noisy rate and gauges that
// move by small steps.
var intBuckets = dodBuckets{0, 6, 13, 20, 32, 64}

func (bs dodBuckets) write(w *bitWriter, v int64) {
	last := len(bs) - 1
	for i, n := range bs {
		if i == last || fitsSigned(v, n) {
			if i < last {
				w.writeBits((1<<uint(i+1))-2, uint8(i+1)) // i ones then a zero
			} else {
				w.writeBits((1<<uint(i))-1, uint8(i)) // i ones
			}
			if n == 64 {
				w.writeBits(uint64(v), 64)
			} else if n > 0 {
				w.writeBits(uint64(v)&(1<<n-1), n)
			}
			return
		}
	}
}

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

func fitsSigned(v int64, n uint8) bool {
	if n == 0 {
		return v == 0
	}
	if n >= 64 {
		return true
	}
	lim := int64(1) << (n - 1)
	return v >= -lim && v < lim
}
