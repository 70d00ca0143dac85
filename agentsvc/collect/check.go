package collect

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"esmon/core/wire"
)

// Check is one synthetic check: a TCP port that must accept a connection,
// or an HTTP(S) URL that must answer with a status below 400.
type Check struct {
	Target string // as the operator wrote it; the check label
	Kind   string // "tcp" or "http"
	Addr   string // host:port, for tcp
}

// ParseCheck reads a check written as tcp://host:port or http(s)://...
func ParseCheck(s string) (Check, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Check{}, fmt.Errorf("check %q: %w", s, err)
	}
	if len(s) > wire.MaxLabelValueLen {
		return Check{}, fmt.Errorf("check %q…: longer than %d bytes", s[:40], wire.MaxLabelValueLen)
	}
	switch strings.ToLower(u.Scheme) {
	case "tcp":
		if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
			return Check{}, fmt.Errorf("check %q: want tcp://host:port", s)
		}
		return Check{Target: s, Kind: "tcp", Addr: u.Host}, nil
	case "http", "https":
		if u.Host == "" {
			return Check{}, fmt.Errorf("check %q has no host", s)
		}
		return Check{Target: s, Kind: "http"}, nil
	}
	return Check{}, fmt.Errorf("check %q: want tcp://host:port, http:// or https://", s)
}

// Checks runs its checks, all at once, each within Timeout, and collects
// for each (label check): success (1 or 0) and duration; for HTTP the status
// code; for HTTPS the days until the server's certificate expires. A check
// that fails is a value, not an error of the collector. Run it through
// Every: a check may take up to Timeout.
type Checks struct {
	Checks  []Check
	Timeout time.Duration
	// TLS verifies HTTPS servers; nil means the system's roots. The agent
	// never skips verification: a certificate it cannot verify fails the
	// check.
	TLS *tls.Config
}

// Name implements Collector.
func (*Checks) Name() string { return "checks" }

// checkResult is one check's outcome.
type checkResult struct {
	ok         bool
	seconds    float64
	status     int
	expiryDays float64
	hasExpiry  bool
}

// Collect implements Collector.
func (c *Checks) Collect(ctx context.Context, s *Sink) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	// One client per collection, without keep-alive: every check measures
	// a new connection, and nothing is left running after Collect.
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:             http.ProxyFromEnvironment,
			TLSClientConfig:   c.TLS,
			DisableKeepAlives: true,
		},
	}
	defer client.CloseIdleConnections()
	res := make([]checkResult, len(c.Checks))
	var wg sync.WaitGroup
	for i, ch := range c.Checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			res[i] = run(cctx, client, ch)
		})
	}
	wg.Wait()
	for i, ch := range c.Checks {
		r := res[i]
		s.Add(wire.CheckSuccess, b2f(r.ok), wire.LabelCheck, ch.Target)
		s.Add(wire.CheckDurationSeconds, r.seconds, wire.LabelCheck, ch.Target)
		if r.status > 0 {
			s.Add(wire.CheckHTTPStatusCode, float64(r.status), wire.LabelCheck, ch.Target)
		}
		if r.hasExpiry {
			s.Add(wire.CheckCertExpiryDays, r.expiryDays, wire.LabelCheck, ch.Target)
		}
	}
	return ctx.Err()
}

func run(ctx context.Context, client *http.Client, ch Check) checkResult {
	start := time.Now()
	var r checkResult
	switch ch.Kind {
	case "tcp":
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", ch.Addr)
		if err == nil {
			conn.Close()
			r.ok = true
		}
	case "http":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ch.Target, nil)
		if err != nil {
			break
		}
		req.Header.Set("User-Agent", "esmon-agent check")
		resp, err := client.Do(req)
		if err != nil {
			break
		}
		resp.Body.Close()
		r.status = resp.StatusCode
		r.ok = resp.StatusCode < 400
		if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
			r.hasExpiry = true
			r.expiryDays = time.Until(resp.TLS.PeerCertificates[0].NotAfter).Hours() / 24
		}
	}
	r.seconds = time.Since(start).Seconds()
	return r
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
