package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"esmon/core/store/chunkenc"
	"esmon/core/store/wal"
)

const checkpointPrefix = "checkpoint."

// Checkpoint bounds the log: it starts a new segment, writes finished
// chunks to Badger and syncs it, saves the open chunks, the pending chunks
// and the latest values of every series to a checkpoint, and then removes
// the segments before the new one. A restart loads the checkpoint and
// replays only the segments after it. Samples that reach both the
// checkpoint and a later segment are skipped on replay as duplicates, and
// a chunk rebuilt on replay and written again is read once (its last
// copy), so replay is idempotent.
func (d *DB) Checkpoint() error { return d.checkpoint(false) }

// checkpoint is Checkpoint; with finishAll (on Close) every open chunk is
// finished and written to Badger, so the checkpoint holds no samples and
// the next start restores no chunks.
func (d *DB) checkpoint(finishAll bool) error {
	if d.wal == nil {
		return nil
	}
	d.ckMu.Lock()
	defer d.ckMu.Unlock()
	start := time.Now()
	written := d.wal.Written()
	seg, err := d.wal.Cut()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	// Open chunks two windows behind the newest sample belong to series
	// that went quiet: finish them so their samples leave memory. On
	// Close every open chunk is finished, a batch of series at a time,
	// each flushed before the next: finished all at once, the head's
	// chunks (~570 MB at 10,000 agents) were pending together, with the
	// flush's copies of them besides, and the core's shutdown took its
	// live heap from 1.0 to 1.6 GB.
	if finishAll {
		if err := d.finishAll(); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	d.hmu.Lock()
	if !finishAll {
		for ms := range d.byID.all() {
			if ms.head.Len() > 0 && ms.window+2*chunkWindow <= d.maxT {
				d.finish(ms)
			}
		}
	}
	for host, ht := range d.times {
		if finishAll || ht.piece+2*chunkWindow <= d.maxT {
			delete(d.times, host) // no open chunk holds them now
		}
	}
	ids := make([]uint64, 0, d.byID.len())
	for ms := range d.byID.all() {
		ids = append(ids, ms.id) // in order
	}
	d.hmu.Unlock()
	if err := d.flush(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := d.db.Sync(); err != nil {
		return fmt.Errorf("checkpoint: sync badger: %w", err)
	}
	nSeries := len(ids)
	dst := filepath.Join(d.walDir, fmt.Sprintf("%s%08d", checkpointPrefix, seg))
	// The records of 1,024 series at a time are made under the head's
	// lock into one buffer, kept for the next 1,024: a checkpoint copies
	// every open chunk, and a buffer of its own for each would be
	// garbage of the head's size at every checkpoint.
	var arena []byte
	var ends []int
	err = wal.WriteDir(dst, func(add func([]byte) error) error {
		for len(ids) > 0 {
			n := min(len(ids), 1024)
			arena, ends = arena[:0], ends[:0]
			d.hmu.Lock()
			// A series whose index entries are in Badger (every one the
			// flush above reached: it ran after ids were taken, and
			// Badger is synced) is loaded from the index on start,
			// before the checkpoint; repeating it here would cost its
			// name once per series and checkpoint, for every series
			// the store ever saw.
			arena = append(arena, recSeries)
			for _, id := range ids[:n] {
				if ms := d.byID.get(id); !ms.indexed {
					arena = appendSeriesEntry(arena, ms.id, ms.name)
				}
			}
			if len(arena) > 1 {
				ends = append(ends, len(arena))
			} else {
				arena = arena[:0]
			}
			for _, id := range ids[:n] {
				ms := d.byID.get(id)
				if ms.lastT != minTime {
					arena = appendLatestRecord(arena, ms.id, ms.lastT, ms.lastV)
					ends = append(ends, len(arena))
				}
				for _, c := range ms.pending {
					arena = appendChunkRecord(arena, ms.id, true, c.window, c.data)
					ends = append(ends, len(arena))
				}
				if ms.head.Len() > 0 {
					arena = ms.head.AppendBytes(appendChunkHeader(arena, ms.id, false, ms.window))
					ends = append(ends, len(arena))
				}
			}
			d.hmu.Unlock()
			from := 0
			for _, end := range ends {
				if err := add(arena[from:end]); err != nil {
					return err
				}
				from = end
			}
			ids = ids[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := d.wal.Truncate(seg); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := removeCheckpointsBefore(d.walDir, seg); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	d.ckAt, d.ckTime = written, time.Now()
	d.m.checkpoints.Inc()
	d.log.Debug("checkpoint written", "segment", seg, "series", nSeries, "took", time.Since(start))
	return nil
}

// checkpoints lists the checkpoint directories by segment, ascending.
func checkpoints(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	var out []int
	for _, e := range ents {
		if s, ok := strings.CutPrefix(e.Name(), checkpointPrefix); ok && e.IsDir() {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

func removeCheckpointsBefore(dir string, seg int) error {
	cps, err := checkpoints(dir)
	if err != nil {
		return err
	}
	for _, c := range cps {
		if c < seg {
			if err := os.RemoveAll(filepath.Join(dir, fmt.Sprintf("%s%08d", checkpointPrefix, c))); err != nil {
				return fmt.Errorf("remove checkpoint: %w", err)
			}
		}
	}
	return nil
}

// replay loads the newest checkpoint and the log segments after it into
// the head.
func (d *DB) replay() error {
	cps, err := checkpoints(d.walDir)
	if err != nil {
		return err
	}
	first := 0
	if len(cps) > 0 {
		first = cps[len(cps)-1]
		dir := filepath.Join(d.walDir, fmt.Sprintf("%s%08d", checkpointPrefix, first))
		if _, err := wal.Replay(dir, 0, false, d.applyRecord); err != nil {
			return fmt.Errorf("load checkpoint: %w", err)
		}
	}
	st, err := wal.Replay(d.walDir, first, d.opts.RepairWAL, d.applyRecord)
	if err != nil {
		return fmt.Errorf("replay write-ahead log: %w", err)
	}
	d.m.tornRecords.Add(float64(st.TornTails))
	if st.TornTails > 0 {
		d.log.Warn("cut a torn record from the end of the write-ahead log", "bytes", st.TornBytes)
	}
	if st.Repaired != nil {
		d.m.corruptLog.Inc()
		d.log.Error("write-ahead log was damaged; cut at the damage as asked (storage.repair_wal)", "err", st.Repaired)
	}
	d.log.Info("write-ahead log replayed", "segments", st.Segments, "records", st.Records, "series", d.byID.len())
	return nil
}

// applyRecord applies one log or checkpoint record to the head.
func (d *DB) applyRecord(rec []byte) error {
	if len(rec) == 0 {
		return errors.New("empty record")
	}
	switch rec[0] {
	case recSeries:
		srs, err := decodeSeriesRecord(rec)
		if err != nil {
			return err
		}
		for _, s := range srs {
			found := d.find(s.metric, s.labels) // and its name in keyBuf
			if ms := d.byID.get(s.id); ms != nil {
				if ms.name != string(d.keyBuf) {
					return fmt.Errorf("series %d is %q in the log but %q in the index", s.id, d.keyBuf, ms.name)
				}
				continue
			}
			if found != nil {
				return fmt.Errorf("series %q has two ids", d.keyBuf)
			}
			d.unindexed = append(d.unindexed, d.addSeries(s.id, d.keyBuf))
		}
	case recSamples:
		var bad uint64
		err := decodeSamples(rec, func(id uint64, t int64, v float64) {
			ms := d.byID.get(id)
			if ms == nil {
				bad = id
				return
			}
			if t > ms.lastT {
				d.appendSample(ms, t, v)
			}
		})
		if err != nil {
			return err
		}
		if bad != 0 {
			return fmt.Errorf("samples of unknown series %d", bad)
		}
	case recLatest:
		r := recReader{b: rec[1:]}
		id, t, v := r.uvarint(), r.varint(), r.float()
		if r.err != nil {
			return fmt.Errorf("latest record: %w", r.err)
		}
		if ms := d.byID.get(id); ms != nil && t > ms.lastT {
			ms.lastT, ms.lastV = t, v
		}
	case recChunk:
		r := recReader{b: rec[1:]}
		id, pending, window := r.uvarint(), r.byte(), r.varint()
		if r.err != nil {
			return fmt.Errorf("chunk record: %w", r.err)
		}
		ms := d.byID.get(id)
		if ms == nil {
			return fmt.Errorf("chunk of unknown series %d", id)
		}
		c, err := chunkenc.FromBytes(r.b)
		if err != nil {
			return fmt.Errorf("chunk record: %w", err)
		}
		it, _ := chunkenc.NewIterator(r.b)
		if !it.Next() {
			return nil
		}
		firstT, _ := it.At()
		lastT, lastV, _ := c.Last()
		if pending == 1 {
			if len(ms.pending) == 0 {
				d.withPending = append(d.withPending, ms)
			}
			data := bytes.Clone(r.b)
			ms.pending = append(ms.pending, &chunkRef{window: window, firstT: firstT, data: data})
			d.pendingBytes += int64(len(data))
		} else {
			ms.head, ms.window, ms.firstT = *c, window, firstT
		}
		if lastT > ms.lastT {
			ms.lastT, ms.lastV = lastT, lastV
		}
		d.maxT, d.minT = max(d.maxT, lastT), min(d.minT, firstT)
		d.lowW, d.highW = min(d.lowW, window), max(d.highW, window)
	default:
		return fmt.Errorf("unknown record type %d", rec[0])
	}
	return nil
}

// finishBatch is the number of series whose open chunks finishAll
// finishes before it flushes them: at 10,000 agents ~45 MB of chunks.
const finishBatch = 1 << 16

// finishAll finishes every open chunk and flushes it, finishBatch series
// at a time.
func (d *DB) finishAll() error {
	d.hmu.Lock()
	n := d.alloc.n
	d.hmu.Unlock()
	for i := uint32(0); i < n; {
		d.hmu.Lock()
		for end := min(n, i+finishBatch); i < end; i++ {
			if ms := d.alloc.at(slot(i + 1)); ms.head.Len() > 0 {
				d.finish(ms)
			}
		}
		d.hmu.Unlock()
		if err := d.flush(); err != nil {
			return err
		}
	}
	return nil
}
