package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
// again on the same data, the core by default does not send it again: it
// counts it as outcome "unknown" and lists it under the channel in
// GET /api/v1/channels, with its notification id. With
// alerting.redeliver_unknown it sends it again, once, with the same
// notification id in the header and the payload and marked as a
// redelivery, so a receiver that drops repeats keeps one copy; the
// redelivery is counted. Either way a second alert notified after the
// restart arrives after anything the restart resent, once.
func TestRedeliveryAfterKill(t *testing.T) {
	tests := []struct {
		name      string
		redeliver bool
		want      string // rules of the posts, in order
	}{
		{"at most once (default)", false, "e2e killed, e2e after"},
		{"redeliver_unknown", true, "e2e killed, e2e killed, e2e after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
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
			settings := fmt.Sprintf("allow_clear_secrets: true\nchannels:\n  webhooks:\n    - {name: ops, url: '%s/hook'}\nalerting:\n  group_wait: 100ms\n  redeliver_unknown: %v\n", recv.URL, tc.redeliver)
			c := startCore(t, settings)
			kill = func() {
				c.cmd.Process.Kill()
				<-c.exited
			}
			startAgent(t, c)
			h := c.waitHost(t)
			rule := func(name string) {
				r := apiv1.Rule{Name: name, Metric: "memory_used_percent", Op: ">", Threshold: 0,
					Severity: apiv1.SeverityCritical, Match: map[string]string{"host": h.ID}, Channels: []string{"ops"}, Enabled: true}
				if code := c.do(t, "POST", "/api/v1/rules", r, &r); code != http.StatusCreated {
					t.Fatalf("create rule %s: status %d", name, code)
				}
			}
			rule("e2e killed")
			select {
			case <-killed:
			case <-time.After(30 * time.Second):
				t.Fatal("the webhook never got the notification")
			}

			c2 := startCoreAt(t, c, settings)
			rule("e2e after")
			rules := func() string {
				mu.Lock()
				defer mu.Unlock()
				var rs []string
				for _, p := range posts {
					for _, x := range p.p.Transitions {
						rs = append(rs, x.Alert.RuleName)
					}
				}
				return strings.Join(rs, ", ")
			}
			waitFor(t, 30*time.Second, "the alert notified after the restart", func() bool { return strings.HasSuffix(rules(), "e2e after") })
			if got := rules(); got != tc.want {
				t.Fatalf("posts of %q, want %q", got, tc.want)
			}
			mu.Lock()
			first := posts[0]
			mu.Unlock()
			if first.id == "" || len(first.p.Transitions) != 1 || first.p.Transitions[0].NotificationID != first.id || first.p.Transitions[0].Redelivery {
				t.Fatalf("first post: id %q, %+v", first.id, first.p.Transitions)
			}

			var chs []apiv1.Channel
			c2.do(t, "GET", "/api/v1/channels", nil, &chs)
			var unknown []apiv1.Transition
			for _, ch := range chs {
				if ch.Name == "ops" {
					unknown = ch.Unknown
				}
			}
			if !tc.redeliver {
				if len(unknown) != 1 || unknown[0].NotificationID != first.id || unknown[0].Alert.RuleName != "e2e killed" {
					t.Errorf("GET /api/v1/channels lists as unknown %+v, want the killed notification %s", unknown, first.id)
				}
				if got := c2.metric(t, `esmon_notify_notifications_total{channel="ops",outcome="unknown"}`); got != 1 {
					t.Errorf("unknown outcome %v, want 1", got)
				}
				return
			}
			if len(unknown) != 0 {
				t.Errorf("GET /api/v1/channels lists %d unknown with redeliver_unknown, want none", len(unknown))
			}
			if got := c2.metric(t, `esmon_notify_notifications_total{channel="ops",outcome="redelivered"}`); got != 1 {
				t.Errorf("redelivered outcome %v, want 1", got)
			}
			mu.Lock()
			again := posts[1]
			mu.Unlock()
			if again.id != first.id || len(again.p.Transitions) != 1 || !again.p.Transitions[0].Redelivery || again.p.Transitions[0].NotificationID != first.id {
				t.Errorf("first %q %+v\nagain %q %+v\nwant the same notification, the second marked as a redelivery", first.id, first.p.Transitions, again.id, again.p.Transitions)
			}
		})
	}
}
