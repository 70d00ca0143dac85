// Package segment keeps the store's raw chunks in files of its own, out of
// Badger's LSM tree: chunks are appended to the newest file as they are
// finished and never rewritten, each file is sealed with a sorted index
// once it is large or old enough, and retention removes whole files.
// Nothing is compacted, so nothing reads the chunks back or builds tables
// of them in memory (at 10,000 agents Badger's compactions of the chunks
// took the core's RSS past 2 GB in bursts and their CPU lengthened the
// acknowledgements: BENCHMARKS.md, "Scale").
//
// A file is
//
//	magic "ESMSEG1\n"
//	frame*                 appended by Append, synced before it returns
//	index block*           written by seal
//	block table, footer    written by seal
//
// A frame is a uint32 length and a CRC-32C of its payload (little-endian),
// then the payload: a ZSTD frame of a table of the chunks it holds and
// their bytes. The chunks of one Append are sorted by piece and series
// and cut into frames of about frameTarget bytes, so a frame holds
// neighbouring series of one host and the compressor finds what their
// chunks repeat (a host's series share their timestamps). An index block
// is the ZSTD-compressed entries of up to blockEntries chunks, sorted by
// series and first timestamp; the block table gives each block's series
// range, place and CRC; the fixed-size footer gives the table's place and
// the file's span of pieces.
//
// A file without a valid footer is the open one (or was, when the process
// stopped): Open reads its frames back, cuts it at the first frame that
// is short or fails its CRC (a write the crash tore, whose chunks were
// never reported written), and goes on appending to it (the newest file)
// or seals it (any other).
package segment

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"esmon/core/internal/fsx"
)

const (
	fileMagic = "ESMSEG1\n"
	footMagic = "ESMSEGX\n"
	// frameTarget is the uncompressed size a frame is cut at; as
	// Badger's blocks were (32 KiB): a chunk read decompresses its frame.
	frameTarget = 32 << 10
	// blockEntries is the most entries an index block holds.
	blockEntries = 1024
	footerSize   = 8 + 4 + 8 + 8 + 4 + 8
	suffix       = ".seg"
)

// Chunk is one raw chunk of one series.
type Chunk struct {
	ID     uint64 // the series
	Piece  int64  // the start of the span of time the chunk belongs to
	FirstT int64  // its first timestamp
	Data   []byte
}

// Options tune a Store. Zero values take the defaults noted.
type Options struct {
	// MaxBytes seals a file at this size. Default 256 MiB.
	MaxBytes int64
	// MaxSpan seals a file whose pieces span this many (milliseconds),
	// so that retention can remove it whole in time. Default one day.
	MaxSpan int64
	Logger  *slog.Logger
}

// Store is a directory of segment files.
type Store struct {
	dir  string
	opts Options
	log  *slog.Logger

	wmu sync.Mutex // one writer (Append, Seal, DropBefore) at a time

	mu     sync.RWMutex // guards segs and the open segment's runs
	segs   []*segment   // by seq; the last one is open unless sealed
	enc    *zstd.Encoder
	dec    *zstd.Decoder
	closed bool
	cuts   int // files cut at a torn frame by Open
}

// entry locates one chunk in its file.
type entry struct {
	id            uint64
	piece, firstT int64
	frameOff      int64  // the frame's header
	frameLen      uint32 // the frame's payload
	off, n        uint32 // the chunk's bytes in the decompressed payload
}

type segment struct {
	seq      int
	path     string
	f        *os.File
	size     int64 // bytes of frames (and index once sealed)
	minPiece int64
	maxPiece int64
	sealed   bool
	runs     [][]entry   // open: one run per Append, each sorted by series and time
	blocks   []blockMeta // sealed
}

type blockMeta struct {
	first, last uint64 // series ids
	off         int64
	n           uint32
	crc         uint32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Open opens the segment files in dir, creating it if needed.
func Open(dir string, opts Options) (*Store, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 256 << 20
	}
	if opts.MaxSpan <= 0 {
		opts.MaxSpan = 24 * 3600 * 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(256<<20))
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, opts: opts, log: opts.Logger, enc: enc, dec: dec}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	var seqs []int
	for _, e := range names {
		if n, ok := strings.CutSuffix(e.Name(), suffix); ok {
			if seq, err := strconv.Atoi(n); err == nil && seq >= 0 {
				seqs = append(seqs, seq)
			}
		}
	}
	slices.Sort(seqs)
	for i, seq := range seqs {
		sg, err := s.load(seq)
		if err != nil {
			s.closeFiles()
			return nil, err
		}
		s.segs = append(s.segs, sg)
		if !sg.sealed && i < len(seqs)-1 {
			if err := s.seal(sg); err != nil {
				s.closeFiles()
				return nil, err
			}
		}
	}
	return s, nil
}

