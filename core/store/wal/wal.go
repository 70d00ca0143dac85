// Package wal is the store's write-ahead log: numbered segment files of
// records, each framed by its length and a CRC32 (Castagnoli) of its
// payload. One writer goroutine writes whatever records have queued up
// since its last write and syncs them with one fsync (group commit);
// callers wait for the position of their records to become durable.
package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// headerSize is the length and the CRC before each payload.
const headerSize = 8

// MaxRecord bounds one record's payload.
const MaxRecord = 16 << 20

// Defaults for Options.
const (
	DefaultSegmentSize = 64 << 20
	DefaultMaxPending  = 32 << 20
	// DefaultSyncGap is the least time between the starts of two
	// fsyncs. Each costs the kernel a journal commit (about a quarter of
	// a millisecond of CPU here) however little it carries; back to
	// back, 2,000 agents at 5 s got 1.45 batches a sync. Records
	// appended in the gap wait for the next sync, together.
	DefaultSyncGap = 5 * time.Millisecond
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned for appends to a closed log.
var ErrClosed = errors.New("write-ahead log closed")

// Options configure a Log.
type Options struct {
	// Dir holds the segment files.
	Dir string
	// SegmentSize is the size past which the writer starts a new segment.
	SegmentSize int64
	// MaxPending is how many bytes may wait for the disk before WaitRoom
	// blocks: the backpressure that slows acknowledgements when writes
	// outrun the disk.
	MaxPending int
	// ObserveSync, if set, is told the duration of every fsync.
	ObserveSync func(time.Duration)
	// NoSync skips fsync (benchmarks that measure encoding alone).
	NoSync bool
	// SyncGap is the least time between the starts of two writes and
	// fsyncs: the group commit's window. 0 means DefaultSyncGap; negative,
	// none (sync as soon as the last sync ends). A write starts at once
	// when MaxPending/2 bytes wait, or on Cut and Close.
	SyncGap time.Duration
}

// Log is an open write-ahead log, appended to by many goroutines.
type Log struct {
	opts Options

	mu sync.Mutex // guards the fields below
	// work wakes the writer: records queued, a cut asked, the log closed.
	// cond wakes those waiting on the writer: durable, room, segment and
	// err changes. Apart, an append wakes the writer alone: with one
	// condition for both, the first append after each write woke every
	// caller waiting for that write's fsync (hundreds at 10,000 agents,
	// 180 times a second) only to put it back to sleep.
	work     *sync.Cond
	cond     *sync.Cond
	buf      []byte // records not yet handed to the writer
	spare    []byte
	written  uint64 // logical bytes appended (end of buf)
	durable  uint64 // logical bytes fsynced
	cutReq   bool   // start a new segment after the next write
	seg      int    // index of the segment being written
	segCount uint64 // rotations done, for Cut to wait on
	err      error  // sticky write or sync error
	closed   bool

	f       *os.File // owned by the writer goroutine after Open
	segSize int64
	done    chan struct{}
}

// Open starts a new segment after any existing ones and the writer
// goroutine that Close stops. Replay existing segments before Open.
func Open(opts Options) (*Log, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.SyncGap == 0 {
		opts.SyncGap = DefaultSyncGap
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create wal directory: %w", err)
	}
	segs, err := Segments(opts.Dir)
	if err != nil {
		return nil, err
	}
	l := &Log{opts: opts, done: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	l.work = sync.NewCond(&l.mu)
	if len(segs) > 0 {
		l.seg = segs[len(segs)-1] + 1
	}
	if l.f, err = createSegment(opts.Dir, l.seg); err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

// SegmentName is the file name of segment i.
func SegmentName(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("%08d", i)) }

func createSegment(dir string, i int) (*os.File, error) {
	f, err := os.OpenFile(SegmentName(dir, i), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create wal segment: %w", err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync wal directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync wal directory: %w", err)
	}
	return nil
}

// Segments lists the segment indexes in dir in ascending order.
func Segments(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list wal segments: %w", err)
	}
	var out []int
	for _, e := range ents {
		if i, err := strconv.Atoi(e.Name()); err == nil && len(e.Name()) == 8 && e.Type().IsRegular() {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out, nil
}

// WaitRoom blocks while more than MaxPending bytes wait for the disk. It
// reports whether it had to wait.
func (l *Log) WaitRoom() (waited bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.err == nil && !l.closed && l.written-l.durable > uint64(l.opts.MaxPending) {
		waited = true
		l.cond.Wait()
	}
	if l.err != nil {
		return waited, l.err
	}
	if l.closed {
		return waited, ErrClosed
	}
	return waited, nil
}

// Append queues records and returns the log position after them; Wait on
// it for durability. Records keep the order of Append calls.
func (l *Log) Append(recs ...[]byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	if l.closed {
		return 0, ErrClosed
	}
	for _, r := range recs {
		if len(r) > MaxRecord {
			return 0, fmt.Errorf("wal record of %d bytes exceeds %d", len(r), MaxRecord)
		}
	}
	wasEmpty := len(l.buf) == 0
	for _, r := range recs {
		l.buf = binary.LittleEndian.AppendUint32(l.buf, uint32(len(r)))
		l.buf = binary.LittleEndian.AppendUint32(l.buf, crc32.Checksum(r, castagnoli))
		l.buf = append(l.buf, r...)
		l.written += uint64(headerSize + len(r))
	}
	if wasEmpty {
		l.work.Signal()
	}
	return l.written, nil
}

// Wait blocks until everything up to pos is on disk.
func (l *Log) Wait(pos uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.durable < pos && l.err == nil {
		l.cond.Wait()
	}
	if l.durable >= pos {
		return nil
	}
	return l.err
}

// Cut makes the writer start a new segment after the records appended so
// far, and returns its index once they are durable: every record appended
// before Cut lies in a segment before the one returned.
func (l *Log) Cut() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	want := l.segCount + 1
	l.cutReq = true
	l.work.Signal()
	for l.segCount < want && l.err == nil && !l.closed {
		l.cond.Wait()
	}
	if l.segCount >= want {
		return l.seg, nil
	}
	if l.err != nil {
		return 0, l.err
	}
	return 0, ErrClosed
}

// Truncate removes the segments before segment first.
func (l *Log) Truncate(first int) error {
	segs, err := Segments(l.opts.Dir)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s >= first {
			break
		}
		if err := os.Remove(SegmentName(l.opts.Dir, s)); err != nil {
			return fmt.Errorf("remove wal segment: %w", err)
		}
	}
	return nil
}

