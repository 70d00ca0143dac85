// Package hosts keeps the registry of monitored hosts: their facts, whether
// their agent is connected, when it last reported, their gauges and their
// worst active alert. The overview of the web page and the console is read
// from here in one lock. A host's latest value of every series is the
// store's (its latest-value table, a lookup per series), read only when a
// caller asks for a host with them.
package hosts

import (
	"bytes"
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
	kv     store.KV
	latest LatestValues // nil: hosts come without Latest values
	log    *slog.Logger

	mu    sync.Mutex // guards hosts
	hosts map[string]*entry

	saver saver
}

type entry struct {
	host  apiv1.Host // host.Latest stays nil: the latest values are the store's
	worst string
	// saved is the host as last written to the KV (without latest values):
	// a hello that changes nothing in it writes nothing.
	saved apiv1.Host
}

// LatestValues is where the registry reads a host's latest values: the
// store (*store.DB) is one.
type LatestValues interface {
	Latest(host string, metrics ...string) []store.Latest
}

// Open loads the known hosts from kv; all start offline. When kv is also
// LatestValues (the store is), hosts are given with their latest values
// from it.
func Open(kv store.KV, log *slog.Logger) (*Registry, error) {
	r := &Registry{kv: kv, log: log, hosts: make(map[string]*entry)}
	r.latest, _ = kv.(LatestValues)
	err := kv.Scan([]byte{store.PrefixHosts}, func(k, v []byte) bool {
		var h apiv1.Host
		if err := json.Unmarshal(v, &h); err != nil {
			log.Warn("skip unreadable host record", "key", string(k), "err", err)
			return true
		}
		h.Online = false
		h.Status = apiv1.StatusOffline
		h.Latest = nil
		e := &entry{host: h}
		e.saved = e.record()
		r.hosts[h.ID] = e
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("load hosts: %w", err)
	}
	return r, nil
}

// bootJitter is how far a reported boot time may move and still be the
// same boot.
const bootJitter = 5 * time.Second

// Connected records an agent connection for host id with its facts, and
// returns the host as it now is, without its Latest values (a hello needs
// none: thousands come at once after a restart). A new host, or one whose
// facts or agent version changed, is queued to be written (saveLater: the
// hello does not wait for the disk); a host that reconnects unchanged is
// not written at all. Its last seen time is written when it goes silent
// (Silent) and by SaveSeen.
func (r *Registry) Connected(id string, facts wire.HostFacts, agentVersion string, now time.Time) apiv1.Host {
	r.mu.Lock()
	e, ok := r.hosts[id]
	if !ok {
		e = &entry{host: apiv1.Host{ID: id}}
		r.hosts[id] = e
	}
	before := e.host.Facts
	e.host.Facts = apiv1.HostFacts{
		Hostname: facts.Hostname, OS: facts.OS, Platform: facts.Platform,
		PlatformVersion: facts.PlatformVersion, KernelVersion: facts.KernelVersion,
		Arch: facts.Arch, CPUModel: facts.CPUModel, Cores: facts.Cores,
		MemoryBytes: facts.MemoryBytes,
	}
	if facts.BootTime > 0 {
		boot := time.Unix(facts.BootTime, 0).UTC()
		// A boot time worked out from the uptime (Windows) moves by a
		// second from one hello to the next: that is no new fact.
		if d := boot.Sub(before.BootTime); d < -bootJitter || d > bootJitter {
			e.host.Facts.BootTime = boot
		} else {
			e.host.Facts.BootTime = before.BootTime
		}
	}
	e.host.AgentVersion = agentVersion
	e.host.Online = true
	e.host.LastSeen = now
	e.refreshStatus()
	h := e.snapshot()
	rec, dirty := e.dirty(false)
	r.mu.Unlock()
	if dirty {
		r.saveLater(rec)
	}
	return h
}

// Update records that host id reported samples at now (its gauges, online,
// last seen) and returns the host as it now is, with its latest values:
// the caller has stored the samples already.
func (r *Registry) Update(id string, samples []store.Sample, now time.Time) (apiv1.Host, bool) {
	return r.update(id, samples, now, true)
}

// UpdateBrief is Update returning the host without its Latest values: the
// ingest of a batch no one shows them for (no page watches the host) then
// copies none.
func (r *Registry) UpdateBrief(id string, samples []store.Sample, now time.Time) (apiv1.Host, bool) {
	return r.update(id, samples, now, false)
}

func (r *Registry) update(id string, samples []store.Sample, now time.Time, latest bool) (apiv1.Host, bool) {
	r.mu.Lock()
	e, ok := r.hosts[id]
	if !ok {
		r.mu.Unlock()
		return apiv1.Host{}, false
	}
	disk := -1.0
	for _, s := range samples {
		if !wire.Finite(s.V) {
			continue
		}
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
	h := e.snapshot()
	r.mu.Unlock()
	if latest {
		h = r.withLatest(h)
	}
	return h, true
}

// SetWorst records the worst firing severity on host id ("" for none) and
// returns the host if its status changed.
func (r *Registry) SetWorst(id, severity string) (apiv1.Host, bool) {
	r.mu.Lock()
	e, ok := r.hosts[id]
	if !ok || e.worst == severity {
		r.mu.Unlock()
		return apiv1.Host{}, false
	}
	e.worst = severity
	before := e.host.Status
	e.refreshStatus()
	h, changed := e.snapshot(), before != e.host.Status
	r.mu.Unlock()
	return r.withLatest(h), changed
}

// Silent marks offline every online host that reported nothing since cutoff,
// and returns those hosts. A dropped connection alone does not make a host
// offline: a quick reconnect is not an outage. The last seen time of each
// is written to the KV, after the lock is released.
func (r *Registry) Silent(cutoff time.Time) []apiv1.Host {
	r.mu.Lock()
	var out, recs []apiv1.Host
	for _, e := range r.hosts {
		if e.host.Online && e.host.LastSeen.Before(cutoff) {
			e.host.Online = false
			e.refreshStatus()
			out = append(out, e.snapshot())
			if rec, dirty := e.dirty(true); dirty {
				recs = append(recs, rec)
			}
		}
	}
	r.mu.Unlock()
	r.save(recs...)
	for i := range out {
		out[i] = r.withLatest(out[i])
	}
	return out
}

// SaveSeen writes the last seen time of every host whose record on disk is
// older than its last report, so that a host is listed with the right
// "last seen" after a restart. The writes run outside the lock, in one
// batch, and SaveSeen returns once they and every record queued before
// them are written (Flush). It returns how many records it wrote.
func (r *Registry) SaveSeen() int {
	r.mu.Lock()
	var recs []apiv1.Host
	for _, e := range r.hosts {
		if rec, dirty := e.dirty(true); dirty {
			recs = append(recs, rec)
		}
	}
	r.mu.Unlock()
	r.flush(r.saveLater(recs...))
	return len(recs)
}

// List returns every host sorted by host name.
func (r *Registry) List() []apiv1.Host { return r.list(true, time.Time{}) }

// ListBrief is List without the hosts' Latest values.
func (r *Registry) ListBrief() []apiv1.Host { return r.list(false, time.Time{}) }

// SilentSince is ListBrief of the hosts last seen before cutoff (never
// seen included).
func (r *Registry) SilentSince(cutoff time.Time) []apiv1.Host { return r.list(false, cutoff) }

// Len is the number of hosts.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.hosts)
}

// list lists the hosts, with their Latest values or not, every one or
// (cutoff not zero) those last seen before cutoff.
func (r *Registry) list(latest bool, cutoff time.Time) []apiv1.Host {
	r.mu.Lock()
	var out []apiv1.Host
	if cutoff.IsZero() {
		out = make([]apiv1.Host, 0, len(r.hosts))
	}
	for _, e := range r.hosts {
		if cutoff.IsZero() || e.host.LastSeen.Before(cutoff) {
			out = append(out, e.snapshot())
		}
	}
	r.mu.Unlock()
	if latest {
		for i := range out {
			out[i] = r.withLatest(out[i])
		}
	}
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
	e, ok := r.hosts[id]
	if !ok {
		r.mu.Unlock()
		return apiv1.Host{}, false
	}
	h := e.snapshot()
	r.mu.Unlock()
	return r.withLatest(h), true
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

// snapshot copies the host, without Latest values; the caller holds the
// lock.
func (e *entry) snapshot() apiv1.Host {
	h := e.host
	h.Tags, h.AgentTags = slices.Clone(h.Tags), slices.Clone(h.AgentTags)
	return h
}

// withLatest sets h.Latest, a map of its own, from the store's latest
// value of each of the host's series, keyed by series key without the
// host. Call it without the lock: it takes the store's.
func (r *Registry) withLatest(h apiv1.Host) apiv1.Host {
	if r.latest == nil {
		return h
	}
	ls := r.latest.Latest(h.ID)
	if len(ls) == 0 {
		return h
	}
	h.Latest = make(map[string]float64, len(ls))
	for _, l := range ls {
		h.Latest[store.SeriesKey(l.Metric, withoutHost(l.Labels))] = l.V
	}
	return h
}

// record is the host as written to the KV: the latest values, the online
// flag and the status are not kept. The caller holds the lock.
func (e *entry) record() apiv1.Host {
	h := e.host
	h.Tags, h.AgentTags = slices.Clone(h.Tags), slices.Clone(h.AgentTags)
	h.Latest, h.Online, h.Status = nil, false, ""
	return h
}

// dirty returns the record to write and whether it differs from the one
// last written, and counts it as written. A last seen time that moved on
// alone makes it dirty only with seen. The records are compared as
// written, so that a nil and an empty list of tags are one. The caller
// holds the lock.
func (e *entry) dirty(seen bool) (apiv1.Host, bool) {
	rec := e.record()
	cmp := rec
	cmp.LastSeen = e.saved.LastSeen
	a, errA := json.Marshal(cmp)
	b, errB := json.Marshal(e.saved)
	if errA == nil && errB == nil && bytes.Equal(a, b) && (!seen || rec.LastSeen.Equal(e.saved.LastSeen)) {
		return rec, false
	}
	e.saved = rec
	return rec, true
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