func (s *Store) path(seq int) string {
	return filepath.Join(s.dir, fmt.Sprintf("%08d%s", seq, suffix))
}

// load opens one file: its footer and block table if sealed, its frames
// if not.
func (s *Store) load(seq int) (*segment, error) {
	p := s.path(seq)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	sg := &segment{seq: seq, path: p, f: f}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("segments: %w", err)
	}
	size := fi.Size()
	magic := make([]byte, len(fileMagic))
	if _, err := f.ReadAt(magic, 0); err != nil || string(magic) != fileMagic {
		if size >= int64(len(fileMagic)) {
			f.Close()
			return nil, fmt.Errorf("segments: %s is not a segment file (no magic)", p)
		}
		// A file created but not yet written when the process stopped.
		if err := s.truncate(sg, 0); err == nil {
			_, err = f.WriteAt([]byte(fileMagic), 0)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("segments: %w", err)
		}
		sg.size, sg.minPiece, sg.maxPiece = int64(len(fileMagic)), 0, -1
		return sg, nil
	}
	if ok, err := s.loadFooter(sg, size); err != nil || ok {
		if err != nil {
			f.Close()
		}
		return sg, err
	}
	if err := s.scan(sg, size); err != nil {
		f.Close()
		return nil, err
	}
	return sg, nil
}

// loadFooter reads a sealed file's footer and block table; false when the
// file has no valid footer.
func (s *Store) loadFooter(sg *segment, size int64) (bool, error) {
	if size < int64(len(fileMagic)+footerSize) {
		return false, nil
	}
	foot := make([]byte, footerSize)
	if _, err := sg.f.ReadAt(foot, size-footerSize); err != nil {
		return false, fmt.Errorf("segments: read %s: %w", sg.path, err)
	}
	if string(foot[footerSize-8:]) != footMagic {
		return false, nil
	}
	tableOff := int64(binary.LittleEndian.Uint64(foot[0:]))
	tableLen := int64(binary.LittleEndian.Uint32(foot[8:]))
	if tableOff < int64(len(fileMagic)) || tableOff+tableLen != size-footerSize {
		return false, nil
	}
	table := make([]byte, tableLen)
	if _, err := sg.f.ReadAt(table, tableOff); err != nil {
		return false, fmt.Errorf("segments: read %s: %w", sg.path, err)
	}
	crc := crc32.Update(crc32.Checksum(table, castagnoli), castagnoli, foot[:28])
	if crc != binary.LittleEndian.Uint32(foot[28:]) {
		return false, nil
	}
	blocks, err := parseTable(table, tableOff)
	if err != nil {
		return false, nil
	}
	sg.sealed, sg.blocks, sg.size = true, blocks, size
	sg.minPiece = int64(binary.LittleEndian.Uint64(foot[12:]))
	sg.maxPiece = int64(binary.LittleEndian.Uint64(foot[20:]))
	return true, nil
}

// scan reads an unsealed file's frames into one run, and cuts it after
// the last whole frame.
func (s *Store) scan(sg *segment, size int64) error {
	off := int64(len(fileMagic))
	var run []entry
	sg.minPiece, sg.maxPiece = 0, -1
	hdr := make([]byte, 8)
	var payload, body []byte
	for off < size {
		if size-off < 8 {
			break
		}
		if _, err := sg.f.ReadAt(hdr, off); err != nil {
			return fmt.Errorf("segments: read %s: %w", sg.path, err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr))
		if n == 0 || off+8+n > size {
			break
		}
		payload = slices.Grow(payload[:0], int(n))[:n]
		if _, err := sg.f.ReadAt(payload, off+8); err != nil {
			return fmt.Errorf("segments: read %s: %w", sg.path, err)
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			break
		}
		var err error
		if body, err = s.dec.DecodeAll(payload, body[:0]); err != nil {
			break
		}
		es, err := parseFrame(body, off, uint32(n))
		if err != nil {
			break
		}
		for _, e := range es {
			sg.widen(e.piece)
		}
		run = append(run, es...)
		off += 8 + n
	}
	if off < size {
		s.log.Warn("segment file cut after its last whole frame (the process stopped while writing it)",
			"file", sg.path, "size", size, "kept", off)
		if err := s.truncate(sg, off); err != nil {
			return err
		}
		s.cuts++
	}
	sg.size = off
	if len(run) > 0 {
		sortEntries(run)
		sg.runs = [][]entry{run}
	}
	return nil
}

