package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/apiv1"
)

// ---- /ws/live ----

func newLive(t testing.TB, snapshot func() apiv1.Event) (*Live, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	l := NewLive(func(bool) apiv1.Event { return snapshot() }, reg, quiet)
	return l, reg
}

func hostEvent(id string) apiv1.Event {
	return apiv1.Event{Type: apiv1.EventHost, Host: &apiv1.Host{ID: id, Status: apiv1.StatusOK}}
}

// page is a test's /ws/live subscriber: it reads messages and decodes them
// the way the console does.
type page struct {
	t   *testing.T
	ws  *websocket.Conn
	dec apiv1.LiveDecoder
}

func openPage(t *testing.T, srv *httptest.Server) *page {
	t.Helper()
	return &page{t: t, ws: dial(t, wsURL(srv))}
}

// next reads one message: its raw JSON and its events.
func (p *page) next() ([]byte, []apiv1.Event) {
	p.t.Helper()
	p.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, data, err := p.ws.ReadMessage()
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		p.t.Fatalf("message type %d, want text", typ)
	}
	evs, err := p.dec.Decode(data)
	if err != nil {
		p.t.Fatalf("decode %s: %v", data, err)
	}
	return data, evs
}

// events reads messages until it has n events, and returns them with the
// number of messages they came in.
func (p *page) events(n int) ([]apiv1.Event, int) {
	p.t.Helper()
	var out []apiv1.Event
	msgs := 0
	for len(out) < n {
		_, evs := p.next()
		msgs++
		out = append(out, evs...)
	}
	if len(out) != n {
		p.t.Fatalf("got %d events, want %d", len(out), n)
	}
	return out, msgs
}

func (p *page) watch(ids ...string) {
	p.t.Helper()
	b, _ := json.Marshal(apiv1.LiveWatch{Watch: append([]string{}, ids...)})
	if err := p.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		p.t.Fatalf("send watch: %v", err)
	}
}

// watchers is how many pages watch host.
func (l *Live) watchers(host string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.watched[host]
}

func TestLiveSnapshotThenEventsInOrder(t *testing.T) {
	l, reg := newLive(t, func() apiv1.Event {
		return apiv1.Event{Type: apiv1.EventSnapshot, Hosts: []apiv1.Host{{ID: "web-01"}}}
	})
	srv := httptest.NewServer(l)
	defer srv.Close()
	defer l.Close()

	p := openPage(t, srv)
	_, first := p.next()
	if len(first) != 1 || first[0].Type != apiv1.EventSnapshot || len(first[0].Hosts) != 1 || first[0].Hosts[0].ID != "web-01" {
		t.Fatalf("first message %+v, want the snapshot", first)
	}
	if n := metric(t, reg, "esmon_live_subscribers"); n != 1 {
		t.Errorf("esmon_live_subscribers = %v, want 1", n)
	}

	const n = 200
	name := func(i int) string { return "h" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) }
	for i := range n {
		l.Publish(hostEvent(name(i)))
	}
	evs, msgs := p.events(n)
	for i, ev := range evs {
		if ev.Type != apiv1.EventHost || ev.Host == nil || ev.Host.ID != name(i) {
			t.Fatalf("event %d = %+v, want host %s", i, ev, name(i))
		}
	}
	t.Logf("%d events in %d messages", n, msgs)
	waitFor(t, "every event counted as sent", func() bool { return metric(t, reg, "esmon_live_sent_events_total") == n })

	p.ws.Close()
	waitFor(t, "subscriber gone", func() bool { return metric(t, reg, "esmon_live_subscribers") == 0 })
}

// Events published while a page waits out its gap after a message reach
// it as one batch message, in order; an event on a quiet feed goes alone,
// as it is.
func TestLiveBatchesWhatPilesUp(t *testing.T) {
	l, reg := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} })
	l.minGap = 2 * time.Second // far longer than publishing takes
	srv := httptest.NewServer(l)
	defer srv.Close()
	defer l.Close()

	p := openPage(t, srv)
	p.next() // the snapshot; the page's gap begins
	const n = 50
	for i := range n {
		l.Publish(hostEvent(fmt.Sprintf("h%02d", i)))
	}
	raw, evs := p.next()
	if !bytes.HasPrefix(raw, []byte(`{"type":"batch","events":[`)) || len(evs) != n {
		t.Fatalf("message of %d events, want one batch of %d: %.200s", len(evs), n, raw)
	}
	for i, ev := range evs {
		if want := fmt.Sprintf("h%02d", i); ev.Host == nil || ev.Host.ID != want {
			t.Fatalf("batch event %d is %+v, want host %s", i, ev, want)
		}
	}
	// The counters move once the write returns, which may be after the
	// page read it.
	waitFor(t, "2 messages (snapshot, batch) and 50 events counted", func() bool {
		return metric(t, reg, "esmon_live_messages_total") == 2 && metric(t, reg, "esmon_live_sent_events_total") == n
	})

	// After the gap, one event on the quiet feed is a message of its own.
	time.Sleep(2500 * time.Millisecond)
	l.Publish(hostEvent("alone"))
	raw, evs = p.next()
	if !bytes.HasPrefix(raw, []byte(`{"type":"host",`)) || len(evs) != 1 || evs[0].Host.ID != "alone" {
		t.Fatalf("lone event sent as %.200s", raw)
	}
}

