package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"

	badger "github.com/dgraph-io/badger/v4"

	"esmon/core/store/chunkenc"
	"esmon/core/store/segment"
)

// Aggregations a query may ask for over each step.
const (
	AggAvg  = "avg"
	AggMin  = "min"
	AggMax  = "max"
	AggLast = "last"
	AggSum  = "sum"
	// AggRate is the per-second increase of a counter, counting a drop
	// as a reset.
	AggRate = "rate"
)

// Tiers a query can be answered from.
const (
	TierRaw    = "raw"
	TierMinute = "1m"
	TierHour   = "1h"
)

const (
	minuteMS = int64(60_000)
	hourMS   = int64(3_600_000)
	dayMS    = 24 * hourMS
)

// ValidAgg reports whether agg names an aggregation ("" is avg).
func ValidAgg(agg string) bool {
	switch agg {
	case "", AggAvg, AggMin, AggMax, AggLast, AggSum, AggRate:
		return true
	}
	return false
}

// tierFor picks the coarsest tier whose resolution divides step.
func tierFor(step int64) string {
	switch {
	case step >= hourMS && step%hourMS == 0:
		return TierHour
	case step >= minuteMS && step%minuteMS == 0:
		return TierMinute
	}
	return TierRaw
}

// row is an aggregate over one interval starting at t: what rollups keep.
// A raw sample is a row of count 1.
type row struct {
	t                   int64
	min, max, sum, last float64
	count               float64
}

// Select answers a range query from the coarsest tier that serves its
// step: raw samples, 1-minute or 1-hour rollups. Time not yet rolled up is
// computed from the finer data, so answers do not depend on when the
// rollup job last ran.
func (d *DB) Select(ctx context.Context, q Query) (Selection, error) {
	if q.Metric == "" {
		return Selection{}, errors.New("query: metric is required")
	}
	if q.To < q.From {
		return Selection{}, errors.New("query: to is before from")
	}
	if !ValidAgg(q.Agg) {
		return Selection{}, fmt.Errorf("query: unknown aggregation %q", q.Agg)
	}
	if q.Step < 0 {
		return Selection{}, errors.New("query: negative step")
	}
	agg := q.Agg
	if agg == "" {
		agg = AggAvg
	}
	sel := Selection{Tier: tierFor(q.Step)}
	d.hmu.Lock()
	cs := d.candidates(q.Metric, q.Match)
	d.hmu.Unlock()
	sel.Series = make([]Result, 0, len(cs))
	err := d.db.View(func(txn *badger.Txn) error {
		r := &reader{d: d, txn: txn}
		defer r.close()
		for _, ms := range cs {
			if err := ctx.Err(); err != nil {
				return err
			}
			var pts []Point
			if q.Step == 0 {
				raw, err := r.raw(ms, q.From, q.To, nil)
				if err != nil {
					return err
				}
				pts = raw
				if agg == AggRate {
					pts = perSampleRate(raw)
				}
			} else {
				rows, err := r.rows(sel.Tier, ms, q.From, q.To)
				if err != nil {
					return err
				}
				pts = aggregate(rows, q.Step, agg)
			}
			sel.Series = append(sel.Series, Result{SeriesInfo: SeriesInfo{Metric: ms.metric(), Labels: ms.labels()}, Points: pts})
		}
		return nil
	})
	if err != nil {
		return Selection{}, fmt.Errorf("query: %w", err)
	}
	return sel, nil
}

// reader reads one series' data inside one Badger transaction.
type reader struct {
	d   *DB
	txn *badger.Txn
	it  *badger.Iterator
	seg *segment.Reader
	ci  chunkenc.Iterator
	// scratch takes the samples of reads that fold them into rows at
	// once (see rows), one series after another.
	scratch []Point
}

// segments is the reader of the segment files, made on first use.
func (r *reader) segments() *segment.Reader {
	if r.seg == nil {
		r.seg = r.d.segs.NewReader()
	}
	return r.seg
}

func (r *reader) close() {
	if r.it != nil {
		r.it.Close()
	}
}

func (r *reader) iter() *badger.Iterator {
	if r.it == nil {
		r.it = r.txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
	}
	return r.it
}

// memChunk is a chunk of a series copied out of the head or read from
// Badger; pts holds the samples of a quotient chunk, read with its
// operands (data is then the quotient chunk).
type memChunk struct {
	window, firstT int64
	data           []byte
	pts            []Point
}

