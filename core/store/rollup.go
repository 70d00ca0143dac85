package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"esmon/core/internal/pause"
	"esmon/core/store/chunkenc"
	"esmon/core/store/segment"
)

// Rollup tiers as stored: the code in the key, and the window one key
// covers.
//
// The 1-hour tier keeps one row under one key a series-hour (code 3).
// Stores made before kept a series' day of rows under one key (code 2),
// read and written again with each hour's row: by the day's last hour a
// rollup read and wrote ~640 MB at 10,000 agents, which Badger compacted
// again, and its buffers took the core's RSS past 2 GB (BENCHMARKS.md,
// "Scale", twenty-seventh round). An hour's rollup now writes ~47 MB
// there at any hour (BenchmarkRollupHourOfDay). Day keys a store holds
// are read beside the hour keys until their TTL ends them; an hour key
// wins over a day key's row of the same hour.
const (
	tierMinuteCode byte = 1 // rows of 1 minute, one key per series-hour
	tierHourCode   byte = 2 // rows of 1 hour, one key per series-day: written no more; and the 1-hour tier's code for its watermark and retention
	tierHourRow    byte = 3 // a row of 1 hour, one key per series-hour
)

// rollupCodes are the codes rollups are stored under.
var rollupCodes = [...]byte{tierMinuteCode, tierHourCode, tierHourRow}

// rollupGrace is how long after an hour ends its minute rollups are made,
// so samples still in flight arrive first.
const rollupGrace = 2 * minuteMS

// maxHoursPerRun bounds one rollup run when catching up after downtime.
const maxHoursPerRun = 48

// minuteLead is how long before raw samples expire their 1-minute rollups
// are stored. Until then the raw samples are the 1-minute tier: a minute
// of samples at a 10 s interval is six values, its rollup five columns,
// so storing both for the whole raw retention would nearly double the
// disk for no gain in what can be answered.
const minuteLead = dayMS

// unset marks a watermark (or time) not yet known.
const unset = math.MinInt64

// minTime is a series' lastT before its first sample.
const minTime = math.MinInt64

// tierName is a stored tier's name (TierMinute, TierHour).
func tierName(code byte) string {
	if code == tierHourCode || code == tierHourRow {
		return TierHour
	}
	return TierMinute
}

// rollupWindow is the span of time one key of code covers.
func rollupWindow(code byte) int64 {
	if code == tierHourCode {
		return dayMS
	}
	return hourMS
}

func watermarkKey(code byte) []byte { return []byte{prefixState, 'w', code} }

// watermark is the time before which tier code is rolled up.
func (d *DB) watermark(code byte) int64 {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	if code == tierHourCode {
		return d.hourWM
	}
	return d.minuteWM
}

func (d *DB) loadWatermarks() error {
	for _, code := range []byte{tierMinuteCode, tierHourCode} {
		v, err := d.Get(watermarkKey(code))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("load rollup watermark: %w", err)
		}
		if len(v) != 8 {
			return errors.New("load rollup watermark: bad value")
		}
		wm := int64(binary.BigEndian.Uint64(v))
		if code == tierHourCode {
			d.hourWM = wm
		} else {
			d.minuteWM = wm
		}
	}
	// Whether the store holds day keys of the 1-hour tier (tierHourCode),
	// which queries then read too.
	return d.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRollup, tierHourCode}})
		defer it.Close()
		it.Rewind()
		d.dayKeys.Store(it.Valid())
		return nil
	})
}

// setWatermark moves tier code's watermark to wm and stores it.
func (d *DB) setWatermark(code byte, wm int64) error {
	d.moveWatermark(code, wm)
	return d.Put(watermarkKey(code), binary.BigEndian.AppendUint64(nil, uint64(wm)))
}

// moveWatermark moves tier code's watermark in memory only.
func (d *DB) moveWatermark(code byte, wm int64) {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	if code == tierHourCode {
		d.hourWM = wm
	} else {
		d.minuteWM = wm
	}
}

