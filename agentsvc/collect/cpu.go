package collect

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"

	"esmon/core/wire"
)

// totalOnly is gopsutil's name for the times of all cores together, which
// Source.CPUTimes returns alone where per-core times cannot be read.
const totalOnly = "cpu-total"

// DefaultCPUBaseline is how long the first collection waits between its two
// readings of the CPU counters. Later collections use the previous reading,
// so they never wait.
const DefaultCPUBaseline = 200 * time.Millisecond

// CPU collects the busy percentage of all cores together and of each core,
// from the change of the cumulative CPU times since the previous collection.
type CPU struct {
	Source interface {
		CPUTimes(ctx context.Context) ([]cpu.TimesStat, error)
	}
	// Baseline is the wait between the two readings of the first
	// collection; zero means no wait.
	Baseline time.Duration
	// Logger is told, once, when the system gives the total CPU times
	// alone (Wine has no per-core times): the per-core figures are then
	// left out rather than made up. Nil discards it.
	Logger *slog.Logger

	// prev is the previous reading, by core name; only Collect touches it.
	prev map[string]cpu.TimesStat
	// toldTotalOnly records that Logger was told; only Collect touches it.
	toldTotalOnly bool
}

// NewCPU returns a CPU collector with the default baseline.
func NewCPU(src Source) *CPU {
	return &CPU{Source: src, Baseline: DefaultCPUBaseline}
}

// Name implements Collector.
func (*CPU) Name() string { return "cpu" }

// Collect implements Collector.
func (c *CPU) Collect(ctx context.Context, s *Sink) error {
	if c.prev == nil {
		first, err := c.Source.CPUTimes(ctx)
		if err != nil {
			return err
		}
		c.prev = byName(first)
		if c.Baseline > 0 {
			t := time.NewTimer(c.Baseline)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
	now, err := c.Source.CPUTimes(ctx)
	if err != nil {
		return err
	}
	if len(now) == 1 && now[0].CPU == totalOnly && !c.toldTotalOnly {
		c.toldTotalOnly = true
		if c.Logger != nil {
			c.Logger.Info("this system gives no per-core CPU times: sending the total CPU use alone, without " + wire.CPUCoreUsagePercent)
		}
	}
	var sumBusy, sumAll float64
	for i, t := range now {
		name := coreLabel(t.CPU, i)
		p, ok := c.prev[t.CPU]
		if !ok {
			continue // a core that came online: no baseline yet
		}
		busy, all := busyDelta(p, t)
		if all <= 0 {
			continue // counters went back (core reset or hotplug)
		}
		// Linux's iowait may step back between readings, which makes busy
		// come out below zero on an idle core: read that as idle.
		busy = max(0, busy)
		sumBusy += busy
		sumAll += all
		if t.CPU != totalOnly {
			s.Add(wire.CPUCoreUsagePercent, percent(busy, all), wire.LabelCore, name)
		}
	}
	// The map is refilled rather than made again: a collection a
	// second on a 32-core machine would otherwise make one every time.
	clear(c.prev)
	for _, t := range now {
		c.prev[t.CPU] = t
	}
	if sumAll <= 0 {
		return errors.New("no CPU time passed between readings")
	}
	s.Add(wire.CPUUsagePercent, percent(sumBusy, sumAll))
	return nil
}

func byName(ts []cpu.TimesStat) map[string]cpu.TimesStat {
	m := make(map[string]cpu.TimesStat, len(ts))
	for _, t := range ts {
		m[t.CPU] = t
	}
	return m
}

// coreLabel turns gopsutil's "cpu3" into "3".
func coreLabel(name string, index int) string {
	n := strings.TrimPrefix(name, "cpu")
	if _, err := strconv.Atoi(n); err != nil {
		return strconv.Itoa(index)
	}
	return n
}

// busyDelta returns the busy and total CPU seconds between two readings.
// Guest time is left out of the total because Linux counts it in user time
// already (and other systems report none). Idle and iowait are not busy.
func busyDelta(a, b cpu.TimesStat) (busy, all float64) {
	allOf := func(t cpu.TimesStat) float64 {
		return t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
	}
	all = allOf(b) - allOf(a)
	idle := (b.Idle + b.Iowait) - (a.Idle + a.Iowait)
	return all - idle, all
}

func percent(part, whole float64) float64 {
	p := part / whole * 100
	return min(100, max(0, p))
}