func (s *Store) truncate(sg *segment, n int64) error {
	if err := sg.f.Truncate(n); err != nil {
		return fmt.Errorf("segments: cut %s: %w", sg.path, err)
	}
	return sg.f.Sync()
}

func (sg *segment) widen(piece int64) {
	if sg.minPiece > sg.maxPiece {
		sg.minPiece, sg.maxPiece = piece, piece
		return
	}
	sg.minPiece, sg.maxPiece = min(sg.minPiece, piece), max(sg.maxPiece, piece)
}

func (sg *segment) empty() bool { return sg.minPiece > sg.maxPiece }

// sortEntries orders entries by series and first timestamp; entries of
// the same chunk (written again after a crash) stay in the order written.
func sortEntries(es []entry) {
	slices.SortStableFunc(es, func(a, b entry) int {
		if c := cmp.Compare(a.id, b.id); c != 0 {
			return c
		}
		return cmp.Compare(a.firstT, b.firstT)
	})
}

// merger merges runs of entries, each sorted by series and first
// timestamp, into one such order; entries of the same chunk come in the
// order written (by run, then within a run).
type merger struct {
	runs [][]entry
	heap []int // indices of runs not yet used up, a min-heap by head entry
}

func newMerger(runs [][]entry) *merger {
	m := &merger{runs: slices.Clone(runs)}
	for i, r := range m.runs {
		if len(r) > 0 {
			m.heap = append(m.heap, i)
		}
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	return m
}

func (m *merger) less(a, b int) bool {
	x, y := &m.runs[m.heap[a]][0], &m.runs[m.heap[b]][0]
	if x.id != y.id {
		return x.id < y.id
	}
	if x.firstT != y.firstT {
		return x.firstT < y.firstT
	}
	return m.heap[a] < m.heap[b]
}

func (m *merger) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(m.heap) {
			return
		}
		if r := l + 1; r < len(m.heap) && m.less(r, l) {
			l = r
		}
		if !m.less(l, i) {
			return
		}
		m.heap[i], m.heap[l] = m.heap[l], m.heap[i]
		i = l
	}
}

// next returns the least entry left, false when none is.
func (m *merger) next() (entry, bool) {
	if len(m.heap) == 0 {
		return entry{}, false
	}
	r := m.heap[0]
	e := m.runs[r][0]
	if m.runs[r] = m.runs[r][1:]; len(m.runs[r]) == 0 {
		m.heap[0] = m.heap[len(m.heap)-1]
		m.heap = m.heap[:len(m.heap)-1]
	}
	m.down(0)
	return e, true
}

// Append writes chunks to the open file and syncs it. When it returns nil
// they are on disk and readable. Chunks whose pieces span more than
// MaxSpan go to more than one file.
func (s *Store) Append(chunks []Chunk) error {
	if len(chunks) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	order := make([]int, len(chunks))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		x, y := &chunks[order[a]], &chunks[order[b]]
		if x.Piece != y.Piece {
			return x.Piece < y.Piece
		}
		if x.ID != y.ID {
			return x.ID < y.ID
		}
		return x.FirstT < y.FirstT
	})
	for len(order) > 0 {
		lo := chunks[order[0]].Piece
		sg, err := s.openFor(lo)
		if err != nil {
			return err
		}
		first := lo
		if !sg.empty() {
			first = min(lo, sg.minPiece)
		}
		n := 1
		for n < len(order) && chunks[order[n]].Piece-first < s.opts.MaxSpan {
			n++
		}
		if err := s.write(sg, chunks, order[:n]); err != nil {
			return err
		}
		order = order[n:]
	}
	return nil
}

