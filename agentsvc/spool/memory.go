package spool

import (
	"sync"

	"esmon/agentsvc/collect"
)

// Memory is a queue in memory, bounded by a number of snapshots; when full
// the oldest go. It is safe for use from several goroutines.
type Memory struct {
	limit int

	mu      sync.Mutex // guards the fields below
	entries []Entry    // oldest first; all have Seq > acked
	nextSeq uint64
	acked   uint64
	dropped uint64
	names   interner
}

// NewMemory returns a queue that holds at most limit snapshots (at least 1)
// and numbers the first one firstSeq (at least 1).
func NewMemory(limit int, firstSeq uint64) *Memory {
	return &Memory{limit: max(limit, 1), nextSeq: max(firstSeq, 1), acked: max(firstSeq, 1) - 1}
}

// Append queues s and returns how many old snapshots were dropped to make
// room. It never fails.
func (m *Memory) Append(s collect.Snapshot) (dropped int, err error) {
	e := Entry{TimeMS: s.Time.UnixMilli(), Series: make([]*Series, len(s.Samples)), Values: make([]float64, len(s.Samples))}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.names.names(s.Samples, e.Series)
	for i, smp := range s.Samples {
		e.Values[i] = smp.Value
	}
	e.Seq = m.nextSeq
	m.nextSeq++
	m.entries = append(m.entries, e)
	for len(m.entries) > m.limit {
		m.acked = max(m.acked, m.entries[0].Seq)
		m.entries[0] = Entry{}
		m.entries = m.entries[1:]
		dropped++
	}
	m.dropped += uint64(dropped)
	return dropped, nil
}

// Read returns up to limit entries with Seq > after, oldest first.
func (m *Memory) Read(after uint64, limit int) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entry
	for _, e := range m.entries {
		if len(out) >= limit {
			break
		}
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out, nil
}

// Ack forgets every entry up to seq.
func (m *Memory) Ack(seq uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq <= m.acked {
		return nil
	}
	m.acked = min(seq, m.nextSeq-1)
	i := 0
	for i < len(m.entries) && m.entries[i].Seq <= m.acked {
		m.entries[i] = Entry{}
		i++
	}
	m.entries = m.entries[i:]
	return nil
}

// Stats implements the queue's statistics.
func (m *Memory) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Pending: len(m.entries), Acked: m.acked, NextSeq: m.nextSeq, Dropped: m.dropped}
}

// Close does nothing; it is there so Memory and Disk are interchangeable.
func (m *Memory) Close() error { return nil }
