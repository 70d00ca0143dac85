package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"

	"esmon/agentsvc/collect"
	"esmon/core/wire"
)

// simLoad reports load averages from a simSource on every OS.
type simLoad struct{ src *simSource }

// simEpoch is the day the simulated machines count their boot time from:
// a simulator restarted with the same seed (and --enrolments) reports the
// same facts, as real agents do after a core restart.
var simEpoch = time.Now().UTC().Truncate(24 * time.Hour)

func (*simLoad) Name() string { return "load" }

func (l *simLoad) Collect(ctx context.Context, s *collect.Sink) error {
	a, _ := l.src.Load(ctx)
	s.Add(wire.Load1, a.Load1)
	s.Add(wire.Load5, a.Load5)
	s.Add(wire.Load15, a.Load15)
	return nil
}

// simSource is a made-up machine that implements collect.Source and
// collect.ProcessSource. step moves it on by one interval: CPU use and
// memory wander around a level of their own, with a daily rhythm and now
// and then a burst; disks fill slowly; counters only grow.
type simSource struct {
	mu  sync.Mutex // guards everything below; a collector reads while step may run
	rng *rand.Rand

	hostname string
	platform string
	cores    int
	memTotal uint64
	disks    []simDisk
	nics     []string
	boot     time.Time

	cpuLevel float64 // typical busy share, 0..1
	busy     float64 // current busy share
	burst    int     // intervals left of a burst
	memUsed  float64 // share
	swapUsed float64
	times    []cpu.TimesStat
	io       map[string]disk.IOCountersStat
	net      map[string]net.IOCountersStat
	procs    []collect.ProcessInfo
	// procShare is each process's share of the machine's busy time, for
	// good: a real machine's CPU goes mostly to the same few processes
	// (its java, its database), so its top processes change at the edge
	// of the list, not at every scan. They average 1.
	procShare []float64

	// The readings' room, kept from one collection to the next: each
	// reading is valid until the next of its kind, which is as long as
	// the collectors look at it.
	timesOut []cpu.TimesStat
	ioOut    map[string]disk.IOCountersStat
	netOut   []net.IOCountersStat
	procsOut []collect.ProcessInfo
}

type simDisk struct {
	mount, device string
	total         uint64
	used          float64 // share
}

var simPlatforms = []string{"Microsoft Windows Server 2019 Datacenter", "Microsoft Windows Server 2022 Standard", "debian 12", "ubuntu 22.04", "redhat 9.4"}

var simProcesses = []string{"java", "w3wp", "sqlservr", "postgres", "nginx", "httpd", "MsMpEng", "svchost", "sshd", "node", "python3", "db2sysc", "lsass", "explorer", "dotnet"}

func newSimSource(seed uint64, i int) *simSource {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	s := &simSource{
		rng:      rng,
		hostname: fmt.Sprintf("sim-%05d", i+1),
		platform: simPlatforms[rng.IntN(len(simPlatforms))],
		cores:    []int{2, 4, 4, 8, 8, 16, 32}[rng.IntN(7)],
		memTotal: uint64([]int{4, 8, 16, 16, 32, 64, 128}[rng.IntN(7)]) << 30,
		boot:     simEpoch.Add(-time.Duration(rng.IntN(90*24)) * time.Hour),
		cpuLevel: 0.05 + 0.5*rng.Float64()*rng.Float64(),
		memUsed:  0.3 + 0.5*rng.Float64(),
		swapUsed: 0.05 * rng.Float64(),
		io:       map[string]disk.IOCountersStat{},
		net:      map[string]net.IOCountersStat{},
	}
	s.busy = s.cpuLevel
	windows := s.platform[0] == 'M'
	nd := 1 + rng.IntN(3)
	for d := range nd {
		sd := simDisk{total: uint64(50+rng.IntN(950)) << 30, used: 0.2 + 0.6*rng.Float64()}
		if windows {
			sd.mount, sd.device = string(rune('C'+d))+":", string(rune('C'+d))+":"
		} else {
			sd.mount, sd.device = []string{"/", "/var", "/data"}[d], []string{"sda", "sdb", "sdc"}[d]
		}
		s.disks = append(s.disks, sd)
	}
	if windows {
		s.nics = []string{"Ethernet0"}
	} else {
		s.nics = []string{"eth0"}
	}
	if rng.IntN(3) == 0 {
		s.nics = append(s.nics, s.nics[0][:len(s.nics[0])-1]+"1")
	}
	for c := range s.cores {
		s.times = append(s.times, cpu.TimesStat{CPU: "cpu" + strconv.Itoa(c), Idle: 1000})
	}
	var shares float64
	for p := range 40 + rng.IntN(160) {
		s.procs = append(s.procs, collect.ProcessInfo{
			PID:      int32(100 + 4*p),
			Name:     simProcesses[rng.IntN(len(simProcesses))],
			RSSBytes: uint64(rng.ExpFloat64() * float64(s.memTotal) / 200),
		})
		// Log-normal: a few processes take most of the time.
		s.procShare = append(s.procShare, math.Exp(2*rng.NormFloat64()))
		shares += s.procShare[p]
	}
	for p := range s.procShare {
		s.procShare[p] *= float64(len(s.procShare)) / shares
	}
	return s
}

