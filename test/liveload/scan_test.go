package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"esmon/core/apiv1"
)

// The scan finds exactly the online host updates in what the core sends,
// encoded as the core encodes them.
func TestScanDelays(t *testing.T) {
	got := time.Date(2026, 11, 28, 12, 0, 1, 0, time.UTC)
	at := got.Add(-40 * time.Millisecond)
	host := func(id string, online bool, seen time.Time) json.RawMessage {
		h := apiv1.LiveHost{Host: apiv1.Host{ID: id, Online: online, LastSeen: seen, Status: "ok", Tags: []string{"a"}}}
		if id == "new" {
			h.Facts = &apiv1.HostFacts{Hostname: id, OS: "linux"}
			h.AgentVersion = "1.0"
		}
		b, _ := json.Marshal(struct {
			Type string          `json:"type"`
			Host *apiv1.LiveHost `json:"host"`
		}{"host", &h})
		return b
	}
	// A batch as the core writes it: a short host event is its array alone.
	batch := func(evs ...json.RawMessage) []byte {
		parts := make([][]byte, len(evs))
		for i, e := range evs {
			parts[i], _ = apiv1.HostBriefRow(e)
		}
		return append(append([]byte(`{"type":"batch","events":[`), bytes.Join(parts, []byte(","))...), "]}"...)
	}
	// The short form with the host's number on the feed, as the core
	// sends it, or with its id (number 0); its time counts from the
	// feed's epoch, which the snapshot gives and epoch events change.
	epoch := at.Add(-time.Hour).Truncate(time.Hour).UnixMilli()
	later := epoch + 2*3_600_000
	briefFrom := func(epoch int64, id string, n uint32, online bool, seen time.Time) json.RawMessage {
		status := "ok"
		if !online {
			status = "offline"
		}
		b, _, err := apiv1.HostBrief(&apiv1.Host{ID: id, Online: online, LastSeen: seen, Status: status,
			Gauges: apiv1.Gauges{CPU: 12.5, Memory: 1, Disk: 99.99}}, n, epoch)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	brief := func(id string, n uint32, online bool, seen time.Time) json.RawMessage {
		return briefFrom(epoch, id, n, online, seen)
	}
	warning, _, _ := apiv1.HostBrief(&apiv1.Host{ID: "w", Online: true, LastSeen: at, Status: "warning"}, 3, epoch)
	alert, _ := json.Marshal(apiv1.Event{Type: apiv1.EventAlert, Transition: &apiv1.Transition{To: "firing", At: at}})
	known := apiv1.Alert{ID: "a1", Severity: "critical", Threshold: 90, Labels: map[string]string{"host": "a"}}
	fired := known
	fired.State, fired.Value, fired.FiredAt, fired.Summary = "firing", 1, at, "[1,1,2]"
	shortAlert, ok, err := apiv1.AlertBrief(&apiv1.Transition{Alert: fired, From: "pending", To: "firing", At: at, Value: 1, Threshold: 90}, &known, apiv1.BriefRefs{})
	if err != nil || !ok {
		t.Fatalf("AlertBrief: %v %v", ok, err)
	}
	// A fresh alert going pending with its host and rule by number (value
	// and threshold whole, like a row's numbers), after the rule's event.
	pending := apiv1.Alert{ID: "a2", RuleName: "r", Host: "a", Labels: map[string]string{"host": "a"}, State: "pending",
		Value: 95, Threshold: 90, ActiveAt: at}
	numbered, ok, err := apiv1.AlertBrief(&apiv1.Transition{Alert: pending, From: "inactive", To: "pending", At: at, Value: 95, Threshold: 90}, nil,
		apiv1.BriefRefs{Host: 1, Rule: 3})
	if err != nil || !ok {
		t.Fatalf("AlertBrief: %v %v", ok, err)
	}
	rule, _ := apiv1.RuleEvent(apiv1.LiveRule{N: 3, ID: "r3", Name: "r", Metric: "cpu", Op: ">"})
	snapshot := fmt.Appendf(nil, `{"type":"snapshot","epoch":%d,"hosts":[{"id":"x","online":true,"last_seen":%q}]}`, epoch, at.Format(time.RFC3339Nano))
	tests := []struct {
		name string
		msg  []byte
		want int
	}{
		{"one host event", host("a", true, at), 1},
		{"a host new to the feed, with its facts", host("new", true, at), 1},
		{"a batch", batch(host("a", true, at), alert, host("b", true, at), host("c", false, at.Add(-time.Hour))), 2},
		{"an offline host", host("c", false, at), 0},
		{"a short host event", brief("a", 7, true, at), 1},
		{"a short host event with the id", brief("a", 0, true, at), 1},
		{"a short offline host event", brief("c", 9, false, at), 0},
		{"a batch of both forms", batch(brief("a", 7, true, at), host("new", true, at), alert, brief("b", 0, true, at), brief("c", 9, false, at)), 3},
		{"a short alert event", shortAlert, 0},
		{"a batch with a short alert event", batch(brief("a", 1, true, at), shortAlert, brief("b", 12, true, at)), 2},
		{"a batch with a rule and an alert by numbers", batch(brief("a", 1, true, at), rule, numbered, brief("b", 12, true, at)), 2},
		{"a host with a warning", warning, 1},
		{"an alert", alert, 0},
		{"the snapshot", snapshot, 0},
		{"a batch ending in a host event after the last array", batch(brief("a", 1, true, at),
			fmt.Appendf(nil, `{"type":"host","host":{"id":"z","online":true,"last_seen":%q}}`, at.Format(time.RFC3339Nano))), 2},
		{"a batch with a new epoch", batch(brief("a", 1, true, at), apiv1.EpochEvent(later), briefFrom(later, "b", 2, true, at), briefFrom(later, "c", 3, true, at)), 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var delays []time.Duration
			sc := scanner{}
			sc.scan(snapshot, time.Time{}, nil)
			n := sc.scan(tc.msg, got, func(d time.Duration) { delays = append(delays, d) })
			if n != tc.want || len(delays) != tc.want {
				t.Fatalf("found %d (%d delays), want %d in %s", n, len(delays), tc.want, tc.msg)
			}
			for _, d := range delays {
				if d != 40*time.Millisecond {
					t.Errorf("delay %v, want 40ms", d)
				}
			}
		})
	}
}