// raw returns the samples of ms in [from, to]: from the head (pending and
// open chunks, copied under the lock), the segment files and Badger (the
// chunks of earlier versions). A chunk both in memory and on disk
// (flushed meanwhile) is read once, from memory. The samples are decoded
// into dst's room when it has enough; a caller that keeps them passes nil.
func (r *reader) raw(ms *memSeries, from, to int64, dst []Point) ([]Point, error) {
	var mem []memChunk
	r.d.hmu.Lock()
	// Only windows that hold any chunk at all are sought.
	lowW, highW, aligned := r.d.lowW, r.d.highW, r.d.alignedChunks
	overlaps := func(w int64) bool { return w <= to && (from <= w || from-w < chunkWindow) }
	for _, c := range ms.pending {
		if overlaps(c.window) {
			mem = append(mem, memChunk{c.window, c.firstT, c.data, nil})
		}
	}
	if ms.head.Len() > 0 && overlaps(ms.window) {
		mem = append(mem, memChunk{ms.window, ms.firstT, ms.head.Bytes(), nil})
	}
	r.d.hmu.Unlock()

	chunks := mem
	// A series' chunks have distinct first timestamps: one already
	// taken (in memory still, and flushed meanwhile; or, for Badger's
	// chunks of an earlier version, rewritten to the segment files by a
	// replay after the upgrade) is read once.
	have := func(firstT int64) bool {
		return slices.ContainsFunc(chunks, func(m memChunk) bool { return m.firstT == firstT })
	}
	// The newest piece of a series is usually in memory; the segment
	// files hold the pieces before it: those that start up to a piece
	// before from.
	lo := from - chunkPiece + 1
	if lo > from {
		lo = math.MinInt64
	}
	// Retention removes whole files, so a file's older chunks outlive
	// it by up to a file's span: they are not read (as Badger's TTL hid
	// its expired keys).
	if d := r.d; d.opts.Retention.Raw > 0 {
		lo = max(lo, d.opts.Now().UnixMilli()-d.opts.Retention.Raw.Milliseconds()-chunkPiece+1)
	}
	sr := r.segments()
	// The chunks' data is decoded before raw returns: the frames it was
	// in may then be decompressed into again.
	defer sr.Release()
	err := sr.Chunks(ms.id, lo, to, func(c segment.Chunk) error {
		if have(c.FirstT) {
			return nil
		}
		var pts []Point
		if chunkenc.IsQuotient(c.Data) {
			var err error
			pts, err = quotientPoints(c.Data, func(id uint64) ([]byte, error) {
				b, err := sr.Get(id, c.Piece, c.FirstT)
				if err == nil && b == nil {
					err = errors.New("not in the segment files")
				}
				return b, err
			})
			if err != nil {
				return fmt.Errorf("series %d chunk at %d: %w", ms.id, c.FirstT, err)
			}
		}
		chunks = append(chunks, memChunk{c.Piece, c.FirstT, c.Data, pts})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !r.d.badgerChunks {
		sort.Slice(chunks, func(i, j int) bool { return chunks[i].firstT < chunks[j].firstT })
		return r.decode(ms.id, chunks, from, to, dst)
	}
	// Chunks that earlier versions kept in Badger, until retention
	// takes them: sought window by window.
	it := r.iter()
	var prefix [17]byte
	seek := func(w int64) error {
		k := chunkKey(w, ms.id, 0)
		copy(prefix[:], k[:17])
		for it.Seek(prefix[:]); it.ValidForPrefix(prefix[:]); it.Next() {
			item := it.Item()
			firstT := keyTime(item.Key()[17:])
			if have(firstT) {
				continue
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			var pts []Point
			if chunkenc.IsQuotient(v) {
				pts, err = quotientPoints(v, func(id uint64) ([]byte, error) {
					item, err := r.txn.Get(chunkKey(w, id, firstT))
					if err != nil {
						return nil, err
					}
					return item.ValueCopy(nil)
				})
				if err != nil {
					return fmt.Errorf("series %d chunk at %d: %w", ms.id, firstT, err)
				}
			}
			chunks = append(chunks, memChunk{w, firstT, v, pts})
		}
		return nil
	}
	offsets := []int64{int64(ms.off)}
	if aligned && ms.off != 0 {
		offsets = append(offsets, 0) // chunks written before windows had offsets
	}
	for _, off := range offsets {
		if lowW > highW { // no chunk anywhere
			break
		}
		wFrom := max(floorTo(from-off, chunkWindow), floorTo(lowW-off, chunkWindow)) + off
		wTo := min(floorTo(to-off, chunkWindow), floorTo(highW-off, chunkWindow)) + off
		for w := wFrom; w <= wTo; w += chunkWindow {
			// A window's chunks sit under its start (its first piece, and
			// every chunk written before chunks were keyed by piece) and
			// under its second piece's start (see chunkPiece).
			if err := seek(w); err != nil {
				return nil, err
			}
			if w <= math.MaxInt64-chunkPiece {
				if err := seek(w + chunkPiece); err != nil {
					return nil, err
				}
			}
			if w > math.MaxInt64-chunkWindow {
				break
			}
		}
	}
	sort.Slice(chunks, func(i, j int) bool { return chunks[i].firstT < chunks[j].firstT })
	return r.decode(ms.id, chunks, from, to, dst)
}

// parallelDecodeMin is the fewest samples a read decodes on more than one
// core: below it starting goroutines costs more than it saves. A day of a
// 1 s series (86,400 samples in 24 chunks) is decoded on two, as
// VictoriaMetrics unpacks a query's blocks on every core.
const parallelDecodeMin = 16 << 10

// maxDecodeWorkers bounds the cores one read decodes on.
const maxDecodeWorkers = 4

// decode returns the samples in [from, to] of chunks, which are sorted by
// first timestamp and do not overlap. Each chunk is decoded into its own
// place of one slice, sized from the chunks' headers; a long read spreads
// its chunks over up to maxDecodeWorkers goroutines (contiguous runs of
// about equal samples), then the samples out of range are squeezed out.
func (r *reader) decode(id uint64, chunks []memChunk, from, to int64, dst []Point) ([]Point, error) {
	off := make([]int, len(chunks)+1) // chunk i goes to pts[off[i]:off[i+1]]
	for i, c := range chunks {
		n := len(c.pts)
		if c.pts == nil {
			n = chunkenc.Count(c.data)
		}
		off[i+1] = off[i] + n
	}
	total := off[len(chunks)]
	pts := dst[:0]
	if cap(pts) >= total {
		pts = pts[:total]
	} else {
		pts = make([]Point, total)
	}
	got := make([]int, len(chunks))
	errs := make([]error, len(chunks))
	run := func(it *chunkenc.Iterator, lo, hi int) {
		for i := lo; i < hi; i++ {
			got[i], errs[i] = decodeChunk(it, chunks[i], pts[off[i]:off[i+1]], to)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), maxDecodeWorkers, len(chunks))
	if total < parallelDecodeMin || workers < 2 {
		run(&r.ci, 0, len(chunks))
	} else {
		// Contiguous runs of chunks of about total/workers samples each;
		// the first is decoded here while the others run.
		var wg sync.WaitGroup
		first, lo := 0, 0
		for w := 1; w <= workers; w++ {
			hi := lo
			for hi < len(chunks) && (w == workers || off[hi] < total*w/workers) {
				hi++
			}
			switch {
			case w == 1:
				first = hi
			case hi > lo:
				wg.Add(1)
				go func(lo, hi int) {
					defer wg.Done()
					run(new(chunkenc.Iterator), lo, hi)
				}(lo, hi)
			}
			lo = hi
		}
		run(&r.ci, 0, first)
		wg.Wait()
	}
	n := 0
	for i, c := range chunks {
		if errs[i] != nil {
			return nil, fmt.Errorf("series %d chunk at %d: %w", id, c.firstT, errs[i])
		}
		seg := pts[off[i] : off[i]+got[i]]
		if len(seg) > 0 && seg[0].T >= from && seg[len(seg)-1].T <= to { // a chunk's times rise
			if n != off[i] { // an earlier chunk had samples out of range
				copy(pts[n:], seg)
			}
			n += len(seg)
			continue
		}
		for _, p := range seg {
			if p.T >= from && p.T <= to {
				pts[n] = p
				n++
			}
		}
	}
	return pts[:n], nil
}

// decodeChunk decodes chunk c into dst, which has room for all of its
// samples, up to the first batch past to, and returns how many it wrote.
func decodeChunk(it *chunkenc.Iterator, c memChunk, dst []Point, to int64) (int, error) {
	if c.pts != nil {
		return copy(dst, c.pts), nil
	}
	if err := it.Reset(c.data); err != nil {
		return 0, err
	}
	n := 0
	for ts, vs := it.Batch(); len(ts) > 0 && ts[0] <= to; ts, vs = it.Batch() {
		if len(ts) > len(dst)-n {
			return n, fmt.Errorf("%w: more samples than its header counts", chunkenc.ErrCorrupt)
		}
		vs = vs[:len(ts)]
		for j, t := range ts {
			dst[n+j] = Point{T: t, V: vs[j]}
		}
		n += len(ts)
	}
	return n, it.Err()
}

// rows returns ms's rows of tier in [from, to]: stored rollups up to the
// tier's watermark, computed from the finer tier after it.
func (r *reader) rows(tier string, ms *memSeries, from, to int64) ([]row, error) {
	switch tier {
	case TierRaw:
		pts, err := r.raw(ms, from, to, nil)
		if err != nil {
			return nil, err
		}
		rows := make([]row, len(pts))
		for i, p := range pts {
			rows[i] = point(p.T, p.V)
		}
		return rows, nil
	case TierMinute, TierHour:
		res, finer, code, wm := minuteMS, TierRaw, tierMinuteCode, r.d.watermark(tierMinuteCode)
		if tier == TierHour {
			res, finer, code, wm = hourMS, TierMinute, tierHourCode, r.d.watermark(tierHourCode)
		}
		from = floorTo(from, res)
		var out []row
		if wm != unset && from < wm {
			stored, err := r.stored(code, ms.id, from, min(to, wm-1))
			if err != nil {
				return nil, err
			}
			out = stored
		}
		rest := from
		if wm != unset {
			rest = max(from, wm)
		}
		if rest <= to {
			var fine []row
			if finer == TierRaw {
				var err error
				if fine, err = r.folded(ms, rest, to, res); err != nil {
					return nil, err
				}
			} else {
				rows, err := r.rows(finer, ms, rest, to)
				if err != nil {
					return nil, err
				}
				fine = regroup(rows, res)
			}
			if out == nil {
				return fine, nil
			}
			out = append(out, fine...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown tier %q", tier)
}

// folded returns the samples of ms in [from, to] as rows of res, folded
// as they are read: a row a sample would be three times the samples'
// bytes (a day of a 5 s series: 830 KB, for each series in the day's
// rollup). The samples go through the reader's scratch.
func (r *reader) folded(ms *memSeries, from, to, res int64) ([]row, error) {
	pts, err := r.raw(ms, from, to, r.scratch)
	if err != nil {
		return nil, err
	}
	r.scratch = pts[:0]
	return fold(pts, res), nil
}

// stored reads the rollup rows of tier code (tierMinuteCode or
// tierHourCode) for id in [from, to]: of the 1-hour tier, the rows under
// series-hour keys, and those of day keys older stores wrote (for hours
// with no key of their own).
func (r *reader) stored(code byte, id uint64, from, to int64) ([]row, error) {
	if code == tierMinuteCode {
		return r.storedKeys(code, id, from, to, minuteMS)
	}
	var days []row
	if r.d.dayKeys.Load() {
		var err error
		if days, err = r.storedKeys(tierHourCode, id, from, to, hourMS); err != nil {
			return nil, err
		}
	}
	hours, err := r.storedKeys(tierHourRow, id, from, to, hourMS)
	if err != nil || len(days) == 0 {
		return hours, err
	}
	out := make([]row, 0, len(days)+len(hours))
	for len(days) > 0 || len(hours) > 0 {
		switch {
		case len(days) == 0 || len(hours) > 0 && hours[0].t <= days[0].t:
			if len(days) > 0 && days[0].t == hours[0].t {
				days = days[1:]
			}
			out, hours = append(out, hours[0]), hours[1:]
		default:
			out, days = append(out, days[0]), days[1:]
		}
	}
	return out, nil
}

// storedKeys reads the rows of id in [from, to] stored under keys of
// code, rows of res.
func (r *reader) storedKeys(code byte, id uint64, from, to, res int64) ([]row, error) {
	var out []row
	win := rollupWindow(code)
	it := r.iter()
	prefix := rollupKey(code, id, 0)[:10]
	for it.Seek(rollupKey(code, id, floorTo(from, win))); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		t := keyTime(item.Key()[10:])
		if t > to {
			break
		}
		if out == nil {
			// One row a resolution step: room for all of them, up to a
			// bound, once there are any (a rollup asks every series for
			// rows mostly not stored yet).
			out = make([]row, 0, rowsIn(from, to, res))
		}
		err := item.Value(func(v []byte) error {
			if code != tierHourRow {
				var err error
				out, err = decodeRollup(v, out, from, to)
				return err
			}
			rw, err := decodeHourRow(v, t)
			if err == nil && t >= from {
				out = append(out, rw)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("rollup of series %d: %w", id, err)
		}
	}
	return out, nil
}

// rowsIn is the number of rows of res in [from, to] (from <= to), at
// most 65,536: a room to make, not a count to rely on.
func rowsIn(from, to, res int64) int {
	return int(min(uint64(to-from)/uint64(res)+1, 1<<16))
}

// regroup merges rows (in time order) into rows of res.
func regroup(in []row, res int64) []row {
	var out []row
	if len(in) > 0 { // room for as many rows as res leaves at most
		out = make([]row, 0, min(len(in), rowsIn(in[0].t, in[len(in)-1].t, res)+1))
	}
	for _, rw := range in {
		out = into(out, rw, res)
	}
	return out
}

// fold makes rows of res of points (in time order).
func fold(pts []Point, res int64) []row {
	var out []row
	if len(pts) > 0 {
		out = make([]row, 0, min(len(pts), rowsIn(pts[0].T, pts[len(pts)-1].T, res)+1))
	}
	for _, p := range pts {
		out = into(out, point(p.T, p.V), res)
	}
	return out
}

// into adds rw to the rows of res out, whose last row it follows in time.
func into(out []row, rw row, res int64) []row {
	t := floorTo(rw.t, res)
	if n := len(out); n > 0 && out[n-1].t == t {
		out[n-1].merge(rw)
		return out
	}
	rw.t = t
	return append(out, rw)
}

// merge adds rw, which follows o in time, to o.
func (o *row) merge(rw row) {
	o.min, o.max = math.Min(o.min, rw.min), math.Max(o.max, rw.max)
	o.sum += rw.sum
	o.count += rw.count
	o.last = rw.last
}

// point is the row of one sample at t.
func point(t int64, v float64) row {
	return row{t: t, min: v, max: v, sum: v, last: v, count: 1}
}

// aggregate folds rows into one point per step, stamped with the step's
// start.
func aggregate(rows []row, step int64, agg string) []Point {
	if agg == AggRate {
		return rate(rows, step)
	}
	g := regroup(rows, step)
	out := make([]Point, len(g))
	for i, rw := range g {
		var v float64
		switch agg {
		case AggMin:
			v = rw.min
		case AggMax:
			v = rw.max
		case AggLast:
			v = rw.last
		case AggSum:
			v = rw.sum
		default:
			v = rw.sum / rw.count
		}
		out[i] = Point{T: rw.t, V: v}
	}
	return out
}

// rate is the per-second increase of a counter per step: the increase of
// the rows' last values from the last row before the step (or the step's
// first row) to its last row, a drop counting as a reset to zero.
func rate(rows []row, step int64) []Point {
	var out []Point
	for i := 0; i < len(rows); {
		start := floorTo(rows[i].t, step)
		base := i - 1
		if base < 0 {
			base = 0
		}
		inc := 0.0
		j := i
		for ; j < len(rows) && rows[j].t < start+step; j++ {
			if j > base {
				inc += increase(rows[j-1].last, rows[j].last)
			}
		}
		if dt := rows[j-1].t - rows[base].t; dt > 0 {
			out = append(out, Point{T: start, V: inc / (float64(dt) / 1000)})
		}
		i = j
	}
	return out
}

func increase(prev, cur float64) float64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// perSampleRate is the rate between each sample and the one before it.
func perSampleRate(pts []Point) []Point {
	if len(pts) < 2 {
		return nil
	}
	out := make([]Point, 0, len(pts)-1)
	for i := 1; i < len(pts); i++ {
		dt := float64(pts[i].T-pts[i-1].T) / 1000
		out = append(out, Point{T: pts[i].T, V: increase(pts[i-1].V, pts[i].V) / dt})
	}
	return out
}
