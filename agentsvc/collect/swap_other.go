//go:build !linux

package collect

import (
	"context"

	"github.com/shirou/gopsutil/v4/mem"
)

// SwapMemory implements Source.
func (System) SwapMemory(ctx context.Context) (*mem.SwapMemoryStat, error) {
	return mem.SwapMemoryWithContext(ctx)
}
