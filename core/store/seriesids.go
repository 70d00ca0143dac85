package store

import (
	"iter"
	"maps"
	"slices"
)

// denseGap is how far past the end of seriesIDs' slice an id may be and
// still be filed in it.
const denseGap = 1 << 16

// seriesIDs holds the head's series by id. The store gives ids out in
// order (nextID), and the index and the log hand them back in that
// order, so they are dense: a slice indexed by id costs 8 bytes a series
// where a map cost about three times that, and a replay's lookup per
// sample is an index, not a hash probe into a table of a million
// entries. An id far past the end, which only a damaged index or log
// could hold, goes to a map instead, so that no id makes the slice
// huge; every id in the map is at or past the slice's end.
//
// The table holds slots (see seriesAlloc), not pointers: the collector
// does not scan it.
type seriesIDs struct {
	a      *seriesAlloc // where the slots are
	dense  []slot
	sparse map[uint64]slot
	n      int
}

func (s *seriesIDs) get(id uint64) *memSeries {
	var sl slot
	if id < uint64(len(s.dense)) {
		sl = s.dense[id]
	} else {
		sl = s.sparse[id]
	}
	if sl == 0 {
		return nil
	}
	return s.a.at(sl)
}

func (s *seriesIDs) set(id uint64, ms *memSeries) {
	if id >= uint64(len(s.dense)) && id-uint64(len(s.dense)) >= denseGap {
		if _, ok := s.sparse[id]; !ok {
			s.n++
		}
		if s.sparse == nil {
			s.sparse = map[uint64]slot{}
		}
		s.sparse[id] = ms.slot
		return
	}
	if id >= uint64(len(s.dense)) {
		grown := int(id) + 1
		s.dense = slices.Grow(s.dense, grown-len(s.dense))[:grown]
		for sid, sms := range s.sparse { // now within the slice
			if sid < uint64(grown) {
				s.dense[sid] = sms
				delete(s.sparse, sid)
			}
		}
	}
	if s.dense[id] == 0 {
		s.n++
	}
	s.dense[id] = ms.slot
}

// len is the number of series.
func (s *seriesIDs) len() int { return s.n }

// list returns every series in the order of their ids, in a slice of
// its own.
func (s *seriesIDs) list() []*memSeries {
	return slices.AppendSeq(make([]*memSeries, 0, s.n), s.all())
}

// all yields every series in the order of their ids.
func (s *seriesIDs) all() iter.Seq[*memSeries] {
	return func(yield func(*memSeries) bool) {
		for _, sl := range s.dense {
			if sl != 0 && !yield(s.a.at(sl)) {
				return
			}
		}
		for _, id := range slices.Sorted(maps.Keys(s.sparse)) {
			if !yield(s.a.at(s.sparse[id])) {
				return
			}
		}
	}
}
