package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"esmon/core/apiv1"
	"esmon/core/wire"
)

// TestJoinCodesRefused runs real agents with join codes that must not
// work. Each agent stops with a message that names the problem, enrols
// nothing, and the core counts the refusal by its reason.
func TestJoinCodesRefused(t *testing.T) {
	c := startCore(t, "")

	// A one-use code, taken by a first agent.
	usedUp := c.joinCode(t, 1, 10*time.Minute)
	startWithEnv(t, "esmon-agent (takes the code)", []string{"ESMON_JOIN_CODE=" + usedUp.Code},
		bins.agent, "run", "--interval", "1s", "--state-dir", t.TempDir())
	waitFor(t, 20*time.Second, "the code's one use taken", func() bool {
		for _, j := range c.joinCodes(t) {
			if j.ID == usedUp.ID {
				return j.State == apiv1.JoinUsedUp
			}
		}
		return false
	})

	revoked := c.joinCode(t, 5, 10*time.Minute)
	if code := c.do(t, "DELETE", "/api/v1/join-codes/"+revoked.ID, nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE join code: HTTP %d", code)
	}
	expired := c.joinCode(t, 5, time.Second)
	waitFor(t, 10*time.Second, "the one-second code to expire", func() bool { return time.Now().After(expired.ExpiresAt) })
	// Well-formed, right core and pin, but a secret the core never made.
	unknown := wire.JoinCode{URL: c.url, Pin: c.pin, Secret: "0011223344556677.bm8gc3VjaCBzZWNyZXQ", Expires: time.Now().Add(time.Hour).Unix()}.String()

	tests := []struct {
		name, code, says, reason string
	}{
		{"used-up code", usedUp.Code, "used up", wire.EnrolRefusedUsedUp},
		{"revoked code", revoked.Code, "revoked", wire.EnrolRefusedRevoked},
		{"expired code", expired.Code, "expired", wire.EnrolRefusedExpired},
		{"unknown code", unknown, "unknown join code", wire.EnrolRefusedUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before float64
			if tt.reason != "" {
				before = c.metric(t, `esmon_enrolments_total{result="`+tt.reason+`"}`)
			}
			state := t.TempDir()
			p := startWithEnv(t, "esmon-agent ("+tt.name+")", []string{"ESMON_JOIN_CODE=" + tt.code},
				bins.agent, "run", "--interval", "1s", "--state-dir", state)
			select {
			case <-p.exited:
			case <-time.After(40 * time.Second):
				t.Fatalf("agent with a %s did not stop:\n%s", tt.name, p.out.String())
			}
			if p.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(p.out.String(), tt.says) {
				t.Errorf("exit %d, output lacks %q:\n%s", p.cmd.ProcessState.ExitCode(), tt.says, p.out.String())
			}
			if _, err := os.Stat(filepath.Join(state, "enrolment.json")); err == nil {
				t.Error("a refused agent kept an enrolment")
			}
			if tt.reason != "" {
				if got := c.metric(t, `esmon_enrolments_total{result="`+tt.reason+`"}`); got != before+1 {
					t.Errorf("enrolments refused as %s: %v, want %v", tt.reason, got, before+1)
				}
			}
		})
	}
	// The first agent alone is enrolled; none of the refused ones.
	if as := c.agents(t); len(as) != 1 {
		t.Errorf("enrolled agents %+v, want the first alone", as)
	}
}

// TestAgentAuthRefused sends hand-made hellos that a core must refuse:
// each gets close code 4001 with its reason, and is counted.
func TestAgentAuthRefused(t *testing.T) {
	c := startCore(t, "")
	idA, credA := c.enrol(t, "agent-a")
	idB, _ := c.enrol(t, "agent-b")
	tests := []struct {
		name, id, token, says, reason string
	}{
		{"no token", idA, "", "no agent token", "no_token"},
		{"wrong token", idA, "esma_wrong", "invalid agent token", "token"},
		{"another agent's id", idB, credA, "another agent", "other_agent"},
		{"made-up id with a real credential", "made-up", credA, "another agent", "other_agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counter := `esmon_agent_connections_rejected_total{reason="` + tt.reason + `"}`
			before := c.metric(t, counter)
			ce := c.helloClose(t, tt.id, tt.token)
			if ce == nil || ce.Code != 4001 || !strings.Contains(ce.Text, tt.says) {
				t.Fatalf("close %v, want 4001 saying %q", ce, tt.says)
			}
			if got := c.metric(t, counter); got != before+1 {
				t.Errorf("%s = %v, want %v", counter, got, before+1)
			}
		})
	}
	if ce := c.helloClose(t, idA, credA); ce != nil {
		t.Errorf("the right credential was refused: %v", ce)
	}
}

