package core

import (
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"esmon/core/api"
	"esmon/core/apiv1"
	"esmon/core/hub"
	"esmon/core/wire"
)

// HelloFrom implements hub.HelloFromer: it checks the agent's id and
// credential and registers the host. A host is filed under its host name
// (lower case), the name operators know it by; the agent id stands in when
// there is none.
func (c *Core) HelloFrom(h *wire.Hello, remote string) (string, error) {
	if err := c.enrol.Authenticate(h, remote); err != nil {
		return "", err
	}
	id := strings.ToLower(strings.TrimSpace(h.Host.Hostname))
	if id == "" {
		id = h.AgentID
	}
	c.hosts.Connected(id, h.Host, h.AgentVersion, time.Now())
	host := c.tagHost(id, h.Tags)
	c.live.Publish(apiv1.Event{Type: apiv1.EventHost, Host: &host})
	return id, nil
}

// Hello implements hub.Ingester, for callers that do not know the agent's
// address.
func (c *Core) Hello(h *wire.Hello) (string, error) { return c.HelloFrom(h, "") }

// Revoked implements hub.Revocations.
func (c *Core) Revoked(agentID string) bool { return c.enrol.Revoked(agentID) }

var (
	_ hub.HelloFromer = (*Core)(nil)
	_ hub.Revocations = (*Core)(nil)
)

// Agents lists the enrolled agents, with whether each is connected now and
// when it was last heard from.
func (c *Core) Agents() []apiv1.Agent {
	list := c.enrol.Agents()
	conns := c.agents.Connected()
	for i := range list {
		if cn, ok := conns[list[i].ID]; ok {
			list[i].Connected = true
			list[i].RemoteAddr = cn.Remote
			if cn.Last.After(list[i].LastContact) {
				list[i].LastContact = cn.Last.UTC()
			}
		}
	}
	return list
}

// RevokeAgent revokes an agent's credential and then closes its live
// connection, so it cannot come back.
func (c *Core) RevokeAgent(id string) (bool, error) {
	ok, err := c.enrol.Revoke(id)
	if ok && err == nil {
		c.agents.Revoke(id)
	}
	return ok, err
}

// JoinCodes lists the join codes, without secrets.
func (c *Core) JoinCodes() []apiv1.JoinCode { return c.enrol.JoinCodes() }

// CreateJoinCode makes a join code that names this core's address and pin.
func (c *Core) CreateJoinCode(req apiv1.NewJoinCode) (apiv1.CreatedJoinCode, error) {
	return c.enrol.CreateJoinCode(req, c.AgentURL(), c.Pin())
}

// RevokeJoinCode stops a join code from enrolling more agents.
func (c *Core) RevokeJoinCode(id string) (bool, error) { return c.enrol.RevokeJoinCode(id) }

// Enrol exchanges a join secret for an agent's own credential.
func (c *Core) Enrol(req wire.EnrolRequest, remote string) (wire.EnrolResponse, error) {
	return c.enrol.Enrol(req, remote)
}

var _ api.Enrolment = (*Core)(nil)

// AgentURL is the address join codes send agents to: public_url's host when
// set, else the listener's address, with this host's name standing in for
// an address that listens on every interface.
func (c *Core) AgentURL() string {
	u := url.URL{Scheme: c.scheme()}
	host, port, _ := net.SplitHostPort(c.ln.Addr().String())
	if p, err := url.Parse(c.opts.PublicURL); err == nil && p.Host != "" {
		u.Host = p.Host
		if p.Port() == "" {
			u.Host = net.JoinHostPort(p.Hostname(), port)
		}
		return u.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil && name != "" {
			host = name
		} else {
			host = "127.0.0.1"
		}
	}
	u.Host = net.JoinHostPort(host, port)
	return u.String()
}
