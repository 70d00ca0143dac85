package apiv1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The short host event, alone and as an array in a batch, decodes to the
// host it was made from, with the identity and tags the feed sent last.
func TestLiveDecoderShortHostEvents(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 123e6, time.UTC)
	facts := HostFacts{Hostname: "web-01", OS: "linux", Cores: 4}
	var d LiveDecoder
	first := []byte(`{"type":"host","host":{"id":"web-01","agent_version":"1.0","online":true,"status":"ok",` +
		`"gauges":{"cpu":1,"memory":2,"disk":3},"tags":["prod"],"facts":{"hostname":"web-01","os":"linux","cores":4}}}`)
	if _, err := d.Decode(first); err != nil {
		t.Fatal(err)
	}
	epoch := at.Truncate(time.Hour).UnixMilli()
	if evs, err := d.Decode(EpochEvent(epoch)); err != nil || len(evs) != 0 {
		t.Fatalf("epoch event: %v %+v, want no event", err, evs)
	}
	h := Host{ID: "web-01", Online: true, LastSeen: at, Status: SeverityWarning, Gauges: Gauges{CPU: 12.5, Memory: 50.25, Disk: 99}}
	brief, ok, err := HostBrief(&h, 0, epoch)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	// warning (3) online: 2*3+1; the time 123 ms after the epoch; the
	// gauges in whole percent.
	if want := `{"type":"h","h":["web-01",7,123,13,50,99]}`; string(brief) != want {
		t.Fatalf("HostBrief = %s, want %s", brief, want)
	}
	h.Gauges = Gauges{CPU: 13, Memory: 50, Disk: 99} // as the reader gets them
	offline := h
	offline.Online, offline.LastSeen, offline.Status = false, time.Time{}, StatusOffline
	off, _, _ := HostBrief(&offline, 0, epoch)
	row, _ := HostBriefRow(brief)
	offRow, _ := HostBriefRow(off)
	if string(row) != `["web-01",7,123,13,50,99]` || string(offRow) != `["web-01",2,null,13,50,99]` {
		t.Fatalf("HostBriefRow = %s and %s", row, offRow)
	}
	if _, ok, _ := HostBrief(&Host{ID: "x", Status: "unknown"}, 0, epoch); ok {
		t.Error("a status the short form has no number for went short")
	}
	batch := []byte(`{"type":"batch","events":[` + string(row) +
		`,{"type":"alert","transition":{"to":"firing"}},` + string(offRow) + `]}`)

	for _, tc := range []struct {
		name string
		msg  []byte
		want []Host
	}{
		{"alone", brief, []Host{h}},
		{"in a batch", batch, []Host{h, {}, offline}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := d.Decode(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != len(tc.want) {
				t.Fatalf("%d events, want %d", len(evs), len(tc.want))
			}
			for i, want := range tc.want {
				ev := evs[i]
				if want.ID == "" {
					if ev.Type != EventAlert {
						t.Errorf("event %d: %s, want the alert", i, ev.Type)
					}
					continue
				}
				got := ev.Host
				if ev.Type != EventHost || got == nil {
					t.Fatalf("event %d: %+v, want a host event", i, ev)
				}
				if got.ID != want.ID || got.Online != want.Online || !got.LastSeen.Equal(want.LastSeen) ||
					got.Status != want.Status || got.Gauges != want.Gauges {
					t.Errorf("event %d: %+v, want %+v", i, got, want)
				}
				if got.Facts != facts || got.AgentVersion != "1.0" || !slices.Equal(got.Tags, []string{"prod"}) {
					t.Errorf("event %d lost the identity: %+v", i, got)
				}
			}
		})
	}
	if _, err := d.Decode([]byte(`{"type":"h","h":["web-01",12,1,1,2,3]}`)); err == nil {
		t.Error("a state past very_critical decoded")
	}
	if _, err := d.Decode([]byte(`{"type":"h","h":["web-01",1]}`)); err == nil {
		t.Error("a short host event of two fields decoded")
	}
}

