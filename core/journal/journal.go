// Package journal is an append-only log of records in files of its own:
// one file per UTC day of writing, records appended in frames, read back
// newest first, and removed a whole file at a time at retention. The
// alert engine keeps its history in one: a history is written once,
// read from its newest end and dropped by age, so it needs neither a
// key order nor compactions (in Badger's LSM it was nine tenths of the
// tables its compactions rewrote at 10,000 agents).
//
// A file (DIR/YYYY-MM-DD.journal) starts with a magic line; a frame is
//
//	uint32 length n | uint32 CRC-32C of the payload | payload (n bytes) | uint32 n
//
// with all integers little-endian, and the payload the ZSTD compression
// of the records: uvarint count, then per record uvarint length and its
// bytes. The length after the payload lets a reader walk a file from its
// end. Append writes one frame and syncs the file before it returns, so
// only the newest frame of a file can be torn by a crash; Open checks
// each file's last frame and, when it does not read back whole, keeps the
// file up to the first frame from its start that does not (counted in
// Stats.TailCuts; a frame damaged in the middle of such a file takes the
// frames after it along). A damaged frame found by a read ends the read
// of that file (counted in Stats.Damaged); older files are still read.
package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"esmon/core/internal/fsx"
)

const (
	magic     = "ESMJRN1\n"
	suffix    = ".journal"
	dayLayout = "2006-01-02"
	headLen   = 8 // length and CRC ahead of a payload
	tailLen   = 4 // length after it
	// maxFrame bounds a frame's payload: a length over it is damage, not
	// a frame (a round of the alert writer is at most some MB).
	maxFrame = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("journal: closed")

// Options configure a Log.
type Options struct {
	// Now is the clock that names the files; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// Stats are a log's figures, for the core's metrics.
type Stats struct {
	Files    int
	Bytes    int64
	TailCuts uint64 // torn frames cut at Open
	Damaged  uint64 // damaged frames met by reads
}

// Log is an open journal directory. Its methods are safe for concurrent
// use; reads run beside each other and wait for an Append in progress.
type Log struct {
	dir string
	now func() time.Time
	log *slog.Logger
	enc *zstd.Encoder
	dec *zstd.Decoder

	damaged atomic.Uint64 // damaged frames met by reads

	mu       sync.RWMutex // guards the fields below
	files    []*file      // oldest first; the last takes appends
	closed   bool
	tailCuts uint64
}

type file struct {
	name string
	day  time.Time
	f    *os.File
	size int64 // bytes of whole frames
}

// Open opens (creating it) the journal in dir.
func Open(dir string, opts Options) (_ *Log, err error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxFrame))
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, now: opts.Now, log: opts.Logger, enc: enc, dec: dec}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	entries, err := os.ReadDir(dir) // sorted by name: by day
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	for _, ent := range entries {
		base, ok := strings.CutSuffix(ent.Name(), suffix)
		day, err := time.Parse(dayLayout, base)
		if !ok || err != nil || !ent.Type().IsRegular() {
			continue // not one of ours
		}
		f, err := l.openFile(filepath.Join(dir, ent.Name()), day)
		if err != nil {
			return nil, err
		}
		l.files = append(l.files, f)
	}
	return l, nil
}

// openFile opens an existing file and makes sure it ends with a whole
// frame.
func (l *Log) openFile(name string, day time.Time) (*file, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	jf := &file{name: name, day: day, f: f, size: st.Size()}
	head := make([]byte, len(magic))
	n, _ := f.ReadAt(head, 0)
	if string(head[:n]) != magic[:n] || n < len(magic) && jf.size > int64(n) {
		f.Close()
		return nil, fmt.Errorf("journal: %s is not a journal file", name)
	}
	if n < len(magic) {
		// Created and torn before its magic was whole: start it again.
		if _, err := f.WriteAt([]byte(magic), 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal: %w", err)
		}
		jf.size = int64(len(magic))
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal: %w", err)
		}
		return jf, nil
	}
	if jf.size == int64(len(magic)) {
		return jf, nil
	}
	if _, _, err := l.recordsBefore(jf, jf.size, nil); err == nil {
		return jf, nil
	}
	// The last frame is torn: keep the file up to its last whole frame.
	off := int64(len(magic))
	for {
		end, err := l.frameAt(jf, off)
		if err != nil {
			break
		}
		off = end
	}
	if err := l.cut(jf, off); err != nil {
		return nil, err
	}
	return jf, nil
}

