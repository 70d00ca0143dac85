package apiv1

import (
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
