package alert

import (
	"encoding/json"
	"errors"
	"log/slog"
	"sync"

	"esmon/core/apiv1"
	"esmon/core/store"
)

// Persistence of alert transitions and of the active alerts' states.
//
// The engine never writes to disk under its lock, and an agent's batch
// never waits on a disk write: move queues the transition for the history
// and the alert's new state (or the removal of its state), and one writer
// goroutine commits what is queued in rounds. A round takes everything
// queued so far and commits it at once: its transitions as one frame of
// the history journal (one sync), then its states — with a KV that has
// PutBatch (the store's Badger write batch) in one batch, one sync;
// otherwise through concurrent Puts, which Badger groups into one write
// and one sync. The
// next round starts as soon as the previous one ends (group commit): on a
// quiet system a transition is written at once, on a busy one the rounds
// grow, and so does the number of records per sync.
//
// States are coalesced: only an alert's last state in a round is written.
// History records are never dropped. The queue of history records is
// bounded by MaxQueued: Eval, EvalOffline and Tick, once they have released
// the engine lock, wait while more than MaxQueued records are queued, so a
// disk slower than the transitions slows the producers rather than memory
// growing without bound; every such wait is counted (PersistStats.FullWaits).
// The writer never takes the engine lock, so a wait always ends when the
// round in flight is committed: no deadlock.
//
// What a crash can lose: what was queued or in flight, never what was
// committed — at most the round being written and the records queued
// behind it (bounded by MaxQueued; on a quiet system the last few
// milliseconds). The round being written may be committed in part (its
// transitions and its states are two commits, Badger splits a large write
// batch into several; without PutBatch each state is its own), so a
// transition may be in the history while its
// alert's state is not, or the reverse; rounds are committed one after the
// other, so an older state never overwrites a newer one. After a crash,
// Open finds the states as committed: an alert whose start was lost starts
// again from its next samples (pending again for its rule's For), one
// whose end was lost is found firing and resolved by its next sample under
// the threshold (or by no_data handling). Ack and Unack return only once their transition is
// committed, so an acknowledgement the user was told about is never lost.
// Notifications: a caller that routes transitions should call Flush before
// it hands them to the channels; then no notification is sent for a
// transition that a crash then takes out of the history. If a commit fails
// (a disk error), the error is logged, counted (PersistStats.Errors) and
// returned by Flush; the records of that round are not retried.
//
// Close flushes the queue and stops the writer; after Close each write is
// made at once, synchronously.

// MaxQueued bounds the history records queued for the writer before the
// producers wait (see above).
const MaxQueued = 65536

// putBatcher is a KV that writes many records in one commit; a nil value
// deletes its key.
type putBatcher interface {
	PutBatch(keys, values [][]byte) error
}

// PersistStats are the writer's figures, for the core's metrics.
type PersistStats struct {
	Rounds    uint64 // commits made
	Records   uint64 // records committed (history and states)
	Queued    int    // history records waiting now
	MaxRound  int    // most records in one round
	FullWaits uint64 // times a producer waited for a full queue
	Errors    uint64 // commits that failed
}

// record is a transition for the history (t) or an alert's state (key
// and value).
type record struct {
	key   []byte
	value []byte // nil: delete key
	t     *apiv1.Transition
}

type writer struct {
	kv      store.KV
	journal HistoryLog
	log     *slog.Logger
	max     int // MaxQueued; tests lower it

	mu      sync.Mutex
	cond    *sync.Cond // broadcast when a round ends or the queue changes
	hist    []record
	states  map[string]record // by key; the last state of an alert wins
	taken   uint64            // rounds started
	ended   uint64            // rounds committed (or failed)
	closing bool
	stopped bool
	lastErr error
	stats   PersistStats
	wake    chan struct{}
	exited  chan struct{}
}

