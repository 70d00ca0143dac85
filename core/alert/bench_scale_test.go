package alert

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"esmon/core/apiv1"
	"esmon/core/store"
)

// The scale estate, shaped like bench/scale's (rules.go there): 10,000
// hosts sim-00001 to sim-10000 with 60 series each, 600,000 in all, and
// 2,000 rules beside the defaults: 1,500 per-host rules with an exact host
// matcher (CPU, memory, disk on the host's first mount) and 500 group
// rules on a host pattern, sim-000* to sim-099*, over five metrics. Each
// host's level sits somewhere from 0 to 99, the same on every metric, so
// some alerts fire and most rules stay quiet, and the levels never change:
// after the warm-up no transition happens.
const (
	scaleHosts     = 10_000
	scaleRules     = 2000
	scaleHostRules = scaleRules * 75 / 100
)

// scaleRuleSet is bench/scale's makeRules(2000, 10000) as a rule set.
func scaleRuleSet() RuleSet {
	f := func(v float64) *float64 { return &v }
	d := func(s string) apiv1.Duration {
		v, err := time.ParseDuration(s)
		if err != nil {
			panic(err)
		}
		return apiv1.Duration(v)
	}
	var set RuleSet
	for i := range scaleHostRules {
		host := fmt.Sprintf("sim-%05d", 1+(i*7919)%scaleHosts)
		lvl := float64(i%12) / 11
		switch i % 3 {
		case 0:
			t := 30 + 60*lvl
			set.Rules = append(set.Rules, apiv1.Rule{Name: "cpu " + host, Metric: "cpu_usage_percent",
				Match: map[string]string{"host": host}, Op: ">", Threshold: t + 5, Warning: f(t), For: d("10s"), Severity: "critical", Enabled: true})
		case 1:
			t := 45 + 45*lvl
			set.Rules = append(set.Rules, apiv1.Rule{Name: "memory " + host, Metric: "memory_used_percent",
				Match: map[string]string{"host": host}, Op: ">", Threshold: t + 5, Warning: f(t), For: d("30s"), Severity: "critical", Enabled: true})
		default:
			t := 35 + 50*lvl
			mount := "/"
			if i%2 == 1 {
				mount = "C:"
			}
			set.Rules = append(set.Rules, apiv1.Rule{Name: "disk " + mount + " " + host, Metric: "disk_used_percent",
				Match: map[string]string{"host": host, "mount": mount}, Op: ">", Threshold: t + 8, Warning: f(t), For: d("0s"), Severity: "very_critical", Enabled: true})
		}
	}
	groups := []struct {
		metric, dur string
		thr         float64
	}{{"cpu_usage_percent", "2m", 80}, {"memory_used_percent", "5m", 85}, {"disk_used_percent", "1m", 75},
		{"swap_used_percent", "10m", 4}, {"load_average_1m", "5m", 6}}
	for i := 0; len(set.Rules) < scaleRules; i++ {
		g := groups[i%len(groups)]
		pattern := fmt.Sprintf("sim-%03d*", (i/len(groups))%100)
		set.Rules = append(set.Rules, apiv1.Rule{Name: g.metric + " " + pattern, Metric: g.metric,
			Match: map[string]string{"host": pattern}, Op: ">", Threshold: g.thr + float64(i%5), For: d(g.dur), Severity: "warning", Enabled: true})
	}
	return set
}

// scaleBatch is one host's 60 samples, each with its series' Ref in db:
// the machine's own gauges (CPU, memory, swap, load, three disks, cores,
// network, disk I/O) and synthetic ones up to 60, as `esmon-agent
// simulate --series 60` sends them. Odd hosts are Windows (C:, D:, E:).
func scaleBatch(tb testing.TB, db *store.DB, h int) []store.Sample {
	host := fmt.Sprintf("sim-%05d", h+1)
	lvl := float64((h*37 + 11) % 100)
	var out []store.Sample
	add := func(metric string, v float64, kv ...string) {
		ls := store.Labels{{Name: "host", Value: host}}
		for i := 0; i < len(kv); i += 2 {
			ls = append(ls, store.Label{Name: kv[i], Value: kv[i+1]})
		}
		ls.Sort()
		ref, err := db.Ref(metric, ls)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, store.Sample{Metric: metric, Labels: ls, V: v, Ref: ref})
	}
	add("cpu_usage_percent", lvl)
	add("memory_used_percent", lvl)
	add("swap_used_percent", lvl/20)
	add("load_average_1m", lvl/10)
	add("load_average_5m", lvl/10)
	add("load_average_15m", lvl/10)
	mounts := []string{"/", "/var", "/data"}
	if h%2 == 1 {
		mounts = []string{"C:", "D:", "E:"}
	}
	for i, m := range mounts {
		add("disk_used_percent", lvl/float64(i+1), "mount", m)
	}
	for c := range 8 {
		add("cpu_core_usage_percent", lvl, "core", strconv.Itoa(c))
	}
	for _, nic := range []string{"eth0", "eth1"} {
		add("net_bytes_recv", 1e6, "interface", nic)
		add("net_bytes_sent", 1e6, "interface", nic)
	}
	for _, dev := range []string{"sda", "sdb", "sdc"} {
		add("disk_read_bytes", 1e5, "device", dev)
		add("disk_write_bytes", 1e5, "device", dev)
	}
	for i := 0; len(out) < 60; i++ {
		add("sim_gauge", float64(i), "n", strconv.Itoa(i))
	}
	return out
}