// TestRevokedAgent revokes a running agent: its connection closes at once
// with the revoked code, the agent stops, and neither it nor its
// credential gets back in.
func TestRevokedAgent(t *testing.T) {
	c := startCore(t, "")
	state := t.TempDir()
	agent := startAgent(t, c, "--state-dir", state)
	h := c.waitHost(t)

	// What the agent kept: its credential, for it alone.
	path := filepath.Join(state, "enrolment.json")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("enrolment file: %v %v, want mode 0600", fi, err)
	}
	var kept struct {
		AgentID    string `json:"agent_id"`
		Credential string `json:"credential"`
		Pin        string `json:"pin"`
	}
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &kept); err != nil || kept.Pin != c.pin {
		t.Fatalf("enrolment file %s: %v; want the core's pin", b, err)
	}

	var listed apiv1.Agent
	waitFor(t, 10*time.Second, "the agent listed as connected", func() bool {
		for _, a := range c.agents(t) {
			if a.ID == kept.AgentID && a.Connected {
				listed = a
				return true
			}
		}
		return false
	})
	if listed.Hostname != h.Facts.Hostname || listed.Version == "" || listed.LastContact.IsZero() || listed.OS == "" || listed.RemoteAddr == "" {
		t.Errorf("listed as %+v", listed)
	}

	// A second, hand-made connection of the same agent shows how fast a
	// live connection closes after the revoke request.
	ws := c.welcomed(t, kept.AgentID, kept.Credential)
	closed := make(chan *websocket.CloseError, 1)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				errors.As(err, &ce)
				closed <- ce
				return
			}
		}
	}()
	revokedAt := time.Now()
	if code := c.do(t, "POST", "/api/v1/agents/"+kept.AgentID+"/revoke", nil, nil); code != http.StatusNoContent {
		t.Fatalf("revoke: HTTP %d", code)
	}
	var ce *websocket.CloseError
	select {
	case ce = <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the revoked agent's connection stayed open")
	}
	t.Logf("revoked agent's live connection closed %v after the revoke request was sent", time.Since(revokedAt))
	if ce == nil || ce.Code != 4006 {
		t.Errorf("close %v, want 4006 (revoked)", ce)
	}

	select {
	case <-agent.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("the revoked agent did not stop:\n%s", agent.out.String())
	}
	if agent.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(agent.out.String(), "revoked") {
		t.Errorf("agent exit %d, output:\n%s", agent.cmd.ProcessState.ExitCode(), agent.out.String())
	}

	before := c.metric(t, `esmon_agent_connections_rejected_total{reason="revoked"}`)
	if ce := c.helloClose(t, kept.AgentID, kept.Credential); ce == nil || ce.Code != 4006 {
		t.Errorf("reconnecting with the revoked credential: close %v, want 4006", ce)
	}
	if got := c.metric(t, `esmon_agent_connections_rejected_total{reason="revoked"}`); got != before+1 {
		t.Errorf("refusals as revoked: %v, want %v", got, before+1)
	}
	// Started again on its state, it refuses to run rather than knock.
	again := start(t, "esmon-agent (after revoke)", bins.agent, "run", "--interval", "1s", "--state-dir", state)
	select {
	case <-again.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the revoked agent ran again:\n%s", again.out.String())
	}
	if !strings.Contains(again.out.String(), "revoked") {
		t.Errorf("restarted revoked agent says:\n%s", again.out.String())
	}
	for _, a := range c.agents(t) {
		if a.ID == kept.AgentID && (!a.Revoked || a.Connected) {
			t.Errorf("after revoke the agent is listed as %+v", a)
		}
	}
}

// hello dials /ws/agent and says hello as id with token. It returns the
// connection when the core welcomes the agent, or the close frame the core
// refused it with.
func (c *coreProc) hello(t *testing.T, id, token string) (*websocket.Conn, *websocket.CloseError) {
	t.Helper()
	ws, _, err := c.wsDialer().Dial(c.wsURL(wire.Path), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	f, err := wire.Encode(&wire.Hello{Version: wire.Version, AgentID: id, Token: token, AgentVersion: "e2e",
		Host: wire.HostFacts{Hostname: "hand-made", OS: "linux"}})
	if err != nil {
		t.Fatal(err)
	}
	ws.WriteMessage(websocket.BinaryMessage, f)
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return nil, ce
	}
	if err != nil {
		t.Fatalf("no answer to hello: %v", err)
	}
	if m, err := wire.Decode(data); err != nil {
		t.Fatal(err)
	} else if _, ok := m.(*wire.Welcome); !ok {
		t.Fatalf("got %T, want welcome", m)
	}
	ws.SetReadDeadline(time.Time{})
	return ws, nil
}

// helloClose is hello for a hello the core should refuse: it returns the
// close frame, nil when the core welcomed the agent.
func (c *coreProc) helloClose(t *testing.T, id, token string) *websocket.CloseError {
	t.Helper()
	_, ce := c.hello(t, id, token)
	return ce
}

// welcomed is hello for a hello the core must accept.
func (c *coreProc) welcomed(t *testing.T, id, token string) *websocket.Conn {
	t.Helper()
	ws, ce := c.hello(t, id, token)
	if ce != nil {
		t.Fatalf("the core refused the agent: %v", ce)
	}
	return ws
}