// Size is the bytes of all segments on disk.
func (l *Log) Size() int64 {
	segs, _ := Segments(l.opts.Dir)
	var n int64
	for _, s := range segs {
		if fi, err := os.Stat(SegmentName(l.opts.Dir, s)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Close writes and syncs what is queued, stops the writer and closes the
// segment.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closed = true
	l.work.Signal()
	l.cond.Broadcast()
	l.mu.Unlock()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	cerr := l.f.Close()
	if l.err != nil {
		return l.err
	}
	if cerr != nil {
		return fmt.Errorf("close wal segment: %w", cerr)
	}
	return nil
}

// run is the writer: it takes all queued records, writes and syncs them
// at once, and wakes their waiters.
func (l *Log) run() {
	defer close(l.done)
	var last time.Time // when the last write began
	for {
		l.mu.Lock()
		for len(l.buf) == 0 && !l.cutReq && !l.closed {
			l.work.Wait()
		}
		if l.err != nil || (l.closed && len(l.buf) == 0) {
			l.mu.Unlock()
			return
		}
		if wait := time.Until(last.Add(l.opts.SyncGap)); wait > 0 && !l.cutReq && !l.closed && len(l.buf) < l.opts.MaxPending/2 {
			// Let more writers join this sync; they append meanwhile.
			l.mu.Unlock()
			time.Sleep(wait)
			l.mu.Lock()
		}
		last = time.Now()
		buf := l.buf
		l.buf = l.spare[:0]
		end := l.written
		cut := l.cutReq
		l.cutReq = false
		l.mu.Unlock()

		err := l.write(buf)
		if err == nil && (cut || l.segSize >= l.opts.SegmentSize) {
			err = l.rotate()
		}

		l.mu.Lock()
		l.spare = buf[:0]
		if cap(l.spare) > 4*l.opts.MaxPending {
			l.spare = nil // let one huge burst's buffer go
		}
		if err != nil {
			l.err = err
		} else {
			l.durable = end
		}
		l.cond.Broadcast()
		l.mu.Unlock()
	}
}

func (l *Log) write(buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	if _, err := l.f.Write(buf); err != nil {
		return fmt.Errorf("write wal: %w", err)
	}
	l.segSize += int64(len(buf))
	if l.opts.NoSync {
		return nil
	}
	start := time.Now()
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync wal: %w", err)
	}
	if l.opts.ObserveSync != nil {
		l.opts.ObserveSync(time.Since(start))
	}
	return nil
}

// rotate closes the current segment and starts the next. Only the writer
// calls it; the lock covers the fields Cut reads.
func (l *Log) rotate() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("close wal segment: %w", err)
	}
	l.mu.Lock()
	next := l.seg + 1
	l.mu.Unlock()
	f, err := createSegment(l.opts.Dir, next)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.f, l.seg, l.segSize = f, next, 0
	l.segCount++
	l.mu.Unlock()
	return nil
}

