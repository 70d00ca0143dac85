package apiv1

import (
	"encoding/json"
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
	h := Host{ID: "web-01", Online: true, LastSeen: at, Status: SeverityWarning, Gauges: Gauges{CPU: 12.5, Memory: 50.25, Disk: 99}}
	brief, err := HostBrief(&h)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"h","h":["web-01",1,1795867200123,"warning",12.5,50.25,99]}`; string(brief) != want {
		t.Fatalf("HostBrief = %s, want %s", brief, want)
	}
	offline := h
	offline.Online, offline.LastSeen, offline.Status = false, time.Time{}, StatusOffline
	off, _ := HostBrief(&offline)
	row, _ := HostBriefRow(brief)
	offRow, _ := HostBriefRow(off)
	if string(row) != `["web-01",1,1795867200123,"warning",12.5,50.25,99]` {
		t.Fatalf("HostBriefRow = %s", row)
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
	msg, ok, err := AlertBrief(&gone)
	if err != nil || !ok {
		t.Fatalf("AlertBrief: %v %v", ok, err)
	}
	if want := `{"type":"a","a":["a1","pending","inactive",1795867200123,42.5]}`; string(msg) != want {
		t.Fatalf("AlertBrief = %s, want %s", msg, want)
	}
	for _, tr := range []Transition{
		{Alert: pending, From: StateInactive, To: StatePending},
		{Alert: pending, From: StatePending, To: StateFiring},
		{Alert: pending, From: StateFiring, To: StateResolved},
		{Alert: pending, From: StatePending, To: StateInactive, Reason: "acknowledged"},
	} {
		if _, ok, _ := AlertBrief(&tr); ok {
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

	for _, bad := range []string{`{"type":"a","a":["a1","pending"]}`, `{"type":"a","a":["",1,2,3,4]}`, `{"type":"a","a":"x"}`} {
		if _, err := fromEvent.Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) passed, want an error", bad)
		}
	}
}
