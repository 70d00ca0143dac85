package collect

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/shirou/gopsutil/v4/disk"

	"esmon/core/wire"
)

// pseudoFS are file system types that hold no disk space of their own:
// kernel views, memory file systems, container layers and read-only images.
// overlay and aufs are skipped because their space is the space of the file
// system under them, which is reported by its own mount.
var pseudoFS = map[string]bool{
	"proc": true, "sysfs": true, "tmpfs": true, "devtmpfs": true, "devpts": true,
	"devfs": true, "ramfs": true, "cgroup": true, "cgroup2": true, "pstore": true,
	"bpf": true, "tracefs": true, "debugfs": true, "securityfs": true,
	"configfs": true, "fusectl": true, "mqueue": true, "hugetlbfs": true,
	"autofs": true, "binfmt_misc": true, "rpc_pipefs": true, "nsfs": true,
	"overlay": true, "aufs": true, "squashfs": true, "iso9660": true,
	"efivarfs": true, "selinuxfs": true, "fuse.lxcfs": true, "fuse.gvfsd-fuse": true,
	"fuse.portal": true, "nfsd": true, "none": true, "shm": true,
}

// DiskUsage collects space per mounted file system (label mount): total,
// used, free and used percent. It skips pseudo file systems, and reports a
// device mounted in several places once, under its shortest mount path.
type DiskUsage struct {
	Source Source

	// parts and partsAt keep the mounted file systems for PartitionsTTL:
	// they change rarely, and reading them is a good part of a collection.
	parts   []disk.PartitionStat
	partsAt time.Time
}

// PartitionsTTL is how long DiskUsage keeps the list of mounted file
// systems before it reads it again.
const PartitionsTTL = time.Minute

// Name implements Collector.
func (*DiskUsage) Name() string { return "disk usage" }

// Collect implements Collector.
func (c *DiskUsage) Collect(ctx context.Context, s *Sink) error {
	if c.parts == nil || time.Since(c.partsAt) >= PartitionsTTL {
		parts, err := c.Source.Partitions(ctx)
		if err != nil {
			return err
		}
		c.parts, c.partsAt = parts, time.Now()
	}
	parts := c.parts
	mounts := map[string]string{} // device -> shortest mount
	var order []string
	for _, p := range parts {
		if pseudoFS[p.Fstype] || p.Mountpoint == "" {
			continue
		}
		dev := p.Device
		if dev == "" || dev == "none" {
			dev = "mount:" + p.Mountpoint
		}
		m, seen := mounts[dev]
		if !seen {
			order = append(order, dev)
		}
		if !seen || len(p.Mountpoint) < len(m) {
			mounts[dev] = p.Mountpoint
		}
	}
	paths := make([]string, 0, len(order))
	for _, dev := range order {
		paths = append(paths, mounts[dev])
	}
	sort.Strings(paths)
	var errs []error
	for _, mount := range paths {
		u, err := c.Source.DiskUsage(ctx, mount)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", mount, err))
			continue
		}
		if u.Total == 0 {
			continue // nothing to report (an empty or unready device)
		}
		s.Add(wire.DiskTotalBytes, float64(u.Total), wire.LabelMount, mount)
		s.Add(wire.DiskUsedBytes, float64(u.Used), wire.LabelMount, mount)
		s.Add(wire.DiskFreeBytes, float64(u.Free), wire.LabelMount, mount)
		s.Add(wire.DiskUsedPercent, u.UsedPercent, wire.LabelMount, mount)
	}
	return joinErrs("", errs)
}

// DiskIO collects the I/O counters of each block device (label device) as
// raw totals: bytes and operations read and written, and busy time.
type DiskIO struct{ Source Source }

// Name implements Collector.
func (*DiskIO) Name() string { return "disk io" }

// Collect implements Collector.
func (c *DiskIO) Collect(ctx context.Context, s *Sink) error {
	io, err := c.Source.DiskIO(ctx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(io))
	for name := range io {
		if !pseudoDevice(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		d := io[name]
		s.Add(wire.DiskReadBytesTotal, float64(d.ReadBytes), wire.LabelDevice, name)
		s.Add(wire.DiskWriteBytesTotal, float64(d.WriteBytes), wire.LabelDevice, name)
		s.Add(wire.DiskReadsTotal, float64(d.ReadCount), wire.LabelDevice, name)
		s.Add(wire.DiskWritesTotal, float64(d.WriteCount), wire.LabelDevice, name)
		s.Add(wire.DiskIOTimeSecsTotal, float64(d.IoTime)/1000, wire.LabelDevice, name)
	}
	return nil
}

// Network collects the counters of each network interface (label
// interface) except loopback, as raw totals.
type Network struct{ Source Source }

// Name implements Collector.
func (*Network) Name() string { return "network" }

// Collect implements Collector.
func (c *Network) Collect(ctx context.Context, s *Sink) error {
	nics, err := c.Source.NetIO(ctx)
	if err != nil {
		return err
	}
	sort.Slice(nics, func(i, j int) bool { return nics[i].Name < nics[j].Name })
	for _, n := range nics {
		if n.Name == "" || loopback(n.Name) {
			continue
		}
		s.Add(wire.NetReceivedBytesTotal, float64(n.BytesRecv), wire.LabelInterface, n.Name)
		s.Add(wire.NetSentBytesTotal, float64(n.BytesSent), wire.LabelInterface, n.Name)
		s.Add(wire.NetReceivedPktsTotal, float64(n.PacketsRecv), wire.LabelInterface, n.Name)
		s.Add(wire.NetSentPktsTotal, float64(n.PacketsSent), wire.LabelInterface, n.Name)
		s.Add(wire.NetReceiveErrsTotal, float64(n.Errin), wire.LabelInterface, n.Name)
		s.Add(wire.NetTransmitErrsTotal, float64(n.Errout), wire.LabelInterface, n.Name)
	}
	return nil
}

// joinErrs joins errs under prefix, or returns nil when there are none.
func joinErrs(prefix string, errs []error) error {
	err := errors.Join(errs...)
	if err == nil || prefix == "" {
		return err
	}
	return fmt.Errorf("%s: %w", prefix, err)
}
