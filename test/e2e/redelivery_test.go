package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/notify"
	"esmon/core/notify/webhook"
)

// TestRedeliveryAfterKill kills the core (SIGKILL) in the worst moment for
// "sent at most once": the webhook receiver has taken the notification and
// the core has not yet heard so, nor deleted it from its outbox. Started
// again on the same data, the core sends it again, once, with the same
// notification id in the header and the payload and marked as a
// redelivery, so the receiver keeps one copy; the redelivery is counted.
func TestRedeliveryAfterKill(t *testing.T) {
	type post struct {
		id string
		p  webhook.Payload
	}
	var (
		mu    sync.Mutex
		posts []post
		kill  func()
	)
	killed := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p webhook.Payload
		json.Unmarshal(b, &p)
		mu.Lock()
		posts = append(posts, post{r.Header.Get(notify.IDHeader), p})
		first := len(posts) == 1
		mu.Unlock()
		if first {
			kill() // taken here, never acknowledged to the core
			close(killed)
		}
	}))
	defer recv.Close()
	settings := fmt.Sprintf("allow_clear_secrets: true\nchannels:\n  webhooks:\n    - {name: ops, url: '%s/hook'}\nalerting:\n  group_wait: 100ms\n", recv.URL)
	c := startCore(t, settings)
	kill = func() {
		c.cmd.Process.Kill()
		<-c.exited
	}
	startAgent(t, c)
	h := c.waitHost(t)
	rule := apiv1.Rule{Name: "e2e redelivery", Metric: "memory_used_percent", Op: ">", Threshold: 0,
		Severity: apiv1.SeverityCritical, Match: map[string]string{"host": h.ID}, Channels: []string{"ops"}, Enabled: true}
	if code := c.do(t, "POST", "/api/v1/rules", rule, &rule); code != http.StatusCreated {
		t.Fatalf("create rule: status %d", code)
	}
	select {
	case <-killed:
	case <-time.After(30 * time.Second):
		t.Fatal("the webhook never got the notification")
	}

	c2 := startCoreAt(t, c, settings)
	waitFor(t, 30*time.Second, "the notification sent again after the restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(posts) >= 2
	})
	waitFor(t, 10*time.Second, "the redelivery counted", func() bool {
		return c2.metric(t, `esmon_notify_notifications_total{channel="ops",outcome="redelivered"}`) == 1
	})
	time.Sleep(time.Second) // a third copy would have come by now
	mu.Lock()
	defer mu.Unlock()
	if len(posts) != 2 {
		t.Fatalf("%d posts, want the first and one redelivery", len(posts))
	}
	first, again := posts[0], posts[1]
	if first.id == "" || again.id != first.id {
		t.Errorf("notification ids %q then %q, want the same", first.id, again.id)
	}
	if len(again.p.Transitions) != 1 || len(first.p.Transitions) != 1 {
		t.Fatalf("transitions %d then %d, want one each", len(first.p.Transitions), len(again.p.Transitions))
	}
	a, b := first.p.Transitions[0], again.p.Transitions[0]
	if a.Redelivery || !b.Redelivery || a.NotificationID != b.NotificationID || b.Alert.RuleName != "e2e redelivery" {
		t.Errorf("first %+v\nagain %+v\nwant the same notification, the second marked as a redelivery", a, b)
	}
	kept := map[string]bool{}
	for _, p := range posts {
		kept[p.id] = true
	}
	if len(kept) != 1 {
		t.Errorf("a receiver that drops repeats by id keeps %d notifications, want 1", len(kept))
	}
}