// Pages get hosts without Latest unless they watch them, and a host's
// identity only when it is new to the feed or changed; in-process
// subscribers get every host whole.
func TestLiveSlimAndWatchedHosts(t *testing.T) {
	facts := apiv1.HostFacts{Hostname: "web-01", OS: "linux", Platform: "debian", Cores: 4}
	snapHost := apiv1.Host{ID: "web-01", Facts: facts, AgentVersion: "1.0", Online: true, Status: apiv1.StatusOK,
		Latest: map[string]float64{"cpu_usage_percent": 1}, Tags: []string{"prod"}}
	l, reg := newLive(t, func() apiv1.Event {
		return apiv1.Event{Type: apiv1.EventSnapshot, Hosts: []apiv1.Host{snapHost}}
	})
	srv := httptest.NewServer(l)
	defer srv.Close()
	defer l.Close()

	console, stop := l.Subscribe()
	defer stop()
	<-console

	watcher, other := openPage(t, srv), openPage(t, srv)
	for _, p := range []*page{watcher, other} {
		raw, evs := p.next()
		if bytes.Contains(raw, []byte(`"latest"`)) || !bytes.Contains(raw, []byte(`"facts":{"hostname":"web-01"`)) ||
			!bytes.Contains(raw, []byte(`"n":1`)) {
			t.Fatalf("snapshot %s: want facts, the host's number and no latest values", raw)
		}
		if h := evs[0].Hosts[0]; h.Facts != facts || h.AgentVersion != "1.0" {
			t.Fatalf("decoded snapshot host %+v", h)
		}
	}
	watcher.watch("web-01")
	waitFor(t, "the watch list applied", func() bool { return l.watchers("web-01") == 1 })

	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	update := func(cpu float64, version string) apiv1.Event {
		h := snapHost
		h.LastSeen, h.AgentVersion = at, version
		h.Gauges.CPU = cpu
		h.Latest = map[string]float64{"cpu_usage_percent": cpu, `disk_used_percent{mount="/"}`: 50}
		return apiv1.Event{Type: apiv1.EventHost, Host: &h}
	}
	l.Publish(update(10, "1.0")) // first event of the host: with its identity
	l.Publish(update(20, "1.0")) // same identity: left out
	l.Publish(update(30, "1.1")) // a new agent version: the identity again
	other2 := apiv1.Host{ID: "db-01", Facts: apiv1.HostFacts{Hostname: "db-01"}, Latest: map[string]float64{"x": 1}}
	l.Publish(apiv1.Event{Type: apiv1.EventHost, Host: &other2}) // nobody watches db-01

	tests := []struct {
		name        string
		p           *page
		wantLatest  bool
		wantVersion []string
	}{
		{"watching page", watcher, true, []string{"1.0", "1.0", "1.1"}},
		{"overview page", other, false, []string{"1.0", "1.0", "1.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var raws [][]byte
			var evs []apiv1.Event
			epochs := 0 // epoch events, before the event they are for
			for len(evs) < 4 {
				raw, got := tc.p.next()
				evs = append(evs, got...)
				// Split a batch back into its events' JSON.
				var m struct {
					Events []json.RawMessage `json:"events"`
				}
				parts := [][]byte{raw}
				if json.Unmarshal(raw, &m); m.Events != nil {
					parts = parts[:0]
					for _, e := range m.Events {
						parts = append(parts, e)
					}
				}
				for _, e := range parts {
					// The short event's time counts from the hour it is in.
					if bytes.Equal(e, apiv1.EpochEvent(at.UnixMilli())) && len(raws) == 1 {
						epochs++
						continue
					}
					raws = append(raws, e)
				}
			}
			if epochs != 1 {
				t.Errorf("%d epoch events before the second event, want 1", epochs)
			}
			for i, want := range tc.wantVersion {
				raw, h := raws[i], evs[i].Host
				if got := bytes.Contains(raw, []byte(`"latest"`)); got != tc.wantLatest {
					t.Errorf("event %d has latest values: %v, want %v: %s", i, got, tc.wantLatest, raw)
				}
				carries := bytes.Contains(raw, []byte(`"facts"`))
				if wantIdentity := i != 1; carries != wantIdentity {
					t.Errorf("event %d carries the identity: %v, want %v: %s", i, carries, wantIdentity, raw)
				}
				// Without identity or latest values: the short form (in a
				// batch, its array alone), with the host's number on the
				// feed (web-01's, from the snapshot) for its id.
				brief := bytes.HasPrefix(raw, []byte(`{"type":"h","h":[1,1,0,`)) || bytes.HasPrefix(raw, []byte(`[1,1,0,`))
				if brief != (i == 1 && !tc.wantLatest) {
					t.Errorf("event %d in the short form: %v: %s", i, brief, raw)
				}
				if h.Facts != facts || h.AgentVersion != want || h.Gauges.CPU != float64(10*(i+1)) || !h.LastSeen.Equal(at) ||
					!h.Online || h.Status != apiv1.StatusOK || !slices.Equal(h.Tags, []string{"prod"}) {
					t.Errorf("decoded event %d: %+v", i, h)
				}
				if tc.wantLatest && h.Latest[`disk_used_percent{mount="/"}`] != 50 {
					t.Errorf("event %d latest %v", i, h.Latest)
				}
			}
			if bytes.Contains(raws[3], []byte(`"latest"`)) {
				t.Errorf("the unwatched host came with latest values: %s", raws[3])
			}
		})
	}

	// The console's in-process feed has every event whole.
	for i := range 4 {
		ev := recvEvent(t, console)
		if ev.Host == nil || len(ev.Host.Latest) == 0 || ev.Host.Facts.Hostname == "" {
			t.Errorf("in-process event %d: %+v, want the whole host", i, ev.Host)
		}
	}

	// Watching nothing again: the next event is slim for both.
	watcher.watch()
	waitFor(t, "the watch list cleared", func() bool { return l.watchers("web-01") == 0 })
	l.Publish(update(40, "1.1"))
	if raw, _ := watcher.next(); bytes.Contains(raw, []byte(`"latest"`)) {
		t.Errorf("after unwatching: %s", raw)
	}
	if n := metric(t, reg, "esmon_live_bad_messages_total"); n != 0 {
		t.Errorf("bad messages counted: %v", n)
	}
}

