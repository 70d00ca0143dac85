// Package dataset generates the store's benchmark data: a fleet of hosts
// in the shape of the TSBS "devops" use case.
package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"esmon/core/store"
)

// kind is how a field moves from one snapshot to the next.
type kind int

const (
	floatWalk kind = iota // full-precision float random walk inside 0..100
	intWalk               // integer gauge moving by a few steps
	counter               // monotonically rising integer with a noisy rate
	constant              // a total that never changes
	ratio                 // a full-precision percentage of two other fields
)

type field struct {
	metric string
	kind   kind
	start  float64
	step   float64 // walk step or counter rate
	of     [2]int  // ratio: numerator and denominator field indexes
}

// devopsFields are about 100 fields per host over cpu, diskio, disk,
// kernel, mem, net, nginx, postgresql and redis.
var devopsFields = func() []field {
	var fs []field
	add := func(f field) { fs = append(fs, f) }
	for _, n := range []string{"user", "system", "idle", "nice", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"} {
		add(field{metric: "cpu_usage_" + n + "_percent", kind: floatWalk, start: 50, step: 1})
	}
	for _, n := range []string{"reads", "writes", "read_bytes", "write_bytes", "read_time_ms", "write_time_ms"} {
		add(field{metric: "diskio_" + n + "_total", kind: counter, step: 500})
	}
	add(field{metric: "diskio_iops_in_progress", kind: intWalk, start: 4, step: 1})
	total := len(fs)
	add(field{metric: "disk_total_bytes", kind: constant, start: 500 << 30})
	add(field{metric: "disk_used_bytes", kind: intWalk, start: 200 << 30, step: 1 << 20})
	add(field{metric: "disk_free_bytes", kind: intWalk, start: 300 << 30, step: 1 << 20})
	add(field{metric: "disk_used_percent", kind: ratio, of: [2]int{total + 1, total}})
	add(field{metric: "disk_inodes_total", kind: constant, start: 32 << 20})
	add(field{metric: "disk_inodes_free", kind: intWalk, start: 30 << 20, step: 20})
	add(field{metric: "disk_inodes_used", kind: intWalk, start: 2 << 20, step: 20})
	add(field{metric: "kernel_boot_time_seconds", kind: constant, start: 1.7e9})
	for _, n := range []string{"interrupts", "context_switches", "processes_forked", "disk_pages_in", "disk_pages_out"} {
		add(field{metric: "kernel_" + n + "_total", kind: counter, step: 2000})
	}
	memTotal := len(fs)
	add(field{metric: "mem_total_bytes", kind: constant, start: 64 << 30})
	for _, n := range []string{"available", "used", "free", "cached", "buffered"} {
		add(field{metric: "mem_" + n + "_bytes", kind: intWalk, start: 8 << 30, step: 4 << 20})
	}
	add(field{metric: "mem_used_percent", kind: ratio, of: [2]int{memTotal + 2, memTotal}})
	add(field{metric: "mem_available_percent", kind: ratio, of: [2]int{memTotal + 1, memTotal}})
	add(field{metric: "mem_buffered_percent", kind: ratio, of: [2]int{memTotal + 5, memTotal}})
	for _, n := range []string{"bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "err_in", "err_out", "drop_in"} {
		rate := 100_000.0
		if n[0] == 'e' || n[0] == 'd' {
			rate = 0.2
		}
		add(field{metric: "net_" + n + "_total", kind: counter, step: rate})
	}
	for _, n := range []string{"accepts", "handled", "requests"} {
		add(field{metric: "nginx_" + n + "_total", kind: counter, step: 300})
	}
	for _, n := range []string{"active", "reading", "writing", "waiting"} {
		add(field{metric: "nginx_" + n, kind: intWalk, start: 50, step: 2})
	}
	add(field{metric: "postgresql_numbackends", kind: intWalk, start: 40, step: 1})
	for _, n := range []string{"xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned", "tup_fetched",
		"tup_inserted", "tup_updated", "tup_deleted", "conflicts", "temp_files", "temp_bytes", "deadlocks",
		"blk_read_time_ms", "blk_write_time_ms", "buffers_alloc", "buffers_backend"} {
		add(field{metric: "postgresql_" + n + "_total", kind: counter, step: 1000})
	}
	add(field{metric: "redis_uptime_seconds_total", kind: counter, step: 10})
	for _, n := range []string{"connected_clients", "blocked_clients", "connected_slaves", "pubsub_channels",
		"pubsub_patterns", "instantaneous_ops_per_sec", "rdb_changes_since_last_save", "latest_fork_usec",
		"keyspace_keys", "keyspace_expires"} {
		add(field{metric: "redis_" + n, kind: intWalk, start: 100, step: 3})
	}
	for _, n := range []string{"used_memory", "used_memory_rss", "used_memory_peak", "used_memory_lua"} {
		add(field{metric: "redis_" + n + "_bytes", kind: intWalk, start: 1 << 30, step: 1 << 16})
	}
	add(field{metric: "redis_maxmemory_bytes", kind: constant, start: 4 << 30})
	add(field{metric: "redis_mem_fragmentation_percent", kind: floatWalk, start: 20, step: 0.5})
	add(field{metric: "redis_instantaneous_input_kbps_percent", kind: floatWalk, start: 30, step: 1})
	add(field{metric: "redis_instantaneous_output_kbps_percent", kind: floatWalk, start: 30, step: 1})
	for _, n := range []string{"total_connections_received", "total_commands_processed", "rejected_connections",
		"sync_full", "sync_partial_ok", "sync_partial_err", "expired_keys", "evicted_keys", "keyspace_hits",
		"keyspace_misses", "total_net_input_bytes", "total_net_output_bytes"} {
		add(field{metric: "redis_" + n + "_total", kind: counter, step: 800})
	}
	return fs
}()

