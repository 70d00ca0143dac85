// Package hosts keeps the registry of monitored hosts: their facts, whether
// their agent is connected, when it last reported, their latest values and
// their worst active alert. The overview of the web page and the console is
// read from here in one lock, never from the time-series store.
package hosts

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"esmon/core/apiv1"
	"esmon/core/store"
	"esmon/core/wire"
)

// Registry is safe for concurrent use.
type Registry struct {
	kv  store.KV
	log *slog.Logger

	mu    sync.Mutex // guards hosts
	hosts map[string]*entry
}

type entry struct {
	host  apiv1.Host
	worst string
}

// Open loads the known hosts from kv; all start offline.
func Open(kv store.KV, log *slog.Logger) (*Registry, error) {
	r := &Registry{kv: kv, log: log, hosts: make(map[string]*entry)}
	err := kv.Scan([]byte{store.PrefixHosts}, func(k, v []byte) bool {
		var h apiv1.Host
		if err := json.Unmarshal(v, &h); err != nil {
			log.Warn("skip unreadable host record", "key", string(k), "err", err)
			return true
		}
		h.Online = false
		h.Status = apiv1.StatusOffline
		r.hosts[h.ID] = &entry{host: h}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("load hosts: %w", err)
	}
	return r, nil
}

// Connected records an agent connection for host id with its facts, and
// returns the host as it now is.
func (r *Registry) Connected(id string, facts wire.HostFacts, agentVersion string, now time.Time) apiv1.Host {
	r.mu.Lock()
	e, ok := r.hosts[id]
	if !ok {
		e = &entry{host: apiv1.Host{ID: id}}
		r.hosts[id] = e
	}
	e.host.Facts = apiv1.HostFacts{
		Hostname: facts.Hostname, OS: facts.OS, Platform: facts.Platform,
		PlatformVersion: facts.PlatformVersion, KernelVersion: facts.KernelVersion,
		Arch: facts.Arch, CPUModel: facts.CPUModel, Cores: facts.Cores,
		MemoryBytes: facts.MemoryBytes,
	}
	if facts.BootTime > 0 {
		e.host.Facts.BootTime = time.Unix(facts.BootTime, 0).UTC()
	}
	e.host.AgentVersion = agentVersion
	e.host.Online = true
	e.host.LastSeen = now
	e.refreshStatus()
	h := e.snapshot()
	r.mu.Unlock()
	r.save(h)
	return h
}

// Update stores the latest values of host id from samples taken at now and
// returns the host as it now is.
func (r *Registry) Update(id string, samples []store.Sample, now time.Time) (apiv1.Host, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.hosts[id]
	if !ok {
		return apiv1.Host{}, false
	}
	if e.host.Latest == nil {
		e.host.Latest = make(map[string]float64)
	}
	disk := -1.0
	for _, s := range samples {
		if !wire.Finite(s.V) {
			continue
		}
		e.host.Latest[store.SeriesKey(s.Metric, withoutHost(s.Labels))] = s.V
		switch s.Metric {
		case wire.CPUUsagePercent:
			e.host.Gauges.CPU = s.V
		case wire.MemoryUsedPercent:
			e.host.Gauges.Memory = s.V
		case wire.DiskUsedPercent:
			disk = max(disk, s.V)
		}
	}
	if disk >= 0 {
		e.host.Gauges.Disk = disk
	}
	e.host.Online = true
	e.host.LastSeen = now
	e.refreshStatus()
	return e.snapshot(), true
}

// SetWorst records the worst firing severity on host id ("" for none) and
// returns the host if its status changed.
func (r *Registry) SetWorst(id, severity string) (apiv1.Host, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.hosts[id]
	if !ok || e.worst == severity {
		return apiv1.Host{}, false
	}
	e.worst = severity
	before := e.host.Status
	e.refreshStatus()
	return e.snapshot(), before != e.host.Status
}

// Silent marks offline every online host that reported nothing since cutoff,
// and returns those hosts. A dropped connection alone does not make a host
// offline: a quick reconnect is not an outage.
func (r *Registry) Silent(cutoff time.Time) []apiv1.Host {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []apiv1.Host
	for _, e := range r.hosts {
		if e.host.Online && e.host.LastSeen.Before(cutoff) {
			e.host.Online = false
			e.refreshStatus()
			out = append(out, e.snapshot())
		}
	}
	return out
}

// List returns every host sorted by host name.
func (r *Registry) List() []apiv1.Host {
	r.mu.Lock()
	out := make([]apiv1.Host, 0, len(r.hosts))
	for _, e := range r.hosts {
		out = append(out, e.snapshot())
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Facts.Hostname != out[j].Facts.Hostname {
			return out[i].Facts.Hostname < out[j].Facts.Hostname
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Get returns one host.
func (r *Registry) Get(id string) (apiv1.Host, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.hosts[id]
	if !ok {
		return apiv1.Host{}, false
	}
	return e.snapshot(), true
}

// refreshStatus derives Status; the caller holds the lock.
func (e *entry) refreshStatus() {
	switch {
	case !e.host.Online:
		e.host.Status = apiv1.StatusOffline
	case e.worst != "":
		e.host.Status = e.worst
	default:
		e.host.Status = apiv1.StatusOK
	}
}

// snapshot copies the host so callers never share the latest-values map.
func (e *entry) snapshot() apiv1.Host {
	h := e.host
	h.Tags, h.AgentTags = slices.Clone(h.Tags), slices.Clone(h.AgentTags)
	if e.host.Latest != nil {
		h.Latest = make(map[string]float64, len(e.host.Latest))
		for k, v := range e.host.Latest {
			h.Latest[k] = v
		}
	}
	return h
}

// save persists a host's facts so it is listed (offline) after a restart.
func (r *Registry) save(h apiv1.Host) {
	h.Latest = nil
	b, err := json.Marshal(h)
	if err == nil {
		err = r.kv.Put(append([]byte{store.PrefixHosts}, h.ID...), b)
	}
	if err != nil {
		r.log.Error("save host", "host", h.ID, "err", err)
	}
}

func withoutHost(ls store.Labels) store.Labels {
	out := make(store.Labels, 0, len(ls))
	for _, l := range ls {
		if l.Name != "host" {
			out = append(out, l)
		}
	}
	return out
}
