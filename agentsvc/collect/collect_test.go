package collect

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"

	"esmon/core/wire"
)

// fakeSource gives canned readings. cpuTimes is consumed one reading per
// call; the last reading repeats.
type fakeSource struct {
	cpuTimes [][]cpu.TimesStat
	cpuCalls int
	vm       *mem.VirtualMemoryStat
	swap     *mem.SwapMemoryStat
	parts    []disk.PartitionStat
	usage    map[string]*disk.UsageStat
	io       map[string]disk.IOCountersStat
	nics     []net.IOCountersStat
	uptime   uint64
	err      error // returned by every call when set
	fakeLoad
}

func (f *fakeSource) CPUTimes(context.Context) ([]cpu.TimesStat, error) {
	if f.err != nil {
		return nil, f.err
	}
	i := min(f.cpuCalls, len(f.cpuTimes)-1)
	f.cpuCalls++
	return f.cpuTimes[i], nil
}
func (f *fakeSource) VirtualMemory(context.Context) (*mem.VirtualMemoryStat, error) {
	return f.vm, f.err
}
func (f *fakeSource) SwapMemory(context.Context) (*mem.SwapMemoryStat, error) {
	return f.swap, f.err
}
func (f *fakeSource) Partitions(context.Context) ([]disk.PartitionStat, error) {
	return f.parts, f.err
}
func (f *fakeSource) DiskUsage(_ context.Context, m string) (*disk.UsageStat, error) {
	u, ok := f.usage[m]
	if !ok {
		return nil, errors.New("no such mount")
	}
	return u, nil
}
func (f *fakeSource) DiskIO(context.Context) (map[string]disk.IOCountersStat, error) {
	return f.io, f.err
}
func (f *fakeSource) NetIO(context.Context) ([]net.IOCountersStat, error) {
	return f.nics, f.err
}
func (f *fakeSource) Uptime(context.Context) (uint64, error) { return f.uptime, f.err }
func (f *fakeSource) HostInfo(context.Context) (*host.InfoStat, error) {
	return &host.InfoStat{Hostname: "web1", OS: "linux", Platform: "debian", PlatformVersion: "12", KernelArch: "x86_64", BootTime: 1700000000}, f.err
}
func (f *fakeSource) CPUInfo(context.Context) ([]cpu.InfoStat, error) {
	return []cpu.InfoStat{{ModelName: "Xeon"}}, f.err
}
func (f *fakeSource) CPUCount(context.Context) (int, error) { return 4, f.err }

// values returns the samples as "metric{label=value,...}" -> value.
func values(samples []Sample) map[string]float64 {
	m := map[string]float64{}
	for _, s := range samples {
		var ls []string
		for _, l := range s.Labels {
			ls = append(ls, l.Name+"="+l.Value)
		}
		k := s.Metric
		if len(ls) > 0 {
			k += "{" + strings.Join(ls, ",") + "}"
		}
		m[k] = s.Value
	}
	return m
}

func times(name string, user, system, idle, iowait float64) cpu.TimesStat {
	return cpu.TimesStat{CPU: name, User: user, System: system, Idle: idle, Iowait: iowait}
}