// write appends the chunks of order (sorted by piece and series) to sg as
// frames and syncs it. Caller holds wmu.
func (s *Store) write(sg *segment, chunks []Chunk, order []int) error {
	var out, body []byte
	var es []entry
	start := sg.size
	lo, hi := chunks[order[0]].Piece, chunks[order[len(order)-1]].Piece
	for i := 0; i < len(order); {
		// One frame: the chunks up to frameTarget bytes (at least one).
		j, raw := i, 0
		for j < len(order) && (j == i || raw+len(chunks[order[j]].Data) <= frameTarget) {
			raw += len(chunks[order[j]].Data)
			j++
		}
		body = body[:0]
		body = binary.AppendUvarint(body, uint64(j-i))
		var prevID uint64
		var prevPiece int64
		for _, k := range order[i:j] {
			c := &chunks[k]
			body = binary.AppendVarint(body, int64(c.ID-prevID))
			body = binary.AppendVarint(body, c.Piece-prevPiece)
			body = binary.AppendVarint(body, c.FirstT-c.Piece)
			body = binary.AppendUvarint(body, uint64(len(c.Data)))
			prevID, prevPiece = c.ID, c.Piece
		}
		dataStart := len(body)
		for _, k := range order[i:j] {
			body = append(body, chunks[k].Data...)
		}
		frameOff := start + int64(len(out))
		out = append(out, make([]byte, 8)...)
		h := len(out)
		out = s.enc.EncodeAll(body, out)
		payload := out[h:]
		binary.LittleEndian.PutUint32(out[h-8:], uint32(len(payload)))
		binary.LittleEndian.PutUint32(out[h-4:], crc32.Checksum(payload, castagnoli))
		at := uint32(dataStart)
		for _, k := range order[i:j] {
			c := &chunks[k]
			es = append(es, entry{id: c.ID, piece: c.Piece, firstT: c.FirstT, frameOff: frameOff,
				frameLen: uint32(len(payload)), off: at, n: uint32(len(c.Data))})
			at += uint32(len(c.Data))
		}
		i = j
	}
	_, err := sg.f.WriteAt(out, start)
	if err == nil {
		err = sg.f.Sync()
	}
	if err != nil {
		s.truncate(sg, start) // what was written is not listed; a later append overwrites it
		return fmt.Errorf("segments: write %s: %w", sg.path, err)
	}
	sortEntries(es)
	s.mu.Lock()
	sg.size = start + int64(len(out))
	sg.runs = append(sg.runs, es)
	sg.widen(lo)
	sg.widen(hi)
	s.mu.Unlock()
	if sg.size >= s.opts.MaxBytes {
		return s.seal(sg)
	}
	return nil
}

// openFor returns the open file to append chunks from piece on to: the
// newest, unless that is full or piece would stretch it past MaxSpan
// (then it is sealed and a new one made). Caller holds wmu.
func (s *Store) openFor(piece int64) (*segment, error) {
	s.mu.RLock()
	closed := s.closed
	var sg *segment
	if n := len(s.segs); n > 0 {
		sg = s.segs[n-1]
	}
	s.mu.RUnlock()
	if closed {
		return nil, errors.New("segments: closed")
	}
	if sg != nil && !sg.sealed && !sg.empty() &&
		(sg.size >= s.opts.MaxBytes || max(piece, sg.maxPiece)-min(piece, sg.minPiece) >= s.opts.MaxSpan) {
		if err := s.seal(sg); err != nil {
			return nil, err
		}
	}
	if sg != nil && !sg.sealed {
		return sg, nil
	}
	seq := 0
	if sg != nil {
		seq = sg.seq + 1
	}
	p := s.path(seq)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	if _, err := f.Write([]byte(fileMagic)); err == nil {
		if err = f.Sync(); err == nil {
			err = fsx.SyncDir(s.dir)
		}
	}
	if err != nil {
		f.Close()
		os.Remove(p)
		return nil, fmt.Errorf("segments: create %s: %w", p, err)
	}
	nsg := &segment{seq: seq, path: p, f: f, size: int64(len(fileMagic)), minPiece: 0, maxPiece: -1}
	s.mu.Lock()
	s.segs = append(s.segs, nsg)
	s.mu.Unlock()
	return nsg, nil
}

