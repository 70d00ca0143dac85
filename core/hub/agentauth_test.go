package hub

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"esmon/core/enrol"
	"esmon/core/wire"
)

// TestAgentAuthRefusals checks the close code, reason and counter of each
// way an Ingester refuses an agent's credential.
func TestAgentAuthRefusals(t *testing.T) {
	tests := []struct {
		name, reason, says string
		err                error
		code               int
	}{
		{"no credential", "no_token", "no agent token", enrol.ErrNoCredential, CloseBadToken},
		{"wrong credential", "token", "invalid agent token", enrol.ErrBadCredential, CloseBadToken},
		{"another agent's id", "other_agent", "belongs to another agent", enrol.ErrOtherAgent, CloseBadToken},
		{"revoked", "revoked", "agent revoked", enrol.ErrRevoked, CloseRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, reg, url := newAgents(t, &fakeIngester{helloErr: tt.err})
			ws := dial(t, url)
			send(t, ws, hello(goodToken))
			code, text := closeCode(t, ws)
			if code != tt.code || text == "" || !strings.Contains(text, tt.says) {
				t.Errorf("close %d %q, want %d with %q", code, text, tt.code, tt.says)
			}
			if got := metric(t, reg, "esmon_agent_connections_rejected_total", "reason", tt.reason); got != 1 {
				t.Errorf("rejected{reason=%s} = %v, want 1", tt.reason, got)
			}
		})
	}
}

// TestRevokeClosesLiveConnections connects two agents, revokes one, and
// checks that only its connection closes, with CloseRevoked, and that
// Connected follows.
func TestRevokeClosesLiveConnections(t *testing.T) {
	a, _, url := newAgents(t, &fakeIngester{})
	connect := func(id string) *websocket.Conn {
		ws := dial(t, url)
		h := hello(goodToken)
		h.AgentID = id
		send(t, ws, h)
		recv[wire.Welcome](t, ws)
		return ws
	}
	gone, stays := connect("agent-gone"), connect("agent-stays")
	waitFor(t, "both agents connected", func() bool { return len(a.Connected()) == 2 })
	if c := a.Connected()["agent-gone"]; c.Remote == "" || c.Since.IsZero() || c.Last.IsZero() {
		t.Errorf("Connected()[agent-gone] = %+v", c)
	}
	if n := a.Revoke("agent-gone"); n != 1 {
		t.Fatalf("Revoke closed %d connections, want 1", n)
	}
	if code, text := closeCode(t, gone); code != CloseRevoked || text != "agent revoked" {
		t.Errorf("revoked agent got close %d %q", code, text)
	}
	waitFor(t, "the revoked agent gone from Connected", func() bool {
		_, ok := a.Connected()["agent-gone"]
		return !ok
	})
	if _, ok := a.Connected()["agent-stays"]; !ok {
		t.Error("the other agent's connection was closed too")
	}
	send(t, stays, &wire.Batch{Seq: 1, Defs: []wire.SeriesDef{{ID: 1, Metric: "m"}},
		Snapshots: []wire.Snapshot{{TimeMS: time.Now().UnixMilli(), IDs: []uint32{1}, Values: []float64{1}}}})
	if ack := recv[wire.Ack](t, stays); ack.Seq != 1 {
		t.Errorf("the other agent's batch: ack %d", ack.Seq)
	}
	if n := a.Revoke("nobody"); n != 0 {
		t.Errorf("Revoke of an unconnected agent closed %d", n)
	}
}
