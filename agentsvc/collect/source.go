package collect

import (
	"context"
	"runtime"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"

	"esmon/core/wire"
)

// Source is what the collectors read from the system. System reads the real
// machine through gopsutil; tests give canned readings.
type Source interface {
	// CPUTimes returns the cumulative CPU times of each core, in core order.
	CPUTimes(ctx context.Context) ([]cpu.TimesStat, error)
	VirtualMemory(ctx context.Context) (*mem.VirtualMemoryStat, error)
	SwapMemory(ctx context.Context) (*mem.SwapMemoryStat, error)
	// Partitions returns the mounted file systems.
	Partitions(ctx context.Context) ([]disk.PartitionStat, error)
	DiskUsage(ctx context.Context, mount string) (*disk.UsageStat, error)
	DiskIO(ctx context.Context) (map[string]disk.IOCountersStat, error)
	// NetIO returns the counters of each network interface.
	NetIO(ctx context.Context) ([]net.IOCountersStat, error)
	Uptime(ctx context.Context) (uint64, error)
	LoadSource
	FactsSource
}

// FactsSource is what Facts reads.
type FactsSource interface {
	HostInfo(ctx context.Context) (*host.InfoStat, error)
	CPUInfo(ctx context.Context) ([]cpu.InfoStat, error)
	CPUCount(ctx context.Context) (int, error)
	VirtualMemory(ctx context.Context) (*mem.VirtualMemoryStat, error)
}

// System is the Source of the real machine.
type System struct{}

var _ Source = System{}

// CPUTimes implements Source. Where the times of each core cannot be read
// it returns the total alone, named "cpu-total". That is Wine's case: Wine 8
// does not implement NtQuerySystemInformationEx, which gopsutil needs for
// per-core times, while its GetSystemTimes, gopsutil's way to the total,
// gives Linux's /proc/stat figures (user with nice; kernel with irq, softirq,
// iowait and idle), so the total is the host's real CPU use.
func (System) CPUTimes(ctx context.Context) ([]cpu.TimesStat, error) {
	ts, err := cpu.TimesWithContext(ctx, true)
	if err != nil {
		if total, terr := cpu.TimesWithContext(ctx, false); terr == nil && len(total) > 0 {
			return total, nil
		}
	}
	return ts, err
}

// VirtualMemory implements Source.
func (System) VirtualMemory(ctx context.Context) (*mem.VirtualMemoryStat, error) {
	return mem.VirtualMemoryWithContext(ctx)
}

// Partitions implements Source. It asks only for physical file systems; the
// DiskUsage collector filters pseudo ones again, for systems where gopsutil
// cannot tell.
func (System) Partitions(ctx context.Context) ([]disk.PartitionStat, error) {
	return disk.PartitionsWithContext(ctx, false)
}

// DiskUsage implements Source.
func (System) DiskUsage(ctx context.Context, mount string) (*disk.UsageStat, error) {
	return disk.UsageWithContext(ctx, mount)
}

// DiskIO implements Source.
func (System) DiskIO(ctx context.Context) (map[string]disk.IOCountersStat, error) {
	return disk.IOCountersWithContext(ctx)
}

// NetIO implements Source.
func (System) NetIO(ctx context.Context) ([]net.IOCountersStat, error) {
	return net.IOCountersWithContext(ctx, true)
}

// Uptime implements Source.
func (System) Uptime(ctx context.Context) (uint64, error) {
	return host.UptimeWithContext(ctx)
}

// HostInfo implements Source.
func (System) HostInfo(ctx context.Context) (*host.InfoStat, error) {
	return host.InfoWithContext(ctx)
}

// CPUInfo implements Source.
func (System) CPUInfo(ctx context.Context) ([]cpu.InfoStat, error) {
	return cpu.InfoWithContext(ctx)
}

// CPUCount implements Source: the number of logical cores.
func (System) CPUCount(ctx context.Context) (int, error) {
	return cpu.CountsWithContext(ctx, true)
}

// Facts describes the machine. Parts that cannot be read are left empty,
// and the error says which; Hostname, OS and Arch are always set.
func Facts(ctx context.Context, src FactsSource) (wire.HostFacts, error) {
	f := wire.HostFacts{OS: runtime.GOOS, Arch: runtime.GOARCH}
	var errs []error
	if hi, err := src.HostInfo(ctx); err != nil {
		errs = append(errs, err)
	} else if hi != nil {
		f.Hostname = hi.Hostname
		if hi.OS != "" {
			f.OS = hi.OS
		}
		f.Platform = hi.Platform
		f.PlatformVersion = hi.PlatformVersion
		f.KernelVersion = hi.KernelVersion
		if hi.KernelArch != "" {
			f.Arch = hi.KernelArch
		}
		f.BootTime = int64(hi.BootTime)
	}
	if f.Hostname == "" {
		f.Hostname = osHostname()
	}
	if ci, err := src.CPUInfo(ctx); err != nil {
		errs = append(errs, err)
	} else if len(ci) > 0 {
		f.CPUModel = ci[0].ModelName
	}
	if n, err := src.CPUCount(ctx); err != nil {
		errs = append(errs, err)
	} else {
		f.Cores = n
	}
	if vm, err := src.VirtualMemory(ctx); err != nil {
		errs = append(errs, err)
	} else if vm != nil {
		f.MemoryBytes = vm.Total
	}
	return f, joinErrs("host facts", errs)
}
