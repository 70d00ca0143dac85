// Package chunkenc encodes the samples of one series into compact chunks:
// timestamps as delta-of-delta, values either as Gorilla-style XOR floats or,
// while every value of the chunk is an exact integer, as integer
// delta-of-delta. Both are lossless: every float64 comes back bit for bit.
//
// A serialised chunk keeps its timestamps and values in two separate byte
// sections, timestamps first, so that the chunks of series sampled together
// (all series of one host share each batch's timestamp) carry identical
// timestamp sections that block compression stores once.
package chunkenc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Encoding says how a chunk's values are coded.
type Encoding byte

// The value encodings.
const (
	// EncXOR codes each float as the XOR with its predecessor.
	EncXOR Encoding = 1
	// EncInt codes exact integers (|v| <= 2^53) as delta-of-delta.
	EncInt Encoding = 2
)

func (e Encoding) String() string {
	switch e {
	case EncXOR:
		return "xor"
	case EncInt:
		return "int"
	}
	return fmt.Sprintf("encoding(%d)", byte(e))
}

// MaxSamples bounds one chunk; the sample count is stored in 16 bits.
const MaxSamples = math.MaxUint16

// headerSize is the encoding byte and the 16-bit sample count.
const headerSize = 3

// maxExactInt is the largest magnitude below which every integer is an
// exact float64.
const maxExactInt = 1 << 53

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("corrupt chunk")

// Chunk is a chunk being appended to. Its zero value is an empty chunk.
// A Chunk is not safe for concurrent use.
type Chunk struct {
	enc Encoding
	n   int
	ts  bitWriter
	vs  bitWriter

	t, tDelta int64
	// XOR state
	v                 float64
	leading, trailing uint8
	// integer state
	iv, ivDelta int64
}

// Len is the number of samples.
func (c *Chunk) Len() int { return c.n }

// Encoding is the current value encoding.
func (c *Chunk) Encoding() Encoding { return c.enc }

// Size is the current size of the serialised chunk in bytes, roughly.
func (c *Chunk) Size() int { return headerSize + 2 + len(c.ts.b) + len(c.vs.b) }

// Last is the last sample appended; ok is false for an empty chunk.
func (c *Chunk) Last() (t int64, v float64, ok bool) {
	if c.n == 0 {
		return 0, 0, false
	}
	if c.enc == EncInt {
		return c.t, float64(c.iv), true
	}
	return c.t, c.v, true
}

// Append adds a sample. The caller keeps timestamps strictly increasing.
// It returns false, adding nothing, when the chunk is full.
func (c *Chunk) Append(t int64, v float64) bool {
	if c.n >= MaxSamples {
		return false
	}
	if c.n == 0 {
		c.enc = EncXOR
		if isInt(v) {
			c.enc = EncInt
		}
		c.ts.writeBits(uint64(t), 64)
		c.t, c.tDelta = t, 0
	} else {
		d := t - c.t
		tsBuckets.write(&c.ts, d-c.tDelta)
		c.t, c.tDelta = t, d
	}
	if c.enc == EncInt && !isInt(v) {
		c.toXOR()
	}
	if c.enc == EncInt {
		iv := int64(v)
		d := iv - c.iv
		if c.n == 0 {
			d = iv
		}
		intBuckets.write(&c.vs, d-c.ivDelta)
		c.iv = iv
		if c.n == 0 {
			c.ivDelta = 0
		} else {
			c.ivDelta = d
		}
	} else {
		c.writeXOR(v)
	}
	c.n++
	return true
}

// toXOR re-codes the values so far as XOR floats, when a value that is not
// an exact integer arrives in an integer chunk.
func (c *Chunk) toXOR() {
	vals := make([]float64, 0, c.n)
	r := newBitReader(c.vs.b)
	var iv, ivDelta int64
	for i := 0; i < c.n; i++ {
		dod, _ := intBuckets.read(&r) // written by this chunk: always complete
		d := dod + ivDelta
		iv += d
		if i == 0 {
			ivDelta = 0
		} else {
			ivDelta = d
		}
		vals = append(vals, float64(iv))
	}
	c.enc = EncXOR
	c.vs = bitWriter{b: make([]byte, 0, len(c.vs.b)*2)}
	n := c.n
	for i, v := range vals {
		c.n = i
		c.writeXOR(v)
	}
	c.n = n
}

func (c *Chunk) writeXOR(v float64) {
	if c.n == 0 {
		c.vs.writeBits(math.Float64bits(v), 64)
		c.v, c.leading, c.trailing = v, 0xff, 0
		return
	}
	x := math.Float64bits(v) ^ math.Float64bits(c.v)
	c.v = v
	if x == 0 {
		c.vs.writeBit(false)
		return
	}
	c.vs.writeBit(true)
	lead := uint8(bits.LeadingZeros64(x))
	trail := uint8(bits.TrailingZeros64(x))
	if lead > 31 {
		lead = 31
	}
	if c.leading != 0xff && lead >= c.leading && trail >= c.trailing {
		c.vs.writeBit(false)
		c.vs.writeBits(x>>c.trailing, 64-c.leading-c.trailing)
		return
	}
	c.leading, c.trailing = lead, trail
	sig := 64 - lead - trail
	c.vs.writeBit(true)
	c.vs.writeBits(uint64(lead), 5)
	c.vs.writeBits(uint64(sig&63), 6) // 64 is written as 0
	c.vs.writeBits(x>>trail, sig)
}

