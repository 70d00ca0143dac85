package hosts_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/hosts"
	"esmon/core/store"
	"esmon/core/wire"
)

var quiet = slog.New(slog.DiscardHandler)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func open(t *testing.T, kv store.KV) *hosts.Registry {
	t.Helper()
	r, err := hosts.Open(kv, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sample builds a sample of host h as the hub hands it over: with the host
// label, labels sorted.
func sample(h, metric string, v float64, kv ...string) store.Sample {
	ls := store.Labels{{Name: "host", Value: h}}
	for i := 0; i+1 < len(kv); i += 2 {
		ls = append(ls, store.Label{Name: kv[i], Value: kv[i+1]})
	}
	ls.Sort()
	return store.Sample{Metric: metric, Labels: ls, T: t0.UnixMilli(), V: v}
}

// ingest stores batch at now, as the core does before it calls Update
// (non-finite values are refused before, by the hub), then calls Update.
func ingest(t *testing.T, db *store.DB, r *hosts.Registry, id string, batch []store.Sample, now time.Time) (apiv1.Host, bool) {
	t.Helper()
	var keep []store.Sample
	for _, s := range batch {
		if wire.Finite(s.V) {
			s.T = now.UnixMilli()
			keep = append(keep, s)
		}
	}
	if err := db.Append(context.Background(), keep); err != nil {
		t.Fatal(err)
	}
	return r.Update(id, batch, now)
}

func TestUpdate(t *testing.T) {
	tests := []struct {
		name       string
		batches    [][]store.Sample
		wantGauges apiv1.Gauges
		wantLatest map[string]float64
	}{
		{
			name: "gauges from one batch, disk is the fullest mount",
			batches: [][]store.Sample{{
				sample("web", wire.CPUUsagePercent, 37.5),
				sample("web", wire.MemoryUsedPercent, 61),
				sample("web", wire.DiskUsedPercent, 40, "mount", "/"),
				sample("web", wire.DiskUsedPercent, 91, "mount", "/data"),
				sample("web", wire.DiskUsedPercent, 10, "mount", "/boot"),
			}},
			wantGauges: apiv1.Gauges{CPU: 37.5, Memory: 61, Disk: 91},
			wantLatest: map[string]float64{
				"cpu_usage_percent":                37.5,
				"memory_used_percent":              61,
				`disk_used_percent{mount="/"}`:     40,
				`disk_used_percent{mount="/data"}`: 91,
				`disk_used_percent{mount="/boot"}`: 10,
			},
		},
		{
			name: "a later batch without a metric keeps its gauge",
			batches: [][]store.Sample{
				{sample("web", wire.CPUUsagePercent, 50), sample("web", wire.MemoryUsedPercent, 20), sample("web", wire.DiskUsedPercent, 70, "mount", "/")},
				{sample("web", wire.CPUUsagePercent, 5)},
			},
			wantGauges: apiv1.Gauges{CPU: 5, Memory: 20, Disk: 70},
			wantLatest: map[string]float64{"cpu_usage_percent": 5, "memory_used_percent": 20, `disk_used_percent{mount="/"}`: 70},
		},
		{
			name: "a disk that empties lowers the gauge",
			batches: [][]store.Sample{
				{sample("web", wire.DiskUsedPercent, 95, "mount", "/")},
				{sample("web", wire.DiskUsedPercent, 30, "mount", "/")},
			},
			wantGauges: apiv1.Gauges{Disk: 30},
			wantLatest: map[string]float64{`disk_used_percent{mount="/"}`: 30},
		},
		{
			name: "non-finite values are ignored",
			batches: [][]store.Sample{
				{sample("web", wire.CPUUsagePercent, 12)},
				{sample("web", wire.CPUUsagePercent, math.NaN()), sample("web", wire.DiskUsedPercent, math.Inf(1), "mount", "/")},
			},
			wantGauges: apiv1.Gauges{CPU: 12},
			wantLatest: map[string]float64{"cpu_usage_percent": 12},
		},
		{
			name: "other metrics only in latest, keyed without host",
			batches: [][]store.Sample{{
				sample("web", wire.Load1, 0.25),
				sample("web", wire.NetSentBytesTotal, 1e9, "interface", "eth0"),
				sample("web", wire.CPUCoreUsagePercent, 99, "core", "3"),
			}},
			wantLatest: map[string]float64{
				"load_average_1m": 0.25,
				`network_sent_bytes_total{interface="eth0"}`: 1e9,
				`cpu_core_usage_percent{core="3"}`:           99,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t)
			r := open(t, db)
			r.Connected("web", wire.HostFacts{Hostname: "web"}, "1.0", t0)
			var h apiv1.Host
			for i, b := range tt.batches {
				var ok bool
				if h, ok = ingest(t, db, r, "web", b, t0.Add(time.Duration(i+1)*time.Second)); !ok {
					t.Fatal("Update of a connected host returned false")
				}
			}
			if h.Gauges != tt.wantGauges {
				t.Errorf("gauges %+v, want %+v", h.Gauges, tt.wantGauges)
			}
			if !reflect.DeepEqual(h.Latest, tt.wantLatest) {
				t.Errorf("latest %v, want %v", h.Latest, tt.wantLatest)
			}
			if want := t0.Add(time.Duration(len(tt.batches)) * time.Second); !h.LastSeen.Equal(want) {
				t.Errorf("last seen %v, want %v", h.LastSeen, want)
			}
			if got, _ := r.Get("web"); !reflect.DeepEqual(got, h) {
				t.Errorf("Get %+v differs from what Update returned %+v", got, h)
			}
		})
	}
}

func TestUpdateUnknownHost(t *testing.T) {
	r := open(t, openDB(t))
	if h, ok := r.Update("ghost", []store.Sample{sample("ghost", wire.CPUUsagePercent, 1)}, t0); ok {
		t.Fatalf("Update of an unknown host returned %+v", h)
	}
	if n := len(r.List()); n != 0 {
		t.Errorf("%d hosts listed, want 0", n)
	}
}

func TestCallersDoNotShareLatest(t *testing.T) {
	db := openDB(t)
	r := open(t, db)
	r.Connected("web", wire.HostFacts{Hostname: "web"}, "", t0)
	h, _ := ingest(t, db, r, "web", []store.Sample{sample("web", wire.CPUUsagePercent, 1)}, t0)
	h.Latest["cpu_usage_percent"] = 999
	for _, got := range []apiv1.Host{mustGet(t, r, "web"), r.List()[0]} {
		if got.Latest["cpu_usage_percent"] != 1 {
			t.Fatalf("registry value changed to %v through a returned host", got.Latest["cpu_usage_percent"])
		}
	}
}

func mustGet(t *testing.T, r *hosts.Registry, id string) apiv1.Host {
	t.Helper()
	h, ok := r.Get(id)
	if !ok {
		t.Fatalf("host %s not found", id)
	}
	return h
}

func TestSilent(t *testing.T) {
	r := open(t, openDB(t))
	r.Connected("quiet", wire.HostFacts{Hostname: "quiet"}, "", t0)
	r.Connected("busy", wire.HostFacts{Hostname: "busy"}, "", t0)
	r.Connected("edge", wire.HostFacts{Hostname: "edge"}, "", t0)
	r.Update("busy", nil, t0.Add(20*time.Second))
	r.Update("edge", nil, t0.Add(10*time.Second))

	steps := []struct {
		name        string
		cutoff      time.Time
		wantOffline []string // returned by this call
		wantOnline  []string
	}{
		{"nothing is silent before any report is due", t0, nil, []string{"busy", "edge", "quiet"}},
		{"a host seen exactly at the cutoff is not silent", t0.Add(10 * time.Second), []string{"quiet"}, []string{"busy", "edge"}},
		{"an offline host is not reported twice", t0.Add(10 * time.Second), nil, []string{"busy", "edge"}},
		{"later cutoff", t0.Add(15 * time.Second), []string{"edge"}, []string{"busy"}},
	}
	for _, s := range steps {
		got := r.Silent(s.cutoff)
		var ids []string
		for _, h := range got {
			ids = append(ids, h.ID)
			if h.Online || h.Status != apiv1.StatusOffline {
				t.Errorf("%s: returned host %s online=%v status=%q, want offline", s.name, h.ID, h.Online, h.Status)
			}
		}
		if !reflect.DeepEqual(ids, s.wantOffline) {
			t.Errorf("%s: Silent returned %v, want %v", s.name, ids, s.wantOffline)
		}
		var online []string
		for _, h := range r.List() {
			if h.Online {
				online = append(online, h.ID)
				if h.Status != apiv1.StatusOK {
					t.Errorf("%s: online host %s has status %q", s.name, h.ID, h.Status)
				}
			}
		}
		if !reflect.DeepEqual(online, s.wantOnline) {
			t.Errorf("%s: online %v, want %v", s.name, online, s.wantOnline)
		}
	}

	// A report brings the host back.
	h, _ := r.Update("quiet", nil, t0.Add(30*time.Second))
	if !h.Online || h.Status != apiv1.StatusOK {
		t.Errorf("host after a new report: online=%v status=%q, want online ok", h.Online, h.Status)
	}
}

func TestSetWorst(t *testing.T) {
	r := open(t, openDB(t))
	r.Connected("web", wire.HostFacts{Hostname: "web"}, "", t0)
	steps := []struct {
		name        string
		host        string
		severity    string
		wantChanged bool
		wantStatus  string
	}{
		{"warning fires", "web", apiv1.SeverityWarning, true, apiv1.SeverityWarning},
		{"same severity again", "web", apiv1.SeverityWarning, false, apiv1.SeverityWarning},
		{"worse fires", "web", apiv1.SeverityVeryCritical, true, apiv1.SeverityVeryCritical},
		{"all resolved", "web", "", true, apiv1.StatusOK},
		{"unknown host", "ghost", apiv1.SeverityCritical, false, apiv1.StatusOK},
		{"critical fires", "web", apiv1.SeverityCritical, true, apiv1.SeverityCritical},
	}
	for _, s := range steps {
		h, changed := r.SetWorst(s.host, s.severity)
		if changed != s.wantChanged {
			t.Errorf("%s: changed=%v, want %v", s.name, changed, s.wantChanged)
		}
		if changed && h.Status != s.wantStatus {
			t.Errorf("%s: returned status %q, want %q", s.name, h.Status, s.wantStatus)
		}
		if got := mustGet(t, r, "web").Status; got != s.wantStatus {
			t.Errorf("%s: status %q, want %q", s.name, got, s.wantStatus)
		}
	}

	// Offline outranks any severity, and the severity comes back with the host.
	r.Silent(t0.Add(time.Hour))
	if got := mustGet(t, r, "web").Status; got != apiv1.StatusOffline {
		t.Errorf("silent host with a critical alert: status %q, want offline", got)
	}
	if _, changed := r.SetWorst("web", apiv1.SeverityWarning); changed {
		t.Error("SetWorst on an offline host reported a status change")
	}
	if h, _ := r.Update("web", nil, t0.Add(2*time.Hour)); h.Status != apiv1.SeverityWarning {
		t.Errorf("status after the host reports again: %q, want warning", h.Status)
	}
}

func TestReopenListsHostsOffline(t *testing.T) {
	db := openDB(t)
	r := open(t, db)
	facts := wire.HostFacts{Hostname: "web-01", OS: "linux", Platform: "debian", Cores: 8, MemoryBytes: 1 << 34, BootTime: t0.Unix()}
	r.Connected("web-01", facts, "1.2.3", t0)
	r.Connected("db-01", wire.HostFacts{Hostname: "db-01", OS: "windows"}, "1.2.3", t0)
	r.Update("web-01", []store.Sample{sample("web-01", wire.CPUUsagePercent, 50)}, t0.Add(time.Second))
	r.SetWorst("web-01", apiv1.SeverityCritical)
	// An unreadable record must not stop the core from starting.
	if err := db.Put([]byte{store.PrefixHosts, 'x'}, []byte("{not json")); err != nil {
		t.Fatal(err)
	}

	r.Flush() // the hellos' records, written behind them
	again := open(t, db)
	got := again.List()
	if len(got) != 2 || got[0].ID != "db-01" || got[1].ID != "web-01" {
		t.Fatalf("hosts after reopen %+v, want db-01 and web-01 sorted by name", got)
	}
	for _, h := range got {
		if h.Online || h.Status != apiv1.StatusOffline {
			t.Errorf("%s after reopen: online=%v status=%q, want offline", h.ID, h.Online, h.Status)
		}
		if h.AgentVersion != "1.2.3" {
			t.Errorf("%s: agent version %q, want 1.2.3", h.ID, h.AgentVersion)
		}
	}
	web := got[1]
	wantFacts := apiv1.HostFacts{Hostname: "web-01", OS: "linux", Platform: "debian", Cores: 8, MemoryBytes: 1 << 34, BootTime: t0}
	if !reflect.DeepEqual(web.Facts, wantFacts) {
		t.Errorf("facts after reopen %+v, want %+v", web.Facts, wantFacts)
	}
	if !web.LastSeen.Equal(t0) {
		t.Errorf("last seen after reopen %v, want %v (the connection)", web.LastSeen, t0)
	}

	// Reconnecting brings the host back online with fresh facts.
	h := again.Connected("web-01", wire.HostFacts{Hostname: "web-01", OS: "linux", Cores: 16}, "1.3.0", t0.Add(time.Hour))
	if !h.Online || h.Status != apiv1.StatusOK || h.Facts.Cores != 16 || h.AgentVersion != "1.3.0" {
		t.Errorf("reconnected host %+v, want online ok with 16 cores and agent 1.3.0", h)
	}
}

func TestListSortedByHostname(t *testing.T) {
	r := open(t, openDB(t))
	for _, c := range []struct{ id, name string }{{"c", "charlie"}, {"a2", "alpha"}, {"b", "bravo"}, {"a1", "alpha"}} {
		r.Connected(c.id, wire.HostFacts{Hostname: c.name}, "", t0)
	}
	var ids []string
	for _, h := range r.List() {
		ids = append(ids, h.ID)
	}
	if want := []string{"a1", "a2", "b", "c"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("order %v, want %v", ids, want)
	}
}

// SilentSince lists, sorted as List, only the hosts last seen before its
// cutoff: the core's offline check reads no other.
func TestSilentSince(t *testing.T) {
	r := open(t, openDB(t))
	for i, c := range []struct{ id, name string }{{"c", "charlie"}, {"a2", "alpha"}, {"b", "bravo"}, {"a1", "alpha"}} {
		r.Connected(c.id, wire.HostFacts{Hostname: c.name}, "", t0.Add(time.Duration(i)*time.Minute))
	}
	var ids []string
	for _, h := range r.SilentSince(t0.Add(2 * time.Minute)) { // c and a2, seen at t0 and t0+1m; b at t0+2m is not before
		ids = append(ids, h.ID)
	}
	if want := []string{"a2", "c"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("silent since t0+2m: %v, want %v", ids, want)
	}
	if n := len(r.SilentSince(t0)); n != 0 {
		t.Errorf("silent since the first hello: %d hosts, want none", n)
	}
}

// countingKV is the real store, with its writes counted.
type countingKV struct {
	store.KV
	mu   sync.Mutex
	puts int
}

func (c *countingKV) Put(k, v []byte) error {
	c.mu.Lock()
	c.puts++
	c.mu.Unlock()
	return c.KV.Put(k, v)
}

func (c *countingKV) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.puts
}