// Written is the log position after the last record appended.
func (l *Log) Written() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.written
}

// WriteDir writes the records that fill adds into a new directory dst as
// one segment, synced, by way of a temporary directory renamed into place:
// dst either holds every record or does not exist. Replay reads it.
func WriteDir(dst string, fill func(add func(rec []byte) error) error) error {
	_, err := writeDir(dst, syncEvery, fill)
	return err
}

// syncEvery is how much of a directory WriteDir writes between syncs.
// A checkpoint at 10,000 agents is ~300 MB, written every few minutes:
// synced once at its end, its dirty pages went to the disk in one burst,
// and the log's syncs (each batch's acknowledgement waits for one)
// queued behind it (BENCHMARKS.md, "Scale", twenty-sixth round).
// Synced as it goes, the burst is at most this much.
const syncEvery = 8 << 20

// writeDir is WriteDir syncing the segment after each every bytes (0:
// once, at its end); it returns the number of syncs.
func writeDir(dst string, every int, fill func(add func(rec []byte) error) error) (int, error) {
	tmp := dst + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return 0, fmt.Errorf("remove %s: %w", tmp, err)
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return 0, fmt.Errorf("create %s: %w", tmp, err)
	}
	f, err := os.OpenFile(SegmentName(tmp, 0), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("create checkpoint segment: %w", err)
	}
	sw := &syncWriter{f: f, every: every}
	bw := bufio.NewWriterSize(sw, 1<<20)
	var hdr [headerSize]byte
	add := func(r []byte) error {
		if len(r) > MaxRecord {
			return fmt.Errorf("record of %d bytes exceeds %d", len(r), MaxRecord)
		}
		binary.LittleEndian.PutUint32(hdr[:], uint32(len(r)))
		binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(r, castagnoli))
		bw.Write(hdr[:])
		_, err := bw.Write(r)
		return err
	}
	err = fill(add)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = sw.sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return sw.syncs, fmt.Errorf("write %s: %w", filepath.Base(dst), err)
	}
	return sw.syncs, syncDir(filepath.Dir(dst))
}

// syncWriter writes to f, syncing it after each every bytes (0: never).
type syncWriter struct {
	f        *os.File
	every    int
	n, syncs int
}

func (w *syncWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if w.n += n; err == nil && w.every > 0 && w.n >= w.every {
		err = w.sync()
	}
	return n, err
}

// sync syncs f.
func (w *syncWriter) sync() error {
	w.n = 0
	w.syncs++
	return w.f.Sync()
}