// A pending alert that ends without firing comes short; the decoder gives
// it the alert it had from the snapshot or the transition to pending.
func TestLiveDecoderShortAlertEvents(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 123e6, time.UTC)
	pending := Alert{ID: "a1", RuleName: "High CPU", Host: "web-01", Metric: "cpu_usage_percent", Severity: SeverityCritical,
		State: StatePending, Value: 91, Op: ">", Threshold: 90, Summary: "cpu high", ActiveAt: at.Add(-time.Minute)}
	gone := Transition{Alert: pending, From: StatePending, To: StateInactive, At: at, Value: 42.5, Threshold: 90}
	gone.Alert.State = StateInactive
	msg, ok, err := AlertBrief(&gone, nil, BriefRefs{})
	if err != nil || !ok {
		t.Fatalf("AlertBrief: %v %v", ok, err)
	}
	if want := `{"type":"a","a":["a1",1795867200123,42.5]}`; string(msg) != want {
		t.Fatalf("AlertBrief = %s, want %s", msg, want)
	}
	for _, tr := range []Transition{
		{Alert: pending, From: StateInactive, To: StatePending},
		{Alert: pending, From: StatePending, To: StateFiring},
		{Alert: pending, From: StateFiring, To: StateResolved},
		{Alert: pending, From: StatePending, To: StateInactive, Reason: "acknowledged"},
	} {
		if _, ok, _ := AlertBrief(&tr, nil, BriefRefs{}); ok {
			t.Errorf("%s → %s (%q) went short", tr.From, tr.To, tr.Reason)
		}
	}

	check := func(name string, d *LiveDecoder, msg string, want Alert) {
		t.Helper()
		evs, err := d.Decode([]byte(msg))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ev := evs[len(evs)-1]
		tr := ev.Transition
		if ev.Type != EventAlert || tr == nil {
			t.Fatalf("%s: %+v, want an alert event", name, ev)
		}
		if tr.From != StatePending || tr.To != StateInactive || !tr.At.Equal(at) || tr.Value != 42.5 || tr.Threshold != want.Threshold {
			t.Errorf("%s: transition %+v", name, tr)
		}
		want.State, want.Value = StateInactive, 42.5
		if tr.Alert.ID != want.ID || tr.Alert.RuleName != want.RuleName || tr.Alert.Host != want.Host || tr.Alert.Severity != want.Severity ||
			tr.Alert.State != want.State || tr.Alert.Value != want.Value || !tr.Alert.ActiveAt.Equal(want.ActiveAt) {
			t.Errorf("%s: alert %+v, want %+v", name, tr.Alert, want)
		}
	}
	snap, _ := json.Marshal(Event{Type: EventSnapshot, Alerts: []Alert{pending}})
	var fromSnap LiveDecoder
	if _, err := fromSnap.Decode(snap); err != nil {
		t.Fatal(err)
	}
	check("known from the snapshot", &fromSnap, string(msg), pending)

	var fromEvent LiveDecoder
	fromEvent.Decode([]byte(`{"type":"snapshot"}`))
	up, _ := json.Marshal(Event{Type: EventAlert, Transition: &Transition{Alert: pending, From: StateInactive, To: StatePending, At: at}})
	check("known from its transition, in a batch", &fromEvent, `{"type":"batch","events":[`+string(up)+`,`+string(msg)+`]}`, pending)
	// Gone now: a second short event for it (which the core does not
	// send) still decodes, with the id alone.
	check("unknown", &fromEvent, string(msg), Alert{ID: "a1"})

	for _, bad := range []string{`{"type":"a","a":["a1","pending"]}`, `{"type":"a","a":["",1,2]}`, `{"type":"a","a":"x"}`} {
		if _, err := fromEvent.Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) passed, want an error", bad)
		}
	}
}

