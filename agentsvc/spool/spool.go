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
type interner struct {
	byKey map[string]*Series
	// last are the series of the last snapshot named through names: a
	// collector reports the same series in the same order every time, so
	// most are found by their position, without building their key.
	last []*Series
}

func (in *interner) get(metric string, labels []wire.Label) *Series {
	k := seriesKey(metric, labels)
	if s, ok := in.byKey[k]; ok {
		return s
	}
	if in.byKey == nil || len(in.byKey) >= maxInterned {
		in.byKey = map[string]*Series{}
	}
	s := &Series{Metric: metric, Labels: labels}
	in.byKey[k] = s
	return s
}

// names fills dst[i] with the series of samples[i].
func (in *interner) names(samples []collect.Sample, dst []*Series) {
	for i, smp := range samples {
		if i < len(in.last) && in.last[i].is(smp.Metric, smp.Labels) {
			dst[i] = in.last[i]
		} else {
			dst[i] = in.get(smp.Metric, smp.Labels)
		}
	}
	in.last = dst
}

// is reports whether s is the series of metric and labels.
func (s *Series) is(metric string, labels []wire.Label) bool {
	if s.Metric != metric || len(s.Labels) != len(labels) {
		return false
	}
	for i, l := range labels {
		if s.Labels[i] != l {
			return false
		}
	}
	return true
}

func seriesKey(metric string, labels []wire.Label) string {
	return collect.Sample{Metric: metric, Labels: labels}.Key()
}
