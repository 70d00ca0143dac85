package spool

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"esmon/agentsvc/collect"
	"esmon/core/wire"
)

// DefaultMaxBytes bounds a Disk spool unless Options say otherwise.
const DefaultMaxBytes = 100 << 20

// Segment files are named by the seq of their first snapshot.
const (
	segmentExt = ".seg"
	stateFile  = "spool.state"
	headerLen  = 8 // payload length, then CRC-32C of the payload, both uint32 little endian
	// maxRecord bounds one record, so a damaged length cannot make a
	// reader allocate without limit.
	maxRecord = wire.MaxFrameBytes
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Options configure a Disk spool.
type Options struct {
	// MaxBytes bounds the segment files together; zero means
	// DefaultMaxBytes. When an append passes it, the oldest segments go.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file is started;
	// zero means MaxBytes/16, at most 4 MiB.
	SegmentBytes int64
	// FirstSeq numbers the first snapshot of a new spool; zero means 1.
	FirstSeq uint64
	Logger   *slog.Logger
}

// Disk is a spool in a directory. Records are written without fsync, so a
// crash of the agent loses nothing; a power cut may lose the last seconds,
// and a torn record at the end of a segment is cut off when the spool opens.
//
// Each segment is a run of records. A record is one snapshot, encoded as a
// wire.Batch with one snapshot whose Seq is the snapshot's, and whose Defs
// name the series that the segment has not used before; series numbers are
// local to the segment. A segment can be read from its start without any
// other file.
type Disk struct {
	dir string
	opt Options
	log *slog.Logger

	mu      sync.Mutex // guards every field below
	segs    []*segment // oldest first; the last one takes appends
	w       *os.File   // the last segment, open for appending
	wids    map[string]uint32
	nextSeq uint64
	acked   uint64
	dropped uint64
	bytes   int64
	rd      cursor
	names   interner
	closed  bool
	saved   time.Time // when the state file was last written
}

// segment is one file: seqs first..first+count-1, size bytes.
type segment struct {
	first uint64
	count uint64
	size  int64
	path  string
}

func (s *segment) last() uint64 { return s.first + s.count - 1 }

// cursor is where the last Read stopped, so the next one goes on from
// there instead of decoding the segment from its start.
type cursor struct {
	seg  *segment
	f    *os.File
	off  int64
	next uint64 // seq of the record at off
	ids  map[uint32]*Series
}

// spoolState is what survives a restart besides the segments.
type spoolState struct {
	Acked   uint64 `json:"acked"`
	Dropped uint64 `json:"dropped"`
}

// Open opens the spool in dir, making dir if needed, and checks every
// segment, cutting off a torn record at the end.
func Open(dir string, opt Options) (*Disk, error) {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = min(opt.MaxBytes/16, 4<<20)
	}
	opt.SegmentBytes = max(min(opt.SegmentBytes, opt.MaxBytes/2), 1)
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	d := &Disk{dir: dir, opt: opt, log: opt.Logger}
	fresh := true
	if b, err := os.ReadFile(filepath.Join(dir, stateFile)); err == nil {
		fresh = false
		var st spoolState
		if err := json.Unmarshal(b, &st); err != nil {
			d.log.Warn("spool state unreadable; starting from the segments", "err", err)
		}
		d.acked, d.dropped = st.Acked, st.Dropped
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	for _, p := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(p), segmentExt), 10, 64)
		if err != nil || first == 0 {
			d.log.Warn("ignoring a file in the spool that is not a segment", "file", p)
			continue
		}
		s := &segment{first: first, path: p}
		if err := d.check(s); err != nil {
			return nil, fmt.Errorf("open spool: %w", err)
		}
		d.segs = append(d.segs, s)
	}
	sort.Slice(d.segs, func(i, j int) bool { return d.segs[i].first < d.segs[j].first })
	d.nextSeq = d.acked + 1
	if fresh && len(d.segs) == 0 {
		d.nextSeq = max(opt.FirstSeq, 1)
		d.acked = d.nextSeq - 1
	}
	for _, s := range d.segs {
		d.bytes += s.size
		if s.count > 0 {
			d.nextSeq = max(d.nextSeq, s.last()+1)
		}
	}
	// Segments wholly acknowledged before a crash go now.
	d.removeAcked()
	return d, nil
}

// check counts the good records of s and truncates the file after them.
func (d *Disk) check(s *segment) error {
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var off int64
	for {
		n, err := readRecord(f, off, nil)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			d.log.Warn("spool segment damaged: cutting it off", "file", s.path, "offset", off, "err", err)
			if err := f.Truncate(off); err != nil {
				return err
			}
			break
		}
		off += n
		s.count++
	}
	s.size = off
	return nil
}

