//go:build !windows

package collect

import (
	"context"

	"github.com/shirou/gopsutil/v4/load"

	"esmon/core/wire"
)

// LoadSource reads the load averages, which Windows does not have.
type LoadSource interface {
	Load(ctx context.Context) (*load.AvgStat, error)
}

// Load implements Source.
func (System) Load(ctx context.Context) (*load.AvgStat, error) {
	return load.AvgWithContext(ctx)
}

// Load collects the 1, 5 and 15 minute load averages.
type Load struct{ Source LoadSource }

// Name implements Collector.
func (*Load) Name() string { return "load" }

// Collect implements Collector.
func (c *Load) Collect(ctx context.Context, s *Sink) error {
	a, err := c.Source.Load(ctx)
	if err != nil {
		return err
	}
	s.Add(wire.Load1, a.Load1)
	s.Add(wire.Load5, a.Load5)
	s.Add(wire.Load15, a.Load15)
	return nil
}

func osCollectors(src Source) []Collector {
	return []Collector{&Load{Source: src}}
}