// Short host events count their last_seen from the feed's epoch: the
// core sends a new epoch, before the event that needs it, when the time
// has run LiveEpochSpan past the last, and a page that opens later gets
// the epoch in force with its snapshot. Every page reads every time back.
func TestLiveEpoch(t *testing.T) {
	l, _ := newLive(t, func() apiv1.Event {
		return apiv1.Event{Type: apiv1.EventSnapshot, Hosts: []apiv1.Host{{ID: "web-01", Status: apiv1.StatusOK}}}
	})
	srv := httptest.NewServer(l)
	defer srv.Close()
	defer l.Close()
	first := openPage(t, srv)
	first.next() // the snapshot, before the feed has an epoch

	t0 := time.Date(2026, 11, 28, 12, 34, 56, 789e6, time.UTC)
	seenAt := func(d time.Duration) apiv1.Event {
		ev := hostEvent("web-01")
		ev.Host.Online, ev.Host.LastSeen = true, t0.Add(d)
		return ev
	}
	rows := func(p *page, offsets ...time.Duration) {
		t.Helper()
		evs, _ := p.events(len(offsets))
		for i, d := range offsets {
			if h := evs[i].Host; h == nil || !h.LastSeen.Equal(t0.Add(d)) || !h.Online {
				t.Errorf("event %d: %+v, want web-01 online, seen at %s", i, h, t0.Add(d))
			}
		}
	}
	span := time.Duration(apiv1.LiveEpochSpan) * time.Millisecond
	for _, d := range []time.Duration{0, time.Second, span / 2} {
		l.Publish(seenAt(d))
	}
	rows(first, 0, time.Second, span/2)
	l.mu.Lock()
	epoch := l.epoch
	l.mu.Unlock()
	if want := t0.Truncate(time.Hour).UnixMilli(); epoch != want {
		t.Errorf("epoch %d, want the hour of the first short event, %d", epoch, want)
	}

	// Past the span: a new epoch, the hour of the event that needed it.
	l.Publish(seenAt(span + time.Minute))
	rows(first, span+time.Minute)
	waitFor(t, "the new epoch", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.epoch == t0.Add(span+time.Minute).Truncate(time.Hour).UnixMilli()
	})
	// A page that opens now has it in its snapshot (a fresh one: the
	// first page's is let go, as maintain does once it is stale); an
	// offline event seen before the epoch counts back from it.
	l.mu.Lock()
	l.snap = liveSnapshot{}
	l.mu.Unlock()
	second := openPage(t, srv)
	raw, _ := second.next()
	if want := fmt.Sprintf(`"epoch":%d`, t0.Add(span+time.Minute).Truncate(time.Hour).UnixMilli()); !bytes.Contains(raw, []byte(want)) {
		t.Fatalf("snapshot %s, want %s in it", raw, want)
	}
	l.Publish(seenAt(span + 2*time.Minute))
	old := seenAt(time.Second)
	old.Host.Online, old.Host.Status = false, apiv1.StatusOffline
	l.Publish(old)
	for _, p := range []*page{first, second} {
		evs, _ := p.events(2)
		if h := evs[0].Host; !h.LastSeen.Equal(t0.Add(span + 2*time.Minute)) {
			t.Errorf("seen %s, want %s", h.LastSeen, t0.Add(span+2*time.Minute))
		}
		if h := evs[1].Host; !h.LastSeen.Equal(t0.Add(time.Second)) || h.Online || h.Status != apiv1.StatusOffline {
			t.Errorf("offline event %+v, want web-01 offline, seen at %s", h, t0.Add(time.Second))
		}
	}
}

// A page's message the core cannot read closes it with 1007, and is counted.
func TestLiveBadMessage(t *testing.T) {
	tests := []struct {
		name string
		msg  string
	}{
		{"not JSON", "hello"},
		{"no watch list", `{"hosts":["a"]}`},
		{"too many hosts", `{"watch":[` + strings.Repeat(`"h",`, apiv1.MaxWatch) + `"h"]}`},
	}
	l, reg := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} })
	srv := httptest.NewServer(l)
	defer srv.Close()
	defer l.Close()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := openPage(t, srv)
			p.next()
			p.ws.WriteMessage(websocket.TextMessage, []byte(tc.msg))
			if code, text := closeCode(t, p.ws); code != websocket.CloseInvalidFramePayloadData || text == "" {
				t.Errorf("closed with %d %q, want 1007 and a reason", code, text)
			}
			if n := metric(t, reg, "esmon_live_bad_messages_total"); n != float64(i+1) {
				t.Errorf("bad messages = %v, want %d", n, i+1)
			}
		})
	}
}

// A page that stops reading is closed with CloseTooSlow once the ring has
// gone round past what it was sent; a page that reads and the console go
// on, and Publish never waits.
func TestLiveDropsSlowPage(t *testing.T) {
	l, reg := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} })
	l.ringMask, l.ringMax = 15, 15
	srv := slowServer(l)
	defer srv.Close()
	defer l.Close()

	fast, stop := l.Subscribe()
	defer stop()
	<-fast
	reader := openPage(t, srv)
	reader.next()
	sws := slowPage(t, srv, 8<<10)
	defer sws.Close()
	slow := &page{t: t, ws: sws}
	slow.next()
	slow.watch("big") // full events: the socket buffers fill quickly
	waitFor(t, "the watch list applied", func() bool { return l.watchers("big") == 1 })
	var sc *liveConn
	l.mu.Lock()
	for c := range l.conns {
		if len(c.watch) > 0 {
			sc = c
		}
	}
	l.mu.Unlock()

	big := apiv1.Host{ID: "big", Latest: map[string]float64{}}
	for i := range 2000 {
		big.Latest[fmt.Sprintf("series_%s_%d", strings.Repeat("x", 20), i)] = float64(i)
	}
	readerGot := make(chan int)
	go func() {
		n := 0
		defer func() { readerGot <- n }()
		var dec apiv1.LiveDecoder
		for {
			reader.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, data, err := reader.ws.ReadMessage()
			if err != nil {
				return
			}
			evs, err := dec.Decode(data)
			if err != nil {
				t.Errorf("reading page: %v", err)
				return
			}
			for _, ev := range evs {
				switch {
				case ev.Host == nil:
				case ev.Host.ID == "big":
					n++
				case ev.Host.ID == "last":
					return
				}
			}
		}
	}()
	published := 0
	for {
		l.mu.Lock()
		behind := l.head - sc.cursor
		l.mu.Unlock()
		if behind > l.ringMask+1 {
			break
		}
		if published > 10000 {
			t.Fatalf("the slow page is only %d events behind after %d", behind, published)
		}
		start := time.Now()
		l.Publish(apiv1.Event{Type: apiv1.EventHost, Host: &big})
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("Publish blocked for %v", d)
		}
		published++
		// Keep to the pace of the fan-out (slow under -race): the
		// console and the reading page keep up with it.
		waitFor(t, "the event in the ring", func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.head == uint64(published)
		})
		for drained := false; !drained; {
			select {
			case <-fast:
			default:
				drained = true
			}
		}
	}
	t.Logf("the slow page fell a ring behind after %d events", published)
	l.Publish(hostEvent("last"))
	if n := <-readerGot; n != published {
		t.Errorf("the reading page got %d of %d events", n, published)
	}
	for ev := recvEvent(t, fast); ev.Host == nil || ev.Host.ID != "last"; ev = recvEvent(t, fast) {
	}
	// Once the slow page reads again it gets what was already on its way
	// and is told why it was closed, so it reconnects for a fresh snapshot.
	if code, _ := closeCode(t, slow.ws); code != CloseTooSlow {
		t.Errorf("close code %d, want %d", code, CloseTooSlow)
	}
	if got := metric(t, reg, "esmon_live_dropped_total", "what", "subscriber"); got != 1 {
		t.Errorf("dropped subscribers = %v, want 1 (only the slow page)", got)
	}
}

