// Package chunkenc encodes the samples of one series into compact chunks.
// Timestamps and values are each an adaptive sequence (see adaptive.go):
// every value is coded as its residual against the best of three
// predictors (last value, delta-of-delta, running mean delta) in a Rice
// code sized to the recent residuals. Values are exact integers while
// every value of the chunk is one, and otherwise floats read as
// order-preserving integers of their bits, so that a random walk costs the
// bits of its step, not of its mantissa. Both are lossless: every float64
// comes back bit for bit.
//
// A serialised chunk keeps its timestamps and values in two separate byte
// sections, timestamps first, so that the chunks of series sampled together
// (all series of one host share each batch's timestamp) carry identical
// timestamp sections that block compression stores once.
//
// Chunks of the first format (EncXOR, EncInt: fixed delta-of-delta classes
// and Gorilla XOR floats) are still read, never written.
package chunkenc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Encoding says how a chunk's timestamps and values are coded.
type Encoding byte

// The encodings. The first byte of a serialised chunk names one.
const (
	// EncXOR (first format, read only) codes each float as the XOR with
	// its predecessor.
	EncXOR Encoding = 1
	// EncInt (first format, read only) codes exact integers as
	// delta-of-delta in fixed classes.
	EncInt Encoding = 2
	// EncIntAdaptive codes exact integers (|v| <= 2^53) as an adaptive
	// sequence.
	EncIntAdaptive Encoding = 3
	// EncFloatAdaptive codes floats as an adaptive sequence of their bits
	// read as order-preserving integers.
	EncFloatAdaptive Encoding = 4
	// EncDecimalAdaptive codes floats with few decimals (a load average
	// of 11.98, seconds of 124.86) as the integers m of m/10^scale, an
	// adaptive sequence; the value section starts with the scale byte.
	EncDecimalAdaptive Encoding = 5
)

// regularTimes flags, in the encoding byte, a chunk whose timestamps are
// a fixed interval: its timestamp section is the first timestamp (8 bytes)
// and the interval (uvarint), and reading them costs nothing. Rollup rows
// and samples stamped on a schedule are such.
const regularTimes = 0x80

// gridTimes flags, in the encoding byte, a finished chunk whose
// timestamps sit close to a grid (samples taken on a ticker, with some
// jitter): its timestamp section is the first timestamp (8 bytes), the
// interval (uvarint), the smallest offset from the grid (zigzag uvarint),
// the offsets' bit width (one byte, 0..64), then every sample's offset
// from the grid less the smallest, in that many bits. Decoding one is a
// shift and an add, where an adaptive sequence costs as much as a value;
// and it is smaller when the jitter is uniform (41 values of ±20 ms take
// 6 bits, against ~6.7 adaptive). See SealedBytes.
const gridTimes = 0x40

// maxScale is the most decimals a decimal chunk keeps.
const maxScale = 6

var pow10 = [maxScale + 1]float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6}