func (c *coreProc) agents(t *testing.T) []apiv1.Agent {
	t.Helper()
	var as []apiv1.Agent
	if code := c.do(t, "GET", "/api/v1/agents", nil, &as); code != http.StatusOK {
		t.Fatalf("GET /api/v1/agents: HTTP %d", code)
	}
	return as
}

func (c *coreProc) joinCodes(t *testing.T) []apiv1.JoinCode {
	t.Helper()
	var js []apiv1.JoinCode
	if code := c.do(t, "GET", "/api/v1/join-codes", nil, &js); code != http.StatusOK {
		t.Fatalf("GET /api/v1/join-codes: HTTP %d", code)
	}
	return js
}

// TestAgentsAPI checks the agent and join-code endpoints' answers to what
// an operator or a script might send: listing never shows a secret, bad
// requests are 400 with a reason, unknown ids 404, and none of it works
// without the admin's credentials.
func TestAgentsAPI(t *testing.T) {
	c := startCore(t, "")
	jc := c.joinCode(t, 3, time.Hour)
	code, err := wire.ParseJoinCode(jc.Code)
	if err != nil {
		t.Fatal(err)
	}
	if jc.UsesLeft != 3 || jc.ExpiresAt.Before(time.Now().Add(59*time.Minute)) {
		t.Errorf("created %+v", jc)
	}
	var listed json.RawMessage
	c.do(t, "GET", "/api/v1/join-codes", nil, &listed)
	_, secretPart, _ := strings.Cut(code.Secret, ".")
	if strings.Contains(string(listed), secretPart) || strings.Contains(string(listed), "esmon1_") {
		t.Errorf("the join code list shows a secret: %s", listed)
	}
	tests := []struct {
		name, method, path, token string
		body                      any
		want                      int
		wantCode                  string
	}{
		{"list agents without sign-in", "GET", "/api/v1/agents", "", nil, http.StatusUnauthorized, "unauthorized"},
		{"create a code without sign-in", "POST", "/api/v1/join-codes", "", apiv1.NewJoinCode{}, http.StatusUnauthorized, "unauthorized"},
		{"negative uses", "POST", "/api/v1/join-codes", c.adminToken, apiv1.NewJoinCode{Uses: -1}, http.StatusBadRequest, "invalid"},
		{"unknown field", "POST", "/api/v1/join-codes", c.adminToken, map[string]any{"usez": 2}, http.StatusBadRequest, "bad_json"},
		{"revoke an unknown agent", "POST", "/api/v1/agents/nobody/revoke", c.adminToken, nil, http.StatusNotFound, "not_found"},
		{"delete an unknown code", "DELETE", "/api/v1/join-codes/nothing", c.adminToken, nil, http.StatusNotFound, "not_found"},
		{"enrol with a made-up secret", "POST", wire.EnrolPath, "", wire.EnrolRequest{Secret: "00.AAAA"}, http.StatusUnauthorized, wire.EnrolRefusedUnknown},
		{"enrol with a host name too long", "POST", wire.EnrolPath, "", wire.EnrolRequest{Secret: code.Secret, Host: wire.HostFacts{Hostname: strings.Repeat("h", 200)}}, http.StatusBadRequest, wire.EnrolRefusedInvalid},
		{"enrol", "POST", wire.EnrolPath, "", wire.EnrolRequest{Secret: code.Secret, Host: wire.HostFacts{Hostname: "api"}}, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e apiv1.Error
			st, err := c.request(tt.method, tt.path, tt.token, tt.body, &e)
			if err != nil {
				t.Fatal(err)
			}
			if st != tt.want || e.Code != tt.wantCode {
				t.Errorf("HTTP %d %q (%s), want %d %q", st, e.Code, e.Error, tt.want, tt.wantCode)
			}
		})
	}
	for _, j := range c.joinCodes(t) {
		if j.ID == jc.ID && j.UsesLeft != 2 {
			t.Errorf("after one enrolment the code has %d uses left, want 2", j.UsesLeft)
		}
	}
}

// TestSimulateEnrols runs `esmon-agent simulate` with a join code, as load
// tests do: every virtual agent enrols on its own and reports.
func TestSimulateEnrols(t *testing.T) {
	c := startCore(t, "")
	jc := c.joinCode(t, 3, 10*time.Minute)
	sim := start(t, "esmon-agent simulate", bins.agent, "simulate", "--agents", "3", "--join-code", jc.Code, "--interval", "1s", "--duration", "60s")
	waitFor(t, 30*time.Second, "three simulated agents enrolled and connected", func() bool {
		n := 0
		for _, a := range c.agents(t) {
			if a.Connected && strings.HasSuffix(a.Version, "-sim") {
				n++
			}
		}
		return n == 3
	})
	for _, j := range c.joinCodes(t) {
		if j.ID == jc.ID && j.State != apiv1.JoinUsedUp {
			t.Errorf("join code %s after three enrolments, want used_up", j.State)
		}
	}
	sim.stop()
}