// A fresh alert going pending, a pending alert ending without firing,
// or firing unchanged, reaches pages in the short form, every other
// transition whole (less what repeats another field); the console gets each as published, and a
// page's decoder gives the short one the alert it had.
func TestLiveShortAlertTransitions(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	a := apiv1.Alert{ID: "a1", RuleName: "High CPU", Host: "web-01", Labels: map[string]string{"host": "web-01"},
		Severity: apiv1.SeverityCritical, Threshold: 90, ActiveAt: at}
	l, _ := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} })
	srv := httptest.NewServer(l)
	defer srv.Close()
	defer l.Close()
	console, stop := l.Subscribe()
	defer stop()
	<-console
	p := openPage(t, srv)
	p.next()
	// The host's identity, with its number, is on the feed before its
	// alerts: they name it by the number.
	l.Publish(hostEvent("web-01"))
	if _, evs := p.next(); len(evs) != 1 || evs[0].Host == nil || evs[0].Host.ID != "web-01" {
		t.Fatalf("host event: %+v", evs)
	}
	<-console
	move := func(a apiv1.Alert, from, to string, at time.Time, v float64) apiv1.Transition {
		a.State, a.Value = to, v
		if to == apiv1.StateFiring {
			a.FiredAt = at
		}
		return apiv1.Transition{Alert: a, From: from, To: to, At: at, Value: v, Threshold: a.Threshold}
	}
	up := move(a, apiv1.StateInactive, apiv1.StatePending, at, 95)
	fire := move(up.Alert, apiv1.StatePending, apiv1.StateFiring, at.Add(time.Minute), 96)
	resolve := move(fire.Alert, apiv1.StateFiring, apiv1.StateResolved, at.Add(time.Hour), 12)
	b := a
	b.ID = "a2" // its pending event was never on the feed
	fireB := move(b, apiv1.StatePending, apiv1.StateFiring, at.Add(time.Minute), 97)
	upAgain := move(a, apiv1.StateInactive, apiv1.StatePending, at.Add(2*time.Hour), 95)
	upAgain.Alert.ActiveAt = upAgain.At
	down := move(upAgain.Alert, apiv1.StatePending, apiv1.StateInactive, at.Add(3*time.Hour), 42)
	for _, tc := range []struct {
		tr    apiv1.Transition
		short bool
	}{{up, true}, {fire, true}, {resolve, false}, {fireB, false}, {upAgain, true}, {down, true}} {
		tr := tc.tr
		l.Publish(apiv1.Event{Type: apiv1.EventAlert, Transition: &tr})
		raw, evs := p.next()
		got := evs[0].Transition
		if got == nil || got.Alert.ID != tr.Alert.ID || got.Alert.RuleName != "High CPU" || got.To != tr.To ||
			got.Value != tr.Value || got.Alert.State != tr.To || !got.Alert.FiredAt.Equal(tr.Alert.FiredAt) ||
			!got.At.Equal(tr.At) || got.Alert.Labels["host"] != "web-01" {
			t.Errorf("%s %s → %s: page decoded %+v", tr.Alert.ID, tr.From, tr.To, got)
		}
		// The first alert going pending numbers its rule: a rule event
		// comes before it (in one batch); the second names it by number.
		alert, ruleEvent := raw, []byte(nil)
		if rest, ok := bytes.CutPrefix(raw, []byte(`{"type":"batch","events":[{"type":"r","r":`)); ok {
			end := bytes.Index(rest, []byte("]},"))
			ruleEvent, alert = rest[:end+1], bytes.TrimSuffix(rest[end+3:], []byte("]}"))
		}
		if wantRule := tr.Alert.ActiveAt.Equal(at) && tr.To == apiv1.StatePending; wantRule != (string(ruleEvent) == `[1,"","High CPU","",""]`) {
			t.Errorf("%s %s → %s: rule event %q (want one: %v) in %s", tr.Alert.ID, tr.From, tr.To, ruleEvent, wantRule, raw)
		}
		short := bytes.HasPrefix(alert, []byte(`{"type":"a",`))
		limit := 80
		if tr.To == apiv1.StatePending {
			limit = 85 // a fresh alert going pending also carries its host, rule, severity, threshold and summary
		}
		if short != tc.short || short && len(alert) > limit || !short && bytes.Contains(raw, []byte(`"state"`)) ||
			tr.To == apiv1.StatePending && !bytes.Contains(alert, []byte(`,95,1,1,"critical",90,`)) {
			t.Errorf("%s %s → %s: page got %d bytes: %s", tr.Alert.ID, tr.From, tr.To, len(alert), raw)
		}
		if ev := recvEvent(t, console); ev.Transition == nil || ev.Transition.To != tr.To || ev.Transition.Alert.RuleName != "High CPU" {
			t.Errorf("console got %+v", ev)
		}
	}
}