// Rollup makes the 1-hour rollup of every hour that has ended (a row
// under a key of its own for each series) and the 1-minute rollups of every
// hour whose raw samples expire within a day (minuteLead), and remakes
// those that samples arrived late for. Queries compute rows not stored
// yet from the finer data, so both tiers answer for all time. The core
// runs it every minute.
//
// Each hour's rows are made in the run after it ends, so the work a run
// does follows the rate of samples, not the length of a day: the day's
// rollup made at midnight read a day of samples of every series at once
// (at 10,000 agents, ~14 billion samples in the minutes after 00:00).
func (d *DB) Rollup(ctx context.Context) error {
	d.rollMu.Lock()
	defer d.rollMu.Unlock()
	now := d.opts.Now().UnixMilli()

	d.hmu.Lock()
	mwm, hwm := d.minuteWM, d.hourWM
	if mwm == unset && d.minT != math.MaxInt64 {
		mwm = floorTo(d.minT, hourMS)
	}
	if hwm == unset && mwm != unset {
		hwm = floorTo(mwm, dayMS)
	}
	if d.opts.Retention.Raw > 0 && d.minuteWM == unset {
		// Start where raw samples are kept no longer than a rollup.
		mwm = max(mwm, floorTo(now-d.opts.Retention.Raw.Milliseconds(), hourMS))
	}
	dirty := d.dirty
	d.dirty = map[int64]map[uint64]struct{}{}
	all := d.byID.list()
	d.hmu.Unlock()
	if mwm == unset {
		return nil
	}
	if d.watermark(tierMinuteCode) == unset {
		// Pin where minute rollups start, so that a restart (which
		// forgets minT) cannot move it past hours not yet rolled up.
		if err := d.setWatermark(tierMinuteCode, mwm); err != nil {
			return err
		}
	}
	if d.watermark(tierHourCode) == unset {
		if err := d.setWatermark(tierHourCode, hwm); err != nil {
			return err
		}
	}

	end := floorTo(now-rollupGrace, hourMS)
	minuteEnd := end
	if lag := d.opts.Retention.Raw.Milliseconds() - minuteLead; d.opts.Retention.Raw > 0 && lag > rollupGrace {
		minuteEnd = floorTo(now-lag, hourMS)
	}
	for n := 0; mwm < minuteEnd && n < maxHoursPerRun; n++ {
		if err := d.rollupTier(ctx, tierMinuteCode, all, mwm); err != nil {
			return err
		}
		mwm += hourMS
	}
	// Late samples, for hours rolled up already: the minute rows first,
	// which the hour's row is then made of.
	for _, code := range []byte{tierMinuteCode, tierHourCode} {
		for h, ids := range dirty {
			if h >= d.watermark(code) {
				continue
			}
			d.hmu.Lock()
			ss := make([]*memSeries, 0, len(ids))
			for id := range ids {
				ss = append(ss, d.byID.get(id))
			}
			d.hmu.Unlock()
			if err := d.rollupEach(ctx, ss, code, h); err != nil {
				return err
			}
		}
	}
	for n := 0; hwm < end && n < maxHoursPerRun; n++ {
		if err := d.rollupTier(ctx, tierHourCode, all, hwm); err != nil {
			return err
		}
		hwm += hourMS
	}
	return nil
}

// rollupTier makes tier code's rows of hour h for the series ss and then
// moves the tier's watermark past h. The watermark moves in memory first:
// samples for h arriving while it is rolled up are then marked dirty and
// rolled up again next run. It is stored only once every row is, and put
// back if the rollup fails, so that a crash or a failure (a run out of
// time) leaves the hour to the next run, not half of it unmade for good.
//
// An hour's 1-hour rows are the rows the head folded (takeHour) when it
// has every sample of the hour; otherwise, and after a failure (the rows
// taken are gone), they are made from the finer data stored.
func (d *DB) rollupTier(ctx context.Context, code byte, ss []*memSeries, h int64) error {
	began := time.Now()
	d.moveWatermark(code, h+hourMS)
	d.hmu.Lock()
	folded := code == tierHourCode && h >= d.hourFrom
	d.hmu.Unlock()
	var err error
	if folded {
		err = d.rollupFolded(ctx, h)
	} else {
		err = d.rollupEach(ctx, ss, code, h)
	}
	if err == nil {
		err = d.setWatermark(code, h+hourMS)
	}
	if err != nil {
		d.moveWatermark(code, h)
		if folded {
			d.hmu.Lock()
			d.hourFrom = max(d.hourFrom, h+hourMS)
			d.hmu.Unlock()
		}
		return err
	}
	d.m.rollup.WithLabelValues(tierName(code)).Observe(time.Since(began).Seconds())
	return nil
}

// rollupFolded writes the 1-hour rows of hour h that the head folded.
func (d *DB) rollupFolded(ctx context.Context, h int64) error {
	return d.writeHourRows(ctx, h, d.takeHour(h))
}

