package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"esmon/core/store/chunkenc"
	"esmon/core/store/segment"
)

// chunkWindow is the span of one raw chunk in milliseconds: a series'
// samples of one hour form one chunk and one key. The hour starts at an
// offset of the clock hour per host (windowOffset), so that the chunks of
// a large fleet do not all close, and wait for the flusher, in the same
// minute; the series of one host still share their windows, and so their
// timestamp sections, which block compression stores once.
const chunkWindow = int64(time.Hour / time.Millisecond)

// chunkPiece is the span of one open chunk in milliseconds: a window's
// samples are cut into two pieces, and a piece's chunk is finished, and
// leaves memory with the next flush, when its series' first sample of the
// next piece arrives. The head so holds a quarter of an hour of a series
// on average rather than half an hour: at 10,000 agents (600,000 series
// every 5 s) the open chunks took 440 MB of heap 18 minutes after a start
// and would have held about twice the 310 MB halves hold from half an
// hour on (they held 30 minutes of a series on average, halves 15). Pieces start at the host's
// window offset too: a host's series cut together and share each piece's
// timestamps; a fleet's pieces close spread over the half hour. A
// stored chunk names its piece's start (segment.Chunk.Piece): the chunks
// one flush writes are those of the pieces that just ended, so a segment
// file's span of pieces follows the clock and retention removes files
// whole. Chunks that earlier versions wrote to Badger are keyed by piece
// or, before that, by window; readers seek a window's start and its
// second piece's there (any number of chunks sit under one, told apart by
// their first timestamps).
//
// Each piece is a chunk for good, which costs its header and its entry in
// its frame and its file's index: the devops dataset (a day of 100 hosts
// at 10 s) takes 1.955 bytes a sample on disk in segment files (1.977 in
// Badger keyed by piece, 1.935 in Badger in whole hours, 2.076 in
// quarters: BENCHMARKS.md, "Scale", twentieth, twenty-first and
// twenty-third rounds).
const chunkPiece = chunkWindow / 2

// windowOffset is the offset of host's chunk windows from the clock hour:
// a hash of the host name, in whole seconds.
func windowOffset(host string) int64 {
	h := fnv.New64a()
	h.Write([]byte(host))
	return int64(h.Sum64()%uint64(chunkWindow/1000)) * 1000
}

// windowOf is the start of the window of ms that holds t.
func (ms *memSeries) windowOf(t int64) int64 { return ms.spanOf(t, chunkWindow) }

// spanOf is the start of the span of ms (a window or a piece) that holds
// t: spans start at the host's offset from the clock.
func (ms *memSeries) spanOf(t, span int64) int64 {
	off := int64(ms.off)
	return floorTo(t-off, span) + off
}

// pieceOf is the start of the piece of ms that holds t (see chunkPiece).
func (ms *memSeries) pieceOf(t int64) int64 { return ms.spanOf(t, chunkPiece) }

// ErrClosed is returned by appends to a closed store.
var ErrClosed = errors.New("store closed")

// chunkRef is a finished chunk not yet written to Badger. data never
// changes once the chunk is finished.
type chunkRef struct {
	window int64 // the start of its key's span: its piece (see chunkPiece)
	firstT int64
	data   []byte
}

// memSeries is one series in memory: its identity, its open chunk, its
// finished chunks waiting for the flusher, and its newest sample (the
// latest-value table). All fields except store, id, name and off are
// guarded by DB.hmu.
//
// It is kept small, in bytes and in pointers, because the head holds one
// per active series and the collector follows every pointer of every one
// at each cycle: the open chunk is a value, not a pointer to a second
// object; the metric and labels are one string, the series' name (see
// seriesname.go), read in place. The fields with pointers come first: the
// collector scans the struct only up to the last of them (the open
// chunk's buffers).
type memSeries struct {
	name    string // metric and labels: appendSeriesKey's form
	pending []*chunkRef
	head    chunkenc.Chunk // open chunk; empty (Len 0) when none
	id      uint64
	window  int64 // piece of head: the span its key holds (see chunkPiece)
	firstT  int64 // first timestamp of head
	lastT   int64 // newest sample, math.MinInt64 when none
	lastV   float64
	off     int32 // windowOffset(host): under an hour of ms
	slot    slot  // where seriesAlloc keeps it: what the maps, postings and SeriesRef hold
	dirtyH  int32 // last hour (of the epoch) marked dirty for the minute rollups
	indexed bool  // the series' index entries are in Badger
	hour    row   // the 1-hour rollup row of its newest hour's samples (see foldHour); count 0 when none
}