func TestCPUPercent(t *testing.T) {
	tests := []struct {
		name     string
		readings [][]cpu.TimesStat
		want     map[string]float64
	}{
		{
			name: "two cores, different loads",
			readings: [][]cpu.TimesStat{
				{times("cpu0", 10, 10, 80, 0), times("cpu1", 0, 0, 100, 0)},
				// core 0: 50 busy of 100; core 1: 10 busy of 100
				{times("cpu0", 40, 30, 130, 0), times("cpu1", 5, 5, 190, 0)},
			},
			want: map[string]float64{
				"cpu_core_usage_percent{core=0}": 50,
				"cpu_core_usage_percent{core=1}": 10,
				"cpu_usage_percent":              30,
			},
		},
		{
			name: "iowait is not busy",
			readings: [][]cpu.TimesStat{
				{times("cpu0", 0, 0, 0, 0)},
				{times("cpu0", 25, 0, 50, 25)},
			},
			want: map[string]float64{
				"cpu_core_usage_percent{core=0}": 25,
				"cpu_usage_percent":              25,
			},
		},
		{
			name: "guest time is already in user time",
			readings: [][]cpu.TimesStat{
				{{CPU: "cpu0"}},
				{{CPU: "cpu0", User: 50, Guest: 50, Idle: 50}},
			},
			want: map[string]float64{
				"cpu_core_usage_percent{core=0}": 50,
				"cpu_usage_percent":              50,
			},
		},
		{
			name: "a core whose counters went back is left out",
			readings: [][]cpu.TimesStat{
				{times("cpu0", 10, 0, 10, 0), times("cpu1", 100, 0, 100, 0)},
				{times("cpu0", 20, 0, 20, 0), times("cpu1", 1, 0, 1, 0)},
			},
			want: map[string]float64{
				"cpu_core_usage_percent{core=0}": 50,
				"cpu_usage_percent":              50,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{cpuTimes: tt.readings}
			c := &CPU{Source: src}
			var s Sink
			if err := c.Collect(context.Background(), &s); err != nil {
				t.Fatal(err)
			}
			if got := values(s.Samples()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if src.cpuCalls != 2 {
				t.Errorf("first collection read the counters %d times, want 2", src.cpuCalls)
			}
		})
	}
}

// TestCPUTotalOnly feeds the readings Wine gives (the total alone, its
// kernel time holding the idle time, as gopsutil's GetSystemTimes path
// returns it): the total is reported from them, no per-core figure is
// made up, and the log says so once, not every collection.
func TestCPUTotalOnly(t *testing.T) {
	tests := []struct {
		name     string
		readings [][]cpu.TimesStat
		want     []float64 // cpu_usage_percent of each collection
		told     int       // log lines about the missing per-core times
	}{
		{
			name: "total alone: reported, told once",
			readings: [][]cpu.TimesStat{
				{times("cpu-total", 100, 50, 850, 0)},
				{times("cpu-total", 110, 55, 935, 0)},   // 15 busy of 100
				{times("cpu-total", 170, 95, 935, 0)},   // 100 busy of 100: a saturated machine
				{times("cpu-total", 175, 100, 1025, 0)}, // 10 busy of 100
			},
			want: []float64{15, 100, 10},
			told: 1,
		},
		{
			name: "per-core times: nothing to tell",
			readings: [][]cpu.TimesStat{
				{times("cpu0", 0, 0, 0, 0)},
				{times("cpu0", 20, 0, 80, 0)},
				{times("cpu0", 30, 0, 170, 0)},
				{times("cpu0", 40, 0, 260, 0)},
			},
			want: []float64{20, 10, 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logged bytes.Buffer
			c := &CPU{Source: &fakeSource{cpuTimes: tt.readings}, Logger: slog.New(slog.NewTextHandler(&logged, nil))}
			for i, want := range tt.want {
				var s Sink
				if err := c.Collect(context.Background(), &s); err != nil {
					t.Fatal(err)
				}
				got := values(s.Samples())
				if got["cpu_usage_percent"] != want {
					t.Errorf("collection %d: cpu_usage_percent %v, want %v", i, got["cpu_usage_percent"], want)
				}
				for k := range got {
					if tt.told > 0 && strings.HasPrefix(k, "cpu_core_usage_percent") {
						t.Errorf("collection %d: %s made up from the total alone", i, k)
					}
				}
			}
			if n := strings.Count(logged.String(), "no per-core CPU times"); n != tt.told {
				t.Errorf("told %d times about the missing per-core times, want %d:\n%s", n, tt.told, logged.String())
			}
		})
	}
}

func TestCPUUsesPreviousReading(t *testing.T) {
	src := &fakeSource{cpuTimes: [][]cpu.TimesStat{
		{times("cpu0", 0, 0, 0, 0)},
		{times("cpu0", 10, 0, 90, 0)},
		{times("cpu0", 100, 0, 100, 0)}, // +90 busy of +100
	}}
	c := &CPU{Source: src}
	for range 2 {
		var s Sink
		if err := c.Collect(context.Background(), &s); err != nil {
			t.Fatal(err)
		}
		if src.cpuCalls == 3 {
			if got := values(s.Samples())["cpu_usage_percent"]; got != 90 {
				t.Errorf("second collection: %v%%, want 90", got)
			}
		}
	}
	if src.cpuCalls != 3 {
		t.Errorf("two collections read the counters %d times, want 3", src.cpuCalls)
	}
}

func TestDiskUsageSkipsPseudoFilesystems(t *testing.T) {
	u := func(total uint64) *disk.UsageStat {
		return &disk.UsageStat{Total: total, Used: total / 4, Free: total - total/4, UsedPercent: 25}
	}
	src := &fakeSource{
		parts: []disk.PartitionStat{
			{Device: "/dev/sda1", Mountpoint: "/", Fstype: "ext4"},
			{Device: "/dev/sda2", Mountpoint: "/data", Fstype: "xfs"},
			{Device: "proc", Mountpoint: "/proc", Fstype: "proc"},
			{Device: "sysfs", Mountpoint: "/sys", Fstype: "sysfs"},
			{Device: "tmpfs", Mountpoint: "/run", Fstype: "tmpfs"},
			{Device: "overlay", Mountpoint: "/var/lib/docker/overlay2/x/merged", Fstype: "overlay"},
			{Device: "cgroup2", Mountpoint: "/sys/fs/cgroup", Fstype: "cgroup2"},
			{Device: "/dev/loop0", Mountpoint: "/snap/core/1", Fstype: "squashfs"},
			// a bind mount of /data's device: reported once, as /data
			{Device: "/dev/sda2", Mountpoint: "/srv/data-bind", Fstype: "xfs"},
			{Device: "/dev/sdb1", Mountpoint: "/empty", Fstype: "ext4"},
		},
		usage: map[string]*disk.UsageStat{"/": u(1000), "/data": u(4000), "/empty": u(0)},
	}
	var s Sink
	if err := (&DiskUsage{Source: src}).Collect(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"disk_total_bytes{mount=/}":      1000,
		"disk_used_bytes{mount=/}":       250,
		"disk_free_bytes{mount=/}":       750,
		"disk_used_percent{mount=/}":     25,
		"disk_total_bytes{mount=/data}":  4000,
		"disk_used_bytes{mount=/data}":   1000,
		"disk_free_bytes{mount=/data}":   3000,
		"disk_used_percent{mount=/data}": 25,
	}
	if got := values(s.Samples()); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestCountersAndLabels(t *testing.T) {
	src := &fakeSource{
		io: map[string]disk.IOCountersStat{
			"sda":   {ReadBytes: 1 << 20, WriteBytes: 2 << 20, ReadCount: 10, WriteCount: 20, IoTime: 1500},
			"loop0": {ReadBytes: 5},
		},
		nics: []net.IOCountersStat{
			{Name: "lo", BytesRecv: 99},
			{Name: "eth0", BytesRecv: 100, BytesSent: 200, PacketsRecv: 3, PacketsSent: 4, Errin: 1, Errout: 2},
		},
		vm:     &mem.VirtualMemoryStat{Total: 8 << 30, Used: 2 << 30, Available: 6 << 30, UsedPercent: 25},
		swap:   &mem.SwapMemoryStat{Total: 0, Used: 0, UsedPercent: math.NaN()},
		uptime: 3600,
	}
	set := NewSet(&DiskIO{Source: src}, &Network{Source: src}, &Memory{Source: src}, &Swap{Source: src}, &Uptime{Source: src})
	snap, err := set.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"disk_read_bytes_total{device=sda}":              1 << 20,
		"disk_written_bytes_total{device=sda}":           2 << 20,
		"disk_reads_total{device=sda}":                   10,
		"disk_writes_total{device=sda}":                  20,
		"disk_io_time_seconds_total{device=sda}":         1.5,
		"network_received_bytes_total{interface=eth0}":   100,
		"network_sent_bytes_total{interface=eth0}":       200,
		"network_received_packets_total{interface=eth0}": 3,
		"network_sent_packets_total{interface=eth0}":     4,
		"network_receive_errors_total{interface=eth0}":   1,
		"network_transmit_errors_total{interface=eth0}":  2,
		"memory_total_bytes":                             8 << 30,
		"memory_used_bytes":                              2 << 30,
		"memory_available_bytes":                         6 << 30,
		"memory_used_percent":                            25,
		"swap_total_bytes":                               0,
		"swap_used_bytes":                                0,
		"swap_used_percent":                              0,
		"uptime_seconds":                                 3600,
	}
	if got := values(snap.Samples); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	for _, s := range snap.Samples {
		if !wire.ValidName(s.Metric) {
			t.Errorf("invalid metric name %q", s.Metric)
		}
	}
	if snap.Time.IsZero() {
		t.Error("snapshot has no time")
	}
}

func TestSetKeepsGoingPastAFailingCollector(t *testing.T) {
	bad := &fakeSource{err: errors.New("permission denied")}
	good := &fakeSource{uptime: 5}
	snap, err := NewSet(&Memory{Source: bad}, &Uptime{Source: good}).Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "memory: permission denied") {
		t.Errorf("error %v, want one naming the memory collector", err)
	}
	if got := values(snap.Samples); got["uptime_seconds"] != 5 || len(got) != 1 {
		t.Errorf("samples %v, want only uptime", got)
	}
}

