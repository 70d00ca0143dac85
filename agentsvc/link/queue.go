package link

import (
	"errors"
	"fmt"

	"esmon/agentsvc/collect"
	"esmon/core/wire"
)

// series is one series by name. The queue keeps snapshots as pointers to
// series, not as connection-local numbers, so that a batch can be encoded
// again on a new connection.
type series struct {
	metric string
	labels []wire.Label
}

// snapshot is a collect.Snapshot in the queue's compact form.
type snapshot struct {
	timeMS int64
	series []*series
	values []float64
}

// batch is the unit of sending and acknowledgement. Its seq is fixed when it
// is made; once sent (frozen) its content is fixed too, so a batch sent
// again after a reconnect is the same batch.
type batch struct {
	seq     uint64
	snaps   []snapshot
	samples int
	frozen  bool
}

// maxBatchSamples bounds a batch so its frame stays well below
// wire.MaxFrameBytes.
const maxBatchSamples = 100_000

// queue holds the batches not yet acknowledged, oldest first. It is guarded
// by Client.mu.
type queue struct {
	batches   []*batch
	snapshots int                // in all batches
	names     map[string]*series // interned series, by collect.Sample.Key
	nextSeq   uint64
	limit     int // most snapshots held
	perBatch  int // most snapshots per batch
}

// add appends s, into the newest batch while that one is not yet sent and
// has room, else into a new batch. It returns how many snapshots were dropped,
// oldest first, to stay within the limit.
func (q *queue) add(s collect.Snapshot) (dropped int) {
	snap := snapshot{
		timeMS: s.Time.UnixMilli(),
		series: make([]*series, len(s.Samples)),
		values: make([]float64, len(s.Samples)),
	}
	for i, smp := range s.Samples {
		k := smp.Key()
		ser, ok := q.names[k]
		if !ok {
			ser = &series{metric: smp.Metric, labels: smp.Labels}
			q.names[k] = ser
		}
		snap.series[i] = ser
		snap.values[i] = smp.Value
	}
	var tail *batch
	if n := len(q.batches); n > 0 {
		tail = q.batches[n-1]
	}
	if tail == nil || tail.frozen || len(tail.snaps) >= q.perBatch || tail.samples+len(snap.values) > maxBatchSamples {
		tail = &batch{seq: q.nextSeq}
		q.nextSeq++
		q.batches = append(q.batches, tail)
	}
	tail.snaps = append(tail.snaps, snap)
	tail.samples += len(snap.values)
	q.snapshots++
	for q.snapshots > q.limit && len(q.batches) > 1 {
		dropped += q.dropHead()
	}
	return dropped
}

func (q *queue) dropHead() int {
	b := q.batches[0]
	q.batches[0] = nil
	q.batches = q.batches[1:]
	q.snapshots -= len(b.snaps)
	return len(b.snaps)
}

// ack removes the batch seq and reports whether it was queued.
func (q *queue) ack(seq uint64) bool {
	for i, b := range q.batches {
		if b.seq == seq {
			q.snapshots -= len(b.snaps)
			if i == 0 {
				q.batches[0] = nil
				q.batches = q.batches[1:]
			} else {
				q.batches = append(q.batches[:i], q.batches[i+1:]...)
			}
			return true
		}
		if b.seq > seq {
			break
		}
	}
	return false
}

// next returns the batches after seq `after`, up to room of them, and freezes
// them. inflight is how many queued batches have seq <= after.
func (q *queue) next(after uint64, window int) []*batch {
	inflight := 0
	var out []*batch
	for _, b := range q.batches {
		if b.seq <= after {
			inflight++
			continue
		}
		if inflight+len(out) >= window {
			break
		}
		b.frozen = true
		out = append(out, b)
	}
	return out
}

// encoder turns batches into frames for one connection: it numbers each
// series the first time the connection sees it and defines it in that batch.
type encoder struct {
	ids map[*series]uint32
}

func newEncoder() *encoder { return &encoder{ids: map[*series]uint32{}} }

// errTooLarge is returned by encode for a batch whose frame exceeds
// wire.MaxFrameBytes; the batch can never be sent.
var errTooLarge = errors.New("batch frame too large")

// errTooManySeries is returned by encode when the connection has numbered
// wire.MaxSeriesPerConn series; a new connection starts the numbering over.
var errTooManySeries = errors.New("too many series on one connection")

// encode returns the frame of b. The series it defines count as known to the
// core only when encode succeeds (the caller then sends the frame or drops
// the connection).
func (e *encoder) encode(b *batch) ([]byte, error) {
	wb := wire.Batch{Seq: b.seq, Snapshots: make([]wire.Snapshot, len(b.snaps))}
	var added []*series
	rollback := func() {
		for _, ser := range added {
			delete(e.ids, ser)
		}
	}
	for i, s := range b.snaps {
		ids := make([]uint32, len(s.series))
		for j, ser := range s.series {
			id, ok := e.ids[ser]
			if !ok {
				if len(e.ids) >= wire.MaxSeriesPerConn {
					return nil, errTooManySeries
				}
				id = uint32(len(e.ids))
				e.ids[ser] = id
				added = append(added, ser)
				wb.Defs = append(wb.Defs, wire.SeriesDef{ID: id, Metric: ser.metric, Labels: ser.labels})
			}
			ids[j] = id
		}
		wb.Snapshots[i] = wire.Snapshot{TimeMS: s.timeMS, IDs: ids, Values: s.values}
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