// TestReconnectWritesNothing: an agent that says hello again with the same
// facts, version and tags costs no disk write, so that thousands coming
// back after a restart are not held up; a new host, or changed facts, are
// written (behind the hello); last seen times are written by SaveSeen and when a host
// goes silent, and a restart lists them.
func TestReconnectWritesNothing(t *testing.T) {
	db := openDB(t)
	kv := &countingKV{KV: db}
	r := open(t, kv)
	facts := wire.HostFacts{Hostname: "web-01", OS: "linux", Cores: 4}
	r.Connected("web-01", facts, "1.0", t0)
	r.SetAgentTags("web-01", []string{"prod"})
	r.Flush() // written behind the hello
	if n := kv.count(); n < 1 {
		t.Fatalf("a new host wrote %d records, want it on disk", n)
	}
	if got := open(t, db).List(); len(got) != 1 || got[0].ID != "web-01" || !slices.Equal(got[0].Tags, []string{"prod"}) {
		t.Fatalf("after a reopen: %+v, want web-01 tagged prod", got)
	}

	// A restart: the agent comes back unchanged.
	kv2 := &countingKV{KV: db}
	r2 := open(t, kv2)
	r2.Connected("web-01", facts, "1.0", t0.Add(time.Hour))
	r2.SetAgentTags("web-01", []string{"prod"})
	r2.Connected("web-01", facts, "1.0", t0.Add(2*time.Hour))
	r2.SetAgentTags("web-01", []string{"prod"})
	if n := kv2.count(); n != 0 {
		t.Fatalf("unchanged reconnects wrote %d records, want none", n)
	}
	// No tags at all is no change either.
	r2.Connected("db-01", wire.HostFacts{Hostname: "db-01"}, "1.0", t0)
	r2.SetAgentTags("db-01", nil)
	r2.Flush()
	before := kv2.count()
	r3 := open(t, kv2)
	r3.Connected("db-01", wire.HostFacts{Hostname: "db-01"}, "1.0", t0.Add(time.Minute))
	r3.SetAgentTags("db-01", []string{})
	if n := kv2.count() - before; n != 0 {
		t.Fatalf("an untagged host's reconnect wrote %d records, want none", n)
	}

	// A new agent version is written, behind the hello: Flush waits for it.
	r2.Connected("web-01", facts, "1.1", t0.Add(3*time.Hour))
	r2.Flush()
	if n := kv2.count() - before; n != 1 {
		t.Fatalf("an agent upgrade wrote %d records, want 1", n)
	}
	// Last seen: written by SaveSeen, once.
	r2.Update("web-01", []store.Sample{sample("web-01", wire.CPUUsagePercent, 5)}, t0.Add(4*time.Hour))
	if n := r2.SaveSeen(); n < 1 {
		t.Fatalf("SaveSeen wrote %d records, want web-01's", n)
	}
	if n := r2.SaveSeen(); n != 0 {
		t.Fatalf("a second SaveSeen wrote %d records, want none", n)
	}
	if h := mustGet(t, open(t, db), "web-01"); !h.LastSeen.Equal(t0.Add(4*time.Hour)) || h.AgentVersion != "1.1" {
		t.Fatalf("after a reopen: last seen %v, agent %q; want %v and 1.1", h.LastSeen, h.AgentVersion, t0.Add(4*time.Hour))
	}
	// And when the host goes silent.
	r2.Update("web-01", nil, t0.Add(5*time.Hour))
	r2.Silent(t0.Add(6 * time.Hour))
	if h := mustGet(t, open(t, db), "web-01"); !h.LastSeen.Equal(t0.Add(5 * time.Hour)) {
		t.Fatalf("after silence and a reopen: last seen %v, want %v", h.LastSeen, t0.Add(5*time.Hour))
	}
}

