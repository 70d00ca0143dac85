package core

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"esmon/core/apiv1"
	"esmon/core/enrol"
	"esmon/core/hub"
	"esmon/core/wire"
	"esmon/internal/testenv"
)

// TestMain checks that a core leaves nothing running once stopped, also
// when New fails half way.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// client keeps no idle connections, which goleak would see as leaks.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

func newCore(t *testing.T, dir string) (*Core, *testenv.Buffer) {
	t.Helper()
	logs := &testenv.Buffer{}
	// Plain HTTP keeps these tests on the core's wiring; TestTLS covers
	// the TLS listener.
	c, err := New(Options{
		DataDir:      dir,
		Listen:       "127.0.0.1:0",
		Version:      "test",
		InsecureHTTP: true,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, logs
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s has mode %v, want 0600", filepath.Base(path), mode)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// run serves c until the test ends and returns its base URL.
func run(t *testing.T, c *Core) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return "http://" + c.Addr().String()
}

func TestTokens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // New creates it
	c, logs := newCore(t, dir)
	admin := readToken(t, filepath.Join(dir, AdminTokenFile))
	agentID, agent, secret := enrolAgent(t, c)
	if c.AdminTokenPath() != filepath.Join(dir, AdminTokenFile) {
		t.Errorf("token path %s", c.AdminTokenPath())
	}
	for _, tc := range []struct{ name, token, prefix string }{{"admin", admin, "esm_admin_"}, {"agent", agent, "esma_"}} {
		if !strings.HasPrefix(tc.token, tc.prefix) || len(tc.token) < len(tc.prefix)+40 {
			t.Errorf("%s token %d bytes with prefix %q, want %q and 32 random bytes", tc.name, len(tc.token), tc.token[:min(len(tc.token), 10)], tc.prefix)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}

	base := run(t, c)
	waitHealthy(t, base)
	// Exercise the paths that could log a credential: a refused agent, a
	// good one, a failed sign-in and a bearer request.
	agentSession(t, c, agentID, "esma_wrong-"+agent)
	agentSession(t, c, agentID, agent)
	if resp, err := client.Post(base+"/api/v1/session", "application/json", strings.NewReader(`{"token":"`+admin+`x"}`)); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("sign-in with a wrong token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/hosts", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/v1/hosts with the admin token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	c.Stop()

	out := logs.String()
	for _, want := range []string{filepath.Join(dir, AdminTokenFile)} {
		if !strings.Contains(out, want) {
			t.Errorf("logs do not name %s:\n%s", want, out)
		}
	}
	_, secretRandom, _ := strings.Cut(secret, ".")
	for _, tc := range []struct{ name, token, prefix string }{{"admin", admin, "esm_admin_"}, {"agent", agent, "esma_"}, {"join", secretRandom, ""}} {
		// The random part alone must not appear either.
		if strings.Contains(out, strings.TrimPrefix(tc.token, tc.prefix)) {
			t.Errorf("logs contain the %s token:\n%s", tc.name, out)
		}
	}

	// A second start reuses the tokens: agents and people keep working.
	c2, _ := newCore(t, dir)
	defer c2.Stop()
	if got := readToken(t, filepath.Join(dir, AdminTokenFile)); got != admin {
		t.Error("admin token changed on the second start")
	}
	if _, err := c2.Hello(&wire.Hello{Version: wire.Version, AgentID: agentID, Token: agent, Host: wire.HostFacts{Hostname: "h"}}); err != nil {
		t.Errorf("Hello with the credential of the first start: %v", err)
	}
	// The host the agent registered is remembered, offline until it reports.
	if hs := c2.Hosts(); len(hs) != 2 {
		t.Errorf("hosts after restart: %+v, want web-01 and h", hs)
	}
}

func TestEmptyTokenFileRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, AdminTokenFile), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("New with an empty token file: %v, want an error saying it is empty", err)
	}
}

func TestNewNeedsDataDir(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a data directory succeeded")
	}
}

func TestNewFailsCleanlyWhenPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	_, err = New(Options{DataDir: dir, Listen: ln.Addr().String(), Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("New on a taken port: %v, want an error naming the address", err)
	}
	// The failed New released the database: a retry on a free port works.
	c, _ := newCore(t, dir)
	c.Stop()
}

func TestStopWithoutRunReleasesPort(t *testing.T) {
	c, _ := newCore(t, t.TempDir())
	addr := c.Addr().String()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still held after Stop: %v", err)
	}
	ln.Close()
}

func TestRunStopsOnCancel(t *testing.T) {
	c, logs := newCore(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	base := "http://" + c.Addr().String()
	waitHealthy(t, base)

	// A connected agent must not hold the shutdown up.
	id, agent, _ := enrolAgent(t, c)
	ws := dialAgent(t, c, id, agent)
	defer ws.Close()

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	t.Logf("stopped in %v", time.Since(start))
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := ws.ReadMessage()
	if !websocket.IsCloseError(err, hub.CloseShuttingDown) {
		t.Errorf("agent read after shutdown: %v, want close %d", err, hub.CloseShuttingDown)
	}
	if _, err := net.DialTimeout("tcp", c.Addr().String(), time.Second); err == nil {
		t.Error("the core still accepts connections after Run returned")
	}
	if !strings.Contains(logs.String(), "core stopped") {
		t.Error("no 'core stopped' log")
	}
	if err := c.Stop(); err != nil {
		t.Errorf("Stop after Run returned: %v", err)
	}
}

func TestHello(t *testing.T) {
	c, _ := newCore(t, t.TempDir())
	defer c.Stop()
	a, agent, _ := enrolAgent(t, c)
	b, other, _ := enrolAgent(t, c)
	r, revoked, _ := enrolAgent(t, c)
	if ok, err := c.RevokeAgent(r); !ok || err != nil {
		t.Fatalf("RevokeAgent: %v %v", ok, err)
	}
	admin := readToken(t, c.AdminTokenPath())
	tests := []struct {
		name    string
		hello   wire.Hello
		wantID  string
		wantErr error
	}{
		{"wrong token", wire.Hello{AgentID: a, Token: "esma_wrong", Host: wire.HostFacts{Hostname: "web"}}, "", hub.ErrBadToken},
		{"empty token", wire.Hello{AgentID: a, Host: wire.HostFacts{Hostname: "web"}}, "", enrol.ErrNoCredential},
		{"token prefix", wire.Hello{AgentID: a, Token: agent[:len(agent)-1], Host: wire.HostFacts{Hostname: "web"}}, "", hub.ErrBadToken},
		{"admin token is not an agent token", wire.Hello{AgentID: a, Token: admin, Host: wire.HostFacts{Hostname: "web"}}, "", hub.ErrBadToken},
		{"unknown agent id", wire.Hello{AgentID: "nobody", Token: agent, Host: wire.HostFacts{Hostname: "web"}}, "", enrol.ErrOtherAgent},
		{"another agent's credential", wire.Hello{AgentID: b, Token: agent, Host: wire.HostFacts{Hostname: "web"}}, "", enrol.ErrOtherAgent},
		{"revoked agent", wire.Hello{AgentID: r, Token: revoked, Host: wire.HostFacts{Hostname: "web"}}, "", enrol.ErrRevoked},
		{"filed under the host name in lower case", wire.Hello{AgentID: a, Token: agent, Host: wire.HostFacts{Hostname: "  Web-01.Example.COM "}}, "web-01.example.com", nil},
		{"agent id when there is no host name", wire.Hello{AgentID: b, Token: other}, b, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.hello.Version = wire.Version
			id, err := c.Hello(&tt.hello)
			if !errors.Is(err, tt.wantErr) || id != tt.wantID {
				t.Fatalf("Hello = (%q, %v), want (%q, %v)", id, err, tt.wantID, tt.wantErr)
			}
			if err != nil {
				return
			}
			var found bool
			for _, h := range c.Hosts() {
				found = found || (h.ID == tt.wantID && h.Online)
			}
			if !found {
				t.Errorf("host %s not listed online after Hello", tt.wantID)
			}
		})
	}
	for _, h := range c.Hosts() {
		if h.ID == "web" {
			t.Error("a refused Hello registered its host")
		}
	}
}