func TestReadAllReusesBuffer(t *testing.T) {
	buf := make([]byte, 0, 4)
	out, err := readAll(bytes.NewReader([]byte("hello, world")), buf)
	if err != nil || string(out) != "hello, world" {
		t.Fatalf("%q, %v", out, err)
	}
	again, _ := readAll(bytes.NewReader([]byte("hi")), out[:0])
	if string(again) != "hi" || &again[0] != &out[0] {
		t.Errorf("second read %q did not reuse the buffer", again)
	}
}

// An epoch event alone changes the times of the short events after it, and
// a snapshot without an epoch (a feed that has none yet) clears it.
func TestScanEpochEvents(t *testing.T) {
	got := time.Date(2026, 11, 28, 12, 0, 1, 0, time.UTC)
	at := got.Add(-25 * time.Millisecond)
	var sc scanner
	sc.scan([]byte(`{"type":"snapshot","hosts":[]}`), time.Time{}, nil)
	for _, epoch := range []int64{got.Truncate(time.Hour).UnixMilli(), got.Add(-2 * time.Hour).Truncate(time.Hour).UnixMilli()} {
		sc.scan(apiv1.EpochEvent(epoch), time.Time{}, nil)
		b, _, _ := apiv1.HostBrief(&apiv1.Host{ID: "a", Online: true, LastSeen: at, Status: "ok"}, 1, epoch)
		var delays []time.Duration
		if n := sc.scan(b, got, func(d time.Duration) { delays = append(delays, d) }); n != 1 || delays[0] != 25*time.Millisecond {
			t.Errorf("epoch %d: %d found, delays %v, want one of 25ms in %s", epoch, n, delays, b)
		}
	}
	// A batch read while not measuring still moves the epoch.
	later := got.Truncate(time.Hour).UnixMilli() + 3_600_000
	sc.scan(fmt.Appendf(nil, `{"type":"batch","events":[[1,1,5,1,2,3],%s,[1,1,6,1,2,3]]}`, apiv1.EpochEvent(later)), time.Time{}, nil)
	if sc.epoch != later {
		t.Errorf("after an unmeasured batch with an epoch event: epoch %d, want %d", sc.epoch, later)
	}
	sc.scan([]byte(`{"type":"snapshot","hosts":[]}`), time.Time{}, nil)
	if sc.epoch != 0 {
		t.Errorf("a snapshot without an epoch left %d", sc.epoch)
	}
}

// BenchmarkScan reads a batch as the feed carries it at 10,000 agents and
// 1,000 pages (150 ms of updates: 300 rows, a few alert events) into the
// histogram, as every subscriber does with every message.
func BenchmarkScan(b *testing.B) {
	got := time.Date(2026, 11, 28, 12, 0, 1, 0, time.UTC)
	epoch := got.Truncate(time.Hour).UnixMilli()
	msg := []byte(`{"type":"batch","events":[`)
	for i := range 300 {
		if i > 0 {
			msg = append(msg, ',')
		}
		if i%40 == 20 {
			msg = append(msg, `{"type":"a","a":["d1b0c22c208d7cfc",1795993816982,78.63]},`...)
		}
		msg = fmt.Appendf(msg, `[%d,1,%d,%d,%d,66]`, 9000+i, got.UnixMilli()-epoch-int64(i%150), i%100, (i*7)%100)
	}
	msg = append(msg, "]}"...)
	var h histogram
	sc := scanner{epoch: epoch}
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if sc.scan(msg, got, h.add) != 300 {
			b.Fatal("rows missed")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*300), "ns/row")
}