func (e Encoding) String() string {
	switch e {
	case EncXOR:
		return "xor"
	case EncInt:
		return "int"
	case EncIntAdaptive:
		return "int-adaptive"
	case EncFloatAdaptive:
		return "float-adaptive"
	case EncDecimalAdaptive:
		return "decimal-adaptive"
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
// A Chunk is not safe for concurrent use, nor are the chunks that share
// one Times.
type Chunk struct {
	// The fields with pointers come first: the collector scans a Chunk
	// (and a struct that holds one) only up to its last pointer.
	times *Times // the chunk's timestamps are the first Len of these
	vs    bitWriter
	vq    seq // vq.i is the number of samples, vq.x codes the last value
	enc   Encoding
	scale uint8 // decimals of EncDecimalAdaptive
}

// Times is a timestamp section being appended to: an adaptive sequence of
// timestamps. The chunks of series sampled together (every series of one
// host gets each of the host's snapshots at the same time) can share one
// (Chunk.ShareTimes), so that an open chunk holds only its values: each
// chunk's timestamps are the first Len of the Times it points to. The
// first chunk to append a timestamp adds it to the Times; the others
// find it there. A chunk whose timestamps part from the shared ones (a
// sample missed or at another time) takes a copy of its own, so sharing
// never changes what a chunk holds or how it is serialised.
type Times struct {
	w bitWriter
	q seq // q.i is the number of timestamps, q.x the last
	// t0 and interval are the first timestamp and the first interval;
	// irr is the index of the first timestamp after another interval, 0
	// while there is none (the first irr timestamps are regular).
	t0, interval int64
	irr          int32
	// grid is the timestamp section of gridded chunks of the first gridN
	// timestamps (see SealedBytes), nil with gridN set when a grid is no
	// smaller: every series of a host seals its chunk of a window with
	// the same timestamps, so it is worked out once for all of them.
	gridN int32
	grid  []byte
	// parted are the Times made for chunks that parted from these
	// timestamps, by where they parted (see part): the series of a host
	// sampled at another cadence (a process scan every 30 s beside
	// snapshots every 5 s) part at the same place and share them.
	parted []parting
}

// parting is a Times made from the first n timestamps of another and t.
type parting struct {
	n  int32
	t  int64
	ts *Times
}

// maxParted bounds a Times' parted list: a host whose series each keep a
// clock of their own would otherwise make it as long as its series, and
// then each such series owns its timestamps as it did before.
const maxParted = 8

// NewTimes returns an empty Times to share.
func NewTimes() *Times { return &Times{} }

// Len is the number of timestamps.
func (ts *Times) Len() int { return int(ts.q.i) }

// add appends t.
func (ts *Times) add(t int64) {
	switch n := ts.q.i; {
	case n == 0:
		ts.t0 = t
	case n == 1:
		ts.interval = t - ts.q.x
	case ts.irr == 0 && t-ts.q.x != ts.interval:
		ts.irr = n
	}
	ts.q.put(&ts.w, t)
}

// regular reports whether the first n timestamps are n >= 2 at a fixed
// interval.
func (ts *Times) regular(n int) bool { return n >= 2 && (ts.irr == 0 || int(ts.irr) >= n) }

// decode returns the first n timestamps.
func (ts *Times) decode(n int) []int64 {
	out := make([]int64, n)
	if n == 0 {
		return out
	}
	var q seq
	rd := newBitReader(ts.w.appendTo(nil))
	q.getN(&rd, out) // written here: always complete
	return out
}

// prefix returns a Times of the first n timestamps: ts itself when n is
// all of them, else a copy coded anew (the coding is deterministic, so
// its bits are the first bits of ts).
func (ts *Times) prefix(n int) *Times {
	if n == ts.Len() {
		return ts
	}
	p := &Times{}
	for _, t := range ts.decode(n) {
		p.add(t)
	}
	return p
}

// Len is the number of samples.
func (c *Chunk) Len() int { return int(c.vq.i) }

// Encoding is the current value encoding.
func (c *Chunk) Encoding() Encoding { return c.enc }

// ShareTimes makes the empty chunk c take its timestamps from ts for as
// long as they agree (see Times). It does nothing to a chunk with samples.
// SizeHint tells the chunk the size its values are expected to reach
// (the size of its series' last chunk, or what its first samples
// project): its buffer then grows by at least an eighth of that at a
// time (but never more than doubling), in about a dozen steps, instead
// of an eighth of what it holds. An open chunk holds its slack for its
// whole window, so the steps are not larger.
func (c *Chunk) SizeHint(n int) {
	c.vs.step = uint32(min(max(n, 0), MaxChunkHint) / 8)
}

// Hinted reports whether SizeHint gave the chunk a size.
func (c *Chunk) Hinted() bool { return c.vs.step > 0 }

// ValueBytes is the size of the chunk's values so far.
func (c *Chunk) ValueBytes() int { return c.vs.size() }

// MaxChunkHint bounds SizeHint.
const MaxChunkHint = 1 << 20

// Reset empties the chunk to be appended to again, keeping its value
// buffer (the bytes AppendBytes and SealedBytes returned are copies); it
// shares no Times after.
func (c *Chunk) Reset() {
	b := c.vs.b[:0]
	*c = Chunk{}
	c.vs.b = b
}

// Reset empties ts to be appended to again, keeping its buffer. The chunks
// that share ts must be Reset too.
func (ts *Times) Reset() {
	b := ts.w.b[:0]
	*ts = Times{}
	ts.w.b = b
}

func (c *Chunk) ShareTimes(ts *Times) {
	if c.Len() == 0 {
		c.times = ts
	}
}

// ownTimes returns c's timestamps as a Times of exactly c.Len() of them
// (a shared one while c is at its end, else a copy).
func (c *Chunk) ownTimes() *Times {
	if c.times == nil {
		return &Times{}
	}
	return c.times.prefix(c.Len())
}

// Size is the size of the serialised chunk in bytes, give or take the
// length field (and, for a chunk behind the Times it shares, the
// timestamps it does not hold).
func (c *Chunk) Size() int {
	n := headerSize + 2 + c.vs.size()
	if c.times != nil {
		n += c.times.w.size()
	}
	return n
}

// Last is the last sample appended; ok is false for an empty chunk. The
// value is the one appended bit for bit: every encoding codes it exactly.
func (c *Chunk) Last() (t int64, v float64, ok bool) {
	n := c.Len()
	if n == 0 {
		return 0, 0, false
	}
	if n == c.times.Len() {
		t = c.times.q.x
	} else {
		t = c.times.decode(n)[n-1]
	}
	return t, c.lastValue(), true
}

// lastValue is the value vq.x codes.
func (c *Chunk) lastValue() float64 {
	switch c.enc {
	case EncIntAdaptive:
		return float64(c.vq.x)
	case EncDecimalAdaptive:
		return float64(c.vq.x) / pow10[c.scale]
	}
	return unordered(c.vq.x)
}

// addTime appends t as the timestamp of sample n.
func (c *Chunk) addTime(t int64, n int) {
	switch {
	case c.times == nil:
		c.times = &Times{}
	case c.times.Len() == n: // at the end of the Times: add t for all
	case c.times.Len() == n+1 && c.times.q.x == t: // another chunk added t
		return
	default: // parted from the shared timestamps (which hold more than n)
		c.times = c.times.part(n, t)
		return
	}
	c.times.add(t)
}

// part returns Times whose first n+1 timestamps are the first n of ts and
// t: those made for a chunk that parted from ts at the same place, when
// there are (they may have more timestamps since), else new ones.
func (ts *Times) part(n int, t int64) *Times {
	for _, p := range ts.parted {
		if int(p.n) == n && p.t == t {
			return p.ts
		}
	}
	p := ts.prefix(n)
	p.add(t)
	if len(ts.parted) < maxParted {
		ts.parted = append(ts.parted, parting{n: int32(n), t: t, ts: p})
	}
	return p
}

// Append adds a sample. The caller keeps timestamps strictly increasing.
// It returns false, adding nothing, when the chunk is full.
func (c *Chunk) Append(t int64, v float64) bool {
	n := c.Len()
	if n >= MaxSamples {
		return false
	}
	if n == 0 {
		c.start(v)
	}
	c.addTime(t, n)
	switch c.enc {
	case EncIntAdaptive:
		if !isInt(v) {
			c.recode(v, n)
		}
	case EncDecimalAdaptive:
		if _, ok := toDecimal(v, c.scale); !ok {
			c.recode(v, n)
		}
	}
	switch c.enc {
	case EncIntAdaptive:
		c.vq.put(&c.vs, int64(v))
	case EncDecimalAdaptive:
		m, _ := toDecimal(v, c.scale)
		c.vq.put(&c.vs, m)
	default:
		c.vq.put(&c.vs, ordered(v))
	}
	return true
}

// start picks the encoding of a chunk by its first value: integer, else
// decimal with the fewest decimals that hold it, else float.
func (c *Chunk) start(v float64) {
	c.enc, c.scale = EncFloatAdaptive, 0
	if isInt(v) {
		c.enc = EncIntAdaptive
	} else if e := decimalScale(v, 1); e > 0 {
		c.enc, c.scale = EncDecimalAdaptive, e
	}
	c.vs, c.vq = bitWriter{b: c.vs.b[:0], step: c.vs.step}, seq{}
	if c.enc == EncDecimalAdaptive {
		c.vs.writeBits(uint64(c.scale), 8)
	}
}

// recode re-codes the values so far when v does not fit the chunk's
// encoding: as decimals with more decimals if v and they all fit, else
// as floats. n is the number of values so far (the timestamp of v is
// already coded).
func (c *Chunk) recode(v float64, n int) {
	var it Iterator
	it.enc, it.scale, it.n = c.enc, c.scale, n
	it.ts = newBitReader(c.times.w.appendTo(nil)) // times are not recoded; the reader needs its first n
	it.vs = newBitReader(c.vs.appendTo(nil))
	if c.enc == EncDecimalAdaptive {
		it.vs.readBits(8)
	}
	vals := make([]float64, 0, n+1)
	for it.Next() { // written by this chunk: always complete
		_, x := it.At()
		vals = append(vals, x)
	}
	from := uint8(1)
	if c.enc == EncDecimalAdaptive {
		from = c.scale + 1
	}
	enc, scale := EncFloatAdaptive, uint8(0)
	if e := decimalScale(v, from); e > 0 {
		enc, scale = EncDecimalAdaptive, e
		for _, x := range vals {
			if _, ok := toDecimal(x, e); !ok {
				enc, scale = EncFloatAdaptive, 0
				break
			}
		}
	}
	c.enc, c.scale = enc, scale
	c.vs, c.vq = bitWriter{b: make([]byte, 0, 2*len(c.vs.b)+8), step: c.vs.step}, seq{}
	if enc == EncDecimalAdaptive {
		c.vs.writeBits(uint64(scale), 8)
	}
	for _, x := range vals {
		if enc == EncDecimalAdaptive {
			m, _ := toDecimal(x, scale)
			c.vq.put(&c.vs, m)
		} else {
			c.vq.put(&c.vs, ordered(x))
		}
	}
}

// toDecimal returns m with m/10^scale == v bit for bit, if there is one
// below 2^53.
func toDecimal(v float64, scale uint8) (int64, bool) {
	x := math.Round(v * pow10[scale])
	if !(x > -maxExactInt && x < maxExactInt) {
		return 0, false
	}
	m := int64(x) // -0 becomes 0, which the check below refuses
	if math.Float64bits(float64(m)/pow10[scale]) != math.Float64bits(v) {
		return 0, false
	}
	return m, true
}

// decimalScale is the fewest decimals, from from up to maxScale, that
// hold v exactly, or 0.
func decimalScale(v float64, from uint8) uint8 {
	for e := from; e <= maxScale; e++ {
		if _, ok := toDecimal(v, e); ok {
			return e
		}
	}
	return 0
}

// ordered maps a float's bits to an int64 that sorts as the float does,
// so that close floats are close integers. unordered inverts it for every
// bit pattern.
func ordered(v float64) int64 {
	b := math.Float64bits(v)
	if b>>63 == 0 {
		return int64(b)
	}
	return -int64(b&^(1<<63)) - 1
}

// unordered is branch free: for o < 0, -(o+1) = ^o, whose top bit is
// clear, so setting it is flipping every bit of o below the top one.
func unordered(o int64) float64 {
	return math.Float64frombits(uint64(o) ^ uint64(o>>63)>>1)
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
	tm := c.ownTimes()
	if tm.regular(c.Len()) {
		dst = append(dst, byte(c.enc)|regularTimes)
		dst = binary.BigEndian.AppendUint16(dst, uint16(c.Len()))
		n := uint64(8 + len(binary.AppendUvarint(nil, uint64(tm.interval))))
		dst = binary.AppendUvarint(dst, n)
		dst = binary.BigEndian.AppendUint64(dst, uint64(tm.t0))
		dst = binary.AppendUvarint(dst, uint64(tm.interval))
		return c.vs.appendTo(dst)
	}
	dst = append(dst, byte(c.enc))
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.Len()))
	dst = binary.AppendUvarint(dst, uint64(tm.w.size()))
	dst = tm.w.appendTo(dst)
	return c.vs.appendTo(dst)
}