// A page that connects after a rule was numbered gets the rule in its
// snapshot, and decodes later alerts that name it by number; an alert's
// plain summary is left out and built again by the reader.
func TestLiveRulesInSnapshot(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	web := apiv1.Host{ID: "web-01", Status: apiv1.StatusOK}
	l, _ := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot, Hosts: []apiv1.Host{web}} })
	srv := httptest.NewServer(l)
	defer srv.Close()
	defer l.Close()
	p1 := openPage(t, srv)
	p1.next()
	l.Publish(hostEvent("web-01"))
	p1.next()
	pending := func(id string) apiv1.Transition {
		a := apiv1.Alert{ID: id, RuleID: "r1", RuleName: "High CPU", Host: "web-01", Metric: "cpu",
			Labels: map[string]string{"host": "web-01"}, Severity: apiv1.SeverityCritical, State: apiv1.StatePending,
			Value: 95.5, Op: ">", Threshold: 90, ActiveAt: at,
			Summary: apiv1.PlainSummary("High CPU", "web-01", "cpu", 95.5, ">", 90)}
		return apiv1.Transition{Alert: a, From: apiv1.StateInactive, To: apiv1.StatePending, At: at, Value: 95.5, Threshold: 90}
	}
	a1 := pending("a1")
	l.Publish(apiv1.Event{Type: apiv1.EventAlert, Transition: &a1})
	if raw, _ := p1.next(); !bytes.Contains(raw, []byte(`{"type":"r","r":[1,"r1","High CPU","cpu",">"]}`)) {
		t.Fatalf("first alert of the rule without its rule event: %s", raw)
	}
	l.mu.Lock()
	l.snap = liveSnapshot{} // the next page gets a snapshot of its own
	l.mu.Unlock()
	p2 := openPage(t, srv)
	if raw, _ := p2.next(); !bytes.Contains(raw, []byte(`"rules":[[1,"r1","High CPU","cpu","\u003e"]]`)) {
		t.Fatalf("snapshot without the rule: %s", raw)
	}
	a2 := pending("a2")
	l.Publish(apiv1.Event{Type: apiv1.EventAlert, Transition: &a2})
	for _, p := range []*page{p1, p2} {
		raw, evs := p.next()
		if want := `{"type":"a","a":["a2",1795867200000,95.5,1,1,"critical",90,null]}`; string(raw) != want {
			t.Errorf("got %s, want %s", raw, want)
		}
		if len(evs) != 1 || evs[0].Transition == nil || !reflect.DeepEqual(evs[0].Transition.Alert, a2.Alert) {
			t.Errorf("decoded %+v, want %+v", evs, a2.Alert)
		}
	}
}

// An alert that went pending before any page connected (its event was
// never encoded: the first page's snapshot has it) still goes short when
// it fires.
func TestLiveShortFiringOfAlertPendingBeforeAnyPage(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	a := apiv1.Alert{ID: "a1", RuleName: "High CPU", Host: "web-01", Severity: apiv1.SeverityCritical,
		State: apiv1.StatePending, Value: 95, Threshold: 90, ActiveAt: at}
	l, _ := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot, Alerts: []apiv1.Alert{a}} })
	srv := httptest.NewServer(l)
	defer srv.Close()
	defer l.Close()
	l.Publish(apiv1.Event{Type: apiv1.EventAlert, Transition: &apiv1.Transition{Alert: a, From: apiv1.StateInactive,
		To: apiv1.StatePending, At: at, Value: 95, Threshold: 90}})
	p := openPage(t, srv)
	p.next()
	fired := a
	fired.State, fired.Value, fired.FiredAt = apiv1.StateFiring, 96, at.Add(time.Minute)
	l.Publish(apiv1.Event{Type: apiv1.EventAlert, Transition: &apiv1.Transition{Alert: fired, From: apiv1.StatePending,
		To: apiv1.StateFiring, At: fired.FiredAt, Value: 96, Threshold: 90}})
	raw, evs := p.next()
	if !bytes.HasPrefix(raw, []byte(`{"type":"a",`)) {
		t.Errorf("the firing of an alert pending before the first page went whole: %s", raw)
	}
	if tr := evs[0].Transition; tr == nil || tr.To != apiv1.StateFiring || tr.Alert.RuleName != "High CPU" || tr.Value != 96 {
		t.Errorf("page decoded %+v", tr)
	}
}

// The ring grows, up to its largest, when a page would otherwise lose
// events it has not been sent, and stays small while pages keep up.
func TestLiveRingGrowsForALaggingPage(t *testing.T) {
	l, reg := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} })
	l.ringMask, l.ringMax = 15, 255
	l.minGap = 0
	srv := slowServer(l)
	defer srv.Close()
	defer l.Close()
	size := func() uint64 {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.ringMask + 1
	}
	ws := slowPage(t, srv, 8<<10)
	defer ws.Close()
	p := &page{t: t, ws: ws}
	p.next()
	long := strings.Repeat("x", 1500) // events that fill the sockets' buffers quickly
	for i := range 100 {              // the page reads each event before the next
		l.Publish(hostEvent(fmt.Sprintf("%s%d", long, i)))
		p.events(1)
	}
	if got := size(); got != 16 {
		t.Errorf("ring of %d after 100 events to a page that kept up, want 16", got)
	}
	// The page stops reading: its writer blocks on the full socket and
	// the ring must keep what it has not sent yet.
	for i := range 200 {
		l.Publish(hostEvent(fmt.Sprintf("%slate%d", long, i)))
	}
	waitFor(t, "the events in the ring", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.head == 300
	})
	if got := size(); got <= 16 || got > 256 {
		t.Errorf("ring of %d with a page up to 200 events behind, want it grown past 16, up to 256", got)
	}
	evs, _ := p.events(200)
	if want := long + "late0"; evs[0].Host.ID != want || evs[199].Host.ID != long+"late199" {
		t.Errorf("the lagging page's events are not late0 … late199")
	}
	if got := metric(t, reg, "esmon_live_dropped_total", "what", "subscriber"); got != 0 {
		t.Errorf("dropped subscribers = %v, want 0", got)
	}
}