// host is the series' host label.
func (ms *memSeries) host() string { return keyLabel(ms.name, "host") }

// metric is the series' metric.
func (ms *memSeries) metric() string { return keyMetric(ms.name) }

// labels are the series' labels, in a slice of the caller's.
func (ms *memSeries) labels() Labels { return keyLabels(ms.name) }

// noHour is the dirtyH of a series not marked dirty (or marked for an
// hour that int32 does not hold).
const noHour = math.MinInt32

// storeSeq numbers the stores opened by this process, so that a series
// can tell its store by a number rather than a pointer.
var storeSeq atomic.Uint32

// floorTo rounds t down to a multiple of step, also for negative t.
func floorTo(t, step int64) int64 { return t - mod(t, step) }

// find returns the series of metric and ls, or nil. It fills keyBuf
// with the series' key. Caller holds hmu.
//
// Series are filed by a 64-bit hash of their key, so that the map holds
// no copy of the key: the key's text is already in the series' names.
// The series found is compared by name; a series whose hash another
// series took is filed by its whole key in collide.
func (d *DB) find(metric string, ls Labels) *memSeries {
	d.keyBuf = appendSeriesKey(d.keyBuf[:0], metric, ls)
	if s := d.byHash[d.keyHash(d.keyBuf)]; s != 0 {
		if ms := d.alloc.at(s); ms.name == string(d.keyBuf) {
			return ms
		}
	}
	if len(d.collide) > 0 {
		return d.collide[string(d.keyBuf)]
	}
	return nil
}

// keyHash hashes a series key for byHash.
func (d *DB) keyHash(key []byte) uint64 { return maphash.Bytes(d.hashSeed, key) & d.hashMask }

// lookup finds or creates the series of metric and ls. New series are
// added to the pending series record, which the next append writes to the
// log ahead of its samples. Caller holds hmu.
func (d *DB) lookup(metric string, ls Labels) *memSeries {
	if ms := d.find(metric, ls); ms != nil {
		return ms
	}
	ms := d.addSeries(d.nextID, d.keyBuf) // find left the name there
	d.seriesRec = appendSeriesEntry(d.seriesRec, ms.id, ms.name)
	d.unindexed = append(d.unindexed, ms)
	return ms
}

// addSeries files the series of name k (appendSeriesKey's form) under its
// key hash, id and postings, with a copy of k (the caller's is not kept).
// A series of the same name filed before (under another id) is found as
// this one from then on. Caller holds hmu (or is Open).
func (d *DB) addSeries(id uint64, k []byte) *memSeries {
	s, ms := d.alloc.series()
	*ms = memSeries{slot: s, id: id, name: d.alloc.names.Keep(k), lastT: math.MinInt64, dirtyH: noHour}
	host := ms.host()
	ms.off = int32(windowOffset(host))
	h := d.keyHash(k)
	if old := d.byHash[h]; old == 0 || d.alloc.at(old).name == ms.name {
		d.byHash[h] = s
	} else {
		d.collide[ms.name] = ms
	}
	d.byID.set(id, ms)
	d.byHost[host] = append(d.byHost[host], s)
	metric := ms.metric()
	d.byMetric[metric] = append(d.byMetric[metric], s)
	if id >= d.nextID {
		d.nextID = id + 1
	}
	return ms
}