// SealedBytes is Bytes for a chunk that is finished: its timestamps are
// stored on a grid (see gridTimes) when that is smaller than their
// adaptive sequence. It decodes the chunk's timestamps to find out, which
// costs about what reading them back does, so it is for the one time a
// chunk is written for good, not for every copy of an open chunk.
func (c *Chunk) SealedBytes() []byte {
	n := c.Len()
	tm := c.ownTimes()
	if tm.regular(n) || n < 3 {
		return c.Bytes()
	}
	if int(tm.gridN) != n {
		tm.grid, tm.gridN = tm.gridSection(n), int32(n)
	}
	if tm.grid == nil {
		return c.Bytes()
	}
	dst := make([]byte, 0, headerSize+binary.MaxVarintLen32+len(tm.grid)+c.vs.size())
	dst = append(dst, byte(c.enc)|gridTimes)
	dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	dst = binary.AppendUvarint(dst, uint64(len(tm.grid)))
	dst = append(dst, tm.grid...)
	return c.vs.appendTo(dst)
}

// gridSection is the timestamp section of a gridded chunk of ts's first n
// timestamps (n >= 3), or nil when it is not smaller than their adaptive
// sequence (or they are too far apart for a grid).
func (ts *Times) gridSection(n int) []byte {
	times := ts.decode(n)
	t0, span := times[0], uint64(times[n-1])-uint64(times[0])
	if span >= 1<<62 { // far apart: no grid, and no overflow below
		return nil
	}
	steps := int64(n - 1)
	iv := (int64(span) + steps/2) / steps
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for i, t := range times {
		o := (t - t0) - int64(i)*iv
		lo, hi = min(lo, o), max(hi, o)
	}
	width := bits.Len64(uint64(hi - lo))
	head := binary.AppendUvarint(binary.BigEndian.AppendUint64(nil, uint64(t0)), uint64(iv))
	head = binary.AppendUvarint(head, zigzag(lo))
	head = append(head, byte(width))
	if len(head)+(n*width+7)/8 >= ts.w.size() {
		return nil
	}
	var w bitWriter
	for i, t := range times {
		w.writeBits(uint64((t-t0)-int64(i)*iv-lo), uint8(width))
	}
	return w.appendTo(head)
}