// A page that takes a big snapshot slowly (a thousand pages connecting
// at once after a restart, each taking every host) is receiving, not
// gone: its write has time for its size, and the page then gets what
// was published meanwhile. With a fixed write deadline it was cut off.
func TestLiveSlowSnapshotIsNotCutOff(t *testing.T) {
	hosts := make([]apiv1.Host, 10000)
	for i := range hosts {
		hosts[i] = apiv1.Host{ID: fmt.Sprintf("host-%05d", i), Status: apiv1.StatusOK, Online: true,
			Facts: apiv1.HostFacts{Hostname: fmt.Sprintf("host-%05d.example.internal", i), OS: "linux", Platform: "debian"}}
	}
	l, reg := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot, Hosts: hosts} })
	l.writeWait = 200 * time.Millisecond
	srv := slowServer(l)
	defer srv.Close()
	defer l.Close()
	ws := slowPage(t, srv, 32<<10) // far less than the snapshot
	defer ws.Close()
	time.Sleep(time.Second) // five write deadlines without reading
	l.Publish(hostEvent("after"))
	p := &page{t: t, ws: ws}
	data, evs := p.next()
	if len(evs) != 1 || len(evs[0].Hosts) != len(hosts) {
		t.Fatalf("first message: %d bytes, %d events, want the snapshot of %d hosts", len(data), len(evs), len(hosts))
	}
	t.Logf("snapshot of %d bytes, written over more than %v", len(data), time.Second)
	if evs, _ := p.events(1); evs[0].Host == nil || evs[0].Host.ID != "after" {
		t.Errorf("after the snapshot: %+v, want the host event published meanwhile", evs[0])
	}
	if got := metric(t, reg, "esmon_live_dropped_total", "what", "subscriber"); got != 0 {
		t.Errorf("dropped subscribers = %v, want 0", got)
	}
}

// slowServer serves l through sockets with small buffers, and slowPage
// dials it with a receive buffer of readBuf bytes: a page that stops
// reading blocks its writer after a few kilobytes rather than megabytes.
func slowServer(l *Live) *httptest.Server {
	srv := httptest.NewUnstartedServer(l)
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	return srv
}

func slowPage(t *testing.T, srv *httptest.Server, readBuf int) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(readBuf)
		}
		return c, err
	}}
	ws, _, err := d.Dial(wsURL(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// Close tells open pages the core is going away.
func TestLiveCloseTellsPages(t *testing.T) {
	l, reg := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} })
	srv := httptest.NewServer(l)
	defer srv.Close()
	pages := []*page{openPage(t, srv), openPage(t, srv)}
	for _, p := range pages {
		p.next()
	}
	l.Publish(hostEvent("a"))
	l.Close()
	for i, p := range pages {
		if code, _ := closeCode(t, p.ws); code != websocket.CloseGoingAway {
			t.Errorf("page %d closed with %d, want 1001", i, code)
		}
	}
	if n := metric(t, reg, "esmon_live_subscribers"); n != 0 {
		t.Errorf("esmon_live_subscribers = %v after Close", n)
	}
	// A page that comes after Close is told the same.
	late := dial(t, wsURL(srv))
	if code, _ := closeCode(t, late); code != websocket.CloseGoingAway {
		t.Errorf("a page after Close got %d, want 1001", code)
	}
}

// A page whose credential ends is closed with CloseSignedOut.
func TestLiveSignedOut(t *testing.T) {
	l, _ := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} })
	valid := make(chan bool, 1)
	valid <- true
	ok := true
	srv := httptest.NewServer(httpHandlerWithValidity(l, func() bool {
		select {
		case v := <-valid:
			ok = v
		default:
		}
		return ok
	}))
	defer srv.Close()
	defer l.Close()
	p := openPage(t, srv)
	p.next()
	valid <- false
	if code, _ := closeCode(t, p.ws); code != CloseSignedOut {
		t.Errorf("closed with %d, want %d", code, CloseSignedOut)
	}
}

func TestLiveSubscribeClosedOnClose(t *testing.T) {
	l, _ := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} })
	evs, stop := l.Subscribe()
	defer stop()
	if ev := <-evs; ev.Type != apiv1.EventSnapshot {
		t.Fatalf("first event %q, want snapshot", ev.Type)
	}
	l.Publish(hostEvent("a"))
	if ev := recvEvent(t, evs); ev.Host == nil || ev.Host.ID != "a" {
		t.Fatalf("event %+v, want host a", ev)
	}
	l.Close()
	select {
	case _, ok := <-evs:
		if ok {
			t.Fatal("got an event after Close, want the channel closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after Close")
	}
	// Subscribing after Close gives a closed channel, not a hang.
	late, stop2 := l.Subscribe()
	stop2()
	if _, ok := <-late; ok {
		t.Fatal("Subscribe after Close returned an open channel")
	}
	l.Publish(hostEvent("b")) // must not block or panic
	l.Close()                 // twice is harmless
}

func TestLiveUnsubscribeClosesChannel(t *testing.T) {
	l, reg := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} })
	defer l.Close()
	evs, stop := l.Subscribe()
	<-evs
	stop()
	stop() // twice is harmless
	if _, ok := recvEventOrClosed(t, evs); ok {
		t.Fatal("channel open after the cancel func")
	}
	if n := metric(t, reg, "esmon_live_subscribers"); n != 0 {
		t.Errorf("esmon_live_subscribers = %v, want 0", n)
	}
}

// The live feed's frames are JSON text; pages parse them.
func TestLiveFrameIsEventJSON(t *testing.T) {
	l, _ := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot, Hosts: []apiv1.Host{}} })
	srv := httptest.NewServer(l)
	defer srv.Close()
	defer l.Close()
	ws := dial(t, wsURL(srv))
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if typ != websocket.TextMessage || json.Unmarshal(data, &m) != nil || m["type"] != "snapshot" {
		t.Fatalf("frame type %d %s, want a JSON text frame with type snapshot", typ, data)
	}
}