// An alert event on the feed leaves out what repeats another of its
// fields and reads back whole: every transition decodes to what it was.
func TestLiveTransitionRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 123e6, time.UTC)
	base := Alert{ID: "a1", RuleID: "r1", RuleName: "High CPU", Host: "web-01", Metric: "cpu_usage_percent",
		Labels: map[string]string{"host": "web-01"}, Severity: SeverityCritical, State: StatePending, Value: 91.25,
		Op: ">", Threshold: 90, Summary: "High CPU on web-01: cpu_usage_percent is 91.25 (> 90) & <rising>", ActiveAt: at}
	with := func(f func(t *Transition)) Transition {
		tr := Transition{Alert: base, From: StateInactive, To: StatePending, At: at, Value: 91.25, Threshold: 90}
		tr.Alert.Labels = maps.Clone(base.Labels)
		f(&tr)
		return tr
	}
	cases := map[string]Transition{
		"pending":            with(func(*Transition) {}),
		"labels beside host": with(func(t *Transition) { t.Alert.Labels["mount"] = "/" }),
		"no labels":          with(func(t *Transition) { t.Alert.Labels = nil }),
		"host label not the host": with(func(t *Transition) {
			t.Alert.Labels = map[string]string{"host": "db-01"}
		}),
		"no host": with(func(t *Transition) { t.Alert.Host, t.Alert.Labels = "", nil }),
		"firing": with(func(t *Transition) {
			t.From, t.To, t.Alert.State, t.At = StatePending, StateFiring, StateFiring, at.Add(time.Minute)
			t.Alert.FiredAt = t.At
		}),
		"pending later than active_at": with(func(t *Transition) { t.At = at.Add(time.Second) }),
		"value and threshold moved": with(func(t *Transition) {
			t.From, t.To, t.Alert.State, t.Reason = StateFiring, StateFiring, StateFiring, "severity"
			t.Value, t.Threshold = 97, 95
		}),
		"state not the target": with(func(t *Transition) { t.Alert.State = StateFiring }),
		"resolved": with(func(t *Transition) {
			t.From, t.To, t.Alert.State, t.At, t.Value = StateFiring, StateResolved, StateResolved, at.Add(time.Hour), 12
			t.Alert.ResolvedAt, t.Alert.Value = t.At, 12
		}),
	}
	for name, tr := range cases {
		t.Run(name, func(t *testing.T) {
			msg, err := LiveTransition(&tr)
			if err != nil {
				t.Fatal(err)
			}
			var d LiveDecoder
			d.Decode([]byte(`{"type":"snapshot"}`))
			evs, err := d.Decode(msg)
			if err != nil {
				t.Fatalf("%s: %v", msg, err)
			}
			if len(evs) != 1 || evs[0].Type != EventAlert || evs[0].Transition == nil {
				t.Fatalf("%s decoded to %+v", msg, evs)
			}
			want, _ := json.Marshal(tr)
			got, _ := json.Marshal(evs[0].Transition)
			if string(got) != string(want) {
				t.Errorf("%s\ndecoded to %s\nwant       %s", msg, got, want)
			}
		})
	}

	// The usual event, an alert going pending, is about a quarter shorter
	// than the whole transition, and says nothing twice.
	tr := cases["pending"]
	whole, _ := json.Marshal(Event{Type: EventAlert, Transition: &tr})
	slim, _ := LiveTransition(&tr)
	if len(slim) > len(whole)*3/4 {
		t.Errorf("pending alert event: %d bytes, whole %d; want at most three quarters\n%s", len(slim), len(whole), slim)
	}
	t.Logf("pending alert event: %d bytes, whole %d", len(slim), len(whole))
	for key, n := range map[string]int{`"state"`: 0, `"labels"`: 0, `"at"`: 0, `"value"`: 1, `"threshold"`: 1, `\u003e`: 0, `\u0026`: 0} {
		if got := bytes.Count(slim, []byte(key)); got != n {
			t.Errorf("pending alert event has %s %d times, want %d: %s", key, got, n, slim)
		}
	}
	// A whole transition, as earlier cores sent it, reads as it is.
	var d LiveDecoder
	evs, err := d.Decode(whole)
	if err != nil || len(evs) != 1 || evs[0].Transition == nil {
		t.Fatalf("whole transition: %v %+v", err, evs)
	}
	if got, _ := json.Marshal(evs[0].Transition); string(got) != string(mustJSON(t, tr)) {
		t.Errorf("whole transition decoded to %s", got)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An alert that fires goes short when the feed sent it pending and firing
// changed nothing else in it but its summary, notified_at, severity and
// threshold; a reader gets the whole transition back.
// Anything else a reader would show goes whole.
func TestAlertBriefFiring(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 123e6, time.UTC)
	pending := Alert{ID: "a1", RuleID: "r1", RuleName: "High CPU", Host: "web-01", Metric: "cpu_usage_percent",
		Labels: map[string]string{"host": "web-01"}, Severity: SeverityCritical, State: StatePending, Value: 91,
		Op: ">", Threshold: 90, Summary: "cpu high", ActiveAt: at.Add(-time.Minute), Channels: []string{"ops"}}
	fires := func(f func(t *Transition)) Transition {
		tr := Transition{Alert: pending, From: StatePending, To: StateFiring, At: at, Value: 93.5, Threshold: 90}
		tr.Alert.State, tr.Alert.Value, tr.Alert.FiredAt = StateFiring, 93.5, at
		f(&tr)
		return tr
	}
	fired := fires(func(t *Transition) {
		t.NotificationID, t.Alert.Summary, t.Alert.NotifiedAt = "n1", "cpu at 93.5 (> 90)", t.At
	})
	msg, ok, err := AlertBrief(&fired, &pending, BriefRefs{})
	if err != nil || !ok {
		t.Fatalf("AlertBrief: %v %v", ok, err)
	}
	if want := `{"type":"a","a":["a1",1795867200123,93.5,"cpu at 93.5 (> 90)",1,"critical",90]}`; string(msg) != want {
		t.Fatalf("AlertBrief = %s, want %s", msg, want)
	}
	var d LiveDecoder
	up, _ := LiveTransition(&Transition{Alert: pending, From: StateInactive, To: StatePending, At: pending.ActiveAt, Value: 91, Threshold: 90})
	evs, err := d.Decode([]byte(`{"type":"batch","events":[` + string(up) + `,` + string(msg) + `]}`))
	if err != nil || len(evs) != 2 || evs[1].Transition == nil {
		t.Fatalf("decode: %v %+v", err, evs)
	}
	want := fired
	want.NotificationID = "" // the short form has none
	if got, w := mustJSON(t, evs[1].Transition), mustJSON(t, want); string(got) != string(w) {
		t.Errorf("short firing event decoded to\n%s\nwant\n%s", got, w)
	}
	// The decoder keeps the firing alert for what comes next.
	if a := d.alerts["a1"]; a.State != StateFiring || !a.FiredAt.Equal(at) {
		t.Errorf("decoder keeps %+v after the short firing event", a)
	}

	// A rule with a warning level: pending at warning, firing at critical.
	worse := fires(func(t *Transition) { t.Alert.Severity, t.Alert.Threshold, t.Threshold = SeverityVeryCritical, 95, 95 })
	if msg, ok, err = AlertBrief(&worse, &pending, BriefRefs{}); err != nil || !ok {
		t.Fatalf("AlertBrief with a new severity: %v %v", ok, err)
	}
	var d2 LiveDecoder
	d2.Decode([]byte(`{"type":"batch","events":[` + string(up) + `]}`))
	if evs, err = d2.Decode(msg); err != nil || len(evs) != 1 || evs[0].Transition == nil {
		t.Fatalf("decode: %v %+v", err, evs)
	}
	if got, w := mustJSON(t, evs[0].Transition), mustJSON(t, worse); string(got) != string(w) {
		t.Errorf("short firing event with a new severity decoded to\n%s\nwant\n%s", got, w)
	}

	for name, tr := range map[string]Transition{
		"notified before":  fires(func(t *Transition) { t.Alert.NotifiedAt = at.Add(-time.Second) }),
		"silenced":         fires(func(t *Transition) { t.Alert.Silenced = "night" }),
		"channels changed": fires(func(t *Transition) { t.Alert.Channels = []string{"ops", "boss"} }),
		"muted":            fires(func(t *Transition) { t.Muted = true }),
		"with a reason":    fires(func(t *Transition) { t.Reason = "acknowledged" }),
		"escalated":        fires(func(t *Transition) { t.Escalated = "boss" }),
		"fired_at not at":  fires(func(t *Transition) { t.Alert.FiredAt = at.Add(-time.Second) }),
		"value apart":      fires(func(t *Transition) { t.Value = 94 }),
		"threshold apart":  fires(func(t *Transition) { t.Threshold = 85 }),
	} {
		if _, ok, _ := AlertBrief(&tr, &pending, BriefRefs{}); ok {
			t.Errorf("%s: went short", name)
		}
	}
	if _, ok, _ := AlertBrief(&fired, nil, BriefRefs{}); ok {
		t.Error("an alert the feed did not send pending went short")
	}
	if _, err := d.Decode([]byte(`{"type":"a","a":["a1",1795867200123,93.5,"cpu"]}`)); err == nil {
		t.Error("a short alert event of six fields decoded")
	}
}