// step moves the machine on by d.
func (s *simSource) step(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rng
	sec := d.Seconds()
	// Busier in working hours, a burst now and then.
	hour := float64(time.Now().Hour()) + float64(time.Now().Minute())/60
	daily := 1 + 0.4*math.Sin((hour-9)/24*2*math.Pi)
	target := s.cpuLevel * daily
	if s.burst > 0 {
		s.burst--
		target = 0.85 + 0.15*r.Float64()
	} else if r.Float64() < 0.002*sec {
		s.burst = 5 + r.IntN(60)
	}
	s.busy = clamp(s.busy+0.3*(target-s.busy)+0.03*r.NormFloat64(), 0.005, 1)
	for c := range s.times {
		b := clamp(s.busy+0.1*r.NormFloat64(), 0, 1) * sec
		t := &s.times[c]
		t.User += 0.7 * b
		t.System += 0.3 * b
		t.Idle += sec - b
	}
	s.memUsed = clamp(s.memUsed+0.002*r.NormFloat64()+0.01*(s.busy-s.cpuLevel)*sec/60, 0.1, 0.98)
	s.swapUsed = clamp(s.swapUsed+0.0005*r.NormFloat64(), 0, 0.5)
	for i := range s.disks {
		s.disks[i].used = clamp(s.disks[i].used+0.00001*sec*r.Float64(), 0, 0.995)
		dev := s.disks[i].device
		io := s.io[dev]
		io.Name = dev
		reads := uint64(r.Float64() * 50 * s.busy * sec * 10)
		writes := uint64(r.Float64() * 30 * s.busy * sec * 10)
		io.ReadCount += reads
		io.WriteCount += writes
		io.ReadBytes += reads * 16 << 10
		io.WriteBytes += writes * 32 << 10
		io.IoTime += uint64(float64(reads+writes) * 0.2)
		s.io[dev] = io
	}
	for _, n := range s.nics {
		c := s.net[n]
		c.Name = n
		rx := uint64(r.ExpFloat64() * 2e6 * s.busy * sec)
		tx := uint64(r.ExpFloat64() * 1e6 * s.busy * sec)
		c.BytesRecv += rx
		c.BytesSent += tx
		c.PacketsRecv += rx / 900
		c.PacketsSent += tx / 700
		if r.Float64() < 0.001 {
			c.Errin++
		}
		s.net[n] = c
	}
	for i := range s.procs {
		p := &s.procs[i]
		// Each scan's figure wanders about the process's share (±30 %).
		noise := math.Exp(0.3*r.NormFloat64() - 0.045)
		p.CPUSeconds += s.procShare[i] * noise * s.busy * sec * float64(s.cores) / float64(len(s.procs)) * 3
		p.RSSBytes = uint64(clamp(float64(p.RSSBytes)*(1+0.01*r.NormFloat64()), 1<<20, float64(s.memTotal)/4))
	}
}

func clamp(v, lo, hi float64) float64 { return math.Min(hi, math.Max(lo, v)) }

