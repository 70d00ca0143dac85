package collect

import (
	"context"

	"github.com/shirou/gopsutil/v4/mem"
)

// SwapMemory implements Source from /proc/meminfo, which holds swap total
// and free: gopsutil's own SwapMemory also reads /proc/vmstat, some 300
// lines, for figures the agent does not send.
func (System) SwapMemory(ctx context.Context) (*mem.SwapMemoryStat, error) {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return nil, err
	}
	s := &mem.SwapMemoryStat{Total: vm.SwapTotal, Free: vm.SwapFree}
	if s.Total >= s.Free {
		s.Used = s.Total - s.Free
	}
	if s.Total > 0 {
		s.UsedPercent = float64(s.Used) / float64(s.Total) * 100
	}
	return s, nil
}