// scaleEngine opens an engine with the scale rules and the batches of
// every host, warmed up: every host reported twice, 11 minutes apart, so
// that every alert the levels make has fired (the longest "for" is 10m).
func scaleEngine(b *testing.B) (*Engine, [][]store.Sample) {
	b.Helper()
	// The store's flusher would index the 600,000 new series in the
	// background, during the timed loop: it waits an hour.
	e, db := openEngineOn(b, store.Options{InMemory: true, FlushEvery: time.Hour})
	doc, err := yaml.Marshal(scaleRuleSet())
	if err != nil {
		b.Fatal(err)
	}
	if created, _, _, err := e.Import(doc, "bench"); err != nil || created != scaleRules {
		b.Fatalf("import: %d, %v", created, err)
	}
	batches := make([][]store.Sample, scaleHosts)
	for h := range batches {
		batches[h] = scaleBatch(b, db, h)
	}
	for _, t := range []int64{0, int64(11 * time.Minute / time.Millisecond)} {
		for _, batch := range batches {
			for j := range batch {
				batch[j].T = t
			}
			e.Eval(batch[0].Labels.Get("host"), batch)
		}
	}
	if err := e.Flush(); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	return e, batches
}

// BenchmarkEvalScale evaluates one host's batch of 60 samples of the scale
// estate, hosts in turn, every host once per 5 s of sample time. "refs"
// sends the samples with their series' Ref, as the hub does, and reports
// the bytes of the match cache per series (cache-B/series, the heap it
// holds after a GC, over 600,000 series); "refs-cold" does the same with
// the rules changing before every round of the estate, so that every
// series' matches are looked up again (the cost after a rule change);
// "no-refs" sends no Refs: the engine then matches every sample against
// the rules of its metric, as it did before the cache. cpu-ns/sample is
// the figure to compare; run it with -benchtime=20000x (two rounds of the
// estate), as setting the estate up takes about half a minute.
func BenchmarkEvalScale(b *testing.B) {
	for _, mode := range []string{"refs", "refs-cold", "no-refs"} {
		b.Run(mode, func(b *testing.B) {
			e, batches := scaleEngine(b)
			if mode == "no-refs" {
				for _, batch := range batches {
					for j := range batch {
						batch[j].Ref = store.SeriesRef{}
					}
				}
			}
			active := len(e.Active())
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			t0 := int64(12 * time.Minute / time.Millisecond)
			for i := 0; i < b.N; i++ {
				h := i % len(batches)
				if h == 0 && mode == "refs-cold" {
					e.SetFlapDamping(DefaultFlapCount, DefaultFlapWindow) // reindexes, as any rule change
				}
				batch := batches[h]
				t := t0 + int64(i/len(batches))*5000
				for j := range batch {
					batch[j].T = t
				}
				if ts := e.Eval(batch[0].Labels.Get("host"), batch); len(ts) != 0 {
					b.Fatalf("unexpected transitions %v", ts)
				}
			}
			samples := float64(b.N * len(batches[0]))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/samples, "ns/sample")
			b.ReportMetric(float64(cpuTime()-cpu0)/samples, "cpu-ns/sample")
			b.ReportMetric(float64(active), "active-alerts")
			if mode == "refs" {
				b.StopTimer()
				b.ReportMetric(cacheBytes(e)/float64(scaleHosts*len(batches[0])), "cache-B/series")
			}
		})
	}
}

// cacheBytes is the heap the engine's match cache holds: the live heap
// after a GC with the cache, less that without it.
func cacheBytes(e *Engine) float64 {
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	e.mu.Lock()
	e.matched = map[string]*hostMatches{}
	e.mu.Unlock()
	runtime.GC()
	runtime.ReadMemStats(&without)
	return float64(with.HeapAlloc) - float64(without.HeapAlloc)
}

// BenchmarkHelloTags is what an agent's hello costs the engine (the core
// gives it the host's tags) with 20,000 alerts active on 10,000 hosts, as
// when a large fleet reconnects after a restart, or the core loads every
// host's tags at start.
func BenchmarkHelloTags(b *testing.B) {
	e, _ := tagEstate(b)
	tags := []string{"prod"}
	b.ResetTimer()
	for i := range b.N {
		e.SetHostTags(fmt.Sprintf("host-%05d", i%tagHosts), tags)
	}
}

// BenchmarkWorstOn is what a batch with transitions asks once per host it
// touched: the worst severity firing on that host, with 20,000 alerts
// active on 10,000 hosts.
func BenchmarkWorstOn(b *testing.B) {
	e, _ := tagEstate(b)
	b.ResetTimer()
	for i := range b.N {
		if e.WorstOn(fmt.Sprintf("host-%05d", i%tagHosts)) == "" {
			b.Fatal("no alert firing")
		}
	}
}

const tagHosts = 10_000

// tagEstate is an engine with two rules firing on each of tagHosts hosts
// tagged prod: 20,000 active alerts.
func tagEstate(b *testing.B) (*Engine, *store.DB) {
	e, db := openEngine(b)
	if _, _, err := e.PutRule(latencyRule("prod latency", map[string]string{"tag": "prod"}), true); err != nil {
		b.Fatal(err)
	}
	if _, _, err := e.PutRule(latencyRule("api latency", map[string]string{"path": "/api"}), true); err != nil {
		b.Fatal(err)
	}
	tags := []string{"prod"}
	for h := range tagHosts {
		host := fmt.Sprintf("host-%05d", h)
		e.SetHostTags(host, tags)
		e.Eval(host, []store.Sample{refSample(b, db, host, 10, 500, "path", "/api")})
	}
	if n := len(e.Active()); n != 2*tagHosts {
		b.Fatalf("%d alerts active, want %d", n, 2*tagHosts)
	}
	return e, db
}