// CPUTimes implements collect.Source.
func (s *simSource) CPUTimes(context.Context) ([]cpu.TimesStat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timesOut = append(s.timesOut[:0], s.times...)
	return s.timesOut, nil
}

// VirtualMemory implements collect.Source.
func (s *simSource) VirtualMemory(context.Context) (*mem.VirtualMemoryStat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	used := uint64(s.memUsed * float64(s.memTotal))
	return &mem.VirtualMemoryStat{Total: s.memTotal, Used: used, Available: s.memTotal - used, UsedPercent: s.memUsed * 100}, nil
}

// SwapMemory implements collect.Source.
func (s *simSource) SwapMemory(context.Context) (*mem.SwapMemoryStat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := s.memTotal / 2
	used := uint64(s.swapUsed * float64(total))
	return &mem.SwapMemoryStat{Total: total, Used: used, Free: total - used, UsedPercent: s.swapUsed * 100}, nil
}

// Partitions implements collect.Source.
func (s *simSource) Partitions(context.Context) ([]disk.PartitionStat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []disk.PartitionStat // DiskUsage keeps it for a minute
	for _, d := range s.disks {
		fs := "ext4"
		if d.mount[len(d.mount)-1] == ':' {
			fs = "NTFS"
		}
		out = append(out, disk.PartitionStat{Device: d.device, Mountpoint: d.mount, Fstype: fs})
	}
	return out, nil
}

// DiskUsage implements collect.Source.
func (s *simSource) DiskUsage(_ context.Context, mount string) (*disk.UsageStat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.disks {
		if d.mount == mount {
			used := uint64(d.used * float64(d.total))
			return &disk.UsageStat{Path: mount, Total: d.total, Used: used, Free: d.total - used, UsedPercent: d.used * 100}, nil
		}
	}
	return nil, fmt.Errorf("no mount %s", mount)
}

// DiskIO implements collect.Source.
func (s *simSource) DiskIO(context.Context) (map[string]disk.IOCountersStat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ioOut == nil {
		s.ioOut = make(map[string]disk.IOCountersStat, len(s.io))
	}
	clear(s.ioOut)
	for k, v := range s.io {
		s.ioOut[k] = v
	}
	return s.ioOut, nil
}

// NetIO implements collect.Source.
func (s *simSource) NetIO(context.Context) ([]net.IOCountersStat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.netOut[:0]
	for _, n := range s.nics {
		c := s.net[n]
		c.Name = n
		out = append(out, c)
	}
	s.netOut = out
	return out, nil
}

// Uptime implements collect.Source.
func (s *simSource) Uptime(context.Context) (uint64, error) {
	return uint64(time.Since(s.boot).Seconds()), nil
}

// Load implements collect.Source (where the OS has load averages).
func (s *simSource) Load(context.Context) (*load.AvgStat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.busy * float64(s.cores)
	return &load.AvgStat{Load1: l, Load5: l * 0.95, Load15: l * 0.9}, nil
}

// HostInfo implements collect.Source.
func (s *simSource) HostInfo(context.Context) (*host.InfoStat, error) {
	os := "linux"
	if s.platform[0] == 'M' {
		os = "windows"
	}
	return &host.InfoStat{Hostname: s.hostname, OS: os, Platform: s.platform, KernelArch: "x86_64", BootTime: uint64(s.boot.Unix())}, nil
}

// CPUInfo implements collect.Source.
func (s *simSource) CPUInfo(context.Context) ([]cpu.InfoStat, error) {
	return []cpu.InfoStat{{ModelName: "Simulated Xeon"}}, nil
}

// CPUCount implements collect.Source.
func (s *simSource) CPUCount(context.Context) (int, error) { return s.cores, nil }

// Processes implements collect.ProcessSource.
func (s *simSource) Processes(context.Context) ([]collect.ProcessInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procsOut = append(s.procsOut[:0], s.procs...)
	return s.procsOut, nil
}

var (
	_ collect.Source        = (*simSource)(nil)
	_ collect.ProcessSource = (*simSource)(nil)
)
