// Package spool is esmon-agent's store-and-forward queue: every snapshot is
// numbered and kept until the core acknowledges it, so a core restart or a
// network cut leaves no gap in the data.
//
// Two kinds of queue share one shape. Disk keeps snapshots in segment files
// under a directory, bounded by size: when full, the oldest segment goes and
// its snapshots are counted as dropped. Memory keeps them in memory, for the
// simulator and for tests. Both keep series by name (metric and labels), never
// by a connection's series number, so any connection can send them again.
//
// Sequence numbers are per snapshot and grow by one. An acknowledgement of
// seq n covers every snapshot up to n: the core stores a connection's
// batches in the order it receives them.
package spool

import (
	"esmon/agentsvc/collect"
	"esmon/core/wire"
)

// Series names one series: its metric and labels. Pointers to Series are
// shared between entries, so a sender can number each series once.
type Series struct {
	Metric string
	Labels []wire.Label
}

// Entry is one queued snapshot: its sequence number, time and values.
// Series[i] has Values[i].
type Entry struct {
	Seq    uint64
	TimeMS int64
	Series []*Series
	Values []float64
}

// Samples returns the number of values in e.
func (e Entry) Samples() int { return len(e.Values) }

// Stats describe a queue.
type Stats struct {
	Pending int    // snapshots not yet acknowledged
	Acked   uint64 // highest acknowledged seq
	NextSeq uint64 // seq the next snapshot gets
	Dropped uint64 // snapshots dropped because the queue was full, over its life
	Bytes   int64  // bytes on disk (Disk only)
}

// maxInterned bounds the series names a queue keeps for sharing; past it the
// table starts over (senders then define some series again, which is
// harmless).
const maxInterned = 200_000

// interner shares one *Series per distinct series.
type interner map[string]*Series

func (in *interner) get(metric string, labels []wire.Label) *Series {
	k := seriesKey(metric, labels)
	if s, ok := (*in)[k]; ok {
		return s
	}
	if len(*in) >= maxInterned {
		*in = interner{}
	}
	s := &Series{Metric: metric, Labels: labels}
	(*in)[k] = s
	return s
}

func seriesKey(metric string, labels []wire.Label) string {
	return collect.Sample{Metric: metric, Labels: labels}.Key()
}