// seriesAlloc hands out the head's series and their names in blocks: the
// head never forgets a series, so a block is never freed in part, and
// the collector marks one object for a block of series (and one for a
// block of names) where it marked two for every series. At 10,000 agents
// the head holds 800,000 series, and those 1.6 million objects were a
// good part of a mark that took 1.5 s of CPU every 20 s and, with its
// assists, stalled ingest and the live feed.
//
// A series is numbered by its slot, its place in the blocks, and
// everything that files series (the maps by hash and by id, the
// postings, a SeriesRef) holds slots, not pointers: maps and slices
// without pointers are never scanned by the collector, where each
// pointer to a series was one more for every mark to follow (four a
// series in the head's maps and postings, one more in every holder of
// a SeriesRef). Caller holds hmu.
type seriesAlloc struct {
	blocks []*[seriesBlock]memSeries
	n      uint32    // slots handed out
	names  NameTable // the series' names
}

// slot numbers a series of the head: 1 + its index in seriesAlloc's
// blocks, so that the zero slot is no series.
type slot uint32

// seriesBlock is the block size of seriesAlloc: 256 series are about 55 KB.
const seriesBlock = 256

// series returns a new zeroed memSeries and its slot.
func (a *seriesAlloc) series() (slot, *memSeries) {
	i := a.n
	if i == math.MaxUint32 {
		panic("store: more than 4,294,967,294 series in the head")
	}
	if i%seriesBlock == 0 {
		a.blocks = append(a.blocks, new([seriesBlock]memSeries))
	}
	a.n++
	return slot(i + 1), &a.blocks[i/seriesBlock][i%seriesBlock]
}

// at is the series of slot s, which series handed out.
func (a *seriesAlloc) at(s slot) *memSeries {
	i := uint32(s) - 1
	return &a.blocks[i/seriesBlock][i%seriesBlock]
}

// appendSample adds one sample to a series' open chunk, finishing the chunk
// when the sample belongs to the next piece (see chunkPiece) or the chunk
// is full. The caller has checked t > ms.lastT and holds hmu.
func (d *DB) appendSample(ms *memSeries, t int64, v float64) {
	w, p := ms.windowOf(t), ms.pieceOf(t)
	if ms.head.Len() > 0 && (p != ms.pieceOf(ms.firstT) || !ms.head.Append(t, v)) {
		d.finish(ms)
	}
	if ms.head.Len() == 0 {
		ms.window, ms.firstT = p, t
		ms.head.ShareTimes(d.hostTimes(ms.host(), p))
		ms.head.Append(t, v)
	}
	if ms.head.Len() == hintAfter && !ms.head.Hinted() && t > ms.firstT {
		// A series' first chunk: the size its first samples project
		// over the rest of the piece.
		ms.head.SizeHint(int(min(int64(ms.head.ValueBytes())*(p+chunkPiece-ms.firstT)/(t-ms.firstT), chunkenc.MaxChunkHint)))
	}
	ms.lastT, ms.lastV = t, v
	d.foldHour(ms, t, v)
	d.maxT = max(d.maxT, t)
	d.minT = min(d.minT, t)
	d.lowW, d.highW = min(d.lowW, w), max(d.highW, w)
	if t < max(d.minuteWM, d.hourWM) {
		h := floorTo(t, hourMS)
		if hr := h / hourMS; hr != int64(ms.dirtyH) || hr == noHour {
			ms.dirtyH = noHour // an hour out of int32's range is marked every time
			if hr > noHour && hr <= math.MaxInt32 {
				ms.dirtyH = int32(hr)
			}
			if d.dirty[h] == nil {
				d.dirty[h] = map[uint64]struct{}{}
			}
			d.dirty[h][ms.id] = struct{}{}
		}
	}
}

