package link

import (
	"errors"
	"fmt"

	"esmon/agentsvc/collect"
	"esmon/agentsvc/spool"
	"esmon/core/wire"
)

// Queue holds the snapshots not yet acknowledged by the core, numbered by
// seq. spool.Disk keeps them on disk across restarts; spool.Memory keeps
// them in memory.
type Queue interface {
	// Append numbers and keeps s; it returns how many old snapshots were
	// dropped to make room.
	Append(s collect.Snapshot) (dropped int, err error)
	// Read returns up to max snapshots with Seq > after, oldest first.
	Read(after uint64, max int) ([]spool.Entry, error)
	// Ack forgets every snapshot up to seq.
	Ack(seq uint64) error
	Stats() spool.Stats
}

var (
	_ Queue = (*spool.Disk)(nil)
	_ Queue = (*spool.Memory)(nil)
)

// maxBatchSamples bounds a batch so its frame stays well below
// wire.MaxFrameBytes.
const maxBatchSamples = 100_000

// cut returns the leading entries that hold at most maxSamples values
// together, and at least one entry.
func cut(es []spool.Entry, maxSamples int) []spool.Entry {
	n := 0
	for i, e := range es {
		n += len(e.Values)
		if n > maxSamples && i > 0 {
			return es[:i]
		}
	}
	return es
}

// encoder turns queued snapshots into frames for one connection: it numbers
// each series the first time the connection sees it and defines it in that
// batch.
type encoder struct {
	ids map[*spool.Series]uint32
	// last and lastIDs are the series of the last snapshot encoded and
	// their numbers: a snapshot mostly names the series of the one before
	// in the same order, and comparing pointers is cheaper than the map.
	last    []*spool.Series
	lastIDs []uint32
}

func newEncoder() *encoder { return &encoder{ids: map[*spool.Series]uint32{}} }

// errTooLarge is returned by encode for a batch whose frame exceeds
// wire.MaxFrameBytes.
var errTooLarge = errors.New("batch frame too large")

// errTooManySeries is returned by encode when the connection has numbered
// wire.MaxSeriesPerConn series; a new connection starts the numbering over.
var errTooManySeries = errors.New("too many series on one connection")

// encode returns the frame of a batch holding es, whose seqs follow one
// another; the batch's Seq is that of its last snapshot. The series it
// defines count as known to the core only when encode succeeds (the caller
// then sends the frame or drops the connection).
func (e *encoder) encode(es []spool.Entry) ([]byte, error) {
	wb := wire.Batch{Seq: es[len(es)-1].Seq, Snapshots: make([]wire.Snapshot, len(es))}
	var added []*spool.Series
	rollback := func() {
		for _, ser := range added {
			delete(e.ids, ser)
		}
		e.last, e.lastIDs = nil, nil
	}
	n := 0
	for _, s := range es {
		n += len(s.Series)
	}
	all := make([]uint32, n) // the ids of every snapshot, in one allocation
	for i, s := range es {
		ids := all[:len(s.Series):len(s.Series)]
		all = all[len(s.Series):]
		for j, ser := range s.Series {
			if j < len(e.last) && e.last[j] == ser {
				ids[j] = e.lastIDs[j]
				continue
			}
			id, ok := e.ids[ser]
			if !ok {
				if len(e.ids) >= wire.MaxSeriesPerConn {
					rollback()
					return nil, errTooManySeries
				}
				id = uint32(len(e.ids))
				e.ids[ser] = id
				added = append(added, ser)
				wb.Defs = append(wb.Defs, wire.SeriesDef{ID: id, Metric: ser.Metric, Labels: ser.Labels})
			}
			ids[j] = id
		}
		wb.Snapshots[i] = wire.Snapshot{TimeMS: s.TimeMS, IDs: ids, Values: s.Values}
		e.last, e.lastIDs = s.Series, ids
	}
	frame, err := wire.Encode(&wb)
	if err == nil && len(frame) > wire.MaxFrameBytes {
		err = fmt.Errorf("%w: %d bytes, limit %d", errTooLarge, len(frame), wire.MaxFrameBytes)
	}
	if err != nil {
		rollback()
		return nil, err
	}
	return frame, nil
}