// A short host event carries the host's number on the feed, which the
// snapshot and the host's events with its identity give; the decoder
// turns it back into the host, and drops one whose number it never got.
func TestLiveDecoderHostNumbers(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 123e6, time.UTC)
	web := Host{ID: "3f9a61c0d2e54b7a8c1e0f2d4b6a8c0e", Online: true, LastSeen: at, Status: StatusOK, Gauges: Gauges{CPU: 12.5}}
	epoch := at.Add(-2 * time.Hour).Truncate(time.Hour).UnixMilli()
	brief, _, err := HostBrief(&web, 7, epoch)
	if err != nil {
		t.Fatal(err)
	}
	byID, _, _ := HostBrief(&web, 0, epoch)
	if want := `{"type":"h","h":[7,1,7200123,13,0,0]}`; string(brief) != want {
		t.Fatalf("HostBrief = %s, want %s", brief, want)
	}
	t.Logf("short host event: %d bytes with the number, %d with a 32-character id", len(brief), len(byID))
	snap := fmt.Appendf(nil, `{"type":"snapshot","epoch":%d,"hosts":[{"id":"%s","online":true,"status":"ok","facts":{"hostname":"web-01"},"n":7}]}`, epoch, web.ID)
	db := []byte(`{"type":"host","host":{"id":"db-01","online":true,"status":"ok","facts":{"hostname":"db-01"},"n":8}}`)
	dbBrief := []byte(`{"type":"h","h":[8,7,7200123,1,2,3]}`)
	var d LiveDecoder
	for _, msg := range [][]byte{snap, db} {
		if _, err := d.Decode(msg); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		msg          []byte
		id, hostname string
	}{{brief, web.ID, "web-01"}, {dbBrief, "db-01", "db-01"}, {byID, web.ID, "web-01"}} {
		evs, err := d.Decode(tc.msg)
		if err != nil || len(evs) != 1 || evs[0].Host == nil {
			t.Fatalf("%s: %v %+v", tc.msg, err, evs)
		}
		if h := evs[0].Host; h.ID != tc.id || h.Facts.Hostname != tc.hostname || !h.LastSeen.Equal(at) {
			t.Errorf("%s decoded to %+v", tc.msg, h)
		}
	}
	// A number the feed never gave (its host was removed before this
	// reader's snapshot) is dropped, alone or in a batch.
	if evs, err := d.Decode([]byte(`{"type":"h","h":[9,1,7200123,1,2,3]}`)); err != nil || len(evs) != 0 {
		t.Errorf("unknown host number: %v %+v", err, evs)
	}
	if evs, err := d.Decode([]byte(`{"type":"batch","events":[[9,1,1,1,2,3],[7,1,1,1,2,3]]}`)); err != nil ||
		len(evs) != 1 || evs[0].Host.ID != web.ID {
		t.Errorf("batch with an unknown host number: %v %+v", err, evs)
	}
	// An epoch event in a batch moves the times of the short events
	// after it, not of those before.
	later := epoch + 3*3_600_000
	evs, err := d.Decode(fmt.Appendf(nil, `{"type":"batch","events":[[7,1,5,1,2,3],{"type":"epoch","epoch":%d},[7,1,5,1,2,3],[7,1,-5,1,2,3]]}`, later))
	if err != nil || len(evs) != 3 {
		t.Fatalf("batch with an epoch event: %v %+v", err, evs)
	}
	for i, want := range []int64{epoch + 5, later + 5, later - 5} {
		if got := evs[i].Host.LastSeen.UnixMilli(); got != want {
			t.Errorf("batch with an epoch event, short event %d: last_seen %d, want %d", i, got, want)
		}
	}
	// A new snapshot forgets the numbers of the last.
	d.Decode([]byte(`{"type":"snapshot"}`))
	if evs, _ := d.Decode(dbBrief); len(evs) != 0 {
		t.Errorf("a number from before the snapshot decoded: %+v", evs)
	}
}

