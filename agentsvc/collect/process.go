package collect

import (
	"context"
	"slices"
	"strconv"
	"time"

	"esmon/core/wire"
)

// ProcessInfo is what the process scan reads of one process.
type ProcessInfo struct {
	PID        int32
	Name       string
	CPUSeconds float64 // user and system time since the process started
	RSSBytes   uint64
}

// ProcessSource lists the running processes.
type ProcessSource interface {
	Processes(ctx context.Context) ([]ProcessInfo, error)
}

// DefaultTopProcesses is how many processes Processes reports by CPU and
// by memory.
const DefaultTopProcesses = 10

// DefaultProcessInterval is how often the agent scans the processes.
const DefaultProcessInterval = 30 * time.Second

// Processes collects the number of processes and the top processes by CPU
// (percent of one core, over the time since the previous scan) and by
// resident memory, labelled with process name and pid. It is slow on a busy
// machine: run it through Every.
type Processes struct {
	Source ProcessSource
	// Top is how many processes to report of each kind; zero means
	// DefaultTopProcesses.
	Top int
	// Baseline is the wait between the two scans of the first collection,
	// which needs two to tell CPU use; zero means no CPU top the first time.
	Baseline time.Duration

	now      func() time.Time
	prev     map[procKey]float64 // CPU seconds at the previous scan
	prevTime time.Time
	// spare, busy and byMem are room kept from the previous scan, so a
	// scan does not allocate them again.
	spare map[procKey]float64
	busy  []procUse
	byMem []ProcessInfo
}

// procUse is a process and its CPU use since the previous scan.
type procUse struct {
	p   ProcessInfo
	cpu float64
}

// procKey names a process across scans; with the name, a reused pid is not
// taken for the process that had it before.
type procKey struct {
	pid  int32
	name string
}

// Name implements Collector.
func (*Processes) Name() string { return "processes" }

// Collect implements Collector.
func (c *Processes) Collect(ctx context.Context, s *Sink) error {
	if c.now == nil {
		c.now = time.Now
	}
	if c.prev == nil && c.Baseline > 0 {
		if err := c.scan(ctx, nil); err != nil {
			return err
		}
		t := time.NewTimer(c.Baseline)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return c.scan(ctx, s)
}

// scan reads the processes and, when s is not nil, adds the samples.
func (c *Processes) scan(ctx context.Context, s *Sink) error {
	ps, err := c.Source.Processes(ctx)
	if err != nil {
		return err
	}
	now := c.now()
	top := c.Top
	if top <= 0 {
		top = DefaultTopProcesses
	}
	busy := c.busy[:0]
	wall := now.Sub(c.prevTime).Seconds()
	cur := c.spare
	if cur == nil {
		cur = make(map[procKey]float64, len(ps))
	}
	clear(cur)
	for _, p := range ps {
		k := procKey{p.PID, p.Name}
		cur[k] = p.CPUSeconds
		if before, ok := c.prev[k]; ok && wall > 0 && p.CPUSeconds >= before {
			busy = append(busy, procUse{p, (p.CPUSeconds - before) / wall * 100})
		}
	}
	c.prev, c.spare, c.prevTime = cur, c.prev, now
	c.busy = busy
	if s == nil {
		return nil
	}
	s.Add(wire.ProcessCount, float64(len(ps)))
	slices.SortFunc(busy, func(a, b procUse) int {
		if a.cpu != b.cpu {
			if a.cpu > b.cpu {
				return -1
			}
			return 1
		}
		return int(a.p.PID - b.p.PID)
	})
	for _, u := range busy[:min(top, len(busy))] {
		s.Add(wire.ProcessCPUPercent, u.cpu, wire.LabelProcess, u.p.Name, wire.LabelPID, strconv.Itoa(int(u.p.PID)))
	}
	byMem := append(c.byMem[:0], ps...)
	c.byMem = byMem
	slices.SortFunc(byMem, func(a, b ProcessInfo) int {
		if a.RSSBytes != b.RSSBytes {
			if a.RSSBytes > b.RSSBytes {
				return -1
			}
			return 1
		}
		return int(a.PID - b.PID)
	})
	for _, p := range byMem[:min(top, len(byMem))] {
		s.Add(wire.ProcessMemoryBytes, float64(p.RSSBytes), wire.LabelProcess, p.Name, wire.LabelPID, strconv.Itoa(int(p.PID)))
	}
	return nil
}
