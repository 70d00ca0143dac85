package collect

import (
	"context"
	"os"

	"esmon/core/wire"
)

// Memory collects physical memory: total, used, available and used percent.
type Memory struct{ Source Source }

// Name implements Collector.
func (*Memory) Name() string { return "memory" }

// Collect implements Collector.
func (c *Memory) Collect(ctx context.Context, s *Sink) error {
	vm, err := c.Source.VirtualMemory(ctx)
	if err != nil {
		return err
	}
	s.Add(wire.MemoryTotalBytes, float64(vm.Total))
	s.Add(wire.MemoryUsedBytes, float64(vm.Used))
	s.Add(wire.MemoryAvailableBytes, float64(vm.Available))
	s.Add(wire.MemoryUsedPercent, vm.UsedPercent)
	return nil
}

// Swap collects swap (the page file on Windows): total, used, used percent.
type Swap struct{ Source Source }

// Name implements Collector.
func (*Swap) Name() string { return "swap" }

// Collect implements Collector.
func (c *Swap) Collect(ctx context.Context, s *Sink) error {
	sw, err := c.Source.SwapMemory(ctx)
	if err != nil {
		return err
	}
	used := sw.UsedPercent
	if sw.Total == 0 {
		used = 0
	}
	s.Add(wire.SwapTotalBytes, float64(sw.Total))
	s.Add(wire.SwapUsedBytes, float64(sw.Used))
	s.Add(wire.SwapUsedPercent, used)
	return nil
}

// Uptime collects the seconds since boot.
type Uptime struct{ Source Source }

// Name implements Collector.
func (*Uptime) Name() string { return "uptime" }

// Collect implements Collector.
func (c *Uptime) Collect(ctx context.Context, s *Sink) error {
	up, err := c.Source.Uptime(ctx)
	if err != nil {
		return err
	}
	s.Add(wire.UptimeSeconds, float64(up))
	return nil
}

func osHostname() string {
	h, _ := os.Hostname()
	return h
}
