package email

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/notify"
	"esmon/core/notify/notifytest"
	"esmon/internal/mailpit"
	"esmon/internal/testenv"
)

func offline(i int) apiv1.Transition {
	host := fmt.Sprintf("host-%02d", i)
	at := time.Now()
	return apiv1.Transition{
		Alert: apiv1.Alert{ID: "off-" + host, RuleID: "agent-offline", RuleName: "Agent offline", Host: host,
			Severity: apiv1.SeverityVeryCritical, State: apiv1.StateFiring, FiredAt: at,
			Summary: "Agent offline: " + host + " sent nothing for 1m0s"},
		From: apiv1.StateInactive, To: apiv1.StateFiring, At: at, Value: 60,
	}
}

var alertLine = regexp.MustCompile(`Alert:\s+(\S+)`)

// alertCounts counts how often each alert id appears in the mailbox.
func alertCounts(t *testing.T, mp *mailpit.Server) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, m := range mp.Messages(t) {
		for _, g := range alertLine.FindAllStringSubmatch(m.Text, -1) {
			n[g[1]]++
		}
	}
	return n
}

func outboxRouter(t *testing.T, ob notify.Outbox, port int, logs *testenv.Buffer) *notify.Router {
	t.Helper()
	ch, err := New(Config{Host: "127.0.0.1", Port: port, Security: SecurityPlain, From: "esmon@example.com",
		To: []string{"ops@example.com"}, Timeout: apiv1.Duration(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := notify.NewRouter([]notify.Route{{Channel: ch}}, nil, notify.Options{
		Outbox: ob, MaxAttempts: -1, MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSMTPDownThenUp fires alerts while the SMTP server is down (for a
// minute; 3 s with -short), then starts it on the same port: every
// notification arrives exactly once and the outbox ends empty.
func TestSMTPDownThenUp(t *testing.T) {
	down := time.Minute
	if testing.Short() {
		down = 3 * time.Second
	}
	port := mailpit.FreePort(t)
	ob := notifytest.NewOutbox()
	var logs testenv.Buffer
	r := outboxRouter(t, ob, port, &logs)
	defer r.Stop(context.Background())

	const waves = 5
	start := time.Now()
	for w := range waves {
		r.Send(offline(2*w), offline(2*w+1))
		time.Sleep(down / waves)
	}
	if ob.Len() != 2*waves {
		t.Fatalf("outbox holds %d records while the server is down, want %d", ob.Len(), 2*waves)
	}
	mp := mailpit.StartOn(t, port)
	t.Logf("server down for %v", time.Since(start).Round(time.Second))
	deadline := time.Now().Add(15 * time.Second)
	for ob.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // any duplicate would land by now
	got := alertCounts(t, mp)
	for i := range 2 * waves {
		id := offline(i).Alert.ID
		if got[id] != 1 {
			t.Errorf("alert %s arrived %d times, want once", id, got[id])
		}
	}
	if len(got) != 2*waves || ob.Len() != 0 {
		t.Fatalf("mailbox alerts %v, outbox %d; log:\n%s", got, ob.Len(), logs.String())
	}
}

// TestGroupedMail sends 50 alerts that fire together (a switch fails and
// 50 hosts go offline): one mail lists them all.
func TestGroupedMail(t *testing.T) {
	mp := mailpit.Start(t)
	var logs testenv.Buffer
	r := outboxRouter(t, notifytest.NewOutbox(), mp.SMTPPort, &logs)
	ts := make([]apiv1.Transition, 50)
	for i := range ts {
		ts[i] = offline(i)
	}
	r.Send(ts...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := mp.WaitMessages(t, 1)
	if len(msgs) != 1 {
		t.Fatalf("%d mails for 50 alerts firing together, want 1", len(msgs))
	}
	if want := "[FIRING very_critical] 50 alerts (50 firing, 0 resolved): Agent offline: host-00 sent nothing for 1m0s, …"; msgs[0].Subject != want {
		t.Errorf("subject %q, want %q", msgs[0].Subject, want)
	}
	if got := alertCounts(t, mp); len(got) != 50 {
		t.Errorf("the mail lists %d alerts, want 50", len(got))
	}
}

// TestOutboxSurvivesRestart stops a Router while its SMTP server is down
// and starts another on the same outbox once the server is up: the
// notifications left over are sent, once.
func TestOutboxSurvivesRestart(t *testing.T) {
	port := mailpit.FreePort(t)
	ob := notifytest.NewOutbox()
	var logs testenv.Buffer
	r := outboxRouter(t, ob, port, &logs)
	r.Send(offline(1), offline(2), offline(3))
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("Stop waited %v for a channel that is down", d)
	}
	if ob.Len() != 3 {
		t.Fatalf("outbox holds %d after Stop, want 3", ob.Len())
	}

	mp := mailpit.StartOn(t, port)
	r2 := outboxRouter(t, ob, port, &logs)
	if err := r2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mp.WaitMessages(t, 1)
	got := alertCounts(t, mp)
	for i := 1; i <= 3; i++ {
		if id := offline(i).Alert.ID; got[id] != 1 {
			t.Errorf("alert %s arrived %d times after the restart, want once", id, got[id])
		}
	}
	if ob.Len() != 0 {
		t.Errorf("outbox holds %d after delivery", ob.Len())
	}
}