// foldHour adds a sample to the row of its hour that the series keeps,
// from which the hour's rollup makes its 1-hour row (takeHour) without
// reading an hour of samples back: at 10,000 agents ~450 million an
// hour, whose reading and garbage took ~19 minutes of a quarter of a
// core every hour and slowed the agents' acknowledgements. A series'
// samples come in time order, so a sample of a later hour closes the
// row: it waits in hours until its hour is taken (a row closed after
// that is dropped: the samples of an hour taken are marked dirty and
// read back). Hours before hourFrom are not folded: their samples are
// not all in the head. Caller holds hmu.
func (d *DB) foldHour(ms *memSeries, t int64, v float64) {
	h := floorTo(t, hourMS)
	if ms.hour.count > 0 {
		if ms.hour.t == h {
			ms.hour.merge(point(t, v))
			return
		}
		if hr := d.hours[ms.hour.t]; hr != nil { // none once its hour is taken
			if hr.done == nil {
				hr.done = make([]hourRow, 0, hr.open) // one for each series whose row opened
			}
			hr.done = append(hr.done, hourRow{id: ms.id, row: ms.hour})
		}
		ms.hour = row{}
	}
	if h < d.hourFrom || h <= d.hourTaken {
		return
	}
	ms.hour = point(h, v)
	hr := d.hours[h]
	if hr == nil {
		hr = &hourRows{}
		d.hours[h] = hr
	}
	hr.open++
}

// hourRows are the rows of an hour the head has folded: how many series
// opened one, and those closed by a sample of a later hour.
type hourRows struct {
	open int
	done []hourRow
}

// hourRow is a series' 1-hour rollup row.
type hourRow struct {
	id uint64
	row
}

// takeHour returns the rows of hour h folded in the head (see foldHour),
// in series order, and forgets them: rows of h closed from now on are
// dropped. The hour tier's watermark is past h already, so samples of h
// appended from now on are marked dirty.
func (d *DB) takeHour(h int64) []hourRow {
	rows := d.takeHourRows(h)
	slices.SortFunc(rows, func(a, b hourRow) int { return cmp.Compare(a.id, b.id) })
	return rows
}

func (d *DB) takeHourRows(h int64) []hourRow {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	var rows []hourRow
	if hr := d.hours[h]; hr != nil {
		rows = hr.done
		if hr.open > len(hr.done) {
			// Series with no sample since h (a host stopped, a clock
			// behind): their rows are still open.
			for i := range d.alloc.n {
				if ms := d.alloc.at(slot(i + 1)); ms.hour.count > 0 && ms.hour.t == h {
					rows = append(rows, hourRow{id: ms.id, row: ms.hour})
				}
			}
		}
	}
	for k := range d.hours {
		if k <= h {
			delete(d.hours, k)
		}
	}
	d.hourTaken = h
	return rows
}

// hintAfter is the number of samples after which a chunk without a size
// hint gets one from what they take (see chunkenc.Chunk.SizeHint).
const hintAfter = 32

// hostTimes returns the timestamps that the open chunks of host's series
// in the piece starting at p share, nil for a piece before the host's
// newest (late samples get timestamps of their own). Every series of a
// host is sampled at the host's snapshot times, so its chunks' timestamps
// are the same and one copy serves all: an open chunk then holds only its
// values (chunkenc.Times). Caller holds hmu.
func (d *DB) hostTimes(host string, p int64) *chunkenc.Times {
	ht, ok := d.times[host]
	switch {
	case ok && ht.piece == p:
	case ok && ht.piece > p:
		return nil
	default:
		ht = hostTimes{piece: p, ts: chunkenc.NewTimes()}
		d.times[host] = ht
	}
	return ht.ts
}

// hostTimes are the shared timestamps of a host's newest piece.
type hostTimes struct {
	piece int64
	ts    *chunkenc.Times
}

