package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/notify/notifytest"
	"esmon/core/store"
)

// crashingOutbox is an outbox whose disk stops changing at the moment of
// a crash: after crash, writes and deletes are lost, as they would be if
// the process had died. crashAfter, when set, crashes it just after the
// write it matches has landed.
type crashingOutbox struct {
	*notifytest.Outbox
	crashed    atomic.Bool
	crashAfter func(k, v []byte) bool
	onCrash    func()
}

func (o *crashingOutbox) Put(k, v []byte) error {
	if o.crashed.Load() {
		return nil
	}
	err := o.Outbox.Put(k, v)
	if o.crashAfter != nil && o.crashAfter(k, v) {
		o.crash()
	}
	return err
}

func (o *crashingOutbox) Delete(k []byte) error {
	if o.crashed.Load() {
		return nil
	}
	return o.Outbox.Delete(k)
}

func (o *crashingOutbox) crash() {
	if o.crashed.CompareAndSwap(false, true) && o.onCrash != nil {
		o.onCrash()
	}
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

// TestCrashInSendWindow kills the core (freezes its outbox) at the worst
// moments: while a channel has a batch in hand, before the core heard its
// answer; just after the answer, before the outbox forgot the batch; and
// before any channel was called. After a restart:
//
//   - by default a batch the channel had in hand is not sent again (sent
//     at most once): it is counted and logged as "delivery unknown" and
//     listed by Unknown, over further restarts too;
//   - with RedeliverUnknown it is sent again, once, with the same
//     notification ids, flagged as a redelivery and counted, so a receiver
//     that dedupes by id shows each notification once;
//   - a batch whose answer was heard is neither sent again nor unknown;
//   - one that was never handed over is sent once, unflagged.
func TestCrashInSendWindow(t *testing.T) {
	const (
		whileInHand = iota
		afterAnswer
		beforeSend
	)
	tests := []struct {
		name            string
		crash           int
		redeliver       bool
		wantCalls       int // messages of the first three the receiver got over both runs
		wantUnknown     float64
		wantRedelivered float64
	}{
		{"channel has the batch in hand", whileInHand, false, 3, 3, 0},
		{"channel has the batch in hand, redeliver_unknown", whileInHand, true, 6, 0, 3},
		{"channel answered, outbox not yet cleared", afterAnswer, false, 3, 0, 0},
		{"channel answered, outbox not yet cleared, redeliver_unknown", afterAnswer, true, 3, 0, 0},
		{"before the channel took anything", beforeSend, false, 3, 0, 0},
		{"before the channel took anything, redeliver_unknown", beforeSend, true, 3, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ob := &crashingOutbox{Outbox: notifytest.NewOutbox()}
			rc := &receiver{name: "webhook", kept: map[string]bool{}}
			crashed := make(chan struct{})
			ob.onCrash = func() { close(crashed) }
			// Before the crash the far end takes the batch, or refuses
			// everything until the crash.
			var first Notifier = rc
			switch tc.crash {
			case whileInHand:
				rc.crash = ob.crash
			case afterAnswer:
				ob.crashAfter = func(k, v []byte) bool {
					return bytes.Equal(k, inflightKey("webhook")) && bytes.Contains(v, []byte(`"done"`))
				}
			case beforeSend:
				first = &fakeChannel{name: "webhook", script: slices.Repeat([]result{{retry: true, err: context.DeadlineExceeded}}, 1000)}
			}
			opts := Options{Outbox: ob, MaxAttempts: -1, MinBackoff: time.Millisecond, RedeliverUnknown: tc.redeliver}
			r1, _, _ := newTestRouter(t, []Route{{Channel: first}}, opts)
			r1.Send(firing(3, apiv1.SeverityCritical)...) // on disk when Send returns
			if tc.crash == beforeSend {
				ob.crash()
			}
			<-crashed
			stop(t, r1)
			before := slices.Clone(rc.got)

			// Restart on what the disk holds.
			opts.Outbox = ob.Outbox
			r2, reg, logs := newTestRouter(t, []Route{{Channel: rc}}, opts)
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
				wantRedelivery := tc.wantRedelivered > 0
				if x.Redelivery != wantRedelivery {
					t.Errorf("resent %s: redelivery %v, want %v", x.Alert.ID, x.Redelivery, wantRedelivery)
				}
				if wantRedelivery && x.NotificationID != before[i].NotificationID {
					t.Errorf("resent %s with id %q, first sent as %q", x.Alert.ID, x.NotificationID, before[i].NotificationID)
				}
			}
			if last := again[len(again)-1]; last.Alert.ID != "after" || last.Redelivery {
				t.Errorf("the notification after the restart: %+v", last)
			}
			if got := counter(t, reg, "webhook", OutcomeRedelivered); got != tc.wantRedelivered {
				t.Errorf("redelivered counted %v, want %v", got, tc.wantRedelivered)
			}
			if got := counter(t, reg, "webhook", OutcomeUnknown); got != tc.wantUnknown {
				t.Errorf("unknown counted %v, want %v", got, tc.wantUnknown)
			}
			if ob.Len() != 0 {
				t.Errorf("outbox holds %d notifications to send after delivery", ob.Len())
			}
			if tc.wantUnknown > 0 && !strings.Contains(logs.String(), "level=WARN msg=\"notify outbox: delivery unknown") {
				t.Errorf("no warning of the unknown delivery in the log:\n%s", logs.String())
			}

			// What is unknown stays listed over a further restart, and
			// is still not sent.
			r3, _, _ := newTestRouter(t, []Route{{Channel: rc}}, opts)
			stop(t, r3)
			unknown := r3.Unknown("webhook")
			if len(unknown) != int(tc.wantUnknown) {
				t.Fatalf("Unknown lists %d notifications, want %v", len(unknown), tc.wantUnknown)
			}
			for i, x := range unknown {
				if x.NotificationID != before[i].NotificationID || x.Alert.ID != before[i].Alert.ID {
					t.Errorf("unknown %d: %s %q, want %s %q", i, x.Alert.ID, x.NotificationID, before[i].Alert.ID, before[i].NotificationID)
				}
			}
			if n := len(rc.got) - 1; n != tc.wantCalls {
				t.Errorf("after a further restart the receiver got %d of the first three, want %d", n, tc.wantCalls)
			}
		})
	}
}

