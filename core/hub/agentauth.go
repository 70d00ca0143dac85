package hub

import (
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"esmon/core/enrol"
	"esmon/core/wire"
)

// CloseRevoked tells an agent its credential was revoked: for good, so it
// stops rather than retries.
const CloseRevoked = 4006

// ErrBadToken is what an Ingester returns from Hello for a token it refuses.
// It returns the other errors of package enrol (no credential, revoked,
// another agent's credential) for those refusals.
var ErrBadToken = enrol.ErrBadCredential

// authRefusals map an Ingester's Hello errors to the reason counted and the
// close frame sent.
var authRefusals = []struct {
	err    error
	reason string
	code   int
	text   string
}{
	{enrol.ErrNoCredential, "no_token", CloseBadToken, "no agent token: enrol the agent with a join code"},
	{enrol.ErrRevoked, "revoked", CloseRevoked, "agent revoked"},
	{enrol.ErrOtherAgent, "other_agent", CloseBadToken, "invalid agent token: it belongs to another agent"},
	{ErrBadToken, "token", CloseBadToken, "invalid agent token"},
}

// authReasons are the reasons of authRefusals, for the counter's labels.
var authReasons = []string{"no_token", "revoked", "other_agent", "token"}

// HelloFromer is an Ingester that also wants the agent's remote address at
// hello; the agent endpoint calls HelloFrom instead of Hello then.
type HelloFromer interface {
	HelloFrom(h *wire.Hello, remote string) (hostID string, err error)
}

// hello authenticates and registers the agent through the Ingester, and
// turns a refusal into a counted close reason.
func (c *agentConn) hello(h *wire.Hello) (string, error) {
	var (
		host string
		err  error
	)
	if hf, ok := c.in.(HelloFromer); ok {
		host, err = hf.HelloFrom(h, c.remote)
	} else {
		host, err = c.in.Hello(h)
	}
	for _, ar := range authRefusals {
		if errors.Is(err, ar.err) {
			c.m.Rejected.WithLabelValues(ar.reason).Inc()
			c.log.Warn("agent refused", "remote", c.remote, "agent_id", clip(h.AgentID), "reason", ar.reason)
			return "", &refusal{ar.code, ar.text}
		}
	}
	if err != nil {
		return "", &refusal{websocket.CloseInternalServerErr, "core could not register the agent"}
	}
	return host, nil
}

// Revocations is an Ingester that can say an agent was revoked after its
// hello was accepted. The endpoint asks once the connection is filed for
// Revoke to find, which closes the window between the two.
type Revocations interface {
	Revoked(agentID string) bool
}

// register files c under its agent id for Revoke and Connected, and
// refuses it if the agent was revoked meanwhile. The returned func removes
// it.
func (c *agentConn) register() (func(), error) {
	remove := c.idx.add(c)
	if rv, ok := c.in.(Revocations); ok && rv.Revoked(c.agentID) {
		remove()
		c.m.Rejected.WithLabelValues("revoked").Inc()
		return nil, &refusal{CloseRevoked, "agent revoked"}
	}
	return remove, nil
}

// Conn describes a welcomed agent connection.
type Conn struct {
	Remote string
	Since  time.Time
	// Last is when the last frame arrived.
	Last time.Time
}

// agentIndex files welcomed connections by agent id, for revocation and
// for listing who is connected.
type agentIndex struct {
	mu   sync.Mutex // guards byID
	byID map[string]map[*agentConn]struct{}
}

// add files c under its agent id; the returned func removes it.
func (x *agentIndex) add(c *agentConn) func() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byID == nil {
		x.byID = make(map[string]map[*agentConn]struct{})
	}
	cs := x.byID[c.agentID]
	if cs == nil {
		cs = make(map[*agentConn]struct{})
		x.byID[c.agentID] = cs
	}
	cs[c] = struct{}{}
	return func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		delete(cs, c)
		if len(cs) == 0 {
			delete(x.byID, c.agentID)
		}
	}
}

// Connected returns the welcomed connections by agent id (the newest when
// an agent has more than one).
func (a *Agents) Connected() map[string]Conn {
	a.idx.mu.Lock()
	defer a.idx.mu.Unlock()
	out := make(map[string]Conn, len(a.idx.byID))
	for id, cs := range a.idx.byID {
		for c := range cs {
			info := Conn{Remote: c.remote, Since: c.since, Last: time.Unix(0, c.last.Load())}
			if old, ok := out[id]; !ok || info.Since.After(old.Since) {
				out[id] = info
			}
		}
	}
	return out
}

// Revoke closes every connection of the agent with close code CloseRevoked,
// at once, and returns how many there were. The caller has revoked the
// agent's credential first, so it cannot come back.
func (a *Agents) Revoke(agentID string) int {
	a.idx.mu.Lock()
	conns := make([]*agentConn, 0, len(a.idx.byID[agentID]))
	for c := range a.idx.byID[agentID] {
		conns = append(conns, c)
	}
	a.idx.mu.Unlock()
	for _, c := range conns {
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseRevoked, "agent revoked"), time.Now().Add(time.Second))
		c.ws.Close() // ends the reader now; the writer follows
	}
	if len(conns) > 0 {
		a.log.Info("closed a revoked agent's connections", "agent_id", agentID, "connections", len(conns))
	}
	return len(conns)
}