// writeHourRows writes rows, 1-hour rows of hour h, each under its
// series-hour key.
func (d *DB) writeHourRows(ctx context.Context, h int64, rows []hourRow) error {
	return d.writeRollup(ctx, tierHourRow, h, len(rows), func(_ *reader, i int) (uint64, []row, error) {
		return rows[i].id, []row{rows[i].row}, nil
	})
}

// rollupEach writes tier code's rows of hour h for the series ss, made
// from the finer data stored: the minute rows of h, or the hour's row.
func (d *DB) rollupEach(ctx context.Context, ss []*memSeries, code byte, h int64) error {
	// The minute tier's watermark stays put while the hour tier is rolled
	// up (Rollup holds rollMu): read once, not under the head's lock for
	// every series.
	mwm := d.watermark(tierMinuteCode)
	if code == tierHourCode {
		code = tierHourRow
	}
	return d.writeRollup(ctx, code, h, len(ss), func(r *reader, i int) (uint64, []row, error) {
		ms := ss[i]
		var rows []row
		var err error
		if code == tierHourRow {
			rows, err = r.hourOf(ms, h, mwm)
		} else {
			rows, err = r.folded(ms, h, h+hourMS-1, minuteMS)
		}
		return ms.id, rows, err
	})
}

// writeRollup writes the rows of code (tierMinuteCode or tierHourRow)
// that rowsOf makes for the series 0..n-1 under their keys of window, in
// batches of 1,000 series, each read in one transaction and written in
// one batch, paced (see rollupShare). rowsOf returns the series' id and
// rows, none to write nothing (of tierHourRow: one).
func (d *DB) writeRollup(ctx context.Context, code byte, window int64, n int, rowsOf func(r *reader, i int) (uint64, []row, error)) error {
	const batch = 1000
	exp := d.expiry(window+rollupWindow(code), d.keep(code))
	// One reader of the segment files and one scratch for every batch:
	// the next batch's series' chunks are in the frames the last read.
	var seg *segment.Reader
	var scratch []Point
	var arena []byte // the batch's values, which Badger holds until the batch is flushed
	var enc rollupEncoder
	if err := ctx.Err(); err != nil {
		return err // also with no rows: a run out of time moves no watermark
	}
	for i := 0; i < n; {
		end, began := min(n, i+batch), time.Now()
		wb := d.db.NewWriteBatch()
		err := d.db.View(func(txn *badger.Txn) error {
			r := &reader{d: d, txn: txn, seg: seg, scratch: scratch}
			defer func() { seg, scratch = r.seg, r.scratch; r.close() }()
			for ; i < end; i++ {
				id, rows, err := rowsOf(r, i)
				if err != nil {
					return err
				}
				if len(rows) == 0 {
					continue
				}
				k := len(arena)
				if code == tierHourRow {
					arena = appendHourRow(arena, rows[0])
				} else {
					arena = enc.append(arena, rows)
				}
				e := badger.NewEntry(rollupKey(code, id, window), arena[k:len(arena):len(arena)])
				e.ExpiresAt = exp
				if err := wb.SetEntry(e); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			err = wb.Flush()
		}
		wb.Cancel()
		arena = arena[:0]
		if err != nil {
			return fmt.Errorf("roll up: %w", err)
		}
		if i < n {
			took := time.Since(began)
			if err := pause.For(ctx, max(took*(rollupShare-1), batch*time.Second/rollupRate-took)); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err // For may end with a wait of no time
			}
		}
	}
	return nil
}

// rollupShare paces a rollup of many series: it works one part in
// rollupShare of the time it runs for, waiting between batches, so that
// the garbage of the samples it reads comes at a rate the collector takes
// in its stride beside the ingest (at 10,000 agents a rollup made from
// the samples stored reads ~450 million an hour; one of rows folded in
// the head reads none, and rollupRate bounds it) and the agents' batches
// keep a core.
const rollupShare = 4

// rollupRate bounds the series a rollup writes the rows of in a second.
// Badger takes an hour's rows (805,000 keys at 10,000 agents) in
// memtables and compactions, whose buffers are live heap: when the rows
// were added to day keys (~240 MB written by the end of a day) and
// written as fast as the head folds them (37 s with rollupShare alone),
// the core's live heap rose by 270 MB and its RSS passed 2 GB. At this
// rate the rollup takes ~7 minutes there.
const rollupRate = 2000

// hourOf returns the row of hour h of ms made (again) from the minute
// tier, none when h has no samples. The minute rows before mwm (the minute
// tier's watermark) are stored; after it they are folded from the raw
// samples.
func (r *reader) hourOf(ms *memSeries, h, mwm int64) ([]row, error) {
	if h < mwm {
		rows, err := r.rows(TierMinute, ms, h, h+hourMS-1)
		if err != nil {
			return nil, err
		}
		return regroup(rows, hourMS), nil
	}
	return r.folded(ms, h, h+hourMS-1, hourMS)
}

// hourRowSize is the size of a stored 1-hour row: min, max, sum, count
// and last, little-endian float64s (its hour is in its key). A row under
// a key of its own costs Badger the key besides: 58 bytes a series-hour
// against the ~33 a row added to a day's columns took, but nothing is
// read or written again.
const hourRowSize = 5 * 8

func appendHourRow(b []byte, rw row) []byte {
	for _, v := range [5]float64{rw.min, rw.max, rw.sum, rw.count, rw.last} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// decodeHourRow decodes a stored 1-hour row of hour t.
func decodeHourRow(b []byte, t int64) (row, error) {
	if len(b) != hourRowSize {
		return row{}, fmt.Errorf("%w: 1-hour row of %d bytes", chunkenc.ErrCorrupt, len(b))
	}
	f := func(i int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])) }
	return row{t: t, min: f(0), max: f(1), sum: f(2), count: f(3), last: f(4)}, nil
}