// Seal seals the open file, if it holds any chunk; the next Append starts
// a new one.
func (s *Store) Seal() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	var sg *segment
	if n := len(s.segs); n > 0 && !s.segs[n-1].sealed && !s.segs[n-1].empty() {
		sg = s.segs[n-1]
	}
	s.mu.RUnlock()
	if sg == nil {
		return nil
	}
	return s.seal(sg)
}

// seal writes the index of an open file after its frames. Caller holds
// wmu (or is Open).
//
// The index is made by merging the file's runs (each sorted) straight
// into blocks, not by sorting a copy of all their entries: the copy, grown
// by doubling, came on top of the runs it copied (0.20 GB allocated in the
// two minutes of a seal at 10,000 agents, where the core's highest RSS
// outside the hourly rollups was; BenchmarkSeal: 156 MB against 3.5 MB;
// BENCHMARKS.md, "Scale", twenty-eighth round).
func (s *Store) seal(sg *segment) error {
	s.mu.RLock()
	runs := sg.runs[:len(sg.runs):len(sg.runs)]
	s.mu.RUnlock()

	var out, raw, table []byte
	var blocks []blockMeta
	off := sg.size
	es := make([]entry, 0, blockEntries)
	flush := func() {
		raw = appendBlock(raw[:0], es)
		n := len(out)
		out = s.enc.EncodeAll(raw, out)
		b := out[n:]
		blocks = append(blocks, blockMeta{first: es[0].id, last: es[len(es)-1].id, off: off + int64(n),
			n: uint32(len(b)), crc: crc32.Checksum(b, castagnoli)})
		es = es[:0]
	}
	m := newMerger(runs)
	for e, ok := m.next(); ok; e, ok = m.next() {
		// A chunk written twice (replayed after a crash) keeps its last
		// copy: the merge gives a chunk's copies in the order written.
		if n := len(es); n > 0 && es[n-1].id == e.id && es[n-1].firstT == e.firstT {
			es[n-1] = e
			continue
		}
		if len(es) == blockEntries {
			flush() // e is another chunk: a chunk's copies come together
		}
		es = append(es, e)
	}
	if len(es) > 0 {
		flush()
	}
	table = binary.AppendUvarint(table, uint64(len(blocks)))
	var prev uint64
	for _, b := range blocks {
		table = binary.AppendUvarint(table, b.first-prev)
		table = binary.AppendUvarint(table, b.last-b.first)
		table = binary.AppendUvarint(table, uint64(b.n))
		table = binary.LittleEndian.AppendUint32(table, b.crc)
		prev = b.last
	}
	tableOff := off + int64(len(out))
	out = append(out, table...)
	foot := binary.LittleEndian.AppendUint64(nil, uint64(tableOff))
	foot = binary.LittleEndian.AppendUint32(foot, uint32(len(table)))
	foot = binary.LittleEndian.AppendUint64(foot, uint64(sg.minPiece))
	foot = binary.LittleEndian.AppendUint64(foot, uint64(sg.maxPiece))
	foot = binary.LittleEndian.AppendUint32(foot, crc32.Update(crc32.Checksum(table, castagnoli), castagnoli, foot))
	foot = append(foot, footMagic...)
	out = append(out, foot...)
	_, err := sg.f.WriteAt(out, off)
	if err == nil {
		err = sg.f.Sync()
	}
	if err != nil {
		s.truncate(sg, off)
		return fmt.Errorf("segments: seal %s: %w", sg.path, err)
	}
	s.mu.Lock()
	sg.sealed, sg.blocks, sg.runs, sg.size = true, blocks, nil, off+int64(len(out))
	s.mu.Unlock()
	return nil
}

// appendBlock encodes index entries (sorted by series and time).
func appendBlock(b []byte, es []entry) []byte {
	b = binary.AppendUvarint(b, uint64(len(es)))
	var prevID uint64
	var prevPiece, prevFrame int64
	for _, e := range es {
		b = binary.AppendUvarint(b, e.id-prevID)
		b = binary.AppendVarint(b, e.piece-prevPiece)
		b = binary.AppendVarint(b, e.firstT-e.piece)
		b = binary.AppendVarint(b, e.frameOff-prevFrame)
		b = binary.AppendUvarint(b, uint64(e.frameLen))
		b = binary.AppendUvarint(b, uint64(e.off))
		b = binary.AppendUvarint(b, uint64(e.n))
		prevID, prevPiece, prevFrame = e.id, e.piece, e.frameOff
	}
	return b
}

