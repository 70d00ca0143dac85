package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"slices"
	"sort"

	badger "github.com/dgraph-io/badger/v4"
)

// Keys of the series index and of the chunks:
//
//	i<id>                       -> metric \0 name \0 value \0 ...
//	c<piece><id><first time>    -> raw chunk (the start of its piece of
//	                               a window first, so the chunks of one
//	                               piece of one host sit together, and
//	                               chunks are written in about key order;
//	                               see chunkPiece)
//	g<tier><id><window>         -> rollup chunk of tier 1 (1m) or 2 (1h)
//	t<name>                     -> store state (rollup watermarks)
//
// Times and windows are big-endian with the sign bit flipped so that they
// sort in time order.
//
// The postings by host and by metric are made in memory from the i<id>
// records as Open reads them (loadIndex): nothing reads postings from
// Badger, so none are written there (a series' record is its only key
// in the index). Directories written before kept them under 'p'; Open
// drops them.
func seriesIDKey(id uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixSeriesByID
	binary.BigEndian.PutUint64(k[1:], id)
	return k
}

func chunkKey(piece int64, id uint64, firstT int64) []byte {
	k := make([]byte, 25)
	k[0] = prefixChunk
	binary.BigEndian.PutUint64(k[1:], uint64(piece)^signBit)
	binary.BigEndian.PutUint64(k[9:], id)
	binary.BigEndian.PutUint64(k[17:], uint64(firstT)^signBit)
	return k
}

func rollupKey(tier byte, id uint64, window int64) []byte {
	k := make([]byte, 18)
	k[0] = prefixRollup
	k[1] = tier
	binary.BigEndian.PutUint64(k[2:], id)
	binary.BigEndian.PutUint64(k[10:], uint64(window)^signBit)
	return k
}

func keyTime(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ signBit) }

// indexEntry is the Badger record that files a series.
func indexEntry(ms *memSeries) (key, value []byte) {
	return seriesIDKey(ms.id), []byte(ms.name)
}

// loadIndex reads every series into memory; addSeries makes the postings
// by host and by metric from them.
func (d *DB) loadIndex() error {
	return d.db.View(func(txn *badger.Txn) error {
		// Values are read in place (they are inline in the tables), not
		// prefetched into copies.
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixSeriesByID}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if len(item.Key()) != 9 {
				continue
			}
			id := binary.BigEndian.Uint64(item.Key()[1:])
			err := item.Value(func(v []byte) error {
				if err := checkSeriesKey(v); err != nil {
					return err
				}
				d.addSeries(id, v).indexed = true
				return nil
			})
			if err != nil {
				return fmt.Errorf("load series index: %w", err)
			}
		}
		return nil
	})
}

// postings yields the series of a posting list, in its order. Caller
// holds hmu.
func (d *DB) postings(ps []slot) iter.Seq[*memSeries] {
	return func(yield func(*memSeries) bool) {
		for _, s := range ps {
			if !yield(d.alloc.at(s)) {
				return
			}
		}
	}
}

// candidates are the series of metric (all if "") whose labels include
// match, using the host and metric postings. Caller holds hmu.
func (d *DB) candidates(metric string, match map[string]string) []*memSeries {
	base, n := d.byID.all(), d.byID.len()
	host, byHost := match["host"]
	switch {
	case byHost && (metric == "" || len(d.byHost[host]) < len(d.byMetric[metric])):
		base, n = d.postings(d.byHost[host]), len(d.byHost[host])
	case metric != "":
		base, n = d.postings(d.byMetric[metric]), len(d.byMetric[metric])
	}
	out := make([]*memSeries, 0, n)
	for ms := range base {
		if (metric == "" || ms.metric() == metric) && keyMatches(ms.name, match) {
			out = append(out, ms)
		}
	}
	// By metric, then labels: zero bytes end the parts of a name, so
	// names sort as their parts do.
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// List names the series of metric (all metrics if "") whose labels include
// match, from the in-memory postings by host and metric.
func (d *DB) List(ctx context.Context, metric string, match map[string]string) ([]SeriesInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.hmu.Lock()
	defer d.hmu.Unlock()
	cs := d.candidates(metric, match)
	out := make([]SeriesInfo, len(cs))
	for i, ms := range cs {
		out[i] = SeriesInfo{Metric: ms.metric(), Labels: ms.labels()}
	}
	return out, nil
}

// Latest is the newest sample of one series.
type Latest struct {
	SeriesInfo
	T int64
	V float64
}

// Latest returns the newest sample of every series of host (of every host
// if host is ""), restricted to metrics if any are named. It reads the
// in-memory latest-value table: a lookup per series, no disk access.
func (d *DB) Latest(host string, metrics ...string) []Latest {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	base, size := d.byID.all(), d.byID.len()
	if host != "" {
		base, size = d.postings(d.byHost[host]), len(d.byHost[host])
	}
	out := make([]Latest, 0, size)
	var all Labels // every series' labels, in one array (or a few)
	for ms := range base {
		if ms.lastT == minTime {
			continue
		}
		metric := ms.metric()
		if len(metrics) > 0 && !slices.Contains(metrics, metric) {
			continue
		}
		if cap(all)-len(all) < 8 { // two labels a series is the usual
			all = make(Labels, 0, max(8, 2*(size-len(out))))
		}
		n := len(all)
		all = appendKeyLabels(all, ms.name)
		out = append(out, Latest{SeriesInfo: SeriesInfo{Metric: metric, Labels: all[n:len(all):len(all)]}, T: ms.lastT, V: ms.lastV})
	}
	return out
}

// loadWindowRange finds the oldest and newest chunk windows in Badger, so
// queries seek only windows that can hold chunks.
func (d *DB) loadWindowRange() {
	d.db.View(func(txn *badger.Txn) error {
		for _, reverse := range []bool{false, true} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}, Reverse: reverse})
			if reverse {
				it.Seek([]byte{prefixChunk, 0xff})
			} else {
				it.Rewind()
			}
			if it.Valid() && len(it.Item().Key()) == 25 {
				w := keyTime(it.Item().Key()[1:9])
				d.lowW, d.highW = min(d.lowW, w), max(d.highW, w)
			}
			it.Close()
		}
		return nil
	})
}