// A fresh alert going pending comes short with its fields in an array,
// and reads back as the whole transition (times to the millisecond); an
// alert with anything a rule's condition does not give it goes whole.
func TestAlertBriefPending(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 123e6, time.UTC)
	base := Alert{ID: "a1", RuleID: "r1", RuleName: "High CPU", Host: "web-01", Metric: "cpu_usage_percent",
		Labels: map[string]string{"host": "web-01"}, Severity: SeverityCritical, State: StatePending, Value: 91.25,
		Op: ">", Threshold: 90, Summary: "High CPU on web-01: cpu_usage_percent is 91.25 (> 90) & <rising>", ActiveAt: at}
	fresh := Transition{Alert: base, From: StateInactive, To: StatePending, At: at, Value: 91.25, Threshold: 90}
	msg, ok, err := AlertBrief(&fresh, nil, BriefRefs{})
	if err != nil || !ok {
		t.Fatalf("AlertBrief: %v %v", ok, err)
	}
	want := `{"type":"a","a":["a1",1795867200123,91.25,"web-01","r1","High CPU","cpu_usage_percent","critical",">",90,"High CPU on web-01: cpu_usage_percent is 91.25 (> 90) & <rising>"]}`
	if string(msg) != want {
		t.Fatalf("AlertBrief = %s\nwant          %s", msg, want)
	}
	slim, _ := LiveTransition(&fresh)
	if len(msg) > len(slim)*3/5 {
		t.Errorf("short pending event %d bytes, keyed %d: want at most three fifths", len(msg), len(slim))
	}
	t.Logf("pending alert event: short %d bytes, keyed %d", len(msg), len(slim))
	var d LiveDecoder
	d.Decode([]byte(`{"type":"snapshot"}`))
	evs, err := d.Decode([]byte(`{"type":"batch","events":[` + string(msg) + `]}`))
	if err != nil || len(evs) != 1 || evs[0].Type != EventAlert || evs[0].Transition == nil {
		t.Fatalf("decoded to %+v, %v", evs, err)
	}
	wantJSON, _ := json.Marshal(fresh)
	gotJSON, _ := json.Marshal(evs[0].Transition)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("decoded to %s\nwant       %s", gotJSON, wantJSON)
	}
	// The decoder keeps it: its firing in the short form finds it.
	fire := fresh
	fire.From, fire.To, fire.At, fire.Alert.State, fire.Alert.FiredAt = StatePending, StateFiring, at.Add(time.Minute), StateFiring, at.Add(time.Minute)
	short, ok, _ := AlertBrief(&fire, &base, BriefRefs{})
	if !ok {
		t.Fatal("firing did not go short")
	}
	if evs, err = d.Decode(short); err != nil || evs[0].Transition.Alert.RuleName != "High CPU" || evs[0].Transition.Alert.Host != "web-01" {
		t.Errorf("firing after a short pending: %+v, %v", evs, err)
	}

	with := func(f func(t *Transition)) Transition {
		tr := fresh
		tr.Alert.Labels = maps.Clone(base.Labels)
		f(&tr)
		return tr
	}
	for name, tr := range map[string]Transition{
		"acknowledged":       with(func(t *Transition) { t.Alert.Ack = &Ack{By: "ann"} }),
		"silenced":           with(func(t *Transition) { t.Alert.Silenced = "s1" }),
		"flapping":           with(func(t *Transition) { t.Alert.Flapping = true }),
		"channels":           with(func(t *Transition) { t.Alert.Channels = []string{"email"} }),
		"labels beside host": with(func(t *Transition) { t.Alert.Labels["mount"] = "/" }),
		"no labels":          with(func(t *Transition) { t.Alert.Labels = nil }),
		"no host":            with(func(t *Transition) { t.Alert.Host, t.Alert.Labels = "", nil }),
		"later than active":  with(func(t *Transition) { t.At = at.Add(time.Second) }),
		"muted":              with(func(t *Transition) { t.Muted = true }),
		"notification id":    with(func(t *Transition) { t.NotificationID = "n1" }),
		"value moved":        with(func(t *Transition) { t.Value = 95 }),
		"from pending":       with(func(t *Transition) { t.From = StatePending }),
		"a reason":           with(func(t *Transition) { t.Reason = "repeat" }),
		"notified":           with(func(t *Transition) { t.Alert.NotifiedAt = at }),
	} {
		if msg, ok, _ := AlertBrief(&tr, nil, BriefRefs{}); ok {
			t.Errorf("%s: went short: %s", name, msg)
		}
	}
	for _, bad := range []string{
		`{"type":"a","a":["a1",1,2,"h","r","n","m","s",">",1]}`,
		`{"type":"a","a":["a1",1,2,"","r","n","m","s",">",1,"x"]}`,
	} {
		if _, err := d.Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) passed, want an error", bad)
		}
	}
}