func isInt(v float64) bool {
	if !(v >= -maxExactInt && v <= maxExactInt) {
		return false
	}
	i := int64(v)
	return math.Float64bits(float64(i)) == math.Float64bits(v) // rules out -0 and fractions
}

// Bytes serialises the chunk: encoding, sample count, the length of the
// timestamp section as a uvarint, the timestamps, the values.
func (c *Chunk) Bytes() []byte {
	return c.AppendBytes(make([]byte, 0, c.Size()))
}

// AppendBytes appends the serialised chunk to dst.
func (c *Chunk) AppendBytes(dst []byte) []byte {
	dst = append(dst, byte(c.enc))
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.n))
	dst = binary.AppendUvarint(dst, uint64(len(c.ts.b)))
	dst = append(dst, c.ts.b...)
	return append(dst, c.vs.b...)
}

// FromBytes rebuilds an appendable chunk from its serialised form.
func FromBytes(b []byte) (*Chunk, error) {
	it, err := NewIterator(b)
	if err != nil {
		return nil, err
	}
	c := &Chunk{}
	for it.Next() {
		c.Append(it.At())
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Iterator walks the samples of a serialised chunk.
type Iterator struct {
	enc    Encoding
	n, i   int
	ts, vs bitReader

	t, tDelta         int64
	v                 float64
	leading, trailing uint8
	iv, ivDelta       int64
	err               error
}

// NewIterator checks the header of b and returns an iterator over it. The
// iterator reads b in place; b must not change while it is used.
func NewIterator(b []byte) (*Iterator, error) {
	it := &Iterator{}
	if err := it.Reset(b); err != nil {
		return nil, err
	}
	return it, nil
}

// Reset points the iterator at another chunk.
func (it *Iterator) Reset(b []byte) error {
	*it = Iterator{}
	if len(b) < headerSize {
		return fmt.Errorf("%w: %d bytes", ErrCorrupt, len(b))
	}
	it.enc = Encoding(b[0])
	if it.enc != EncXOR && it.enc != EncInt {
		return fmt.Errorf("%w: unknown encoding %d", ErrCorrupt, b[0])
	}
	it.n = int(binary.BigEndian.Uint16(b[1:3]))
	tsLen, k := binary.Uvarint(b[headerSize:])
	if k <= 0 || tsLen > uint64(len(b)-headerSize-k) {
		return fmt.Errorf("%w: bad timestamp section length", ErrCorrupt)
	}
	rest := b[headerSize+k:]
	it.ts = newBitReader(rest[:tsLen])
	it.vs = newBitReader(rest[tsLen:])
	return nil
}

// Len is the number of samples the chunk claims.
func (it *Iterator) Len() int { return it.n }

// Next advances to the next sample; it returns false at the end or on error.
func (it *Iterator) Next() bool {
	if it.err != nil || it.i >= it.n {
		return false
	}
	if it.i == 0 {
		u, ok := it.ts.readBits(64)
		if !ok {
			return it.fail("timestamp")
		}
		it.t = int64(u)
	} else {
		dod, ok := tsBuckets.read(&it.ts)
		if !ok {
			return it.fail("timestamp")
		}
		it.tDelta += dod
		it.t += it.tDelta
	}
	if it.enc == EncInt {
		dod, ok := intBuckets.read(&it.vs)
		if !ok {
			return it.fail("value")
		}
		d := dod + it.ivDelta
		it.iv += d
		if it.i == 0 {
			it.ivDelta = 0
		} else {
			it.ivDelta = d
		}
	} else if !it.readXOR() {
		return it.fail("value")
	}
	it.i++
	return true
}

func (it *Iterator) readXOR() bool {
	if it.i == 0 {
		u, ok := it.vs.readBits(64)
		it.v, it.leading = math.Float64frombits(u), 0xff
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
		it.leading, it.trailing = uint8(lead), uint8(64-lead-sig)
	} else if it.leading == 0xff {
		return false
	}
	x, ok := it.vs.readBits(64 - it.leading - it.trailing)
	if !ok {
		return false
	}
	it.v = math.Float64frombits(math.Float64bits(it.v) ^ x<<it.trailing)
	return true
}

func (it *Iterator) fail(what string) bool {
	it.err = fmt.Errorf("%w: %s of sample %d of %d cut short", ErrCorrupt, what, it.i, it.n)
	return false
}

// At is the current sample.
func (it *Iterator) At() (int64, float64) {
	if it.enc == EncInt {
		return it.t, float64(it.iv)
	}
	return it.t, it.v
}

// Err is the decoding error that ended the iteration, if any.
func (it *Iterator) Err() error { return it.err }

// Count is the number of samples a serialised chunk claims, 0 if b is too
// short to say.
func Count(b []byte) int {
	if len(b) < headerSize {
		return 0
	}
	return int(binary.BigEndian.Uint16(b[1:3]))
}