// TestLatestFromStore: a host's latest values are the store's latest value
// of each of its series, stored by reference (as the hub does) or by name,
// keyed without the host; with UpdateBrief, none are copied; after a
// reopen, the store's values are there before the host reports again.
func TestLatestFromStore(t *testing.T) {
	db := openDB(t)
	r := open(t, db)
	r.Connected("web", wire.HostFacts{Hostname: "web"}, "1", t0)
	r.Connected("db", wire.HostFacts{Hostname: "db"}, "1", t0)
	withRef := func(s store.Sample) store.Sample {
		ref, err := db.Ref(s.Metric, s.Labels)
		if err != nil {
			t.Fatal(err)
		}
		s.Ref = ref
		return s
	}
	root := withRef(sample("web", wire.DiskUsedPercent, 10, "mount", "/"))
	srv := withRef(sample("web", wire.DiskUsedPercent, 20, "mount", "/srv"))
	for i := range 3 {
		root.V, srv.V = float64(10+i), float64(20+i)
		ingest(t, db, r, "web", []store.Sample{root, srv}, t0.Add(time.Duration(i)*time.Second))
	}
	ingest(t, db, r, "db", []store.Sample{sample("db", wire.CPUUsagePercent, 99)}, t0)
	plain := sample("web", wire.DiskUsedPercent, 7, "mount", "/") // no reference
	h, _ := ingest(t, db, r, "web", []store.Sample{plain}, t0.Add(time.Minute))
	want := map[string]float64{`disk_used_percent{mount="/"}`: 7, `disk_used_percent{mount="/srv"}`: 22}
	if !reflect.DeepEqual(h.Latest, want) {
		t.Fatalf("latest %v, want %v (the other host's values must not show)", h.Latest, want)
	}
	if h.Gauges.Disk != 7 {
		t.Errorf("disk gauge %v, want 7 (the fullest mount of the last batch)", h.Gauges.Disk)
	}
	if b, _ := r.UpdateBrief("web", nil, t0.Add(2*time.Minute)); b.Latest != nil {
		t.Errorf("UpdateBrief gave latest values %v", b.Latest)
	}
	r.Flush()
	if got := mustGet(t, open(t, db), "web"); !reflect.DeepEqual(got.Latest, want) {
		t.Errorf("after a reopen: latest %v, want %v", got.Latest, want)
	}
}