// With its host and rule numbered on the feed, a fresh alert going
// pending names both by number, and leaves out a plain summary; its
// firing leaves out the new plain summary too. The decoder builds the
// whole alert from the numbers the feed gave (a rule event, or the
// snapshot's rules) and drops an event with a number it never got.
func TestAlertBriefNumbered(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 123e6, time.UTC)
	base := Alert{ID: "a1", RuleID: "r1", RuleName: "High CPU", Host: "web-01", Metric: "cpu_usage_percent",
		Labels: map[string]string{"host": "web-01"}, Severity: SeverityCritical, State: StatePending, Value: 91.25,
		Op: ">", Threshold: 90, Summary: PlainSummary("High CPU", "web-01", "cpu_usage_percent", 91.25, ">", 90), ActiveAt: at}
	if want := "High CPU on web-01: cpu_usage_percent is 91.25 (> 90)"; base.Summary != want {
		t.Fatalf("PlainSummary = %q, want %q", base.Summary, want)
	}
	fresh := Transition{Alert: base, From: StateInactive, To: StatePending, At: at, Value: 91.25, Threshold: 90}
	msg, ok, err := AlertBrief(&fresh, nil, BriefRefs{Host: 7, Rule: 3})
	if err != nil || !ok {
		t.Fatalf("AlertBrief: %v %v", ok, err)
	}
	if want := `{"type":"a","a":["a1",1795867200123,91.25,7,3,"critical",90,null]}`; string(msg) != want {
		t.Fatalf("AlertBrief = %s\nwant          %s", msg, want)
	}
	old, _, _ := AlertBrief(&fresh, nil, BriefRefs{})
	t.Logf("pending alert event: %d bytes numbered, %d with the rule's fields", len(msg), len(old))
	// Without the host's number the host goes by its id; a summary of its
	// own goes as it is.
	own := fresh
	own.Alert.Summary = "CPU hot"
	if b, _, _ := AlertBrief(&own, nil, BriefRefs{Rule: 3}); !bytes.HasSuffix(b, []byte(`91.25,"web-01",3,"critical",90,"CPU hot"]}`)) {
		t.Errorf("host by id, own summary: %s", b)
	}

	var d LiveDecoder
	d.Decode([]byte(`{"type":"snapshot","hosts":[{"id":"web-01","n":7}],"rules":[[3,"r1","High CPU","cpu_usage_percent",">"]]}`))
	evs, err := d.Decode(msg)
	if err != nil || len(evs) != 1 || evs[0].Transition == nil {
		t.Fatalf("decoded to %+v, %v", evs, err)
	}
	wantJSON, _ := json.Marshal(fresh)
	if gotJSON, _ := json.Marshal(evs[0].Transition); string(gotJSON) != string(wantJSON) {
		t.Errorf("decoded to %s\nwant       %s", gotJSON, wantJSON)
	}
	if evs, _ := d.Decode(must(AlertBrief(&own, nil, BriefRefs{Rule: 3}))); len(evs) != 1 || evs[0].Transition.Alert.Summary != "CPU hot" ||
		evs[0].Transition.Alert.Host != "web-01" {
		t.Errorf("own summary, host by id: %+v", evs)
	}
	// Firing with the new value's plain summary: null, built again.
	fire := fresh
	fire.From, fire.To, fire.At, fire.Value = StatePending, StateFiring, at.Add(time.Minute), 97
	fire.Alert.State, fire.Alert.FiredAt, fire.Alert.Value = StateFiring, fire.At, 97
	fire.Alert.Summary = PlainSummary("High CPU", "web-01", "cpu_usage_percent", 97, ">", 90)
	short := must(AlertBrief(&fire, &base, BriefRefs{}))
	if want := `{"type":"a","a":["a1",1795867260123,97,null,0,"critical",90]}`; string(short) != want {
		t.Errorf("firing = %s, want %s", short, want)
	}
	if evs, err := d.Decode(short); err != nil || len(evs) != 1 || evs[0].Transition.Alert.Summary != fire.Alert.Summary {
		t.Errorf("firing decoded to %+v, %v", evs, err)
	}

	// A rule event numbers a rule for what follows; a new snapshot
	// forgets the numbers of the last.
	var e LiveDecoder
	e.Decode([]byte(`{"type":"snapshot","hosts":[{"id":"web-01","n":7}]}`))
	if evs, err := e.Decode(msg); err != nil || len(evs) != 0 {
		t.Errorf("a rule number never given decoded: %+v, %v", evs, err)
	}
	rule, _ := RuleEvent(LiveRule{N: 3, ID: "r1", Name: "High CPU", Metric: "cpu_usage_percent", Op: ">"})
	if want := `{"type":"r","r":[3,"r1","High CPU","cpu_usage_percent",">"]}`; string(rule) != want {
		t.Errorf("RuleEvent = %s, want %s", rule, want)
	}
	if evs, err := e.Decode([]byte(`{"type":"batch","events":[` + string(rule) + `,` + string(msg) + `]}`)); err != nil || len(evs) != 1 ||
		evs[0].Transition.Alert.RuleName != "High CPU" || evs[0].Transition.Alert.Summary != base.Summary {
		t.Errorf("after a rule event: %+v, %v", evs, err)
	}
	e.Decode([]byte(`{"type":"snapshot","hosts":[{"id":"web-01","n":7}]}`))
	if evs, _ := e.Decode(msg); len(evs) != 0 {
		t.Errorf("a rule number from before the snapshot decoded: %+v", evs)
	}
	for _, bad := range []string{
		`{"type":"a","a":["a1",1,2,7,0,"critical",90,null]}`,         // rule 0
		`{"type":"a","a":["a1",1,2,true,3,"critical",90,null]}`,      // host neither
		`{"type":"a","a":["a1",1,2,7,3,"critical",90,null,1]}`,       // no such form
		`{"type":"a","a":["a1",1,2,"h","r","n","m","s",">",1,null]}`, // 11 fields, no summary
		`{"type":"r","r":[0,"r1","High CPU","cpu",">"]}`,             // rule 0
		`{"type":"r","r":[3,"r1","High CPU","cpu"]}`,                 // 4 fields
		`{"type":"snapshot","rules":[[3,"r1"]]}`,                     // short rule
	} {
		if _, err := d.Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) passed, want an error", bad)
		}
	}
}