// encodeRollup writes rows as five chunks over the same timestamps: min,
// max, sum, count, last, each preceded by its length.
func encodeRollup(rows []row) []byte {
	var e rollupEncoder
	return e.append(nil, rows)
}

// rollupEncoder encodes rollups (encodeRollup) with buffers kept from one
// to the next: the five columns share one timestamp section, and their
// buffers are reused. At 10,000 agents an hour's rollup encodes 805,000
// days of rows, and fresh columns each time were 1.1 GB of garbage.
type rollupEncoder struct {
	ts   chunkenc.Times
	cols [5]chunkenc.Chunk
	col  []byte
}

// append appends the encoding of rows to b.
func (e *rollupEncoder) append(b []byte, rows []row) []byte {
	e.ts.Reset()
	for i := range e.cols {
		e.cols[i].Reset()
		e.cols[i].ShareTimes(&e.ts)
	}
	for _, rw := range rows {
		for i, v := range [5]float64{rw.min, rw.max, rw.sum, rw.count, rw.last} {
			e.cols[i].Append(rw.t, v)
		}
	}
	for i := range e.cols {
		e.col = e.cols[i].AppendBytes(e.col[:0])
		b = binary.AppendUvarint(b, uint64(len(e.col)))
		b = append(b, e.col...)
	}
	return b
}

// decodeRollup appends to dst the rows of an encoded rollup in [from, to].
// Each column is decoded a batch at a time into the rows it fills.
func decodeRollup(b []byte, dst []row, from, to int64) ([]row, error) {
	var its [5]chunkenc.Iterator
	for i := range its {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return dst, fmt.Errorf("%w: rollup column %d", chunkenc.ErrCorrupt, i)
		}
		if err := its[i].Reset(b[k : k+int(n)]); err != nil {
			return dst, err
		}
		b = b[k+int(n):]
	}
	n := its[0].Len()
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	rows := dst[start:]
	for col := range its {
		if its[col].Len() != n {
			return dst[:start], fmt.Errorf("%w: rollup columns of unequal length", chunkenc.ErrCorrupt)
		}
		k := 0
		for ts, vs := its[col].Batch(); len(ts) > 0; ts, vs = its[col].Batch() {
			if k+len(ts) > n {
				return dst[:start], fmt.Errorf("%w: rollup column %d too long", chunkenc.ErrCorrupt, col)
			}
			for j, t := range ts {
				rw := &rows[k+j]
				if col == 0 {
					rw.t = t
				} else if rw.t != t {
					return dst[:start], fmt.Errorf("%w: rollup columns at different times", chunkenc.ErrCorrupt)
				}
				switch v := vs[j]; col {
				case 0:
					rw.min = v
				case 1:
					rw.max = v
				case 2:
					rw.sum = v
				case 3:
					rw.count = v
				default:
					rw.last = v
				}
			}
			k += len(ts)
		}
		if err := its[col].Err(); err != nil {
			return dst[:start], err
		}
		if k != n {
			return dst[:start], fmt.Errorf("%w: rollup columns of unequal length", chunkenc.ErrCorrupt)
		}
	}
	w := start
	for _, rw := range rows {
		if rw.t >= from && rw.t <= to {
			dst[w] = rw
			w++
		}
	}
	return dst[:w], nil
}