func TestSinkDropsNonFinite(t *testing.T) {
	var s Sink
	s.Add("a", math.NaN())
	s.Add("b", math.Inf(1))
	s.Add("c", 1, "k", "v")
	if len(s.Samples()) != 1 || s.dropped != 2 {
		t.Errorf("kept %d, dropped %d; want 1 and 2", len(s.Samples()), s.dropped)
	}
}

func TestSampleKeyAndSort(t *testing.T) {
	mk := func(core string) Sample {
		return Sample{Metric: wire.CPUCoreUsagePercent, Labels: []wire.Label{{Name: "core", Value: core}}}
	}
	samples := []Sample{mk("10"), {Metric: wire.CPUUsagePercent}, mk("2"), mk("1")}
	SortSamples(samples)
	var got []string
	for _, s := range samples {
		got = append(got, s.Key())
	}
	want := []string{
		mk("1").Key(), mk("2").Key(), mk("10").Key(), wire.CPUUsagePercent,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
	if mk("1").Key() == (Sample{Metric: wire.CPUCoreUsagePercent + "core1"}).Key() {
		t.Error("keys of different series are equal")
	}
	keys := []string{mk("1").Key(), mk("1").Key()}
	sort.Strings(keys)
	if keys[0] != keys[1] {
		t.Error("keys of the same series differ")
	}
}

func TestFacts(t *testing.T) {
	f, err := Facts(context.Background(), &fakeSource{vm: &mem.VirtualMemoryStat{Total: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	want := wire.HostFacts{Hostname: "web1", OS: "linux", Platform: "debian", PlatformVersion: "12", Arch: "x86_64", CPUModel: "Xeon", Cores: 4, MemoryBytes: 1 << 30, BootTime: 1700000000}
	if f != want {
		t.Errorf("got %+v\nwant %+v", f, want)
	}
}

// TestRealMachine reads this machine and checks the values are sane.
func TestRealMachine(t *testing.T) {
	ctx := context.Background()
	set := Default(System{})
	var snap Snapshot
	for i := range 2 { // the second collection uses the first as its baseline
		if i > 0 {
			time.Sleep(100 * time.Millisecond) // the kernel counts CPU time in 10 ms ticks
		}
		var err error
		snap, err = set.Collect(ctx)
		if err != nil {
			t.Logf("collection %d: %v", i, err) // a container may hide some parts
		}
	}
	v := values(snap.Samples)
	if v["memory_total_bytes"] <= 0 {
		t.Errorf("memory total %v, want > 0", v["memory_total_bytes"])
	}
	if v["memory_used_percent"] < 0 || v["memory_used_percent"] > 100 {
		t.Errorf("memory used %v%%", v["memory_used_percent"])
	}
	cpuPct, ok := v["cpu_usage_percent"]
	if !ok || cpuPct < 0 || cpuPct > 100 {
		t.Errorf("cpu usage %v (present %v), want in [0,100]", cpuPct, ok)
	}
	cores := 0
	for _, s := range snap.Samples {
		if s.Metric == wire.CPUCoreUsagePercent {
			cores++
			if s.Value < 0 || s.Value > 100 {
				t.Errorf("core %v usage %v", s.Labels, s.Value)
			}
		}
	}
	if cores == 0 {
		t.Error("no per-core cpu usage")
	}
	if v["uptime_seconds"] <= 0 {
		t.Errorf("uptime %v", v["uptime_seconds"])
	}
	f, err := Facts(ctx, System{})
	if err != nil {
		t.Logf("facts: %v", err)
	}
	if f.Hostname == "" || f.Cores <= 0 || f.MemoryBytes == 0 {
		t.Errorf("facts %+v", f)
	}
	t.Logf("%d samples, cpu %.1f%%, facts %+v", len(snap.Samples), cpuPct, f)
}
