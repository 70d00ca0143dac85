package core

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/notify/webhook"
	"esmon/core/store"
	"esmon/core/wire"
)

// TestOfflineStorm: 5,000 hosts go silent at once (a network cut) on a
// core with a real store and a real webhook receiver. The ingest of a host
// that still reports is acknowledged while the burst is still being raised
// (it does not wait for it), every offline alert is raised, and the
// channel gets them grouped into a few messages, not one each.
func TestOfflineStorm(t *testing.T) {
	const n = 5000
	hook := newReceiver(t)
	c, err := New(Options{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", Version: "test", InsecureHTTP: true, AllowClearSecrets: true,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Channels: Channels{Webhooks: []webhook.Config{{Name: "hook", URL: hook.srv.URL, Secret: "k"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	// The core has been up for long: the hosts had every chance to report.
	c.started = time.Now().Add(-time.Hour)
	c.alerts.Up(c.started)

	seen := time.Now().Add(-10 * time.Minute)
	var wg sync.WaitGroup
	ids := make(chan string)
	for range 32 {
		wg.Go(func() {
			for id := range ids {
				c.hosts.Connected(id, wire.HostFacts{Hostname: id}, "1", seen)
			}
		})
	}
	for i := range n {
		ids <- fmt.Sprintf("host-%05d", i)
	}
	close(ids)
	wg.Wait()
	c.hosts.Connected("live", wire.HostFacts{Hostname: "live"}, "1", time.Now())

	offline := func() int {
		k := 0
		for _, a := range c.alerts.Active() {
			if a.RuleID == "agent-offline" {
				k++
			}
		}
		return k
	}
	burst := make(chan struct{})
	began := time.Now()
	go func() {
		defer close(burst)
		c.checkSilent()
	}()
	for offline() == 0 {
		select {
		case <-burst:
			t.Fatal("the burst raised no offline alert")
		default:
			time.Sleep(time.Millisecond)
		}
	}
	sample := []store.Sample{{Metric: wire.CPUUsagePercent, Labels: store.Labels{{Name: "host", Value: "live"}},
		T: time.Now().UnixMilli(), V: 12}}
	if err := c.Ingest(context.Background(), "live", sample); err != nil {
		t.Fatal(err)
	}
	if k := offline(); k >= n {
		t.Fatalf("the ingest of a reporting host was acknowledged only after all %d offline alerts were raised", k)
	}
	<-burst
	t.Logf("the burst of %d offline alerts took %v", n, time.Since(began))
	if k := offline(); k != n {
		t.Fatalf("%d offline alerts, want %d", k, n)
	}
	if h, _ := c.hosts.Get("live"); !h.Online || h.Gauges.CPU != 12 {
		t.Errorf("the reporting host: online %v, cpu %v; want online at 12", h.Online, h.Gauges.CPU)
	}

	// Every alert reaches the channel, in a few grouped messages.
	count := func() (posts, alerts int) {
		for _, b := range hook.got() {
			var p webhook.Payload
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatalf("webhook body: %v", err)
			}
			posts++
			for _, tr := range p.Transitions {
				if tr.Alert.RuleID == "agent-offline" && tr.To == apiv1.StateFiring {
					alerts++
				}
			}
		}
		return posts, alerts
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, got := count(); got < n && time.Now().Before(deadline); _, got = count() {
		time.Sleep(50 * time.Millisecond)
	}
	posts, got := count()
	if got != n {
		t.Fatalf("the channel got %d offline alerts, want %d", got, n)
	}
	if max := n/notifyBatch + 5; posts > max {
		t.Errorf("the channel got %d messages for %d alerts, want at most %d", posts, n, max)
	}
	t.Logf("%d offline alerts reached the webhook in %d messages", got, posts)
}

// TestNoOfflineAlertsRightAfterStart: after a restart no host is declared
// offline before it had the time to reconnect, even one whose last report
// is long past; one that stays away is, once that time is over.
func TestNoOfflineAlertsRightAfterStart(t *testing.T) {
	c, _ := newCore(t, t.TempDir())
	defer c.Stop()
	c.hosts.Connected("web", wire.HostFacts{Hostname: "web"}, "1", time.Now().Add(-time.Hour))
	c.hosts.Silent(time.Now()) // as the core finds it after a restart: offline
	c.started = time.Now()
	c.alerts.Up(c.started)
	c.checkSilent()
	if a := c.alerts.Active(); len(a) != 0 {
		t.Fatalf("right after the start: %d alerts, want none", len(a))
	}
	// One OfflineAfter later, the agent-offline rule (for 1m) counts from
	// the start.
	c.started = time.Now().Add(-c.opts.OfflineAfter)
	c.alerts.Up(c.started)
	c.checkSilent()
	if a := c.alerts.Active(); len(a) != 0 {
		t.Fatalf("%v after the start: %d alerts, want none before the rule's minute", c.opts.OfflineAfter, len(a))
	}
	c.started = time.Now().Add(-2 * time.Minute)
	c.alerts.Up(c.started)
	c.checkSilent()
	if a := c.alerts.Active(); len(a) != 1 || a[0].Host != "web" || a[0].RuleID != "agent-offline" {
		t.Fatalf("two minutes after the start: %+v, want web's agent-offline alert", a)
	}
	if a := c.alerts.Active()[0]; !a.ActiveAt.Before(c.started) {
		t.Errorf("the alert is active since %v, want the host's last report, before the start", a.ActiveAt)
	}
}

// TestOfflineJustPastTheRule: the offline check reads only hosts silent
// for the shortest offline rule's time (Registry.SilentSince), and that
// must still hold a host silent just past the rule's minute and leave
// out one a little short of it.
func TestOfflineJustPastTheRule(t *testing.T) {
	c, _ := newCore(t, t.TempDir())
	defer c.Stop()
	c.started = time.Now().Add(-time.Hour)
	c.alerts.Up(c.started)
	now := time.Now()
	c.hosts.Connected("past", wire.HostFacts{Hostname: "past"}, "1", now.Add(-61*time.Second))
	c.hosts.Connected("short", wire.HostFacts{Hostname: "short"}, "1", now.Add(-50*time.Second))
	c.checkSilent()
	a := c.alerts.Active()
	if len(a) != 1 || a[0].Host != "past" || a[0].RuleID != "agent-offline" {
		t.Fatalf("alerts %+v, want past's agent-offline alone", a)
	}
}