// FromBytes rebuilds an appendable chunk from its serialised form (of any
// encoding; it is appended to in the current one).
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
	enc   Encoding
	scale uint8
	// regular: the timestamps are t0 + i×interval; grid: they are
	// t0 + i×interval + base + an offset of width bits from ts
	regular, grid bool
	t0, interval  int64
	base          int64
	width         uint8
	n, i          int
	ts, vs        bitReader
	tq, vq        seq
	legacy        legacyState
	t             int64
	v             float64
	err           error
	// bt and bv hold decoded samples bi..bn-1 not yet returned: the
	// adaptive encodings are decoded a batch at a time (see fill).
	bt     [batchLen]int64
	bv     [batchLen]float64
	bi, bn int
}

// batchLen samples are decoded at a time: enough that the decoding loop
// runs long with its state in registers, few enough that the buffers
// stay in the L1 cache (1.5 KiB).
const batchLen = 64

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
	it.enc = Encoding(b[0] &^ (regularTimes | gridTimes))
	it.regular, it.grid = b[0]&regularTimes != 0, b[0]&gridTimes != 0
	if it.enc < EncXOR || it.enc > EncDecimalAdaptive || ((it.regular || it.grid) && it.enc < EncIntAdaptive) || (it.regular && it.grid) {
		return fmt.Errorf("%w: unknown encoding %d", ErrCorrupt, b[0])
	}
	it.n = int(binary.BigEndian.Uint16(b[1:3]))
	tsLen, k := binary.Uvarint(b[headerSize:])
	if k <= 0 || tsLen > uint64(len(b)-headerSize-k) {
		return fmt.Errorf("%w: bad timestamp section length", ErrCorrupt)
	}
	rest := b[headerSize+k:]
	if it.regular {
		if tsLen < 9 {
			return fmt.Errorf("%w: bad regular timestamps", ErrCorrupt)
		}
		it.t0 = int64(binary.BigEndian.Uint64(rest))
		iv, n := binary.Uvarint(rest[8:tsLen])
		if n <= 0 {
			return fmt.Errorf("%w: bad regular timestamps", ErrCorrupt)
		}
		it.interval = int64(iv)
	}
	it.ts = newBitReader(rest[:tsLen])
	if it.grid {
		if err := it.resetGrid(rest[:tsLen]); err != nil {
			return err
		}
	}
	it.vs = newBitReader(rest[tsLen:])
	if it.enc == EncDecimalAdaptive {
		sc, ok := it.vs.readBits(8)
		if !ok || sc == 0 || sc > maxScale {
			return fmt.Errorf("%w: bad decimal scale", ErrCorrupt)
		}
		it.scale = uint8(sc)
	}
	return nil
}