func must(b []byte, ok bool, err error) []byte {
	if !ok || err != nil {
		panic(fmt.Sprint("AlertBrief: ", ok, err))
	}
	return b
}

// The short row's gauges are whole percent, as cards and the console show
// them: half away from zero, never -0.
func TestHostBriefWholePercent(t *testing.T) {
	for _, tc := range []struct {
		g    Gauges
		want string
	}{
		{Gauges{CPU: 37.52, Memory: 61.49, Disk: 44.5}, `38,61,45]`},
		{Gauges{CPU: 0.4, Memory: -0.2, Disk: 99.99}, `0,0,100]`},
		{Gauges{CPU: 100, Memory: 0, Disk: 1e-9}, `100,0,0]`},
	} {
		h := Host{ID: "h", Online: true, Status: StatusOK, Gauges: tc.g}
		b, ok, err := HostBrief(&h, 1, 0)
		if err != nil || !ok || !bytes.HasSuffix(b, []byte(tc.want+"}")) {
			t.Errorf("%+v: %s, want gauges %s", tc.g, b, tc.want)
		}
	}
}

// HostBrief appends its row by hand; encoding/json of the same six values
// is what it must write, byte for byte, or the error it gives.
func TestHostBriefMatchesJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	gauges := []float64{0, -0.0, 0.4, 0.5, 0.5000001, -0.5, -0.6, 37.52, 99.5, 100, 1e20, 9.99e20, 1e21, 1.5e22, -3e25,
		math.MaxFloat64, math.NaN(), math.Inf(1), math.Inf(-1)}
	ids := []string{"web-01", `quo"te`, "ünïcode", "<tag>&", "tab\there", ""}
	statuses := []string{StatusOK, "warning", "critical", "very_critical", "unknown"}
	for i := range 20000 {
		h := Host{ID: ids[rng.IntN(len(ids))], Online: rng.IntN(2) == 0, Status: statuses[rng.IntN(len(statuses))]}
		if rng.IntN(5) > 0 {
			h.LastSeen = time.UnixMilli(1_700_000_000_000 + rng.Int64N(1e10) - 5e9)
		}
		pick := func() float64 {
			if rng.IntN(3) == 0 {
				return gauges[rng.IntN(len(gauges))]
			}
			return rng.Float64()*120 - 10
		}
		h.Gauges = Gauges{CPU: pick(), Memory: pick(), Disk: pick()}
		n := uint32(rng.IntN(3)) * uint32(rng.Int64N(1<<32)) / 2
		epoch := int64(1_700_000_000_000)
		got, ok, err := HostBrief(&h, n, epoch)
		state, wantOK := BriefState(h.Status, h.Online)
		if !wantOK {
			if ok || err != nil {
				t.Fatalf("%d: %+v: ok %v, error %v for a status the short form does not hold", i, h, ok, err)
			}
			continue
		}
		var host any = h.ID
		if n != 0 {
			host = n
		}
		var seen any
		if !h.LastSeen.IsZero() {
			seen = h.LastSeen.UnixMilli() - epoch
		}
		want, wantErr := json.Marshal([6]any{host, state, seen, wholePercent(h.Gauges.CPU), wholePercent(h.Gauges.Memory), wholePercent(h.Gauges.Disk)})
		if (err != nil) != (wantErr != nil) || ok != (err == nil) {
			t.Fatalf("%d: %+v: ok %v, error %v, want error %v", i, h, ok, err, wantErr)
		}
		if err == nil && string(got) != hostBriefOpen+string(want)+"}" {
			t.Fatalf("%d: %+v:\n got %s\nwant %s%s}", i, h, got, hostBriefOpen, want)
		}
	}
}

// BenchmarkHostBrief encodes a host's short event as the core does for
// each host update on the feed, beside encoding/json of the same array
// (what HostBrief did before) for comparison in one run.
func BenchmarkHostBrief(b *testing.B) {
	h := Host{ID: "0123456789abcdef0123456789abcdef", Online: true, Status: StatusOK,
		LastSeen: time.UnixMilli(1_700_000_123_456), Gauges: Gauges{CPU: 37.52, Memory: 61.49, Disk: 44.5}}
	const epoch = 1_700_000_000_000
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := HostBrief(&h, 4321, epoch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			state, _ := BriefState(h.Status, h.Online)
			j, err := json.Marshal([6]any{uint32(4321), state, h.LastSeen.UnixMilli() - epoch,
				wholePercent(h.Gauges.CPU), wholePercent(h.Gauges.Memory), wholePercent(h.Gauges.Disk)})
			if err != nil {
				b.Fatal(err)
			}
			_ = append(append([]byte(hostBriefOpen), j...), '}')
		}
	})
}
