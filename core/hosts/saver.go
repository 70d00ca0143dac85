package hosts

import (
	"encoding/json"
	"sync"

	"esmon/core/apiv1"
	"esmon/core/store"
)

// Host records are written behind the callers that change them: a queue
// keyed by host (the newest record of a host wins) drained by one goroutine
// that runs while the queue has records, in batches (one commit and one
// sync for all that piled up). A hello of a new host so never waits for
// the disk: with thousands of agents connecting at once, each hello held
// one of the hub's hello slots through a write of its own, behind the
// store's flushes of the new series' index, and most agents were told the
// core was busy. A host record lost in a crash is written again at the
// host's next hello; callers that must see it written (an admin's tags,
// the last seen times written at shutdown) wait with flush.
type saver struct {
	mu      sync.Mutex
	cond    *sync.Cond // broadcast when a batch is written
	queue   map[string]apiv1.Host
	seq     uint64 // records queued so far
	written uint64 // every record queued up to this seq is written
	running bool
}

// batchPutter is a KV that writes many records with one commit (the
// store is one).
type batchPutter interface {
	PutBatch(keys, values [][]byte) error
}

// saveLater queues h to be written and returns its ticket for flush.
func (r *Registry) saveLater(hs ...apiv1.Host) uint64 {
	s := &r.saver
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cond == nil {
		s.cond = sync.NewCond(&s.mu)
	}
	if s.queue == nil {
		s.queue = make(map[string]apiv1.Host)
	}
	for _, h := range hs {
		h.Latest = nil
		s.queue[h.ID] = h
		s.seq++
	}
	if !s.running && len(s.queue) > 0 {
		s.running = true
		go r.drain()
	}
	return s.seq
}

// flush waits until every record queued up to ticket is written (or its
// write failed, which is logged).
func (r *Registry) flush(ticket uint64) {
	s := &r.saver
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.written < ticket {
		s.cond.Wait()
	}
}

// Flush waits until every host record queued so far is written.
func (r *Registry) Flush() { r.flush(r.saveLater()) }

// save writes hs and waits for it.
func (r *Registry) save(hs ...apiv1.Host) {
	if len(hs) > 0 {
		r.flush(r.saveLater(hs...))
	}
}

// drain writes the queue until it is empty.
func (r *Registry) drain() {
	s := &r.saver
	s.mu.Lock()
	for len(s.queue) > 0 {
		batch, upTo := s.queue, s.seq
		s.queue = make(map[string]apiv1.Host)
		s.mu.Unlock()
		r.write(batch)
		s.mu.Lock()
		s.written = upTo
		s.cond.Broadcast()
	}
	s.running = false
	s.mu.Unlock()
}

// write writes a batch of host records.
func (r *Registry) write(batch map[string]apiv1.Host) {
	keys := make([][]byte, 0, len(batch))
	values := make([][]byte, 0, len(batch))
	for id, h := range batch {
		b, err := json.Marshal(h)
		if err != nil {
			r.log.Error("save host", "host", id, "err", err)
			continue
		}
		keys = append(keys, append([]byte{store.PrefixHosts}, id...))
		values = append(values, b)
	}
	if bp, ok := r.kv.(batchPutter); ok {
		if err := bp.PutBatch(keys, values); err != nil {
			r.log.Error("save hosts", "hosts", len(keys), "err", err)
		}
		return
	}
	for i, k := range keys {
		if err := r.kv.Put(k, values[i]); err != nil {
			r.log.Error("save host", "host", string(k[1:]), "err", err)
		}
	}
}