func recvEvent(t *testing.T, ch <-chan apiv1.Event) apiv1.Event {
	t.Helper()
	ev, ok := recvEventOrClosed(t, ch)
	if !ok {
		t.Fatal("channel closed")
	}
	return ev
}

func recvEventOrClosed(t *testing.T, ch <-chan apiv1.Event) (apiv1.Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		return ev, ok
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return apiv1.Event{}, false
}

// httpHandlerWithValidity serves l as core/api does: with a check of the
// credential that opened the page.
func httpHandlerWithValidity(l *Live, valid func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.ServeHTTP(w, r.WithContext(WithValidity(r.Context(), valid)))
	})
}

// smallBuffers gives accepted connections a small send buffer.
type smallBuffers struct{ net.Listener }

func (s smallBuffers) Accept() (net.Conn, error) {
	c, err := s.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// The gap after a message to a page is the minimum while pages are few,
// and widens with their number, up to liveMaxGap: a thousand pages get
// fewer, fuller messages.
func TestLiveGapWidensWithPages(t *testing.T) {
	l, _ := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} })
	defer l.Close()
	for _, c := range []struct {
		pages int
		want  time.Duration
	}{{0, liveMinGap}, {liveGapPages, liveMinGap}, {2 * liveGapPages, 2 * liveMinGap}, {4 * liveGapPages, liveMaxGap}, {40 * liveGapPages, liveMaxGap}} {
		l.mu.Lock()
		l.conns = map[*liveConn]struct{}{}
		for range c.pages {
			l.conns[&liveConn{}] = struct{}{}
		}
		got := l.gapLocked()
		l.conns = map[*liveConn]struct{}{}
		l.mu.Unlock()
		if got != c.want {
			t.Errorf("%d pages: gap %v, want %v", c.pages, got, c.want)
		}
	}
}

// TestLiveSnapshotsTakeTurns: pages take their snapshots in turn, a few at
// a time (here one), each fresh when its turn comes; a page that does not
// read keeps its turn no longer than liveSnapshotHold; and every page of
// a crowd that opens at once gets its snapshot and then every event.
func TestLiveSnapshotsTakeTurns(t *testing.T) {
	hosts := make([]apiv1.Host, 10000)
	for i := range hosts {
		hosts[i] = apiv1.Host{ID: fmt.Sprintf("host-%05d", i), Status: apiv1.StatusOK, Online: true,
			Facts: apiv1.HostFacts{Hostname: fmt.Sprintf("host-%05d.example.internal", i), OS: "linux", Platform: "debian"}}
	}
	var published atomic.Int32 // events published before the snapshot is taken are in it
	l, reg := newLive(t, func() apiv1.Event {
		ev := apiv1.Event{Type: apiv1.EventSnapshot, Hosts: hosts}
		for i := range published.Load() {
			ev.Hosts = append(ev.Hosts[:len(ev.Hosts):len(ev.Hosts)], apiv1.Host{ID: fmt.Sprintf("during-%d", i), Status: apiv1.StatusOK})
		}
		return ev
	})
	l.snapSlots = 1
	srv := slowServer(l)
	defer srv.Close()
	defer l.Close()

	stuck := slowPage(t, srv, 32<<10) // takes the slot and reads nothing
	defer stuck.Close()
	time.Sleep(200 * time.Millisecond)
	opened := time.Now()
	next := openPage(t, srv)
	time.Sleep(200 * time.Millisecond)
	l.Publish(hostEvent("during-0")) // while next waits for its turn
	published.Store(1)
	_, evs := next.next()
	waited := time.Since(opened)
	if len(evs) != 1 || evs[0].Type != apiv1.EventSnapshot {
		t.Fatalf("first message: %+v, want the snapshot", evs)
	}
	if waited < liveSnapshotHold {
		t.Errorf("the second page's snapshot came %v after it opened, while the first held the only slot (hold %v)", waited, liveSnapshotHold)
	}
	if last := evs[0].Hosts[len(evs[0].Hosts)-1]; last.ID != "during-0" {
		t.Errorf("the snapshot ends with %q: it was taken when the page opened, not when its turn came", last.ID)
	}

	// A crowd opens at once; each page gets its snapshot, then the event
	// published once all have opened.
	const crowd = 20
	pages := make([]*page, crowd)
	var wg sync.WaitGroup
	for i := range pages {
		wg.Add(1)
		go func() { defer wg.Done(); pages[i] = &page{t: t, ws: dial(t, wsURL(srv))} }()
	}
	wg.Wait()
	firsts := make(chan error, crowd)
	for _, p := range pages {
		go func() {
			p.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, data, err := p.ws.ReadMessage()
			if err == nil && !bytes.HasPrefix(data, []byte(`{"type":"snapshot"`)) {
				err = fmt.Errorf("first message %.40s, want the snapshot", data)
			}
			firsts <- err
		}()
	}
	for range pages {
		if err := <-firsts; err != nil {
			t.Fatal(err)
		}
	}
	l.Publish(hostEvent("after"))
	for i, p := range pages {
		evs, _ := p.events(1)
		if evs[0].Host == nil || evs[0].Host.ID != "after" {
			t.Errorf("page %d: %+v, want the event after the snapshots", i, evs[0])
		}
	}
	if got := metric(t, reg, "esmon_live_subscribers"); got != crowd+2 {
		t.Errorf("esmon_live_subscribers = %v, want %d", got, crowd+2)
	}
}

