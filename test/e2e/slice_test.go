package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/internal/mailpit"
)

// TestSlice is the whole foundation in one run: a real core and a real agent
// on loopback, a real SMTP server. The host's metrics show in the API; a rule
// that fires on the agent's own data shows FIRING in the API, on /ws/live and
// in the mailbox; changing the rule so the condition clears shows RESOLVED in
// all three.
func TestSlice(t *testing.T) {
	mp := mailpit.Start(t)
	c := startCore(t, fmt.Sprintf(`
offline_after: 10s
smtp:
  host: 127.0.0.1
  port: %d
  security: plain
  from: esmon <esmon@example.test>
  to: [ops@example.test]
`, mp.SMTPPort))
	startAgent(t, c)

	h := c.waitHost(t)
	if h.Facts.Hostname == "" || h.Facts.OS == "" || h.Facts.Cores == 0 || h.Facts.MemoryBytes == 0 {
		t.Fatalf("host facts incomplete: %+v", h.Facts)
	}
	for _, k := range []string{"cpu_usage_percent", "memory_used_percent", "uptime_seconds"} {
		if _, ok := h.Latest[k]; !ok {
			t.Errorf("latest values lack %s: %v", k, h.Latest)
		}
	}
	if h.Status != apiv1.StatusOK {
		t.Errorf("status = %q, want ok", h.Status)
	}

	// The stored series answer a range query.
	var q apiv1.QueryResult
	waitFor(t, 10*time.Second, "two CPU samples in /api/v1/query", func() bool {
		c.do(t, "GET", "/api/v1/query?"+url.Values{"host": {h.ID}, "metric": {"cpu_usage_percent"}, "from": {"-5m"}}.Encode(), nil, &q)
		return len(q.Series) == 1 && len(q.Series[0].Points) >= 2
	})
	for _, p := range q.Series[0].Points {
		if p.V < 0 || p.V > 100 {
			t.Fatalf("cpu sample out of range: %+v", p)
		}
	}

	feed := c.subscribe(t)

	// A rule that certainly fires on this machine: memory in use above 0 %.
	rule := apiv1.Rule{Name: "e2e memory", Metric: "memory_used_percent", Op: ">", Threshold: 0,
		Severity: apiv1.SeverityVeryCritical, Match: map[string]string{"host": h.ID}, Enabled: true}
	if code := c.do(t, "POST", "/api/v1/rules", rule, &rule); code != 201 {
		t.Fatalf("create rule: status %d", code)
	}

	fired := feed.transition(t, "e2e memory", apiv1.StateFiring)
	if fired.Alert.Host != h.ID || fired.Value <= 0 {
		t.Fatalf("firing transition: %+v", fired)
	}
	var active []apiv1.Alert
	waitFor(t, 5*time.Second, "the alert in /api/v1/alerts", func() bool {
		c.do(t, "GET", "/api/v1/alerts", nil, &active)
		for _, a := range active {
			if a.RuleID == rule.ID && a.State == apiv1.StateFiring {
				return true
			}
		}
		return false
	})
	var hs []apiv1.Host
	c.do(t, "GET", "/api/v1/hosts/"+h.ID, nil, &h)
	if h.Status != apiv1.SeverityVeryCritical {
		t.Errorf("host status while firing = %q, want very_critical", h.Status)
	}
	msgs := mp.WaitMessages(t, 1)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "FIRING") || !strings.Contains(msgs[0].Text, h.ID) {
		t.Fatalf("mailbox after firing: %+v", msgs)
	}
	if msgs[0].To[0].Address != "ops@example.test" {
		t.Fatalf("mail to %+v", msgs[0].To)
	}

	// Raise the threshold out of reach: the condition clears.
	rule.Threshold = 1000
	if code := c.do(t, "PUT", "/api/v1/rules/"+rule.ID, rule, nil); code != 200 {
		t.Fatalf("update rule: status %d", code)
	}
	feed.transition(t, "e2e memory", apiv1.StateResolved)
	waitFor(t, 5*time.Second, "the alert gone from /api/v1/alerts", func() bool {
		c.do(t, "GET", "/api/v1/alerts", nil, &active)
		for _, a := range active {
			if a.RuleID == rule.ID {
				return false
			}
		}
		return true
	})
	var hist []apiv1.Transition
	c.do(t, "GET", "/api/v1/alerts/history", nil, &hist)
	var states []string
	for _, tr := range hist {
		if tr.Alert.RuleID == rule.ID {
			states = append(states, tr.From+">"+tr.To)
		}
	}
	if strings.Join(states, " ") != "firing>resolved inactive>firing" {
		t.Fatalf("history of the rule (newest first) = %v", states)
	}
	msgs = mp.WaitMessages(t, 2)
	if len(msgs) != 2 || !strings.Contains(msgs[1].Subject, "RESOLVED") {
		t.Fatalf("mailbox after resolve: %+v", msgs)
	}
	c.do(t, "GET", "/api/v1/hosts", nil, &hs)
	if len(hs) != 1 || hs[0].Status != apiv1.StatusOK {
		t.Fatalf("hosts after resolve: %+v", hs)
	}

	// The core counts what it did.
	if n := c.metric(t, "esmon_ingested_samples_total"); n < 10 {
		t.Errorf("esmon_ingested_samples_total = %v", n)
	}
	if n := c.metric(t, "esmon_agent_connections"); n != 1 {
		t.Errorf("esmon_agent_connections = %v", n)
	}
}

// TestAgentReconnects stops the core under a running agent and starts a new
// core on the same data directory and port: the agent comes back by itself.
func TestAgentReconnects(t *testing.T) {
	c := startCore(t, "")
	agent := startAgent(t, c)
	h := c.waitHost(t)
	c.stop()

	addr := c.addr()
	start(t, "esmon serve (restarted)", bins.core, "serve", "--data", c.data, "--listen", addr)
	waitFor(t, 40*time.Second, "the agent back on the restarted core", func() bool {
		var got apiv1.Host
		code, err := c.try("GET", "/api/v1/hosts/"+h.ID, nil, &got)
		return err == nil && code == 200 && got.Online && got.LastSeen.After(h.LastSeen.Add(2*time.Second))
	})
	select {
	case <-agent.exited:
		t.Fatal("agent exited while the core was away")
	default:
	}
}