func TestIngestReachesLiveFeed(t *testing.T) {
	c, _ := newCore(t, t.TempDir())
	base := run(t, c)
	waitHealthy(t, base)
	feed, stop := c.Subscribe()
	defer stop()
	if ev := <-feed; ev.Type != apiv1.EventSnapshot {
		t.Fatalf("first event %q, want snapshot", ev.Type)
	}

	id, cred, _ := enrolAgent(t, c)
	agentSession(t, c, id, cred)

	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-feed:
			if ev.Type == apiv1.EventHost && ev.Host.ID == "web-01" && ev.Host.Gauges.CPU == 42 {
				return
			}
		case <-deadline:
			t.Fatal("no host event with the batch's CPU value on the live feed")
		}
	}
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("core not healthy: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dialAgent(t *testing.T, c *Core, id, token string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+c.Addr().String()+wire.Path, nil)
	if err != nil {
		t.Fatalf("dial agent endpoint: %v", err)
	}
	f, _ := wire.Encode(&wire.Hello{Version: wire.Version, AgentID: id, Token: token, Host: wire.HostFacts{Hostname: "web-01"}})
	if err := ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, data, err := ws.ReadMessage(); err != nil {
		t.Fatalf("no welcome: %v", err)
	} else if msg, err := wire.Decode(data); err != nil {
		t.Fatalf("no welcome: %v", err)
	} else if _, ok := msg.(*wire.Welcome); !ok {
		t.Fatalf("got %T, want welcome", msg)
	}
	return ws
}

// agentSession connects as agent id with token and, when it is welcomed,
// sends one batch and waits for its ack.
func agentSession(t *testing.T, c *Core, id, token string) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+c.Addr().String()+wire.Path, nil)
	if err != nil {
		t.Fatalf("dial agent endpoint: %v", err)
	}
	defer ws.Close()
	send := func(msg any) {
		f, _ := wire.Encode(msg)
		ws.WriteMessage(websocket.BinaryMessage, f)
	}
	recv := func() any {
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		msg, _ := wire.Decode(data)
		return msg
	}
	send(&wire.Hello{Version: wire.Version, AgentID: id, Token: token, Host: wire.HostFacts{Hostname: "web-01"}})
	if _, ok := recv().(*wire.Welcome); !ok {
		return
	}
	send(&wire.Batch{Seq: 1, Defs: []wire.SeriesDef{{ID: 1, Metric: wire.CPUUsagePercent}},
		Snapshots: []wire.Snapshot{{TimeMS: time.Now().UnixMilli(), IDs: []uint32{1}, Values: []float64{42}}}})
	if ack, ok := recv().(*wire.Ack); !ok || ack.Seq != 1 {
		t.Errorf("no ack for the batch: %v", ack)
	}
}

// enrolAgent enrols an agent through a fresh one-use join code, as
// POST /api/v1/enrol does, and returns its id, credential and the join
// secret used.
func enrolAgent(t *testing.T, c *Core) (id, credential, secret string) {
	t.Helper()
	jc, err := c.CreateJoinCode(apiv1.NewJoinCode{Uses: 1, TTLSeconds: 600})
	if err != nil {
		t.Fatalf("CreateJoinCode: %v", err)
	}
	code, err := wire.ParseJoinCode(jc.Code)
	if err != nil {
		t.Fatalf("ParseJoinCode: %v", err)
	}
	r, err := c.Enrol(wire.EnrolRequest{Secret: code.Secret, Host: wire.HostFacts{Hostname: "web-01"}}, "127.0.0.1:1")
	if err != nil {
		t.Fatalf("Enrol: %v", err)
	}
	return r.AgentID, r.Credential, code.Secret
}
