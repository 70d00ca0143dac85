package chunkenc

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// bitWriter appends bits most significant first. Bits gather in a 64-bit
// accumulator that goes to the byte slice eight bytes at a time, so a
// write is a shift and an or, not a loop over bytes.
type bitWriter struct {
	b   []byte
	acc uint64 // pending bits, most significant first
	n   uint8  // bits used in acc, 0..63
	// step is the least a grow adds: set from the size the buffer is
	// expected to reach, it makes a few large steps instead of many
	// small ones (each a copy, and garbage).
	step uint32
}

// writeBits writes the low n bits of u (n <= 64).
func (w *bitWriter) writeBits(u uint64, n uint8) {
	if n == 0 {
		return
	}
	if n < 64 {
		u &= 1<<n - 1
	}
	free := 64 - w.n
	if n < free {
		w.acc |= u << (free - n)
		w.n += n
		return
	}
	rem := n - free // bits of u that do not fit in acc
	w.acc |= u >> rem
	if len(w.b)+8 > cap(w.b) {
		w.grow()
	}
	w.b = binary.BigEndian.AppendUint64(w.b, w.acc)
	w.acc = u << (64 - rem) // a shift by 64 gives 0
	w.n = rem
}

// grow makes room for at least 8 more bytes, by an eighth and 32 bytes
// rather than append's doubling: every open chunk of every series holds
// its buffer for an hour, so slack is memory the head keeps (an eighth
// leaves ~6 % on average where a quarter left ~12 %); the copying adds
// up to about eight times a chunk's size, once an hour, and the copies
// hold no pointers for the collector to mark. With a step (see
// Chunk.SizeHint) it grows by that, but at most doubles: a chunk that
// grows to its last one's size copies about half as much, in a tenth of
// the steps, and a young chunk's slack stays under its size.
func (w *bitWriter) grow() {
	c := cap(w.b)
	b := make([]byte, len(w.b), allocSize(c+max(c/8+32, min(int(w.step), c))))
	copy(b, w.b)
	w.b = b
}

// allocClasses are the Go allocator's small size classes (runtime's
// sizeclasses.go): a buffer of n bytes takes the class at or above n.
var allocClasses = [...]uint16{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
	2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728,
	10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

// allocSize is n rounded up to the size the allocator gives a buffer of
// n bytes anyway (larger than the classes: whole pages), so that a buffer's capacity is all of its memory.
func allocSize(n int) int {
	if n > int(allocClasses[len(allocClasses)-1]) {
		return (n + 8191) &^ 8191 // large objects take whole 8 KiB pages
	}
	i, _ := slices.BinarySearch(allocClasses[:], uint16(n))
	return int(allocClasses[i])
}

func (w *bitWriter) writeBit(bit bool) {
	if bit {
		w.writeBits(1, 1)
	} else {
		w.writeBits(0, 1)
	}
}

// size is the number of bytes the written bits take.
func (w *bitWriter) size() int { return len(w.b) + int(w.n+7)/8 }

// appendTo appends the written bits to dst, the last byte padded with
// zero bits.
func (w *bitWriter) appendTo(dst []byte) []byte {
	dst = append(dst, w.b...)
	acc := w.acc
	for i := 0; i < int(w.n+7)/8; i++ {
		dst = append(dst, byte(acc>>56))
		acc <<= 8
	}
	return dst
}

// bitReader reads bits most significant first; it never reads past its data.
type bitReader struct {
	b   []byte
	pos uint // next bit
	end uint // bits available
}

func newBitReader(b []byte) bitReader { return bitReader{b: b, end: uint(len(b)) * 8} }

// peek returns the next 64 bits at pos, of which at least 57 are from
// pos on; bits past the data read as zero.
func (r *bitReader) peek() uint64 {
	i := r.pos >> 3
	var v uint64
	if i+8 <= uint(len(r.b)) {
		v = binary.BigEndian.Uint64(r.b[i:])
	} else {
		for j := i; j < i+8; j++ {
			v <<= 8
			if j < uint(len(r.b)) {
				v |= uint64(r.b[j])
			}
		}
	}
	return v << (r.pos & 7)
}

// gridN reads width-bit offsets into dst as t + i×step + offset, for as
// many as lie in whole 8-byte loads of the data (width at most 56), and
// returns how many: the loop of a grid chunk's timestamps, with no call
// and no bounds check but the load's.
func (r *bitReader) gridN(width uint8, dst []int64, t, step int64) int {
	b, pos := r.b, r.pos
	if width > 56 || pos > r.end {
		return 0
	}
	i := 0
	for ; i < len(dst) && int(pos>>3)+8 <= len(b) && uint(width) <= r.end-pos; i++ {
		w := binary.BigEndian.Uint64(b[pos>>3:]) << (pos & 7)
		dst[i] = t + int64(w>>(64-width)) // a shift by 64 (width 0) gives 0
		t += step
		pos += uint(width)
	}
	r.pos = pos
	return i
}

func (r *bitReader) readBit() (bool, bool) {
	v, ok := r.readBits(1)
	return v == 1, ok
}

// readBits reads n bits (n <= 64).
func (r *bitReader) readBits(n uint8) (uint64, bool) {
	if n == 0 {
		return 0, true
	}
	if r.pos > r.end || uint(n) > r.end-r.pos {
		return 0, false
	}
	if n > 56 {
		hi, _ := r.readBits(32)
		lo, _ := r.readBits(n - 32)
		return hi<<(n-32) | lo, true
	}
	v := r.peek() >> (64 - n)
	r.pos += uint(n)
	return v, true
}

// readZeros counts the zero bits before the next one bit and consumes
// them and the one. After max zeros it stops without a one bit and
// reports escaped. ok is false when the data ends first.
func (r *bitReader) readZeros(max uint8) (zeros uint8, escaped, ok bool) {
	if r.pos > r.end {
		return 0, false, false
	}
	avail := r.end - r.pos
	z := uint(bits.LeadingZeros64(r.peek())) // max < 57: the peek covers it
	if z >= uint(max) {
		if uint(max) > avail {
			return 0, false, false
		}
		r.pos += uint(max)
		return max, true, true
	}
	if z+1 > avail {
		return 0, false, false
	}
	r.pos += z + 1
	return uint8(z), false, true
}