var errCorrupt = errors.New("segments: corrupt")

// decoder reads varints off a byte slice, remembering the first failure.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func parseBlock(b []byte, dst []entry) ([]entry, error) {
	d := decoder{b: b}
	n := d.uvarint()
	if n > blockEntries {
		return dst, errCorrupt
	}
	var e entry
	for range n {
		e.id += d.uvarint()
		e.piece += d.varint()
		e.firstT = e.piece + d.varint()
		e.frameOff += d.varint()
		e.frameLen = uint32(d.uvarint())
		e.off = uint32(d.uvarint())
		e.n = uint32(d.uvarint())
		dst = append(dst, e)
	}
	if d.err {
		return dst, errCorrupt
	}
	return dst, nil
}

// parseTable reads a block table; the blocks lie one after another just
// before it, at tableOff.
func parseTable(b []byte, tableOff int64) ([]blockMeta, error) {
	d := decoder{b: b}
	n := d.uvarint()
	if n > uint64(len(b)) {
		return nil, errCorrupt
	}
	blocks := make([]blockMeta, 0, n)
	var prev uint64
	for range n {
		var bm blockMeta
		bm.first = prev + d.uvarint()
		bm.last = bm.first + d.uvarint()
		bm.n = uint32(d.uvarint())
		if len(d.b) < 4 {
			return nil, errCorrupt
		}
		bm.crc = binary.LittleEndian.Uint32(d.b)
		d.b = d.b[4:]
		prev = bm.last
		blocks = append(blocks, bm)
	}
	if d.err {
		return nil, errCorrupt
	}
	off := tableOff
	for i := len(blocks) - 1; i >= 0; i-- {
		off -= int64(blocks[i].n)
		blocks[i].off = off
	}
	if off < int64(len(fileMagic)) {
		return nil, errCorrupt
	}
	return blocks, nil
}

// parseFrame reads a frame's table: the entries of its chunks.
func parseFrame(body []byte, frameOff int64, frameLen uint32) ([]entry, error) {
	d := decoder{b: body}
	n := d.uvarint()
	if n > uint64(len(body)) {
		return nil, errCorrupt
	}
	es := make([]entry, n)
	var id uint64
	var piece int64
	for i := range es {
		id += uint64(d.varint())
		piece += d.varint()
		firstT := piece + d.varint()
		es[i] = entry{id: id, piece: piece, firstT: firstT, frameOff: frameOff, frameLen: frameLen, n: uint32(d.uvarint())}
	}
	if d.err {
		return nil, errCorrupt
	}
	at := uint64(len(body) - len(d.b))
	for i := range es {
		es[i].off = uint32(at)
		at += uint64(es[i].n)
	}
	if at != uint64(len(body)) {
		return nil, errCorrupt
	}
	return es, nil
}

// DropBefore removes the sealed files whose every piece starts before t,
// and returns how many.
func (s *Store) DropBefore(t int64) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	var drop []*segment
	keep := s.segs[:0:0]
	for _, sg := range s.segs {
		if sg.sealed && sg.maxPiece < t {
			drop = append(drop, sg)
		} else {
			keep = append(keep, sg)
		}
	}
	s.segs = keep
	s.mu.Unlock()
	var errs []error
	for _, sg := range drop {
		sg.f.Close() // readers that still hold it get an error, and the chunks were past retention
		if err := os.Remove(sg.path); err != nil {
			errs = append(errs, err)
		}
	}
	return len(drop), errors.Join(errs...)
}

// Size is the bytes of every file.
func (s *Store) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var n int64
	for _, sg := range s.segs {
		n += sg.size
	}
	return n
}

// Cuts is the number of files Open cut after their last whole frame.
func (s *Store) Cuts() int { return s.cuts }

// Files is the number of files.
func (s *Store) Files() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.segs)
}

// Close closes the files. The open file stays unsealed: Open reads its
// frames back and appends to it.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.closeFiles()
	s.enc.Close()
	s.dec.Close()
	return err
}