// finish moves a series' open chunk to its pending list. Caller holds hmu.
func (d *DB) finish(ms *memSeries) {
	data := ms.head.SealedBytes()
	if len(ms.pending) == 0 {
		d.withPending = append(d.withPending, ms)
	}
	ms.pending = append(ms.pending, &chunkRef{window: ms.window, firstT: ms.firstT, data: data})
	d.pendingBytes += int64(len(data))
	ms.head = chunkenc.Chunk{} // its buffers go: the next chunk grows its own
	ms.head.SizeHint(len(data))
	if d.pendingBytes > d.opts.FlushBytes {
		d.kickFlush()
	}
}

func (d *DB) kickFlush() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Ref returns the reference of the series of metric and labels (sorted by
// name), creating the series if it is new. A new series reaches the log
// with the next append, ahead of its samples.
func (d *DB) Ref(metric string, ls Labels) (SeriesRef, error) {
	if metric == "" {
		d.m.invalid.Inc()
		return SeriesRef{}, errors.New("series ref: empty metric name")
	}
	d.hmu.Lock()
	defer d.hmu.Unlock()
	if d.closed {
		return SeriesRef{}, ErrClosed
	}
	return SeriesRef{d.lookup(metric, ls).slot, d.seq}, nil
}

// Append stores samples. With the write-ahead log on (every store but an
// in-memory one) it returns once they are in the log on disk; a sample at
// or before the newest time of its series is a duplicate and skipped.
// When the disk or the flusher falls behind, Append waits: that is the
// backpressure an agent sees as a slower acknowledgement.
func (d *DB) Append(ctx context.Context, samples []Sample) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.wal != nil {
		waited, err := d.wal.WaitRoom()
		if waited {
			d.m.backpressure.Inc()
		}
		if err != nil {
			return fmt.Errorf("append samples: %w", err)
		}
	}
	d.hmu.Lock()
	for d.pendingBytes > d.opts.MaxPendingBytes && !d.closed {
		d.m.backpressure.Inc()
		d.kickFlush()
		d.flushed.Wait()
	}
	if d.closed {
		d.hmu.Unlock()
		return ErrClosed
	}
	d.enc.reset()
	appended, dups, invalid := 0, 0, 0
	for i := range samples {
		s := &samples[i]
		var ms *memSeries // a ref of another store counts as none
		if s.Ref.s != 0 && s.Ref.store == d.seq {
			ms = d.alloc.at(s.Ref.s)
		}
		if math.IsNaN(s.V) || math.IsInf(s.V, 0) || (ms == nil && s.Metric == "") {
			invalid++
			continue
		}
		if ms == nil {
			ms = d.lookup(s.Metric, s.Labels)
		}
		if s.T <= ms.lastT {
			dups++
			continue
		}
		d.appendSample(ms, s.T, s.V)
		if d.wal != nil {
			d.enc.add(ms.id, s.T, s.V)
		}
		appended++
	}
	var pos uint64
	var err error
	if d.wal != nil {
		recs := make([][]byte, 0, 2)
		if len(d.seriesRec) > 1 {
			recs = append(recs, d.seriesRec)
		}
		if r := d.enc.record(); r != nil {
			recs = append(recs, r)
		}
		if len(recs) > 0 {
			pos, err = d.wal.Append(recs...)
		}
	}
	if err == nil {
		d.seriesRec = d.seriesRec[:1] // logged (or no log)
		if cap(d.seriesRec) > 64<<10 {
			// a burst of new series (a fleet connecting) is not kept
			d.seriesRec = []byte{recSeries}
		}
	}
	d.hmu.Unlock()
	d.m.appended.Add(float64(appended))
	d.m.duplicates.Add(float64(dups))
	d.m.invalid.Add(float64(invalid))
	if err == nil && pos > 0 {
		err = d.wal.Wait(pos)
	}
	if err != nil {
		return fmt.Errorf("append samples: %w", err)
	}
	return nil
}