// TestUnknownBounded: a channel keeps its newest maxUnknown
// delivery-unknown records, oldest forgotten first.
func TestUnknownBounded(t *testing.T) {
	ob := notifytest.NewOutbox()
	var seqs []uint64
	for i := range maxUnknown + 5 {
		seq := uint64(i + 1)
		b, _ := json.Marshal(transition(fmt.Sprintf("a%d", i), apiv1.SeverityCritical, apiv1.StateFiring))
		ob.Put(outboxKey("webhook", seq), b)
		seqs = append(seqs, seq)
	}
	mark, _ := json.Marshal(inflightMark{Sending: seqs})
	ob.Put(inflightKey("webhook"), mark)
	rc := &receiver{name: "webhook", kept: map[string]bool{}}
	r, _, _ := newTestRouter(t, []Route{{Channel: rc}}, Options{Outbox: ob})
	stop(t, r)
	got := r.Unknown("webhook")
	if len(got) != maxUnknown || got[0].Alert.ID != "a5" || got[len(got)-1].Alert.ID != fmt.Sprintf("a%d", maxUnknown+4) {
		t.Fatalf("Unknown lists %d, first %s; want the newest %d, a5 first", len(got), got[0].Alert.ID, maxUnknown)
	}
	if len(rc.got) != 0 {
		t.Fatalf("the channel got %d notifications whose delivery was unknown", len(rc.got))
	}
	n := 0
	ob.Scan([]byte{store.PrefixOutbox}, func(k, _ []byte) bool { n++; return true })
	if n != maxUnknown {
		t.Fatalf("outbox holds %d keys, want the %d unknown records", n, maxUnknown)
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

// TestLegacyInflightMark: a mark written by a core before "done" marks
// existed (a bare list of sequence numbers) still means "in the channel's
// hands": its notifications are unknown, not sent again; the others are.
func TestLegacyInflightMark(t *testing.T) {
	ob := notifytest.NewOutbox()
	for i := range 3 {
		b, _ := json.Marshal(transition(fmt.Sprintf("a%d", i), apiv1.SeverityCritical, apiv1.StateFiring))
		ob.Put(outboxKey("webhook", uint64(i+1)), b)
	}
	ob.Put(inflightKey("webhook"), []byte(`[1,2]`))
	rc := &receiver{name: "webhook", kept: map[string]bool{}}
	r, reg, _ := newTestRouter(t, []Route{{Channel: rc}}, Options{Outbox: ob})
	stop(t, r)
	var sent, unknown []string
	for _, x := range rc.got {
		sent = append(sent, x.Alert.ID)
	}
	for _, x := range r.Unknown("webhook") {
		unknown = append(unknown, x.Alert.ID)
	}
	if strings.Join(sent, " ") != "a2" || strings.Join(unknown, " ") != "a0 a1" || counter(t, reg, "webhook", OutcomeUnknown) != 2 {
		t.Fatalf("sent %v, unknown %v (counted %v); want a2 sent, a0 a1 unknown", sent, unknown, counter(t, reg, "webhook", OutcomeUnknown))
	}
}