// readRecord reads the record at off. It returns the bytes the record takes
// and, when buf is not nil, its payload in *buf.
func readRecord(f *os.File, off int64, buf *[]byte) (int64, error) {
	var h [headerLen]byte
	n, err := f.ReadAt(h[:], off)
	if n == 0 && errors.Is(err, io.EOF) {
		return 0, io.EOF
	}
	if n < headerLen {
		return 0, fmt.Errorf("short header: %w", io.ErrUnexpectedEOF)
	}
	size := binary.LittleEndian.Uint32(h[0:4])
	sum := binary.LittleEndian.Uint32(h[4:8])
	if size == 0 || size > maxRecord {
		return 0, fmt.Errorf("record length %d out of range", size)
	}
	var p []byte
	if buf != nil && cap(*buf) >= int(size) {
		p = (*buf)[:size]
	} else {
		p = make([]byte, size)
	}
	if _, err := f.ReadAt(p, off+headerLen); err != nil {
		return 0, fmt.Errorf("short record: %w", err)
	}
	if crc32.Checksum(p, crcTable) != sum {
		return 0, errors.New("checksum mismatch")
	}
	if buf != nil {
		*buf = p
	}
	return headerLen + int64(size), nil
}

// Append writes s as the next snapshot and returns how many snapshots not
// yet acknowledged were dropped to stay within MaxBytes.
func (d *Disk) Append(s collect.Snapshot) (dropped int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, errors.New("spool is closed")
	}
	if d.w == nil || d.segs[len(d.segs)-1].size >= d.opt.SegmentBytes {
		if err := d.rotate(); err != nil {
			return 0, err
		}
	}
	tail := d.segs[len(d.segs)-1]
	b := wire.Batch{Seq: d.nextSeq, Snapshots: []wire.Snapshot{{
		TimeMS: s.Time.UnixMilli(),
		IDs:    make([]uint32, len(s.Samples)),
		Values: make([]float64, len(s.Samples)),
	}}}
	var added []string
	for i, smp := range s.Samples {
		k := smp.Key()
		id, ok := d.wids[k]
		if !ok {
			id = uint32(len(d.wids))
			d.wids[k] = id
			added = append(added, k)
			b.Defs = append(b.Defs, wire.SeriesDef{ID: id, Metric: smp.Metric, Labels: smp.Labels})
		}
		b.Snapshots[0].IDs[i] = id
		b.Snapshots[0].Values[i] = smp.Value
	}
	payload, err := wire.Encode(&b)
	if err == nil {
		// What is written must read back: a record the reader would
		// refuse would stop the queue for good.
		err = wire.Validate(&b)
	}
	if err == nil && len(payload) > maxRecord {
		err = fmt.Errorf("snapshot of %d bytes is over the limit of %d", len(payload), maxRecord)
	}
	if err != nil {
		for _, k := range added {
			delete(d.wids, k)
		}
		return 0, fmt.Errorf("spool snapshot: %w", err)
	}
	rec := make([]byte, headerLen+len(payload))
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(payload, crcTable))
	copy(rec[headerLen:], payload)
	if _, err := d.w.Write(rec); err != nil {
		// The file may now end in a torn record: start a new segment
		// next time, and let Open cut this one.
		d.w.Close()
		d.w = nil
		return 0, fmt.Errorf("spool snapshot: %w", err)
	}
	if tail.count == 0 {
		tail.first = d.nextSeq
	}
	tail.count++
	tail.size += int64(len(rec))
	d.bytes += int64(len(rec))
	d.nextSeq++
	for d.bytes > d.opt.MaxBytes && len(d.segs) > 1 {
		dropped += d.dropOldest()
	}
	if dropped > 0 {
		d.dropped += uint64(dropped)
		d.saveState()
	}
	return dropped, nil
}

// rotate closes the current segment and starts a new one named by nextSeq.
func (d *Disk) rotate() error {
	if d.w != nil {
		if err := d.w.Sync(); err != nil {
			d.log.Warn("sync spool segment", "err", err)
		}
		d.w.Close()
		d.w = nil
	}
	// An empty last segment (left by a failed write or a restart) is
	// reused rather than left behind.
	if n := len(d.segs); n > 0 && d.segs[n-1].count == 0 && d.segs[n-1].size == 0 {
		d.closeCursorOn(d.segs[n-1])
		os.Remove(d.segs[n-1].path)
		d.segs = d.segs[:n-1]
	}
	p := filepath.Join(d.dir, fmt.Sprintf("%020d%s", d.nextSeq, segmentExt))
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("new spool segment: %w", err)
	}
	d.w = f
	d.wids = map[string]uint32{}
	d.segs = append(d.segs, &segment{first: d.nextSeq, path: p})
	return nil
}

// dropOldest removes the oldest segment and returns how many of its
// snapshots were not yet acknowledged.
func (d *Disk) dropOldest() int {
	s := d.segs[0]
	n := 0
	if s.count > 0 && s.last() > d.acked {
		n = int(s.last() - max(d.acked, s.first-1))
		d.acked = s.last()
	}
	d.removeSegment(s)
	d.segs = d.segs[1:]
	return n
}

func (d *Disk) removeSegment(s *segment) {
	d.closeCursorOn(s)
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Warn("remove spool segment", "file", s.path, "err", err)
	}
	d.bytes -= s.size
}

func (d *Disk) closeCursorOn(s *segment) {
	if d.rd.seg == s {
		d.rd.f.Close()
		d.rd = cursor{}
	}
}