func (s *Store) closeFiles() error {
	var errs []error
	for _, sg := range s.segs {
		errs = append(errs, sg.f.Close())
	}
	return errors.Join(errs...)
}

// Reader reads chunks; it keeps the index block it read last from each
// file and the frames it read last, for reads of neighbouring series.
// One goroutine uses a Reader at a time.
type Reader struct {
	s      *Store
	blocks map[*segment]cachedBlock
	// frames keeps the last frames read, up to readerFrames of them, the
	// oldest given up first: a frame holds one piece of many series, so
	// a read of series after series (a rollup, a long query of many)
	// finds each of a series' pieces in the frame its neighbour's came
	// from.
	frames map[frameAt][]byte
	order  []frameAt // ring of the keys of frames, oldest at next
	next   int
	packed []byte // a frame or an index block as read, before it is decompressed
	plain  []byte // an index block decompressed
	// Frames given up: those given up since the last Release may still
	// be in the caller's hands; those before it are decompressed into
	// again (a rollup reads every frame of its hour: at 10,000 agents
	// 3.56 GB of frames in eleven minutes of one, all garbage before).
	retired, free [][]byte
}

// readerFrames bounds a Reader's frames: a day of a series' pieces (48)
// and room to spare, about 4 MiB.
const readerFrames = 128

type cachedBlock struct {
	i  int
	es []entry
}

type frameAt struct {
	sg  *segment
	off int64
}

// NewReader returns a reader of s.
func (s *Store) NewReader() *Reader {
	return &Reader{s: s, blocks: map[*segment]cachedBlock{}, frames: map[frameAt][]byte{}}
}

type located struct {
	sg *segment
	e  entry
}

// Chunks calls fn with every chunk of series id whose piece is in [lo,
// hi], by first timestamp; a chunk written twice comes once, its last
// copy. Data stays valid after fn returns, until the next Release.
func (r *Reader) Chunks(id uint64, lo, hi int64, fn func(Chunk) error) error {
	type src struct {
		sg     *segment
		sealed bool
		runs   [][]entry
	}
	r.s.mu.RLock()
	if r.s.closed {
		r.s.mu.RUnlock()
		return errors.New("segments: closed")
	}
	var srcs []src
	for _, sg := range r.s.segs {
		if !sg.empty() && sg.maxPiece >= lo && sg.minPiece <= hi {
			srcs = append(srcs, src{sg, sg.sealed, sg.runs[:len(sg.runs):len(sg.runs)]})
		}
	}
	r.s.mu.RUnlock()

	var found []located
	for _, x := range srcs {
		if x.sealed {
			if err := r.fromBlocks(x.sg, id, lo, hi, &found); err != nil {
				return err
			}
			continue
		}
		for _, run := range x.runs {
			k, _ := slices.BinarySearchFunc(run, id, func(e entry, id uint64) int { return cmp.Compare(e.id, id) })
			for ; k < len(run) && run[k].id == id; k++ {
				if run[k].piece >= lo && run[k].piece <= hi {
					found = append(found, located{x.sg, run[k]})
				}
			}
		}
	}
	// Files and runs are in the order written: a stable sort keeps a
	// chunk's later copy after its earlier.
	slices.SortStableFunc(found, func(a, b located) int { return cmp.Compare(a.e.firstT, b.e.firstT) })
	for i, l := range found {
		if i+1 < len(found) && found[i+1].e.firstT == l.e.firstT {
			continue
		}
		data, err := r.chunk(l)
		if err != nil {
			return err
		}
		if err := fn(Chunk{ID: id, Piece: l.e.piece, FirstT: l.e.firstT, Data: data}); err != nil {
			return err
		}
	}
	return nil
}

// Get returns the chunk of series id, piece and first timestamp, or nil.
func (r *Reader) Get(id uint64, piece, firstT int64) ([]byte, error) {
	var out []byte
	err := r.Chunks(id, piece, piece, func(c Chunk) error {
		if c.FirstT == firstT {
			out = c.Data
		}
		return nil
	})
	return out, err
}