// gatedKV holds every write until the gate opens.
type gatedKV struct {
	store.KV
	gate chan struct{}
}

func (g *gatedKV) Put(k, v []byte) error {
	<-g.gate
	return g.KV.Put(k, v)
}

// A hello does not wait for the disk: with the store's writes held up,
// Connected and SetAgentTags return (new hosts, changed facts and tags); the records reach the store
// once it takes writes again, in order, the newest record of a host last,
// and Flush waits for them.
func TestHelloDoesNotWaitForTheDisk(t *testing.T) {
	db := openDB(t)
	kv := &gatedKV{KV: db, gate: make(chan struct{})}
	r := open(t, kv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			id := fmt.Sprintf("h%02d", i)
			r.Connected(id, wire.HostFacts{Hostname: id}, "1.0", t0)
			r.Connected(id, wire.HostFacts{Hostname: id}, "1.1", t0.Add(time.Second))
			if h, _ := r.SetAgentTags(id, []string{"prod"}); h.Latest != nil {
				t.Errorf("%s: the hello's tags came with latest values", id)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Connected waited for a held-up store")
	}
	flushed := make(chan struct{})
	go func() { r.Flush(); close(flushed) }()
	select {
	case <-flushed:
		t.Fatal("Flush returned before the store took the writes")
	case <-time.After(50 * time.Millisecond):
	}
	close(kv.gate)
	<-flushed
	got := open(t, db).List()
	if len(got) != 50 {
		t.Fatalf("after Flush and a reopen: %d hosts, want 50", len(got))
	}
	for _, h := range got {
		if h.AgentVersion != "1.1" || !slices.Equal(h.Tags, []string{"prod"}) {
			t.Errorf("%s: agent %q, tags %v; want the newest record (1.1, prod)", h.ID, h.AgentVersion, h.Tags)
		}
	}
}
