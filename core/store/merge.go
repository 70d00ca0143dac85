package store

import (
	"cmp"
	"fmt"
	"slices"

	badger "github.com/dgraph-io/badger/v4"

	"esmon/core/store/chunkenc"
)

// mergeWindows returns what a flush writes for items: each chunk that ends
// its run in a window (chunkRef.whole) replaced by one chunk of the whole
// run: the run's pieces (those of the window from its mergeFrom on, in
// Badger or earlier in items) and it, re-encoded as one chunk, which is
// what the store wrote before a window was cut into pieces (chunkPiece).
// Keys are per window and first timestamp, so the merged chunk takes the
// key of the run's first piece; dels are the keys of the other pieces in
// Badger. A run that does not fit one chunk (chunkenc.MaxSamples) stays
// in pieces. items is not changed.
func (d *DB) mergeWindows(items []flushItem) (writes []flushItem, dels [][]byte, err error) {
	writes = make([]flushItem, 0, len(items))
	err = d.db.View(func(txn *badger.Txn) error {
		var it *badger.Iterator
		defer func() {
			if it != nil {
				it.Close()
			}
		}()
		for _, item := range items {
			refs := make([]*chunkRef, 0, len(item.refs))
			for _, c := range item.refs {
				if !c.whole || c.mergeFrom >= c.firstT {
					refs = append(refs, c)
					continue
				}
				// The run's pieces still in this flush come before c.
				inRun := func(r *chunkRef) bool {
					return r.window == c.window && r.firstT >= c.mergeFrom && r.firstT < c.firstT && !r.whole
				}
				var parts []runPart
				for _, r := range refs {
					if inRun(r) {
						parts = append(parts, runPart{firstT: r.firstT, data: r.data})
					}
				}
				if it == nil {
					it = txn.NewIterator(badger.IteratorOptions{}) // values read only for the run's keys
				}
				stored, err := storedPieces(txn, it, c, item.ms.id, parts)
				if err != nil {
					return err
				}
				parts = append(parts, stored...)
				if len(parts) == 0 {
					refs = append(refs, c)
					continue
				}
				slices.SortFunc(parts, func(a, b runPart) int { return cmp.Compare(a.firstT, b.firstT) })
				merged, ok, err := mergeRun(parts, c)
				if err != nil {
					return fmt.Errorf("merge series %d window %d: %w", item.ms.id, c.window, err)
				}
				if !ok { // too many samples for one chunk: keep the pieces
					refs = append(refs, c)
					continue
				}
				refs = append(slices.DeleteFunc(refs, inRun), merged)
				for _, p := range stored {
					if p.firstT != merged.firstT {
						dels = append(dels, chunkKey(c.window, item.ms.id, p.firstT))
					}
				}
			}
			writes = append(writes, flushItem{item.ms, refs})
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("merge pieces: %w", err)
	}
	return writes, dels, nil
}

// runPart is a piece of a run being merged.
type runPart struct {
	firstT int64
	data   []byte  // the chunk as stored
	pts    []Point // its samples when data is a quotient chunk
}

// storedPieces reads from Badger the chunks of series id in c's window
// from c.mergeFrom up to c, but those in inBatch (a flush retried after a
// failed one may have written some).
func storedPieces(txn *badger.Txn, it *badger.Iterator, c *chunkRef, id uint64, inBatch []runPart) ([]runPart, error) {
	var out []runPart
	prefix := chunkKey(c.window, id, 0)[:17]
	for it.Seek(chunkKey(c.window, id, c.mergeFrom)); it.ValidForPrefix(prefix); it.Next() {
		firstT := keyTime(it.Item().Key()[17:])
		if firstT >= c.firstT {
			break
		}
		if slices.ContainsFunc(inBatch, func(p runPart) bool { return p.firstT == firstT }) {
			continue
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return nil, err
		}
		p := runPart{firstT: firstT, data: v}
		if chunkenc.IsQuotient(v) { // not written for pieces; read all the same
			if p.pts, err = quotientPoints(txn, c.window, firstT, v); err != nil {
				return nil, err
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// mergeRun encodes the samples of parts (sorted by first timestamp) and
// then of last as one chunk, one sample a timestamp. It reports false when
// they do not fit one chunk.
func mergeRun(parts []runPart, last *chunkRef) (*chunkRef, bool, error) {
	var ch chunkenc.Chunk
	prev, first := int64(0), true
	add := func(t int64, v float64) bool {
		if !first && t <= prev {
			return true // a sample seen in an earlier part
		}
		if !ch.Append(t, v) {
			return false
		}
		prev, first = t, false
		return true
	}
	var it chunkenc.Iterator
	addChunk := func(data []byte) (bool, error) {
		if err := it.Reset(data); err != nil {
			return false, err
		}
		for ts, vs := it.Batch(); len(ts) > 0; ts, vs = it.Batch() {
			for j, t := range ts {
				if !add(t, vs[j]) {
					return false, nil
				}
			}
		}
		return true, it.Err()
	}
	for _, p := range parts {
		if p.pts != nil {
			for _, pt := range p.pts {
				if !add(pt.T, pt.V) {
					return nil, false, nil
				}
			}
			continue
		}
		if ok, err := addChunk(p.data); !ok || err != nil {
			return nil, false, err
		}
	}
	if ok, err := addChunk(last.data); !ok || err != nil {
		return nil, false, err
	}
	return &chunkRef{window: last.window, firstT: parts[0].firstT, data: ch.SealedBytes(), whole: true}, true, nil
}