func (r *Reader) fromBlocks(sg *segment, id uint64, lo, hi int64, found *[]located) error {
	i := sort.Search(len(sg.blocks), func(i int) bool { return sg.blocks[i].last >= id })
	for ; i < len(sg.blocks) && sg.blocks[i].first <= id; i++ {
		es, err := r.block(sg, i)
		if err != nil {
			return err
		}
		k, _ := slices.BinarySearchFunc(es, id, func(e entry, id uint64) int { return cmp.Compare(e.id, id) })
		for ; k < len(es) && es[k].id == id; k++ {
			if es[k].piece >= lo && es[k].piece <= hi {
				*found = append(*found, located{sg, es[k]})
			}
		}
	}
	return nil
}

func (r *Reader) block(sg *segment, i int) ([]entry, error) {
	if c, ok := r.blocks[sg]; ok && c.i == i {
		return c.es, nil
	}
	// The block read, decompressed and parsed into buffers this reader
	// keeps: its entries are copied out by the callers, and the file's
	// block it replaces is not used again.
	bm := sg.blocks[i]
	if cap(r.packed) < int(bm.n) {
		r.packed = make([]byte, bm.n)
	}
	b := r.packed[:bm.n]
	if _, err := sg.f.ReadAt(b, bm.off); err != nil {
		return nil, fmt.Errorf("segments: read %s: %w", sg.path, err)
	}
	if crc32.Checksum(b, castagnoli) != bm.crc {
		return nil, fmt.Errorf("segments: %s: index block at %d fails its checksum", sg.path, bm.off)
	}
	raw, err := r.s.dec.DecodeAll(b, r.plain[:0])
	if err != nil {
		return nil, fmt.Errorf("segments: %s: index block at %d: %w", sg.path, bm.off, err)
	}
	r.plain = raw
	es, err := parseBlock(raw, r.blocks[sg].es[:0])
	if err != nil {
		delete(r.blocks, sg)
		return nil, fmt.Errorf("segments: %s: index block at %d: %w", sg.path, bm.off, err)
	}
	r.blocks[sg] = cachedBlock{i, es}
	return es, nil
}

func (r *Reader) chunk(l located) ([]byte, error) {
	body, err := r.frame(l.sg, l.e.frameOff, l.e.frameLen)
	if err != nil {
		return nil, err
	}
	if uint64(l.e.off)+uint64(l.e.n) > uint64(len(body)) {
		return nil, fmt.Errorf("segments: %s: frame at %d is shorter than its chunks: %w", l.sg.path, l.e.frameOff, errCorrupt)
	}
	return body[l.e.off : l.e.off+l.e.n : l.e.off+l.e.n], nil
}

// Release tells r that the data of the chunks it has returned is no
// longer used: the room of the frames it has given up is reused. A
// reader never released allocates each frame anew.
func (r *Reader) Release() {
	r.free = append(r.free, r.retired...)
	clear(r.retired)
	r.retired = r.retired[:0]
}

// frame returns a frame's payload decompressed; the slice is reused only
// once it is given up and then released (Release).
func (r *Reader) frame(sg *segment, off int64, n uint32) ([]byte, error) {
	key := frameAt{sg, off}
	if body, ok := r.frames[key]; ok {
		return body, nil
	}
	if cap(r.packed) < 8+int(n) {
		r.packed = make([]byte, 8+int(n))
	}
	b := r.packed[:8+int(n)]
	if _, err := sg.f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("segments: read %s: %w", sg.path, err)
	}
	if binary.LittleEndian.Uint32(b) != n || crc32.Checksum(b[8:], castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, fmt.Errorf("segments: %s: frame at %d fails its checksum", sg.path, off)
	}
	var room []byte
	if k := len(r.free); k > 0 {
		room, r.free[k-1] = r.free[k-1][:0], nil
		r.free = r.free[:k-1]
	}
	body, err := r.s.dec.DecodeAll(b[8:], room)
	if err != nil {
		return nil, fmt.Errorf("segments: %s: frame at %d: %w", sg.path, off, err)
	}
	if len(r.order) < readerFrames {
		r.order = append(r.order, key)
	} else {
		r.retired = append(r.retired, r.frames[r.order[r.next]])
		delete(r.frames, r.order[r.next])
		r.order[r.next] = key
		r.next = (r.next + 1) % readerFrames
	}
	r.frames[key] = body
	return body, nil
}
