package store

import (
	"sync"

	badger "github.com/dgraph-io/badger/v4"
)

// gate keeps Badger open for the callers outside the store's own
// goroutines (the KV records of hosts, alerts and users; a metrics scrape
// reading the tables' sizes) until Close: Close shuts the gate, waits for
// the calls inside to leave, then closes Badger, and a call that comes
// after gets ErrClosed. Badger itself panics on a write that races its
// Close (a send on the closed write channel). Unlike a RWMutex, a call
// inside the gate may enter it again (a Scan's callback reading a record)
// without waiting behind Close.
type gate struct {
	mu     sync.Mutex
	left   sync.Cond // signalled when in reaches zero
	in     int
	closed bool
}

// enter reports whether Badger is open; when it is, the caller must leave.
func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.in++
	return true
}

func (g *gate) leave() {
	g.mu.Lock()
	g.in--
	if g.in == 0 && g.left.L != nil {
		g.left.Broadcast()
	}
	g.mu.Unlock()
}

// shut closes the gate and waits until every caller inside has left.
func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	g.left.L = &g.mu
	for g.in > 0 {
		g.left.Wait()
	}
}

// kv runs fn with Badger open, or returns ErrClosed.
func (d *DB) kv(fn func() error) error {
	if !d.badger.enter() {
		return ErrClosed
	}
	defer d.badger.leave()
	return fn()
}

// view is Badger's View with Badger open, or ErrClosed.
func (d *DB) view(fn func(*badger.Txn) error) error {
	return d.kv(func() error { return d.db.View(fn) })
}

// update is Badger's Update with Badger open, or ErrClosed.
func (d *DB) update(fn func(*badger.Txn) error) error {
	return d.kv(func() error { return d.db.Update(fn) })
}
