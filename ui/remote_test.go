package ui

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"esmon/core"
	"esmon/core/apiv1"
	"esmon/core/store"
	"esmon/core/wire"
	"esmon/ui/remote"
)

// startCore runs a real core on loopback, with its default TLS, until the
// test ends, and returns it with its admin token.
func startCore(t *testing.T) (*core.Core, string) {
	t.Helper()
	dir := t.TempDir()
	c, err := core.New(core.Options{DataDir: dir, Listen: "127.0.0.1:0", Version: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("core Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("core did not stop")
		}
	})
	b, err := os.ReadFile(c.AdminTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	return c, strings.TrimSpace(string(b))
}

// reportCPU enrols an agent for host through a join code, says hello and
// stores one CPU sample, as the hub does for a real agent's batch.
func reportCPU(t *testing.T, c *core.Core, host string, cpu float64) {
	t.Helper()
	jc, err := c.CreateJoinCode(apiv1.NewJoinCode{Uses: 1, TTLSeconds: 600})
	if err != nil {
		t.Fatalf("join code: %v", err)
	}
	code, err := wire.ParseJoinCode(jc.Code)
	if err != nil {
		t.Fatal(err)
	}
	facts := wire.HostFacts{Hostname: host, OS: "linux", Platform: "debian", PlatformVersion: "12", Cores: 4}
	r, err := c.Enrol(wire.EnrolRequest{Secret: code.Secret, Host: facts}, "127.0.0.1:1")
	if err != nil {
		t.Fatalf("enrol: %v", err)
	}
	id, err := c.Hello(&wire.Hello{Version: wire.Version, AgentID: r.AgentID, Token: r.Credential, Host: facts})
	if err != nil {
		t.Fatalf("hello: %v", err)
	}
	err = c.Ingest(context.Background(), id, []store.Sample{{Metric: wire.CPUUsagePercent,
		Labels: store.Labels{{Name: "host", Value: id}}, T: time.Now().UnixMilli(), V: cpu}})
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
}

// TestRemoteClientDrivesConsole attaches the console to a real core over
// HTTPS (pinned key) and /ws/live, as `esmon --connect` does: a rule saved
// through the client fires on a host's sample, the push reaches the
// console's overview, tray and notifications, and an acknowledgement from
// the tray comes back through the feed with who made it.
func TestRemoteClientDrivesConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a core")
	}
	c, token := startCore(t)
	// A core in use has its admin; without one the first-run screen
	// would stand in front of the overview (setup_test.go).
	if _, err := c.People().Setup(context.Background(), "ops", "correct horse battery", "test"); err != nil {
		t.Fatalf("first admin: %v", err)
	}
	rc, err := remote.New(remote.Options{URL: c.WebURL(), Token: token, Fingerprint: c.Pin(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var _ Client = rc

	ta := &trayApp{App: test.NewTempApp(t)}
	tc := &console{Console: NewConsole(ta, quietLogger()), app: ta, loop: newUILoop()}
	tc.onUI = tc.loop.do
	tc.setTooltip = func(s string) { tc.tooltips = append(tc.tooltips, s) }
	tc.SetOptions(Options{NotifyFromFeed: true})
	stop := tc.Start(context.Background(), rc)
	defer func() {
		close(tc.loop.quit)
		stop()
	}()
	tc.show()
	tc.loop.until(t, "the live snapshot", func() bool { return tc.model.connected })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rule, err := rc.SaveRule(ctx, apiv1.Rule{Name: "Hot CPU", Kind: apiv1.RuleThreshold, Metric: wire.CPUUsagePercent,
		Op: ">", Threshold: 90, Severity: apiv1.SeverityCritical, Enabled: true}, true)
	if err != nil {
		t.Fatalf("save rule: %v", err)
	}
	reportCPU(t, c, "web-01", 97.5)

	tc.loop.until(t, "the firing alert in the console", func() bool {
		for _, a := range tc.model.alerts {
			if a.RuleID == rule.ID && a.State == apiv1.StateFiring {
				return true
			}
		}
		return false
	})
	tc.loop.until(t, "web-01 in the overview", func() bool { return tc.hostRow("web-01") != nil })
	if got := tc.hostRow("web-01").cpu.Text(); got != "CPU 98%" {
		t.Errorf("web-01 CPU gauge = %q", got)
	}
	tc.assertTray(t, apiv1.SeverityCritical, "esmon: 1 critical")
	tc.loop.until(t, "the desktop notification", func() bool { return len(ta.notifications()) == 1 })
	if got := ta.notifications()[0]; got != "FIRING critical: Hot CPU" {
		t.Errorf("notification = %q", got)
	}

	// Acknowledge from the tray; the feed brings back who did it.
	logs := &strings.Builder{}
	tc.logger = slog.New(slog.NewTextHandler(logs, nil))
	defer func() {
		if t.Failed() {
			t.Logf("console log:\n%s", logs)
		}
	}()
	menuItem(t, ta.menu, MenuAck, "CRITICAL Hot CPU").Action()
	var ack *apiv1.Ack
	tc.loop.until(t, "the acknowledgement through the feed", func() bool {
		for _, a := range tc.model.alerts {
			if a.RuleID == rule.ID {
				ack = a.Ack
			}
		}
		return ack != nil
	})
	if ack.By == "" || ack.Comment != "acknowledged from the tray" {
		t.Errorf("ack = %+v", ack)
	}

	// The screens' reads go through the same client.
	hist, err := rc.History(ctx, 10)
	if err != nil || len(hist) == 0 || hist[0].Alert.RuleID != rule.ID {
		t.Errorf("history: %v, %d entries", err, len(hist))
	}
	res, err := rc.Query(ctx, Query{Host: "web-01", Metric: wire.CPUUsagePercent, From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Minute)})
	if err != nil || len(res.Series) != 1 || len(res.Series[0].Points) != 1 || res.Series[0].Points[0].V != 97.5 {
		t.Errorf("query: %v, %+v", err, res)
	}
	chans, err := rc.Channels(ctx)
	if err != nil || len(chans) == 0 {
		t.Errorf("channels: %v, %v", err, chans)
	}
}