// cut truncates jf to size and counts it.
func (l *Log) cut(jf *file, size int64) error {
	l.log.Warn("journal: cut a torn end", "file", jf.name, "kept", size, "dropped", jf.size-size)
	if err := jf.f.Truncate(size); err != nil {
		jf.f.Close()
		return fmt.Errorf("journal: cut %s: %w", jf.name, err)
	}
	jf.size = size
	l.tailCuts++
	return jf.f.Sync()
}

// frameAt checks the frame at off and returns where it ends.
func (l *Log) frameAt(jf *file, off int64) (int64, error) {
	var h [headLen]byte
	if off+headLen+tailLen > jf.size {
		return 0, io.ErrUnexpectedEOF
	}
	if _, err := jf.f.ReadAt(h[:], off); err != nil {
		return 0, err
	}
	n := int64(binary.LittleEndian.Uint32(h[:]))
	end := off + headLen + n + tailLen
	if n == 0 || n > maxFrame || end > jf.size {
		return 0, io.ErrUnexpectedEOF
	}
	if _, _, err := l.recordsBefore(jf, end, nil); err != nil {
		return 0, err
	}
	return end, nil
}

// recordsBefore reads the frame that ends at end, appends its records to
// recs and returns them and where the frame starts.
func (l *Log) recordsBefore(jf *file, end int64, recs [][]byte) ([][]byte, int64, error) {
	var t [tailLen]byte
	if end-headLen-tailLen < int64(len(magic)) {
		return nil, 0, fmt.Errorf("journal: %s: no frame ends at %d", jf.name, end)
	}
	if _, err := jf.f.ReadAt(t[:], end-tailLen); err != nil {
		return nil, 0, err
	}
	n := int64(binary.LittleEndian.Uint32(t[:]))
	start := end - tailLen - n - headLen
	if n == 0 || n > maxFrame || start < int64(len(magic)) { // Append never writes an empty frame
		return nil, 0, fmt.Errorf("journal: %s: bad frame length %d before %d", jf.name, n, end)
	}
	buf := make([]byte, headLen+n)
	if _, err := jf.f.ReadAt(buf, start); err != nil {
		return nil, 0, err
	}
	if int64(binary.LittleEndian.Uint32(buf)) != n || binary.LittleEndian.Uint32(buf[4:]) != crc32.Checksum(buf[headLen:], castagnoli) {
		return nil, 0, fmt.Errorf("journal: %s: damaged frame at %d", jf.name, start)
	}
	payload, err := l.dec.DecodeAll(buf[headLen:], nil)
	if err == nil {
		recs, err = split(payload, recs)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("journal: %s: frame at %d: %w", jf.name, start, err)
	}
	return recs, start, nil
}

// Append writes recs as one frame to the file of today (UTC) and syncs
// it. On an error nothing of recs is kept.
func (l *Log) Append(recs [][]byte) error {
	if len(recs) == 0 {
		return nil
	}
	size := binary.MaxVarintLen64
	for _, r := range recs {
		size += binary.MaxVarintLen64 + len(r)
	}
	raw := binary.AppendUvarint(make([]byte, 0, size), uint64(len(recs)))
	for _, r := range recs {
		raw = binary.AppendUvarint(raw, uint64(len(r)))
		raw = append(raw, r...)
	}
	if len(raw) > maxFrame { // more than a read may decompress
		return fmt.Errorf("journal: %d bytes of records in one append, over %d", len(raw), maxFrame)
	}
	frame := make([]byte, headLen, headLen+len(raw)/2+tailLen)
	frame = l.enc.EncodeAll(raw, frame)
	n := uint32(len(frame) - headLen)
	binary.LittleEndian.PutUint32(frame, n)
	binary.LittleEndian.PutUint32(frame[4:], crc32.Checksum(frame[headLen:], castagnoli))
	frame = binary.LittleEndian.AppendUint32(frame, n)

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	jf, err := l.fileFor(l.now().UTC())
	if err != nil {
		return err
	}
	if _, err := jf.f.WriteAt(frame, jf.size); err != nil {
		jf.f.Truncate(jf.size)
		return fmt.Errorf("journal: write %s: %w", jf.name, err)
	}
	if err := jf.f.Sync(); err != nil {
		jf.f.Truncate(jf.size)
		return fmt.Errorf("journal: sync %s: %w", jf.name, err)
	}
	jf.size += int64(len(frame))
	return nil
}