// resetGrid reads the head of a grid timestamp section (see gridTimes)
// and checks that the section holds an offset for every sample, so that
// reading them cannot fail.
func (it *Iterator) resetGrid(sec []byte) error {
	bad := errBadGrid
	if len(sec) < 8 {
		return bad
	}
	it.t0 = int64(binary.BigEndian.Uint64(sec))
	p := 8
	iv, k := binary.Uvarint(sec[p:])
	if k <= 0 {
		return bad
	}
	p += k
	base, k := binary.Uvarint(sec[p:])
	if k <= 0 || p+k >= len(sec) {
		return bad
	}
	p += k
	width := sec[p]
	p++
	if width > 64 || uint64(len(sec)-p)*8 < uint64(it.n)*uint64(width) {
		return bad
	}
	it.interval, it.base, it.width = int64(iv), unzigzag(base), width
	it.ts = newBitReader(sec[p:])
	return nil
}

// errBadGrid is a grid timestamp section that does not parse; made once,
// not at every Reset.
var errBadGrid = fmt.Errorf("%w: bad grid timestamps", ErrCorrupt)

// Len is the number of samples the chunk claims.
func (it *Iterator) Len() int { return it.n }

// Next advances to the next sample; it returns false at the end or on error.
func (it *Iterator) Next() bool {
	if it.bi < it.bn {
		it.t, it.v = it.bt[it.bi], it.bv[it.bi]
		it.bi++
		return true
	}
	if it.enc < EncIntAdaptive {
		if it.err != nil || it.i >= it.n {
			return false
		}
		return it.nextLegacy()
	}
	if !it.fill(batchLen) {
		return false
	}
	it.t, it.v = it.bt[0], it.bv[0]
	it.bi = 1
	return true
}