// Fleet generates snapshots of a fleet of hosts. All series of one host
// share each snapshot's timestamp: the interval with ±jitter per host.
type Fleet struct {
	hosts    int
	start    int64
	interval int64
	jitter   int64
	step     int
	rng      *rand.Rand
	values   [][]float64      // host, field
	labels   [][]store.Labels // host, field: shared by every sample
	batches  [][]store.Sample
}

// NewFleet returns a fleet of hosts starting at start.
func NewFleet(hosts int, start time.Time, interval, jitter time.Duration, seed uint64) *Fleet {
	f := &Fleet{hosts: hosts, start: start.UnixMilli(), interval: interval.Milliseconds(), jitter: jitter.Milliseconds(),
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for h := range hosts {
		name := fmt.Sprintf("host_%d", h)
		vals := make([]float64, len(devopsFields))
		lss := make([]store.Labels, len(devopsFields))
		for i, fd := range devopsFields {
			vals[i] = fd.start
			if fd.kind == counter {
				vals[i] = float64(f.rng.IntN(1 << 30))
			}
			lss[i] = store.Labels{{Name: "host", Value: name}}
		}
		f.values = append(f.values, vals)
		f.labels = append(f.labels, lss)
		f.batches = append(f.batches, make([]store.Sample, len(devopsFields)))
	}
	return f
}

// SeriesPerHost is the number of fields of one host.
func SeriesPerHost() int { return len(devopsFields) }

// Next advances every host by one interval and returns one batch per
// host. The batches are reused by the next call.
func (f *Fleet) Next() [][]store.Sample {
	base := f.start + int64(f.step)*f.interval
	f.step++
	for h := range f.hosts {
		t := base
		if f.jitter > 0 {
			t += f.rng.Int64N(2*f.jitter+1) - f.jitter
		}
		vals := f.values[h]
		for i, fd := range devopsFields {
			switch fd.kind {
			case floatWalk:
				vals[i] = math.Max(0, math.Min(100, vals[i]+f.rng.NormFloat64()*fd.step))
			case intWalk:
				vals[i] = math.Max(0, vals[i]+math.Round(f.rng.NormFloat64()*fd.step))
			case counter:
				vals[i] += math.Max(0, math.Round(fd.step*float64(f.interval)/10_000*(1+0.2*f.rng.NormFloat64())))
			case ratio:
				if d := vals[fd.of[1]]; d != 0 {
					vals[i] = vals[fd.of[0]] / d * 100
				}
			}
			f.batches[h][i] = store.Sample{Metric: fd.metric, Labels: f.labels[h][i], T: t, V: vals[i]}
		}
	}
	return f.batches
}
