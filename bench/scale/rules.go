package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// rule is the JSON of POST /api/v1/rules (core/apiv1.Rule), the fields
// this load uses.
type rule struct {
	Name      string            `json:"name"`
	Kind      string            `json:"kind"`
	Metric    string            `json:"metric"`
	Match     map[string]string `json:"match,omitempty"`
	Op        string            `json:"op"`
	Threshold float64           `json:"threshold"`
	Warning   *float64          `json:"warning,omitempty"`
	For       string            `json:"for"`
	Severity  string            `json:"severity"`
	Enabled   bool              `json:"enabled"`
}

// makeRules returns n rules of the kind an operator of a large estate
// writes, over the simulated hosts sim-00001 to sim-<maxHosts>, beside the
// core's own estate-wide defaults (CPU, memory, disk, swap, offline):
//
//   - 75% per-host rules (one host each, spread over the estate): CPU,
//     memory and disk (on the host's first mount, "/" or "C:") with a
//     critical and a warning threshold. The thresholds are spread from
//     low to high, so the hosts whose levels sit above them fire: at any
//     moment some alerts are firing, some pending, most quiet.
//   - 25% group rules on a host pattern (sim-000* to sim-099*, 100 hosts
//     each at 10,000) for CPU, memory, disk, swap and load, with higher
//     thresholds and a "for" of a minute or more.
func makeRules(n, maxHosts int) []rule {
	f := func(v float64) *float64 { return &v }
	out := make([]rule, 0, n)
	perHost := n * 75 / 100
	for i := range perHost {
		host := fmt.Sprintf("sim-%05d", 1+(i*7919)%maxHosts) // 7919 is prime: hosts spread, few repeats
		lvl := float64(i%12) / 11                            // 0..1 over the thresholds' span
		switch i % 3 {
		case 0:
			t := 30 + 60*lvl
			out = append(out, rule{Name: "cpu " + host, Kind: "threshold", Metric: "cpu_usage_percent",
				Match: map[string]string{"host": host}, Op: ">", Threshold: t + 5, Warning: f(t), For: "10s", Severity: "critical", Enabled: true})
		case 1:
			t := 45 + 45*lvl
			out = append(out, rule{Name: "memory " + host, Kind: "threshold", Metric: "memory_used_percent",
				Match: map[string]string{"host": host}, Op: ">", Threshold: t + 5, Warning: f(t), For: "30s", Severity: "critical", Enabled: true})
		default:
			t := 35 + 50*lvl
			mount := "/"
			if i%2 == 1 {
				mount = "C:"
			}
			out = append(out, rule{Name: "disk " + mount + " " + host, Kind: "threshold", Metric: "disk_used_percent",
				Match: map[string]string{"host": host, "mount": mount}, Op: ">", Threshold: t + 8, Warning: f(t), For: "0s", Severity: "very_critical", Enabled: true})
		}
	}
	groupMetrics := []struct {
		metric, dur string
		thr         float64
	}{{"cpu_usage_percent", "2m", 80}, {"memory_used_percent", "5m", 85}, {"disk_used_percent", "1m", 75},
		{"swap_used_percent", "10m", 4}, {"load_average_1m", "5m", 6}}
	for i := 0; len(out) < n; i++ {
		gm := groupMetrics[i%len(groupMetrics)]
		pattern := fmt.Sprintf("sim-%03d*", (i/len(groupMetrics))%100)
		out = append(out, rule{Name: fmt.Sprintf("%s %s", gm.metric, pattern), Kind: "threshold", Metric: gm.metric,
			Match: map[string]string{"host": pattern}, Op: ">", Threshold: gm.thr + float64(i%5), For: gm.dur, Severity: "warning", Enabled: true})
	}
	return out
}

// createRules posts the rules through the REST API, a few at a time.
func createRules(ctx context.Context, c *coreProc, rules []rule) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(rules) {
					return
				}
				if err := c.do(ctx, "POST", "/api/v1/rules", rules[i], nil); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("rule %d (%s): %w", i, rules[i].Name, err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
