package wire

import (
	"encoding/binary"
	"math"
)

// decodeBatchFast decodes the body of a batch frame (after its type byte)
// into b, which reset has emptied, for the shape agents send nearly every
// time: a map of seq and snapshots, each snapshot a map of its time, ids
// and floating-point values, all of definite length, without series
// definitions. It reports false, leaving b to be reset again, for anything
// else: definitions, an unknown or repeated key, another type where a
// number is expected, a length past the data or the decoder's limits, or
// bytes after the message. The general decoder then reads the frame and
// gives its result or its error, so this path changes no outcome, only
// the cost of the common one: it reads the samples without reflection.
func decodeBatchFast(data []byte, b *Batch) bool {
	d := fastDecoder{data: data}
	ok := d.fields(func(key uint64) bool {
		switch key {
		case 1:
			var ok bool
			b.Seq, ok = d.head(majorUint)
			return ok
		case 3:
			return d.snapshots(b)
		}
		return false // 2, series definitions: the general decoder
	})
	return ok && d.pos == len(d.data)
}

// CBOR major types.
const (
	majorUint  = 0
	majorNeg   = 1
	majorArray = 4
	majorMap   = 5
	majorOther = 7 // floats and simple values
)

type fastDecoder struct {
	data []byte
	pos  int
}

// next reads an item's head: its major type and argument. Indefinite
// lengths and the reserved forms report false.
func (d *fastDecoder) next() (major byte, arg uint64, info byte, ok bool) {
	if d.pos >= len(d.data) {
		return 0, 0, 0, false
	}
	c := d.data[d.pos]
	d.pos++
	major, info = c>>5, c&0x1f
	var size int
	switch {
	case info < 24:
		return major, uint64(info), info, true
	case info == 24:
		size = 1
	case info == 25:
		size = 2
	case info == 26:
		size = 4
	case info == 27:
		size = 8
	default:
		return 0, 0, 0, false
	}
	if len(d.data)-d.pos < size {
		return 0, 0, 0, false
	}
	b := d.data[d.pos : d.pos+size]
	d.pos += size
	switch size {
	case 1:
		arg = uint64(b[0])
	case 2:
		arg = uint64(binary.BigEndian.Uint16(b))
	case 4:
		arg = uint64(binary.BigEndian.Uint32(b))
	default:
		arg = binary.BigEndian.Uint64(b)
	}
	return major, arg, info, true
}

// head reads an item of the major type want and returns its argument.
func (d *fastDecoder) head(want byte) (uint64, bool) {
	major, arg, _, ok := d.next()
	return arg, ok && major == want
}

// length reads the head of an array or map of n items, n at most limit
// and no more than the bytes left (every item takes one at least).
func (d *fastDecoder) length(major byte, limit int) (int, bool) {
	n, ok := d.head(major)
	if !ok || n > uint64(limit) || n > uint64(len(d.data)-d.pos) {
		return 0, false
	}
	return int(n), true
}

// fields reads a map whose keys are 1, 2 or 3, each at most once,
// calling field to read the value of each; false from field ends it.
func (d *fastDecoder) fields(field func(key uint64) bool) bool {
	n, ok := d.length(majorMap, maxMapPairs)
	if !ok {
		return false
	}
	var seen [4]bool
	for range n {
		key, ok := d.head(majorUint)
		if !ok || key == 0 || key > 3 || seen[key] {
			return false
		}
		seen[key] = true
		if !field(key) {
			return false
		}
	}
	return true
}

func (d *fastDecoder) snapshots(b *Batch) bool {
	n, ok := d.length(majorArray, maxArrayElements)
	if !ok {
		return false
	}
	// An empty list decodes to an empty slice, not nil, as the general
	// decoder has it (a re-encoded batch then says the same).
	if b.Snapshots == nil {
		b.Snapshots = []Snapshot{}
	}
	if cap(b.Snapshots) < n {
		b.Snapshots = append(b.Snapshots[:cap(b.Snapshots)], make([]Snapshot, n-cap(b.Snapshots))...)
	}
	b.Snapshots = b.Snapshots[:n]
	for i := range b.Snapshots {
		if !d.snapshot(&b.Snapshots[i]) {
			return false
		}
	}
	return true
}

func (d *fastDecoder) snapshot(s *Snapshot) bool {
	return d.fields(func(key uint64) bool {
		switch key {
		case 1:
			major, arg, _, ok := d.next()
			switch {
			case !ok || arg > math.MaxInt64:
				return false
			case major == majorUint:
				s.TimeMS = int64(arg)
			case major == majorNeg:
				s.TimeMS = -1 - int64(arg)
			default:
				return false
			}
		case 2:
			return d.ids(s)
		case 3:
			return d.values(s)
		}
		return true
	})
}

// ids reads a snapshot's ids into s.IDs, reusing its memory.
func (d *fastDecoder) ids(s *Snapshot) bool {
	n, ok := d.length(majorArray, maxArrayElements)
	if !ok {
		return false
	}
	ids := s.IDs[:0]
	if ids == nil {
		ids = []uint32{}
	}
	for range n {
		id, ok := d.head(majorUint)
		if !ok || id > math.MaxUint32 {
			return false
		}
		ids = append(ids, uint32(id))
	}
	s.IDs = ids
	return true
}

// values reads a snapshot's values into s.Values, reusing its memory.
func (d *fastDecoder) values(s *Snapshot) bool {
	n, ok := d.length(majorArray, maxArrayElements)
	if !ok {
		return false
	}
	vs := s.Values[:0]
	if vs == nil {
		vs = []float64{}
	}
	for range n {
		major, arg, info, ok := d.next()
		if !ok || major != majorOther {
			return false
		}
		switch info {
		case 25:
			vs = append(vs, float64(halfToFloat32(uint16(arg))))
		case 26:
			vs = append(vs, float64(math.Float32frombits(uint32(arg))))
		case 27:
			vs = append(vs, math.Float64frombits(arg))
		default:
			return false // a simple value where a number goes
		}
	}
	s.Values = vs
	return true
}

// halfToFloat32 widens an IEEE 754 half-precision float, exactly, NaN
// payloads included (as the general decoder does).
func halfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // infinities and NaNs
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalised in float32
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}
