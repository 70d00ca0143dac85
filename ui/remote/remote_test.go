package remote

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"esmon/core/apiv1"
	"esmon/core/hub"
)

const testToken = "esm_test_token"

// fakeCore is a TLS server on loopback that answers like a core: it checks
// the bearer token, serves /api/v1/rules and a /ws/live that sends the
// frames given.
func fakeCore(t *testing.T, frames ...string) (srv *httptest.Server, drop func()) {
	t.Helper()
	gone := make(chan struct{})
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+testToken {
				w.WriteHeader(http.StatusUnauthorized)
				json.NewEncoder(w).Encode(apiv1.Error{Error: "sign in first", Code: "unauthorized"})
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/v1/rules", auth(func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode([]apiv1.Rule{{ID: "r1", Name: "High CPU"}})
	}))
	mux.HandleFunc("GET /ws/live", auth(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for _, f := range frames {
			ws.WriteMessage(websocket.TextMessage, []byte(f))
		}
		// Stay until the client leaves or the core "goes away".
		left := make(chan struct{})
		go func() {
			defer close(left)
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		select {
		case <-left:
		case <-gone:
			ws.Close()
			<-left
		}
	}))
	srv = httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv, sync.OnceFunc(func() { close(gone) })
}

// verifyNoLeaks checks, after every other cleanup, that the test left no
// goroutine behind.
func verifyNoLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestTLSVerification(t *testing.T) {
	verifyNoLeaks(t)
	srv, _ := fakeCore(t)
	pin := Fingerprint(srv.Certificate())
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	other := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		opts    Options
		wantErr string // "" for success
	}{
		{"pinned key (base64, as the core prints it)", Options{Fingerprint: pin}, ""},
		{"pinned key with curl's prefix", Options{Fingerprint: "sha256//" + pin}, ""},
		{"a different pin", Options{Fingerprint: other}, "does not match the pinned"},
		{"CA file", Options{CAFile: caFile}, ""},
		{"system roots only", Options{}, "certificate"},
		{"wrong token", Options{Fingerprint: pin, Token: "nope"}, "sign in first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.URL, o.Logger = srv.URL, quiet()
			if o.Token == "" {
				o.Token = testToken
			}
			c, err := New(o)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer c.http.CloseIdleConnections()
			rules, err := c.Rules(context.Background())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Rules: %v", err)
			case tt.wantErr == "" && (len(rules) != 1 || rules[0].Name != "High CPU"):
				t.Errorf("rules = %+v", rules)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("err = %v, want one that says %q", err, tt.wantErr)
			}
		})
	}

	var apiErr *Error
	c, _ := New(Options{URL: srv.URL, Token: "nope", Fingerprint: pin, Logger: quiet()})
	defer c.http.CloseIdleConnections()
	if _, err := c.Rules(context.Background()); !errors.As(err, &apiErr) || apiErr.Status != 401 || apiErr.Code != "unauthorized" {
		t.Errorf("a refused token gives %v, want *Error 401 unauthorized", err)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"no scheme", Options{URL: "core.example.net:8470"}, "want http(s)://host:port"},
		{"ftp", Options{URL: "ftp://core.example.net"}, "want http(s)://host:port"},
		{"short pin", Options{URL: "https://core:8470", Fingerprint: "abcd"}, "SHA-256 pin"},
		{"missing CA file", Options{URL: "https://core:8470", CAFile: "/nonexistent/ca.pem"}, "read CA file"},
		{"fine", Options{URL: "https://core.example.net:8470/"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.WebURL() != "https://core.example.net:8470/" || c.liveURL() != "wss://core.example.net:8470/ws/live" {
					t.Errorf("web %q, live %q", c.WebURL(), c.liveURL())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestLiveFeed reads /ws/live: events pass in order, an unreadable frame
// is skipped and counted, and the feed closes when the core goes.
func TestLiveFeed(t *testing.T) {
	verifyNoLeaks(t)
	host := apiv1.Host{ID: "web-01", Online: true}
	snap, _ := json.Marshal(apiv1.Event{Type: apiv1.EventSnapshot, Hosts: []apiv1.Host{host}})
	hev, _ := json.Marshal(apiv1.Event{Type: apiv1.EventHost, Host: &host})
	srv, drop := fakeCore(t, string(snap), "{not json", string(hev))
	reg := prometheus.NewRegistry()
	c, err := New(Options{URL: srv.URL, Token: testToken, Fingerprint: Fingerprint(srv.Certificate()),
		Logger: quiet(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.http.CloseIdleConnections()

	events, cancel := c.Subscribe()
	var got []string
	for len(got) < 2 {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("feed closed after %q", got)
			}
			got = append(got, ev.Type)
		case <-time.After(10 * time.Second):
			t.Fatalf("events so far %q", got)
		}
	}
	if got[0] != apiv1.EventSnapshot || got[1] != apiv1.EventHost {
		t.Errorf("events = %q", got)
	}
	if n := testutil.ToFloat64(c.badFrames); n != 1 {
		t.Errorf("bad frames counted = %v, want 1", n)
	}
	cancel()
	if _, ok := <-events; ok {
		t.Error("feed still open after cancel")
	}

	// A core that goes away closes the feed, so the console subscribes
	// again.
	events, cancel = c.Subscribe()
	defer cancel()
	<-events // the snapshot
	drop()
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("feed open after the core went away")
		}
	}
}

// TestLiveFeedFromCore reads a real core's live feed (hub.Live, as the core
// serves it): batches arrive as single events in order, host events that
// leave out the identity get it back, and Watch brings a host's latest
// values.
func TestLiveFeedFromCore(t *testing.T) {
	verifyNoLeaks(t)
	facts := apiv1.HostFacts{Hostname: "web-01", OS: "linux", Cores: 4}
	live := hub.NewLive(func(bool) apiv1.Event {
		return apiv1.Event{Type: apiv1.EventSnapshot, Hosts: []apiv1.Host{{ID: "web-01", Facts: facts, AgentVersion: "1.0"}}}
	}, nil, quiet())
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		live.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer live.Close()
	c, err := New(Options{URL: srv.URL, Token: testToken, Fingerprint: Fingerprint(srv.Certificate()), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.http.CloseIdleConnections()

	events, cancel := c.Subscribe()
	defer cancel()
	next := func() apiv1.Event {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("feed closed")
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event for 10 s")
		}
		return apiv1.Event{}
	}
	if ev := next(); ev.Type != apiv1.EventSnapshot || ev.Hosts[0].Facts != facts {
		t.Fatalf("first event %+v, want the snapshot with the host's facts", ev)
	}
	update := func(cpu float64) apiv1.Event {
		return apiv1.Event{Type: apiv1.EventHost, Host: &apiv1.Host{ID: "web-01", Facts: facts, AgentVersion: "1.0",
			Online: true, Gauges: apiv1.Gauges{CPU: cpu}, Latest: map[string]float64{"cpu_usage_percent": cpu}}}
	}
	const n = 100
	for i := range n {
		live.Publish(update(float64(i)))
	}
	for i := range n {
		ev := next()
		if ev.Type != apiv1.EventHost || ev.Host.Gauges.CPU != float64(i) {
			t.Fatalf("event %d: %+v, want the host at cpu %d", i, ev, i)
		}
		if ev.Host.Facts != facts || ev.Host.AgentVersion != "1.0" {
			t.Fatalf("event %d lost the host's identity: %+v", i, ev.Host)
		}
		if ev.Host.Latest != nil {
			t.Fatalf("event %d has latest values without a watch", i)
		}
	}

	c.Watch("web-01")
	deadline := time.Now().Add(10 * time.Second)
	for cpu := float64(n); ; cpu++ {
		live.Publish(update(cpu))
		if ev := next(); ev.Host.Latest["cpu_usage_percent"] == cpu {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no latest values 10 s after Watch")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
