package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/internal/mailpit"
)

// TestNotificationsSurviveRestart fires a very_critical alert while the
// SMTP server is down, stops the core with the mail still unsent, brings
// the SMTP server up and starts the core again on the same data: the mail
// left in the outbox arrives, once.
func TestNotificationsSurviveRestart(t *testing.T) {
	port := mailpit.FreePort(t)
	settings := fmt.Sprintf(`
offline_after: 10s
smtp:
  host: 127.0.0.1
  port: %d
  security: plain
  from: esmon <esmon@example.test>
  to: [ops@example.test]
  timeout: 2s
`, port)
	c := startCore(t, settings)
	agent := startAgent(t, c)
	h := c.waitHost(t)
	feed := c.subscribe(t)

	rule := apiv1.Rule{Name: "e2e restart", Metric: "memory_used_percent", Op: ">", Threshold: 0,
		Severity: apiv1.SeverityVeryCritical, Match: map[string]string{"host": h.ID}, Enabled: true}
	if code := c.do(t, "POST", "/api/v1/rules", rule, &rule); code != 201 {
		t.Fatalf("create rule: status %d", code)
	}
	feed.transition(t, "e2e restart", apiv1.StateFiring)
	waitFor(t, 10*time.Second, "the mail queued for the email channel", func() bool {
		var chs []apiv1.Channel
		c.do(t, "GET", "/api/v1/channels", nil, &chs)
		for _, ch := range chs {
			if ch.Name == "email" && ch.Queued > 0 {
				return true
			}
		}
		return false
	})
	agent.stop()
	c.stop()

	mp := mailpit.StartOn(t, port)
	cfg := filepath.Join(t.TempDir(), "esmon.yaml")
	if err := os.WriteFile(cfg, []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := c.addr()
	start(t, "esmon serve (restarted)", bins.core, "serve", "--data", c.data, "--listen", addr, "--config", cfg)
	msgs := mp.WaitMessages(t, 1)
	time.Sleep(time.Second) // a second copy would arrive by now
	msgs = mp.Messages(t)
	n := 0
	for _, m := range msgs {
		if strings.Contains(m.Subject, "FIRING") && strings.Contains(m.Text, "e2e restart") {
			n++
		}
	}
	if n != 1 {
		var subjects []string
		for _, m := range msgs {
			subjects = append(subjects, m.Subject)
		}
		t.Fatalf("%d FIRING mails after the restart, want 1: %q", n, subjects)
	}
}
