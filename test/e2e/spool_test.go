package e2e

import (
	"flag"
	"fmt"
	"net/url"
	"testing"
	"time"

	"esmon/core/apiv1"
)

// outage is how long TestStoreAndForward keeps the core down. The issue asks
// for 2 minutes, and `make test` runs that; a shorter one is for a quick
// local run: go test ./test/e2e -run StoreAndForward -args -outage=10s
var outage = flag.Duration("outage", 2*time.Minute, "how long TestStoreAndForward keeps the core stopped")

// TestStoreAndForward runs an agent at a 1 s interval, stops the core for
// the outage and starts it again on the same data: every snapshot the agent
// took meanwhile reaches the store, in order, none twice, none lost.
func TestStoreAndForward(t *testing.T) {
	c := startCore(t, "")
	spoolDir := t.TempDir()
	agent := startAgent(t, c, "--spool-dir", spoolDir, "--process-interval", "0")
	h := c.waitHost(t)
	// A few samples before the outage, so the window starts on stored data.
	time.Sleep(3 * time.Second)

	stopped := time.Now()
	c.stop()
	t.Logf("core stopped; waiting %v", *outage)
	time.Sleep(*outage)

	addr := c.addr()
	restarted := time.Now()
	start(t, "esmon serve (restarted)", bins.core, "serve", "--data", c.data, "--listen", addr)
	select {
	case <-agent.exited:
		t.Fatal("agent exited while the core was away")
	default:
	}

	query := func(metric string) []apiv1.Point {
		var q apiv1.QueryResult
		v := url.Values{"host": {h.ID}, "metric": {metric},
			"from": {stopped.Add(-5 * time.Second).UTC().Format(time.RFC3339Nano)}, "to": {time.Now().UTC().Format(time.RFC3339Nano)}}
		code, err := c.try("GET", "/api/v1/query?"+v.Encode(), nil, &q)
		if err != nil || code != 200 || len(q.Series) != 1 {
			return nil
		}
		return q.Series[0].Points
	}
	// The spool has drained once the pending count the agent reports is
	// back to 0 for a snapshot taken after the restart.
	waitFor(t, 60*time.Second, "the spool drained into the restarted core", func() bool {
		ps := query("esmon_agent_spool_pending_snapshots")
		return len(ps) > 0 && ps[len(ps)-1].T > restarted.Add(2*time.Second).UnixMilli() && ps[len(ps)-1].V == 0
	})

	pts := query("cpu_usage_percent")
	if len(pts) == 0 {
		t.Fatal("no cpu samples around the outage")
	}
	first, last := time.UnixMilli(pts[0].T), time.UnixMilli(pts[len(pts)-1].T)
	if first.After(stopped) || last.Before(restarted) {
		t.Fatalf("samples from %v to %v do not span the outage %v to %v", first, last, stopped, restarted)
	}
	// Every snapshot, in order, none twice: the agent numbers its
	// snapshots (esmon_agent_snapshots_total), and the stored numbers
	// over the outage go up by exactly one from each to the next, in time
	// order, about one a second.
	nums := query("esmon_agent_snapshots_total")
	if len(nums) != len(pts) {
		t.Errorf("%d snapshot numbers but %d cpu samples stored", len(nums), len(pts))
	}
	var bad []string
	for i := 1; i < len(nums); i++ {
		d := time.Duration(nums[i].T-nums[i-1].T) * time.Millisecond
		if nums[i].V != nums[i-1].V+1 || d <= 0 || d > 2*time.Second {
			bad = append(bad, fmt.Sprintf("%s: #%v then #%v %v later", time.UnixMilli(nums[i-1].T).Format("15:04:05.000"), nums[i-1].V, nums[i].V, d))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d steps between stored snapshots skip, repeat or stall: %v", len(bad), bad)
	}
	span := last.Sub(first)
	if want := int(span/time.Second) + 1; len(pts) < want-2 || len(pts) > want+2 {
		t.Errorf("%d samples over %v; want about %d, one a second", len(pts), span, want)
	}
	// They were spooled: the pending count grew through the outage, and
	// nothing was dropped.
	var most float64
	for _, p := range query("esmon_agent_spool_pending_snapshots") {
		most = max(most, p.V)
	}
	if most < 0.9*outage.Seconds() {
		t.Errorf("at most %v snapshots were pending during an outage of %v", most, *outage)
	}
	for _, p := range query("esmon_agent_spool_dropped_snapshots_total") {
		if p.V != 0 {
			t.Fatalf("the spool dropped %v snapshots", p.V)
		}
	}
	t.Logf("%d samples from %v to %v across an outage of %v; at most %v pending",
		len(pts), first.Format("15:04:05"), last.Format("15:04:05"), restarted.Sub(stopped).Round(time.Second), most)
}
