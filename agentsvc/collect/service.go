package collect

import (
	"context"
	"errors"
	"sync"
	"time"

	"esmon/core/wire"
)

// ServiceState is the state of a Windows service, numbered as Windows
// numbers it (SERVICE_STATUS.dwCurrentState), with 0 for a service that is
// not installed.
type ServiceState int

// The service states.
const (
	ServiceMissing         ServiceState = 0
	ServiceStopped         ServiceState = 1
	ServiceStartPending    ServiceState = 2
	ServiceStopPending     ServiceState = 3
	ServiceRunning         ServiceState = 4
	ServiceContinuePending ServiceState = 5
	ServicePausePending    ServiceState = 6
	ServicePaused          ServiceState = 7
)

// ErrNoServices is what ServiceStates returns where there are no Windows
// services.
var ErrNoServices = errors.New("Windows services exist only on Windows")

// ServiceSource reads the state of services by name.
type ServiceSource interface {
	// ServiceStates returns the state of each named service; a service
	// that is not installed is ServiceMissing, not an error.
	ServiceStates(ctx context.Context, names []string) (map[string]ServiceState, error)
}

// DefaultServicePoll is how often Services looks for state changes between
// collections.
const DefaultServicePoll = time.Second

// Services collects the state of the Windows services on its watch list
// (label service): service_state as Windows numbers it, and service_running.
// Run watches them between collections and calls the notify function at
// once when one changes, so a stopped service is reported within a second,
// not at the next interval.
type Services struct {
	Source ServiceSource
	Names  []string
	// Poll is the watch's period; zero means DefaultServicePoll.
	Poll time.Duration

	mu     sync.Mutex // guards the fields below
	last   map[string]ServiceState
	notify func()
}

var (
	_ Runner   = (*Services)(nil)
	_ Notifier = (*Services)(nil)
)

// Name implements Collector.
func (*Services) Name() string { return "services" }

// SetNotify implements Notifier.
func (c *Services) SetNotify(f func()) {
	c.mu.Lock()
	c.notify = f
	c.mu.Unlock()
}

// Collect implements Collector.
func (c *Services) Collect(ctx context.Context, s *Sink) error {
	states, err := c.Source.ServiceStates(ctx, c.Names)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.last = states
	c.mu.Unlock()
	for _, n := range c.Names {
		st := states[n]
		s.Add(wire.ServiceState, float64(st), wire.LabelService, n)
		s.Add(wire.ServiceRunning, b2f(st == ServiceRunning), wire.LabelService, n)
	}
	return nil
}

// Run implements Runner: it polls the states and notifies on a change.
func (c *Services) Run(ctx context.Context) {
	poll := c.Poll
	if poll <= 0 {
		poll = DefaultServicePoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		states, err := c.Source.ServiceStates(ctx, c.Names)
		if err != nil {
			continue // Collect reports it
		}
		c.mu.Lock()
		changed := c.last != nil && !equalStates(c.last, states)
		c.last = states
		notify := c.notify
		c.mu.Unlock()
		if changed && notify != nil {
			notify()
		}
	}
}

func equalStates(a, b map[string]ServiceState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