// A long message to a page goes out in TLS records filled to the limit,
// one write (one system call) each. Frames of the write buffer's size
// plus their 4-byte header took a full record and one of 4 bytes each:
// twice the writes, at 1,000 pages the better part of the core's CPU.
func TestLiveFramesFillTLSRecords(t *testing.T) {
	l, _ := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} })
	defer l.Close()
	parts := make([]liveMsgPart, 2000)
	for i := range parts {
		parts[i] = fmt.Appendf(nil, `{"type":"alert","n":%d,"pad":"%s"}`, i, strings.Repeat("x", 80))
	}
	var writes atomic.Int64
	measured := make(chan int64, 1)
	ws := tlsPage(t, l, func(ln net.Listener) net.Listener { return countWrites{ln, &writes} }, func(ws *websocket.Conn) {
		// The first 128 KB of a TLS connection go in small records
		// (crypto/tls sizes them to a TCP segment): past them first.
		var buf []byte
		if err := writeBatch(ws, parts, &buf); err != nil {
			t.Error(err)
		}
		writes.Store(0)
		if err := writeBatch(ws, parts, &buf); err != nil {
			t.Error(err)
		}
		measured <- writes.Load()
	})
	var size int
	for range 2 {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Events []json.RawMessage }
		if err := json.Unmarshal(data, &m); err != nil || len(m.Events) != len(parts) {
			t.Fatalf("message of %d bytes: %d events, %v; want %d", len(data), len(m.Events), err, len(parts))
		}
		size = len(data)
	}
	n := <-measured
	// Each record carries 16,384 bytes: the frames' headers fill what the
	// payload leaves.
	if most := int64(size/16380 + 1); n > most {
		t.Errorf("a %d-byte message took %d writes, want at most %d (records filled)", size, n, most)
	}
	t.Logf("a %d-byte message in %d writes", size, n)
}

// A page catching up gets up to liveMaxBatch events in one message; the
// writer's buffer stays one write buffer and a part whatever the message's
// length, and the message arrives whole, in order. Built whole, a 4,096-
// event message (about 500 KB here) grew the buffer to its size, on every
// page catching up at once after a stall.
func TestLiveCatchUpBufferStaysSmall(t *testing.T) {
	l, _ := newLive(t, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} })
	defer l.Close()
	parts := make([]liveMsgPart, liveMaxBatch)
	for i := range parts {
		parts[i] = fmt.Appendf(nil, `{"type":"alert","n":%d,"pad":"%s"}`, i, strings.Repeat("x", 80+i%50))
	}
	grown := make(chan int, 1)
	ws := tlsPage(t, l, nil, func(ws *websocket.Conn) {
		var buf []byte
		if err := writeBatch(ws, parts, &buf); err != nil {
			t.Error(err)
		}
		grown <- cap(buf)
	})
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Type   string
		Events []struct{ N int }
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Type != "batch" || len(m.Events) != len(parts) {
		t.Fatalf("message of %d bytes: type %q, %d events, %v; want a batch of %d", len(data), m.Type, len(m.Events), err, len(parts))
	}
	for i, e := range m.Events {
		if e.N != i {
			t.Fatalf("event %d is number %d: out of order", i, e.N)
		}
	}
	if c := <-grown; c > liveBatchBuffer {
		t.Errorf("a %d-byte message grew the writer's buffer to %d bytes, want at most %d", len(data), c, liveBatchBuffer)
	}
}

// tlsPage serves one page over TLS on loopback, its listener wrapped by
// wrap (if not nil), and dials it: serve writes to the page, and the
// caller reads what the page gets. Both end with the test.
func tlsPage(tb testing.TB, l *Live, wrap func(net.Listener) net.Listener, serve func(ws *websocket.Conn)) *websocket.Conn {
	tb.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := l.up.Upgrade(w, r, nil)
		if err != nil {
			tb.Error(err)
			return
		}
		defer ws.Close()
		serve(ws)
	}))
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	d := websocket.Dialer{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}
	ws, _, err := d.Dial("wss"+strings.TrimPrefix(srv.URL, "https")+"/", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ws.Close() })
	return ws
}

// countWrites counts the writes to its accepted connections.
type countWrites struct {
	net.Listener
	n *atomic.Int64
}

func (l countWrites) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return writeCounter{c, l.n}, nil
}

type writeCounter struct {
	net.Conn
	n *atomic.Int64
}

func (c writeCounter) Write(b []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(b)
}

// BenchmarkLiveWriteBatch writes a message of a steady feed at 10,000
// agents and 1,000 pages (150 ms of host updates: 300 short host events)
// to a page over TLS on loopback, which reads and drops it.
func BenchmarkLiveWriteBatch(b *testing.B) {
	benchWriteBatch(b, func(ws *websocket.Conn, parts []liveMsgPart, buf *[]byte) error {
		return writeBatch(ws, parts, buf)
	})
}

// BenchmarkLiveWriteCatchUp writes the message of a page catching up
// (liveMaxBatch short host events) from a fresh buffer, as a writer does
// once a collection has emptied the pool: the bytes a page's catch-up
// allocates.
func BenchmarkLiveWriteCatchUp(b *testing.B) {
	benchWriteBatchN(b, liveMaxBatch, func(ws *websocket.Conn, parts []liveMsgPart, _ *[]byte) error {
		var fresh []byte
		return writeBatch(ws, parts, &fresh)
	})
}

func benchWriteBatch(b *testing.B, write func(*websocket.Conn, []liveMsgPart, *[]byte) error) {
	benchWriteBatchN(b, 300, write)
}

func benchWriteBatchN(b *testing.B, n int, write func(*websocket.Conn, []liveMsgPart, *[]byte) error) {
	l, _ := newLive(b, func() apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} })
	defer l.Close()
	parts := make([]liveMsgPart, n)
	for i := range parts {
		parts[i] = fmt.Appendf(nil, `{"type":"h","h":[%d,1,%d,%d,%d,66]}`, 9000+i, 617232+i%150, i%100, (i*7)%100)
	}
	done := make(chan struct{})
	ws := tlsPage(b, l, nil, func(ws *websocket.Conn) {
		defer close(done)
		var buf []byte
		for range 20 { // past crypto/tls's small first records
			write(ws, parts, &buf)
		}
		b.ResetTimer()
		for range b.N {
			if err := write(ws, parts, &buf); err != nil {
				b.Error(err)
				break
			}
		}
		b.StopTimer()
	})
	go func() {
		for {
			_, r, err := ws.NextReader()
			if err != nil {
				return
			}
			io.Copy(io.Discard, r)
		}
	}()
	<-done
}
