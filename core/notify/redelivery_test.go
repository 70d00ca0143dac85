package notify

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/notify/notifytest"
)

// crashingOutbox is an outbox whose disk stops changing at the moment of
// a crash: after crash, writes and deletes are lost, as they would be if
// the process had died.
type crashingOutbox struct {
	*notifytest.Outbox
	crashed atomic.Bool
}

func (o *crashingOutbox) Put(k, v []byte) error {
	if o.crashed.Load() {
		return nil
	}
	return o.Outbox.Put(k, v)
}

func (o *crashingOutbox) Delete(k []byte) error {
	if o.crashed.Load() {
		return nil
	}
	return o.Outbox.Delete(k)
}

// receiver is a far end that takes every message and keeps the ones it
// has not seen, by notification id, as a receiver that dedupes would;
// crash, when set, runs once after the first message was taken.
type receiver struct {
	name  string
	crash func()

	mu    sync.Mutex // guards the fields below
	got   []apiv1.Transition
	kept  map[string]bool
	dupes int
}

func (r *receiver) Name() string { return r.name }

func (r *receiver) Notify(_ context.Context, ts ...apiv1.Transition) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range ts {
		r.got = append(r.got, t)
		if r.kept[t.NotificationID] {
			r.dupes++
		}
		r.kept[t.NotificationID] = true
	}
	if r.crash != nil {
		r.crash()
		r.crash = nil
	}
	return false, nil
}

// TestRedeliveryAfterCrash kills the core (freezes its outbox) at the worst
// moments: after a channel took a batch but before the outbox forgot it,
// and before any channel was called. After a restart every notification
// reaches the channel; one that may have reached it before is sent again
// with the same notification id, flagged as a redelivery and counted, so a
// receiver that dedupes by id shows each notification once; one that was
// never handed over is sent once, unflagged.
func TestRedeliveryAfterCrash(t *testing.T) {
	tests := []struct {
		name            string
		crashAfterTaken bool
		wantCalls       int // messages the receiver got over both runs
		wantRedelivered float64
	}{
		{"crash after the channel took the batch", true, 6, 3},
		{"crash before the channel took anything", false, 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ob := &crashingOutbox{Outbox: notifytest.NewOutbox()}
			rc := &receiver{name: "webhook", kept: map[string]bool{}}
			crashed := make(chan struct{})
			crash := func() { ob.crashed.Store(true); close(crashed) }
			// Before the crash the far end takes the batch, or refuses
			// everything until the crash.
			var first Notifier = rc
			if tc.crashAfterTaken {
				rc.crash = crash
			} else {
				first = &fakeChannel{name: "webhook", script: slices.Repeat([]result{{retry: true, err: context.DeadlineExceeded}}, 1000)}
			}
			r1, _, _ := newTestRouter(t, []Route{{Channel: first}}, Options{Outbox: ob, MaxAttempts: -1, MinBackoff: time.Millisecond})
			r1.Send(firing(3, apiv1.SeverityCritical)...) // on disk when Send returns
			if !tc.crashAfterTaken {
				crash()
			}
			<-crashed
			stop(t, r1)
			before := slices.Clone(rc.got)

			// Restart on what the disk holds.
			r2, reg, _ := newTestRouter(t, []Route{{Channel: rc}}, Options{Outbox: ob.Outbox, MaxAttempts: -1})
			r2.Send(transition("after", apiv1.SeverityCritical, apiv1.StateFiring))
			stop(t, r2)

			if n := len(rc.got) - 1; n != tc.wantCalls {
				t.Fatalf("receiver got %d notifications of the first three, want %d", n, tc.wantCalls)
			}
			if len(rc.kept) != 4 {
				t.Errorf("receiver kept %d distinct notifications, want 4", len(rc.kept))
			}
			again := rc.got[len(before):]
			for i, x := range again[:len(again)-1] {
				wantRedelivery := tc.crashAfterTaken
				if x.Redelivery != wantRedelivery {
					t.Errorf("resent %s: redelivery %v, want %v", x.Alert.ID, x.Redelivery, wantRedelivery)
				}
				if tc.crashAfterTaken && x.NotificationID != before[i].NotificationID {
					t.Errorf("resent %s with id %q, first sent as %q", x.Alert.ID, x.NotificationID, before[i].NotificationID)
				}
			}
			if last := again[len(again)-1]; last.Alert.ID != "after" || last.Redelivery {
				t.Errorf("the notification after the restart: %+v", last)
			}
			if got := counter(t, reg, "webhook", OutcomeRedelivered); got != tc.wantRedelivered {
				t.Errorf("redelivered counted %v, want %v", got, tc.wantRedelivered)
			}
			if ob.Len() != 0 {
				t.Errorf("outbox holds %d records after delivery", ob.Len())
			}
		})
	}
}

// TestMessageID: one id per transition, a stable digest per group, none
// without ids.
func TestMessageID(t *testing.T) {
	a, b := apiv1.Transition{NotificationID: "a1"}, apiv1.Transition{NotificationID: "b2"}
	tests := []struct {
		name string
		ts   []apiv1.Transition
		want func(string) bool
	}{
		{"one", []apiv1.Transition{a}, func(s string) bool { return s == "a1" }},
		{"group is stable", []apiv1.Transition{a, b}, func(s string) bool { return s == MessageID(a, b) && len(s) == 32 }},
		{"order matters", []apiv1.Transition{b, a}, func(s string) bool { return s != MessageID(a, b) }},
		{"without ids", []apiv1.Transition{a, {}}, func(s string) bool { return s == "" }},
	}
	for _, tc := range tests {
		if got := MessageID(tc.ts...); !tc.want(got) {
			t.Errorf("%s: %q", tc.name, got)
		}
	}
}