// flush writes the finished chunks to the segment files and new index
// entries to Badger. One flush runs at a time.
func (d *DB) flush() error {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	d.hmu.Lock()
	items := make([]flushItem, 0, len(d.withPending))
	for _, ms := range d.withPending {
		items = append(items, flushItem{ms, slices.Clone(ms.pending)})
	}
	d.withPending = d.withPending[:0]
	idx := d.unindexed
	d.unindexed = nil
	d.hmu.Unlock()
	if len(items) == 0 && len(idx) == 0 {
		return nil
	}

	quot := quotients(items)
	var bytes int64
	var cs []segment.Chunk
	for _, it := range items {
		for _, c := range it.refs {
			data := c.data
			if q, ok := quot[c]; ok {
				data = q
			}
			cs = append(cs, segment.Chunk{ID: it.ms.id, Piece: c.window, FirstT: c.firstT, Data: data})
			bytes += int64(len(c.data))
		}
	}
	// The chunks go to the segment files (synced when Append returns),
	// the new series' index entries to Badger. A flush that fails is
	// tried again whole: a chunk then written twice is read once.
	err := d.segs.Append(cs)
	if err == nil && len(idx) > 0 {
		wb := d.db.NewWriteBatch()
		for _, ms := range idx {
			if err = wb.Set(indexEntry(ms)); err != nil {
				break
			}
		}
		if err == nil {
			err = wb.Flush()
		}
		wb.Cancel()
	}

	d.hmu.Lock()
	defer d.hmu.Unlock()
	if err != nil {
		for _, it := range items {
			if !slices.Contains(d.withPending, it.ms) {
				d.withPending = append(d.withPending, it.ms)
			}
		}
		d.unindexed = append(idx, d.unindexed...)
		return fmt.Errorf("flush chunks: %w", err)
	}
	for _, it := range items {
		n := len(it.refs)
		if n == len(it.ms.pending) {
			it.ms.pending = nil
		} else {
			it.ms.pending = slices.Clone(it.ms.pending[n:])
			d.withPending = append(d.withPending, it.ms)
		}
	}
	for _, ms := range idx {
		ms.indexed = true
	}
	d.m.quotients.Add(float64(len(quot)))
	d.pendingBytes -= bytes
	d.flushed.Broadcast()
	return nil
}

// expiry is the Badger TTL (Unix seconds) of data ending at endMS kept for
// keep; zero keeps it forever.
func (d *DB) expiry(endMS int64, keep time.Duration) uint64 {
	if keep <= 0 {
		return 0
	}
	return uint64(max(0, endMS/1000+int64(keep/time.Second)))
}

// run is the flusher: it writes finished chunks when told or every
// FlushEvery, and checkpoints the head when the log has grown. Every
// PageOutEvery it has the kernel reclaim the pages of Badger's tables
// (pageOutTables).
func (d *DB) run() {
	defer close(d.done)
	tick := time.NewTicker(d.opts.FlushEvery)
	defer tick.Stop()
	var pageOut <-chan time.Time
	if d.tableDir != "" && d.opts.PageOutEvery > 0 {
		t := time.NewTicker(d.opts.PageOutEvery)
		defer t.Stop()
		pageOut = t.C
	}
	for {
		select {
		case <-d.stop:
			return
		case <-d.kick:
		case <-tick.C:
		case <-pageOut:
			if err := pageOutTables(d.tableDir); err != nil {
				d.log.Warn("reclaiming the pages of Badger's tables failed; no longer tried", "err", err)
				pageOut = nil
			}
			continue
		}
		if err := d.flush(); err != nil {
			d.log.Error("flush chunks", "err", err)
			continue
		}
		if d.wal == nil {
			continue
		}
		d.ckMu.Lock()
		due := d.wal.Written()-d.ckAt > uint64(d.opts.CheckpointBytes) ||
			(d.wal.Written() > d.ckAt && time.Since(d.ckTime) > d.opts.CheckpointEvery)
		d.ckMu.Unlock()
		if due {
			if err := d.Checkpoint(); err != nil {
				d.log.Error("checkpoint head", "err", err)
			}
		}
	}
}