// EnforceRetention deletes raw chunks and rollups older than their tier's
// retention: the segment files whose every chunk ended before it, and
// Badger's keys. Badger's TTL already hides and later drops rollups (and
// the chunks earlier versions kept there); the keys of a rollup tier are
// walked only while some may have been written under a longer retention
// than the tier's (see walkTier): a walk reads every key of the tier, at
// 10,000 agents ~3.5 billion of the minute tier after 180 days.
func (d *DB) EnforceRetention(ctx context.Context) error {
	now := d.opts.Now().UnixMilli()
	if d.opts.Retention.Raw > 0 {
		cut := now - d.opts.Retention.Raw.Milliseconds()
		n, err := d.segs.DropBefore(cut - chunkPiece + 1)
		if n > 0 {
			d.log.Info("retention removed segment files of raw chunks", "files", n)
		}
		if err != nil {
			return fmt.Errorf("enforce retention: %w", err)
		}
	}
	var walk [len(rollupCodes)]bool // the codes to walk
	for i, code := range rollupCodes {
		var err error
		if walk[i], err = d.walkTier(code, d.keep(code), now); err != nil {
			return fmt.Errorf("enforce retention: %w", err)
		}
	}
	var dels [][]byte
	err := d.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}})
		defer it.Close()
		if d.opts.Retention.Raw > 0 {
			cut := now - d.opts.Retention.Raw.Milliseconds()
			for it.Rewind(); it.Valid(); it.Next() {
				k := it.Item().Key()
				if len(k) != 25 || keyTime(k[1:9])+chunkWindow > cut {
					break
				}
				dels = append(dels, it.Item().KeyCopy(nil))
			}
		}
		for i, code := range rollupCodes {
			if !walk[i] {
				continue
			}
			cut := now - d.keep(code).Milliseconds()
			ri := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRollup, code}})
			n := 0
			for ri.Rewind(); ri.Valid(); ri.Next() {
				if err := ctx.Err(); err != nil {
					ri.Close()
					return err
				}
				n++
				k := ri.Item().Key()
				if len(k) == 18 && keyTime(k[10:])+rollupWindow(code) <= cut {
					dels = append(dels, ri.Item().KeyCopy(nil))
				}
			}
			ri.Close()
			d.m.retention.Add(float64(n))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("enforce retention: %w", err)
	}
	if len(dels) == 0 {
		return nil
	}
	wb := d.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range dels {
		if err := wb.Delete(k); err != nil {
			return fmt.Errorf("enforce retention: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("enforce retention: %w", err)
	}
	d.log.Info("retention removed old chunks", "keys", len(dels))
	return nil
}

// keep is the retention of tier code's rollups (0: for ever).
func (d *DB) keep(code byte) time.Duration {
	if code == tierHourCode || code == tierHourRow {
		return d.opts.Retention.Hour
	}
	return d.opts.Retention.Minute
}

// retentionKey holds, for a rollup tier, the retention in seconds (0:
// for ever) its rollups were last written under and the time (Unix ms)
// until which rollups written under a longer one may outlive it.
func retentionKey(code byte) []byte { return []byte{prefixState, 'r', code} }

// walkTier reports whether the retention job must walk tier code's keys
// at now, its retention being keep (0: for ever), and records keep. A
// rollup is written with Badger's TTL set to its tier's retention, so
// only those written under a longer one can be older than the tier's
// retention and not expired: a shortened retention has the tier walked
// until the last of them, written up to now (for a window that ends at
// most a window after now), is past it. A store with no record (from
// before it was kept; Open records a new store's) is walked once.
func (d *DB) walkTier(code byte, keep time.Duration, now int64) (bool, error) {
	secs := int64(max(keep, 0) / time.Second)
	was, until := int64(-1), int64(math.MinInt64)
	v, err := d.Get(retentionKey(code))
	first := errors.Is(err, ErrNotFound)
	switch {
	case first: // walked once
	case err != nil:
		return false, err
	case len(v) != 16:
		return false, errors.New("bad retention record")
	default:
		was, until = int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))
	}
	if secs > 0 && (was == 0 || was > secs) {
		until = max(until, now+keep.Milliseconds()+rollupWindow(code))
	}
	if was != secs {
		rec := binary.BigEndian.AppendUint64(nil, uint64(secs))
		if err := d.Put(retentionKey(code), binary.BigEndian.AppendUint64(rec, uint64(until))); err != nil {
			return false, err
		}
	}
	return secs > 0 && (first || now <= until), nil
}
