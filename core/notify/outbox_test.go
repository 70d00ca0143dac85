package notify

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/notify/notifytest"
	"esmon/core/store"
)

// TestRouterRouting checks who hears of what: severity routes, a rule's
// own channels, escalation to one channel, muted transitions, and
// acknowledgements that go to nobody.
func TestRouterRouting(t *testing.T) {
	withRule := func(t apiv1.Transition, chs ...string) apiv1.Transition { t.Alert.Channels = chs; return t }
	tests := []struct {
		name string
		t    apiv1.Transition
		want string // channels that get it, in route order
	}{
		{"critical by severity", transition("a", apiv1.SeverityCritical, apiv1.StateFiring), "log desktop teams"},
		{"warning by severity", transition("a", apiv1.SeverityWarning, apiv1.StateFiring), "log teams"},
		{"very critical", transition("a", apiv1.SeverityVeryCritical, apiv1.StateFiring), "log desktop email teams"},
		{"rule routes to email only", withRule(transition("a", apiv1.SeverityInfo, apiv1.StateFiring), "email"), "log email"},
		{"escalation to teams", func() apiv1.Transition {
			x := transition("a", apiv1.SeverityCritical, apiv1.StateFiring)
			x.Reason, x.Escalated = "escalation", "teams"
			return x
		}(), "log teams"},
		{"escalation step to two channels, over the rule's own", func() apiv1.Transition {
			x := withRule(transition("a", apiv1.SeverityCritical, apiv1.StateFiring), "desktop")
			x.Reason, x.Escalated, x.EscalateTo = "escalation", "email,teams", []string{"email", "teams"}
			return x
		}(), "log email teams"},
		{"muted", func() apiv1.Transition {
			x := transition("a", apiv1.SeverityVeryCritical, apiv1.StateFiring)
			x.Muted = true
			return x
		}(), "log"},
		{"acknowledged", func() apiv1.Transition {
			x := transition("a", apiv1.SeverityVeryCritical, apiv1.StateFiring)
			x.Reason = "acknowledged"
			return x
		}(), ""},
		{"pending", transition("a", apiv1.SeverityVeryCritical, apiv1.StatePending), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chs := []*fakeChannel{{name: "log"}, {name: "desktop"}, {name: "email"}, {name: "teams"}}
			r, _, _ := newTestRouter(t, []Route{
				{Channel: chs[0], Always: true},
				{Channel: chs[1], MinSeverity: apiv1.SeverityCritical},
				{Channel: chs[2], MinSeverity: apiv1.SeverityVeryCritical},
				{Channel: chs[3], MinSeverity: apiv1.SeverityWarning},
			}, Options{})
			r.Send(tc.t)
			stop(t, r)
			var got []string
			for _, c := range chs {
				if len(c.ids()) > 0 {
					got = append(got, c.name)
				}
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Fatalf("delivered to %q, want %q", s, tc.want)
			}
		})
	}
}

func TestRouterHonoursRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"retry after", &RetryAfterError{After: 7 * time.Second, Err: errors.New("429")}, 7 * time.Second},
		{"retry after capped", &RetryAfterError{After: time.Hour, Err: errors.New("429")}, time.Minute},
		{"plain failure", errors.New("500"), time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := &fakeChannel{name: "teams", script: []result{{retry: true, err: tc.err}}}
			var sl sleeps
			r, _, _ := newTestRouter(t, []Route{{Channel: ch}}, Options{Sleep: sl.sleep, MaxBackoff: time.Minute})
			r.Send(firing(1, apiv1.SeverityCritical)...)
			stop(t, r)
			if got := sl.waits(); len(got) != 1 || got[0] != tc.want {
				t.Fatalf("waits %v, want [%v]", got, tc.want)
			}
			if got := ch.ids(); !slices.Equal(got, []string{"a0"}) {
				t.Fatalf("delivered %v", got)
			}
		})
	}
}

// TestRouterGroupWait sends alerts in three bursts within the group wait:
// the channel gets them in one call.
func TestRouterGroupWait(t *testing.T) {
	ch := &fakeChannel{name: "teams"}
	r, _, _ := newTestRouter(t, []Route{{Channel: ch}}, Options{GroupWait: 200 * time.Millisecond})
	for i := range 3 {
		r.Send(transition(string(rune('a'+i)), apiv1.SeverityCritical, apiv1.StateFiring))
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(400 * time.Millisecond)
	if n := ch.callCount(); n != 1 || len(ch.ids()) != 3 {
		t.Fatalf("%d calls for %v, want 1 call with 3", n, ch.ids())
	}
	stop(t, r)
}

// TestRouterOutbox checks the outbox's life: written before sending,
// emptied once sent, kept over a stop while the channel is down, sent
// once after, and cleared of channels no longer configured.
func TestRouterOutbox(t *testing.T) {
	ob := notifytest.NewOutbox()
	down := &fakeChannel{name: "email", script: slices.Repeat([]result{{retry: true, err: errors.New("connection refused")}}, 1000)}
	r, reg, _ := newTestRouter(t, []Route{{Channel: down}}, Options{Outbox: ob, MaxAttempts: -1, MinBackoff: time.Millisecond})
	r.Send(firing(3, apiv1.SeverityCritical)...)
	time.Sleep(50 * time.Millisecond)
	if ob.Len() != 3 {
		t.Fatalf("outbox holds %d while the channel is down, want 3", ob.Len())
	}
	stop(t, r)
	if ob.Len() != 3 || counter(t, reg, "email", OutcomeDropped) != 0 {
		t.Fatalf("after Stop: outbox %d, dropped %v; want 3 kept, none dropped", ob.Len(), counter(t, reg, "email", OutcomeDropped))
	}
	// A record of a channel that is gone is cleared on the next start.
	ob.Put(outboxKey("pager", 99), []byte(`{}`))

	up := &fakeChannel{name: "email"}
	r2, _, _ := newTestRouter(t, []Route{{Channel: up}}, Options{Outbox: ob, MaxAttempts: -1})
	r2.Send(transition("later", apiv1.SeverityCritical, apiv1.StateFiring))
	stop(t, r2)
	if got := up.ids(); !slices.Equal(got, []string{"a0", "a1", "a2", "later"}) {
		t.Fatalf("after restart the channel got %v", got)
	}
	if ob.Len() != 0 {
		t.Fatalf("outbox holds %d after delivery", ob.Len())
	}
	if k := outboxKey("email", 1); k[0] != store.PrefixOutbox {
		t.Fatalf("outbox key %q lacks the store prefix", k)
	}
}

// TestRouterTest sends a test notification straight to a channel.
func TestRouterTest(t *testing.T) {
	ok := &fakeChannel{name: "teams"}
	bad := &fakeChannel{name: "email", script: []result{{err: errors.New("535 auth failed")}}}
	r, _, _ := newTestRouter(t, []Route{{Channel: ok}, {Channel: bad}}, Options{})
	if err := r.Test(context.Background(), "teams", "admin"); err != nil || len(ok.got) != 1 || !strings.Contains(ok.got[0].Alert.Summary, "admin") {
		t.Fatalf("test teams: %v %+v", err, ok.got)
	}
	if err := r.Test(context.Background(), "email", "admin"); err == nil || !strings.Contains(err.Error(), "535") {
		t.Fatalf("test email: %v", err)
	}
	if err := r.Test(context.Background(), "pager", "admin"); !errors.Is(err, ErrNoChannel) {
		t.Fatalf("test of an unknown channel: %v", err)
	}
	chs := r.Channels()
	if len(chs) != 2 || chs[0].Name != "teams" {
		t.Fatalf("channels %+v", chs)
	}
}