// removeAcked removes every segment but the last that is wholly
// acknowledged.
func (d *Disk) removeAcked() {
	for len(d.segs) > 1 && (d.segs[0].count == 0 || d.segs[0].last() <= d.acked) {
		d.removeSegment(d.segs[0])
		d.segs = d.segs[1:]
	}
}

// stateEvery is how often an ack alone rewrites the state file. An ack
// lost in a crash only means a few snapshots are sent again, which the
// core stores once all the same (a sample is keyed by series and time).
const stateEvery = 5 * time.Second

// saveState writes acked and dropped, replacing the file in one step.
func (d *Disk) saveState() {
	d.saved = time.Now()
	b, _ := json.Marshal(spoolState{Acked: d.acked, Dropped: d.dropped})
	p := filepath.Join(d.dir, stateFile)
	tmp := p + ".tmp"
	err := os.WriteFile(tmp, b, 0o600)
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		d.log.Warn("save spool state", "err", err)
	}
}

// Ack records that the core has stored every snapshot up to seq, and
// removes the segments that held only those.
func (d *Disk) Ack(seq uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	seq = min(seq, d.nextSeq-1)
	if seq <= d.acked || d.closed {
		return nil
	}
	d.acked = seq
	n := len(d.segs)
	d.removeAcked()
	if n != len(d.segs) || time.Since(d.saved) >= stateEvery {
		d.saveState()
	}
	return nil
}

// Read returns up to limit snapshots with Seq > after, oldest first, never
// one already acknowledged.
func (d *Disk) Read(after uint64, limit int) ([]Entry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("spool is closed")
	}
	start := after + 1
	if start <= d.acked {
		start = d.acked + 1
	}
	var out []Entry
	var buf []byte
	for len(out) < limit && start < d.nextSeq {
		s := d.segmentFor(start)
		if s == nil {
			break
		}
		if d.rd.seg != s || d.rd.next > start {
			if err := d.openCursor(s); err != nil {
				return out, err
			}
		}
		for len(out) < limit && d.rd.next < s.first+s.count {
			n, err := readRecord(d.rd.f, d.rd.off, &buf)
			if err != nil {
				d.closeCursorOn(s)
				return out, fmt.Errorf("read spool %s: %w", s.path, err)
			}
			e, err := d.decode(buf)
			if err != nil {
				d.closeCursorOn(s)
				return out, fmt.Errorf("read spool %s: %w", s.path, err)
			}
			d.rd.off += n
			d.rd.next++
			if e.Seq >= start {
				out = append(out, e)
			}
		}
		start = max(start, d.rd.next)
		if d.rd.next >= s.first+s.count {
			if s == d.segs[len(d.segs)-1] {
				break // caught up with the writer
			}
			start = max(start, s.first+s.count)
		}
	}
	return out, nil
}

// segmentFor returns the first segment holding a seq >= start.
func (d *Disk) segmentFor(start uint64) *segment {
	for _, s := range d.segs {
		if s.count > 0 && s.last() >= start {
			return s
		}
	}
	return nil
}

func (d *Disk) openCursor(s *segment) error {
	if d.rd.f != nil {
		d.rd.f.Close()
	}
	f, err := os.Open(s.path)
	if err != nil {
		d.rd = cursor{}
		return fmt.Errorf("read spool: %w", err)
	}
	d.rd = cursor{seg: s, f: f, next: s.first, ids: map[uint32]*Series{}}
	return nil
}

// decode turns a record into an entry, learning the series it defines.
func (d *Disk) decode(p []byte) (Entry, error) {
	msg, err := wire.Decode(p)
	if err != nil {
		return Entry{}, err
	}
	b, ok := msg.(*wire.Batch)
	if !ok || len(b.Snapshots) != 1 {
		return Entry{}, errors.New("record is not one snapshot")
	}
	for _, def := range b.Defs {
		d.rd.ids[def.ID] = d.names.get(def.Metric, def.Labels)
	}
	sn := b.Snapshots[0]
	e := Entry{Seq: b.Seq, TimeMS: sn.TimeMS, Series: make([]*Series, len(sn.IDs)), Values: sn.Values}
	for i, id := range sn.IDs {
		s, ok := d.rd.ids[id]
		if !ok {
			return Entry{}, fmt.Errorf("record %d uses undefined series %d", b.Seq, id)
		}
		e.Series[i] = s
	}
	if b.Seq != d.rd.next {
		return Entry{}, fmt.Errorf("record has seq %d where %d belongs", b.Seq, d.rd.next)
	}
	return e, nil
}

// Stats returns the spool's counters.
func (d *Disk) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Stats{
		Pending: int(d.nextSeq - 1 - d.acked),
		Acked:   d.acked,
		NextSeq: d.nextSeq,
		Dropped: d.dropped,
		Bytes:   d.bytes,
	}
}

// Close syncs and closes the files. The spool can be opened again.
func (d *Disk) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	if d.rd.f != nil {
		errs = append(errs, d.rd.f.Close())
		d.rd = cursor{}
	}
	if d.w != nil {
		errs = append(errs, d.w.Sync(), d.w.Close())
		d.w = nil
	}
	d.saveState()
	return errors.Join(errs...)
}
