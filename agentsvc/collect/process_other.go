//go:build !linux

package collect

import (
	"context"

	"github.com/shirou/gopsutil/v4/process"
)

// Processes implements ProcessSource. A process that ends, or that the
// agent may not read, during the scan is left out.
func (System) Processes(ctx context.Context) ([]ProcessInfo, error) {
	ps, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ProcessInfo, 0, len(ps))
	for _, p := range ps {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		name, err := p.NameWithContext(ctx)
		if err != nil {
			continue
		}
		pi := ProcessInfo{PID: p.Pid, Name: name}
		if t, err := p.TimesWithContext(ctx); err == nil {
			pi.CPUSeconds = t.User + t.System
		}
		if m, err := p.MemoryInfoWithContext(ctx); err == nil {
			pi.RSSBytes = m.RSS
		}
		out = append(out, pi)
	}
	return out, nil
}