// fileFor returns the file that takes a frame written at now: the
// newest file, or a new one when now's day is later than its day (a
// clock set back keeps writing to the newest). The caller holds mu.
func (l *Log) fileFor(now time.Time) (*file, error) {
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if n := len(l.files); n > 0 && !day.After(l.files[n-1].day) {
		return l.files[n-1], nil
	}
	name := filepath.Join(l.dir, day.Format(dayLayout)+suffix)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if _, err := f.WriteAt([]byte(magic), 0); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = fsx.SyncDir(l.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(name)
		return nil, fmt.Errorf("journal: create %s: %w", name, err)
	}
	jf := &file{name: name, day: day, f: f, size: int64(len(magic))}
	l.files = append(l.files, jf)
	return jf, nil
}

// Newest calls fn with the records from the newest back, until fn returns
// false or every record has been given. fn must not call the Log's
// methods (an Append waiting for the lock would deadlock it). A damaged
// frame ends the read of its file: it is logged and counted, and the
// older files are read.
func (l *Log) Newest(fn func(rec []byte) bool) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	var recs [][]byte
	for i := len(l.files) - 1; i >= 0; i-- {
		jf := l.files[i]
		for end := jf.size; end > int64(len(magic)); {
			var start int64
			var err error
			recs, start, err = l.recordsBefore(jf, end, recs[:0])
			if err != nil {
				l.damaged.Add(1)
				l.log.Error("journal: a damaged frame ends the read of its file", "file", jf.name, "err", err)
				break
			}
			for j := len(recs) - 1; j >= 0; j-- {
				if !fn(recs[j]) {
					return nil
				}
			}
			end = start
		}
	}
	return nil
}

// split appends the records of a frame's payload to recs.
func split(p []byte, recs [][]byte) ([][]byte, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)) {
		return nil, errors.New("bad record count")
	}
	p = p[k:]
	for range n {
		m, k := binary.Uvarint(p)
		if k <= 0 || m > uint64(len(p)-k) {
			return nil, errors.New("bad record length")
		}
		recs = append(recs, p[k:k+int(m)])
		p = p[k+int(m):]
	}
	if len(p) != 0 {
		return nil, errors.New("bytes after the last record")
	}
	return recs, nil
}

// DropBefore removes the files whose day ended at or before cut, and
// returns how many it removed.
func (l *Log) DropBefore(cut time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	kept := l.files[:0]
	removed := 0
	for _, jf := range l.files {
		if jf.day.AddDate(0, 0, 1).After(cut) {
			kept = append(kept, jf)
			continue
		}
		jf.f.Close()
		if err := os.Remove(jf.name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		removed++
	}
	clear(l.files[len(kept):])
	l.files = kept
	return removed, errors.Join(errs...)
}

// Stats returns the log's figures.
func (l *Log) Stats() Stats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := Stats{Files: len(l.files), TailCuts: l.tailCuts}
	for _, jf := range l.files {
		s.Bytes += jf.size
	}
	s.Damaged = l.damaged.Load()
	return s
}

// Close closes the files. Appends after Close fail with ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	for _, jf := range l.files {
		errs = append(errs, jf.f.Close())
	}
	l.files = nil
	l.dec.Close()
	errs = append(errs, l.enc.Close())
	return errors.Join(errs...)
}