// Batch returns the next samples, up to batchLen of them, as timestamps
// and values: empty at the end or on error (see Err). It is Next without
// a call per sample, for readers of whole chunks. The slices belong to
// the iterator and hold until its next call; At is undefined after it.
func (it *Iterator) Batch() ([]int64, []float64) {
	if it.bi >= it.bn {
		if it.enc < EncIntAdaptive {
			it.bi, it.bn = 0, 0
			for it.bn < batchLen && it.err == nil && it.i < it.n && it.nextLegacy() {
				it.bt[it.bn], it.bv[it.bn] = it.t, it.v
				it.bn++
			}
		} else if !it.fill(batchLen) {
			return nil, nil
		}
	}
	ts, vs := it.bt[it.bi:it.bn], it.bv[it.bi:it.bn]
	it.bi = it.bn
	return ts, vs
}

// fill decodes the next batch of an adaptive chunk, at most max
// samples (<= batchLen), into bt and bv; it returns false when there is
// none. Samples before a decoding error are kept, and the error is set
// for Err.
func (it *Iterator) fill(max int) bool {
	it.bi, it.bn = 0, 0
	m := min(it.n-it.i, max)
	if it.err != nil || m <= 0 {
		return false
	}
	ts := it.bt[:m]
	switch {
	case it.regular:
		t := it.t0 + int64(it.i)*it.interval
		for j := range ts {
			ts[j] = t
			t += it.interval
		}
	case it.grid: // every offset is there: resetGrid checked
		t := it.t0 + int64(it.i)*it.interval + it.base
		j := it.ts.gridN(it.width, ts, t, it.interval)
		for t += int64(j) * it.interval; j < len(ts); j++ {
			o, _ := it.ts.readBits(it.width)
			ts[j] = t + int64(o)
			t += it.interval
		}
	default:
		if got := it.tq.getN(&it.ts, ts); got < m {
			m = got
			it.fail("timestamp", it.i+got)
		}
	}
	var xs [batchLen]int64
	if got := it.vq.getN(&it.vs, xs[:m]); got < m {
		m = got
		it.fail("value", it.i+got)
	}
	vs := it.bv[:m]
	switch it.enc {
	case EncIntAdaptive:
		for j, x := range xs[:m] {
			vs[j] = float64(x)
		}
	case EncDecimalAdaptive:
		p := pow10[it.scale]
		for j, x := range xs[:m] {
			vs[j] = float64(x) / p
		}
	default:
		for j, x := range xs[:m] {
			vs[j] = unordered(x)
		}
	}
	it.i += m
	it.bn = m
	return m > 0
}

// fail records that sample i's timestamp or value (what) is cut short.
func (it *Iterator) fail(what string, i int) bool {
	if it.err == nil {
		it.err = fmt.Errorf("%w: %s of sample %d of %d cut short", ErrCorrupt, what, i, it.n)
	}
	return false
}

// At is the current sample.
func (it *Iterator) At() (int64, float64) { return it.t, it.v }

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