func newWriter(kv store.KV, hist HistoryLog, log *slog.Logger) *writer {
	w := &writer{kv: kv, journal: hist, log: log, max: MaxQueued, states: map[string]record{}, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// history queues transition t. It never blocks.
func (w *writer) history(t apiv1.Transition) {
	w.add(record{t: &t}, true)
}

// state queues key's new value; nil deletes it. It never blocks.
func (w *writer) state(key, value []byte) {
	w.add(record{key: key, value: value}, false)
}

func (w *writer) add(r record, hist bool) {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		if err := w.commit([]record{r}); err != nil {
			w.log.Error("save alert record", "err", err)
		}
		return
	}
	if hist {
		w.hist = append(w.hist, r)
	} else {
		w.states[string(r.key)] = r
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// room waits while the queue is over MaxQueued. The caller must not hold
// the engine lock.
func (w *writer) room() {
	w.mu.Lock()
	if len(w.hist) > w.max && !w.stopped {
		w.stats.FullWaits++
		for len(w.hist) > w.max && !w.stopped {
			w.cond.Wait()
		}
	}
	w.mu.Unlock()
}

// flush waits until every record queued before the call is committed and
// returns the error of a failed commit since the last flush, if any.
func (w *writer) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.taken // the round in flight, if any
	if len(w.hist) > 0 || len(w.states) > 0 {
		target++ // and the one that will take the queue
	}
	for w.ended < target && !w.stopped {
		w.cond.Wait()
	}
	err := w.lastErr
	w.lastErr = nil
	return err
}

func (w *writer) run() {
	defer close(w.exited)
	for {
		w.mu.Lock()
		for len(w.hist) == 0 && len(w.states) == 0 && !w.closing {
			w.mu.Unlock()
			<-w.wake
			w.mu.Lock()
		}
		if len(w.hist) == 0 && len(w.states) == 0 {
			w.stopped = true
			w.cond.Broadcast()
			w.mu.Unlock()
			return
		}
		round := w.hist
		w.hist = nil
		for _, r := range w.states {
			round = append(round, r)
		}
		clear(w.states)
		w.taken++
		w.cond.Broadcast() // the queue has room again
		w.mu.Unlock()

		err := w.commit(round)

		w.mu.Lock()
		w.ended++
		w.stats.Rounds++
		w.stats.Records += uint64(len(round))
		w.stats.MaxRound = max(w.stats.MaxRound, len(round))
		if err != nil {
			w.stats.Errors++
			w.lastErr = err
			w.log.Error("save alert history and states", "records", len(round), "err", err)
		}
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// commitFanOut is how many Puts a KV without PutBatch gets at once, for
// Badger to group into one write.
const commitFanOut = 1024

// commit writes one round: its transitions, then its states.
func (w *writer) commit(round []record) error {
	var hist [][]byte
	var keys, values [][]byte
	for _, r := range round {
		if r.t == nil {
			keys, values = append(keys, r.key), append(values, r.value)
			continue
		}
		b, err := json.Marshal(r.t)
		if err != nil {
			return err
		}
		hist = append(hist, b)
	}
	if err := w.journal.Append(hist); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	if pb, ok := w.kv.(putBatcher); ok {
		return pb.PutBatch(keys, values)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	next := make(chan int)
	for range min(commitFanOut, len(keys)) {
		wg.Go(func() {
			for i := range next {
				var err error
				if values[i] == nil {
					err = w.kv.Delete(keys[i])
				} else {
					err = w.kv.Put(keys[i], values[i])
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range keys {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// close commits what is queued and stops the writer.
func (w *writer) close() error {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.exited
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.lastErr
	w.lastErr = nil
	return err
}

func (w *writer) snapshot() PersistStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Queued = len(w.hist)
	return s
}

// Flush waits until every transition and state change made so far is
// committed to the store, and returns the error of a commit that failed
// since the last Flush. Call it before routing transitions to channels
// (see the package's persistence notes in persist.go).
func (e *Engine) Flush() error { return e.w.flush() }

// Close commits what is queued and stops the writer. The store must stay
// open until Close returns. Writes after Close are made at once.
func (e *Engine) Close() error { return e.w.close() }

// PersistStats returns the writer's figures.
func (e *Engine) PersistStats() PersistStats { return e.w.snapshot() }
