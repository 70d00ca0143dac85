package collect

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Runner is a collector with work of its own between collections, such as
// a slow scan or a watch. Set.Run runs it until ctx is cancelled.
type Runner interface {
	Run(ctx context.Context)
}

// Notifier is a collector that learns of changes between collections (a
// Windows service that stopped). The Set gives it a function to call then,
// and the agent collects at once instead of at the next interval.
type Notifier interface {
	SetNotify(changed func())
}

// Every runs a slow collector in the background every Interval, so it never
// delays a collection: Collect hands over the samples of the latest run, once.
// Until Run has started, Collect runs the collector inline (for `once`).
type Every struct {
	C        Collector
	Interval time.Duration

	running atomic.Bool
	run     sync.Mutex // held while C collects: it never runs twice at once
	mu      sync.Mutex // guards the fields below
	fresh   []Sample   // samples of the latest run, not yet handed over
	err     error      // the latest run's error, not yet handed over
}

var (
	_ Collector = (*Every)(nil)
	_ Runner    = (*Every)(nil)
)

// Name implements Collector.
func (e *Every) Name() string { return e.C.Name() }

// Collect implements Collector.
func (e *Every) Collect(ctx context.Context, s *Sink) error {
	if !e.running.Load() {
		e.run.Lock()
		defer e.run.Unlock()
		return e.C.Collect(ctx, s)
	}
	e.mu.Lock()
	fresh, err := e.fresh, e.err
	e.fresh, e.err = nil, nil
	e.mu.Unlock()
	s.samples = append(s.samples, fresh...)
	return err
}

// Run implements Runner: it runs the collector now and then every
// Interval, each run bounded by Interval.
func (e *Every) Run(ctx context.Context) {
	e.running.Store(true)
	defer e.running.Store(false)
	t := time.NewTicker(e.Interval)
	defer t.Stop()
	for {
		var sink Sink
		cctx, cancel := context.WithTimeout(ctx, e.Interval)
		e.run.Lock()
		err := e.C.Collect(cctx, &sink)
		e.run.Unlock()
		cancel()
		if ctx.Err() != nil {
			return
		}
		e.mu.Lock()
		e.fresh, e.err = sink.samples, err
		e.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
