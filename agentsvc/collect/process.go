package collect

import (
	"cmp"
	"context"
	"hash/maphash"
	"slices"
	"strings"
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

// DefaultTopProcesses is how many programs Processes reports by CPU and
// by memory.
const DefaultTopProcesses = 10

// DefaultProcessInterval is how often the agent scans the processes.
const DefaultProcessInterval = 30 * time.Second

// Processes collects the number of processes and the top programs by CPU
// (percent of one core, over the time since the previous scan) and by
// resident memory, each the sum over the processes of that name, labelled
// with the name alone. Not by pid: every process started is then a new
// series, for good, which on a machine that builds or runs batch jobs
// makes thousands a day, each costing the core an index entry and a chunk
// for a few samples, until the host's series budget refuses new ones (as
// process-exporter groups processes by name for Prometheus). The names of
// a machine's programs are few. It is slow on a busy machine: run it
// through Every.
type Processes struct {
	Source ProcessSource
	// Top is how many programs to report by CPU and by memory; zero
	// means DefaultTopProcesses.
	Top int
	// Baseline is the wait between the two scans of the first collection,
	// which needs two to tell CPU use; zero means no CPU top the first time.
	Baseline time.Duration

	now      func() time.Time
	prev     map[procKey]float64 // CPU seconds at the previous scan
	prevTime time.Time
	// spare, cpuBy, memBy and top are room kept from the previous scan,
	// so a scan does not allocate them again.
	spare        map[procKey]float64
	cpuBy, memBy map[string]float64
	top          []program
}

// program is a program's name and a figure summed over its processes.
type program struct {
	name string
	v    float64
}

// procKey names a process across scans; with its name, a reused pid is not
// taken for the process that had it before. The name goes by its hash, so
// the maps of processes hold no pointers and the garbage collector passes
// over them: the simulator keeps two for each of its 10,000 machines,
// which with the names' strings were 142 MB of its heap to scan at every
// collection.
type procKey struct {
	pid  int32
	name uint64
}

// procNames seeds the hashes of process names in procKey.
var procNames = maphash.MakeSeed()

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
	wall := now.Sub(c.prevTime).Seconds()
	cur := c.spare
	if cur == nil {
		cur = make(map[procKey]float64, len(ps))
	}
	if c.cpuBy == nil {
		c.cpuBy, c.memBy = map[string]float64{}, map[string]float64{}
	}
	clear(cur)
	clear(c.cpuBy)
	clear(c.memBy)
	for _, p := range ps {
		k := procKey{p.PID, maphash.String(procNames, p.Name)}
		cur[k] = p.CPUSeconds
		c.memBy[p.Name] += float64(p.RSSBytes)
		// Only a process seen at both scans has a CPU figure for the
		// time between them (one that started since may have been
		// missed by the previous listing; its whole time is not this
		// interval's for sure).
		if before, ok := c.prev[k]; ok && wall > 0 && p.CPUSeconds >= before {
			c.cpuBy[p.Name] += (p.CPUSeconds - before) / wall * 100
		}
	}
	c.prev, c.spare, c.prevTime = cur, c.prev, now
	if s == nil {
		return nil
	}
	s.Add(wire.ProcessCount, float64(len(ps)))
	c.addTop(s, wire.ProcessCPUPercent, c.cpuBy, top)
	c.addTop(s, wire.ProcessMemoryBytes, c.memBy, top)
	return nil
}

// addTop adds metric for the n programs of by with the largest figures
// (ties by name).
func (c *Processes) addTop(s *Sink, metric string, by map[string]float64, n int) {
	top := c.top[:0]
	for name, v := range by {
		top = append(top, program{name, v})
	}
	slices.SortFunc(top, func(a, b program) int { return cmp.Or(cmp.Compare(b.v, a.v), strings.Compare(a.name, b.name)) })
	for _, p := range top[:min(n, len(top))] {
		s.Add(metric, p.v, wire.LabelProcess, p.name)
	}
	c.top = top
}
