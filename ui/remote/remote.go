// Package remote is the console's client of a core over the network: the
// REST API under /api/v1 and the live feed on /ws/live, authenticated with a
// bearer token, over TLS verified by a pinned certificate fingerprint or a
// CA. `esmon --connect URL` uses it to watch a headless core on a server;
// the in-process console uses it for its actions against its own core.
//
// It has no Fyne in it, so it builds and tests without cgo; it implements
// ui.Client, which takes its Query type.
package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/apiv1"
)

// Options say how to reach a core.
type Options struct {
	// URL is the core's base address, http(s)://host:port.
	URL string
	// Token is an API token, sent as "Authorization: Bearer".
	Token string
	// Fingerprint, when set, pins the core's certificate: the SHA-256 of
	// its SubjectPublicKeyInfo, as the core prints it (base64; hex works
	// too). It is how a self-signed core is trusted.
	Fingerprint string
	// CAFile, when set, is a PEM bundle of the CAs that sign the core's
	// certificate; without it and without Fingerprint, the system roots.
	CAFile string
	// Logger receives the client's logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer, when set, receives the client's counters.
	Registerer prometheus.Registerer
}

// maxFrame bounds one /ws/live message: a snapshot of thousands of hosts
// fits.
const maxFrame = 64 << 20

// maxAnswer bounds one REST answer.
const maxAnswer = 64 << 20

// Timeouts of the live feed. The core pings every ~50s; a silent feed
// for pongWait is dead.
const (
	dialTimeout = 15 * time.Second
	pongWait    = 90 * time.Second
	writeWait   = 10 * time.Second
)

// Client talks to one core. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	token  string
	http   *http.Client
	dialer *websocket.Dialer
	log    *slog.Logger

	badFrames prometheus.Counter

	liveMu  sync.Mutex // guards watched and feeds, and serialises writes to the feeds
	watched []string
	feeds   map[*websocket.Conn]struct{} // open /ws/live connections
}

// New checks the options and returns a client; it does not connect yet.
func New(o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(o.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("core address %q: want http(s)://host:port", o.URL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	tc, err := tlsConfig(o)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.Proxy = nil // a core is reached directly, never through a proxy
	c := &Client{
		base:  u,
		token: o.Token,
		http:  &http.Client{Transport: tr, Timeout: time.Minute},
		dialer: &websocket.Dialer{TLSClientConfig: tc.Clone(), HandshakeTimeout: dialTimeout,
			ReadBufferSize: 64 << 10},
		log:   o.Logger,
		feeds: map[*websocket.Conn]struct{}{},
		badFrames: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_console_bad_events_total",
			Help: "Live feed messages from the core the console could not read."}),
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(c.badFrames); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return c, nil
}

// tlsConfig verifies the core by pinned fingerprint, by a CA bundle, or by
// the system roots, in that order of preference.
func tlsConfig(o Options) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case o.Fingerprint != "":
		want, err := ParseFingerprint(o.Fingerprint)
		if err != nil {
			return nil, err
		}
		// The chain of a self-signed core proves nothing; the pin does.
		// VerifyConnection runs on every handshake, resumed ones too.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("core sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("core certificate pin %s does not match the pinned %s",
					base64.StdEncoding.EncodeToString(got[:]), base64.StdEncoding.EncodeToString(want))
			}
			return nil
		}
	case o.CAFile != "":
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", o.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// ParseFingerprint reads a SHA-256 pin of a public key: in standard base64
// as the core prints it (`esmon serve`, the Pin), optionally with curl's
// "sha256//" prefix, or in hex with or without colons.
func ParseFingerprint(s string) ([]byte, error) {
	p := strings.TrimSpace(s)
	for _, prefix := range []string{"sha256//", "sha256/", "sha256:"} {
		p = strings.TrimPrefix(p, prefix)
	}
	if h := strings.ReplaceAll(p, ":", ""); len(h) == 2*sha256.Size {
		if b, err := hex.DecodeString(h); err == nil {
			return b, nil
		}
	}
	if b, err := base64.StdEncoding.DecodeString(p); err == nil && len(b) == sha256.Size {
		return b, nil
	}
	return nil, fmt.Errorf("fingerprint %q: want the SHA-256 pin the core prints (base64) or 64 hex digits", s)
}

// Fingerprint is the pin of a certificate's public key, the SHA-256 of its
// SubjectPublicKeyInfo in standard base64: the form the core prints.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Query is one range query: a metric of a host over [From, To], averaged
// per Step (zero lets the core choose).
type Query struct {
	Host   string
	Metric string
	From   time.Time
	To     time.Time
	Step   time.Duration
	// Match adds label matchers (mount, interface, ...).
	Match map[string]string
	// Agg is the aggregation per step: "" (avg) or "rate" for counters.
	Agg string
}

// Error is an error answer of the core: its HTTP status and the API's
// {"error","code"} body.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("core answered %d", e.Status)
	}
	return e.Message
}

// WebURL is the core's web dashboard.
func (c *Client) WebURL() string { return c.base.String() + "/" }

// do sends one request with the token and decodes a JSON answer into out
// (nil: none expected).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	lr := io.LimitReader(resp.Body, maxAnswer)
	if resp.StatusCode >= 300 {
		var e apiv1.Error
		b, _ := io.ReadAll(io.LimitReader(lr, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s: core answered %s", method, path, resp.Status)
		}
		return &Error{Status: resp.StatusCode, Code: e.Code, Message: e.Error}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, lr)
		return nil
	}
	if err := json.NewDecoder(lr).Decode(out); err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return nil
}

// Hosts lists the hosts with their latest values.
func (c *Client) Hosts(ctx context.Context) ([]apiv1.Host, error) {
	var hs []apiv1.Host
	return hs, c.do(ctx, http.MethodGet, "/api/v1/hosts", nil, nil, &hs)
}

// Query answers a range query for the host charts.
func (c *Client) Query(ctx context.Context, q Query) (apiv1.QueryResult, error) {
	v := url.Values{}
	v.Set("metric", q.Metric)
	if q.Host != "" {
		v.Set("host", q.Host)
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339Nano))
	}
	if q.Step > 0 {
		v.Set("step", strconv.FormatFloat(q.Step.Seconds(), 'f', -1, 64))
	}
	if q.Agg != "" {
		v.Set("agg", q.Agg)
	}
	for k, val := range q.Match {
		v.Set("match["+k+"]", val)
	}
	var r apiv1.QueryResult
	return r, c.do(ctx, http.MethodGet, "/api/v1/query", v, nil, &r)
}

// History is part of ui.Client.
func (c *Client) History(ctx context.Context, limit int) ([]apiv1.Transition, error) {
	v := url.Values{}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var ts []apiv1.Transition
	return ts, c.do(ctx, http.MethodGet, "/api/v1/alerts/history", v, nil, &ts)
}

// Ack is part of ui.Client.
func (c *Client) Ack(ctx context.Context, id, comment string) (apiv1.Alert, error) {
	var a apiv1.Alert
	return a, c.do(ctx, http.MethodPost, "/api/v1/alerts/"+url.PathEscape(id)+"/ack", nil,
		apiv1.AckRequest{Comment: comment}, &a)
}

// AddSilence is part of ui.Client.
func (c *Client) AddSilence(ctx context.Context, s apiv1.Silence) (apiv1.Silence, error) {
	var out apiv1.Silence
	return out, c.do(ctx, http.MethodPost, "/api/v1/silences", nil, s, &out)
}

// Rules is part of ui.Client.
func (c *Client) Rules(ctx context.Context) ([]apiv1.Rule, error) {
	var rs []apiv1.Rule
	return rs, c.do(ctx, http.MethodGet, "/api/v1/rules", nil, nil, &rs)
}

// SaveRule is part of ui.Client. The server sets who changed it and when.
func (c *Client) SaveRule(ctx context.Context, r apiv1.Rule, create bool) (apiv1.Rule, error) {
	r.UpdatedBy, r.UpdatedAt = "", time.Time{}
	var out apiv1.Rule
	if create {
		return out, c.do(ctx, http.MethodPost, "/api/v1/rules", nil, r, &out)
	}
	id := r.ID
	r.ID = ""
	return out, c.do(ctx, http.MethodPut, "/api/v1/rules/"+url.PathEscape(id), nil, r, &out)
}

// DeleteRule is part of ui.Client.
func (c *Client) DeleteRule(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/rules/"+url.PathEscape(id), nil, nil, nil)
}

// Channels is part of ui.Client.
func (c *Client) Channels(ctx context.Context) ([]apiv1.Channel, error) {
	var cs []apiv1.Channel
	return cs, c.do(ctx, http.MethodGet, "/api/v1/channels", nil, nil, &cs)
}

// TestChannel is part of ui.Client.
func (c *Client) TestChannel(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/channels/"+url.PathEscape(name)+"/test", nil, nil, nil)
}

// Agents is part of ui.Client.
func (c *Client) Agents(ctx context.Context) ([]apiv1.Agent, error) {
	var as []apiv1.Agent
	return as, c.do(ctx, http.MethodGet, "/api/v1/agents", nil, nil, &as)
}

// RevokeAgent is part of ui.Client.
func (c *Client) RevokeAgent(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/agents/"+url.PathEscape(id)+"/revoke", nil, nil, nil)
}

// JoinCodes is part of ui.Client.
func (c *Client) JoinCodes(ctx context.Context) ([]apiv1.JoinCode, error) {
	var js []apiv1.JoinCode
	return js, c.do(ctx, http.MethodGet, "/api/v1/join-codes", nil, nil, &js)
}

// CreateJoinCode is part of ui.Client.
func (c *Client) CreateJoinCode(ctx context.Context, req apiv1.NewJoinCode) (apiv1.CreatedJoinCode, error) {
	var out apiv1.CreatedJoinCode
	return out, c.do(ctx, http.MethodPost, "/api/v1/join-codes", nil, req, &out)
}

// Users is part of ui.Client.
func (c *Client) Users(ctx context.Context) ([]apiv1.User, error) {
	var us []apiv1.User
	return us, c.do(ctx, http.MethodGet, "/api/v1/users", nil, nil, &us)
}

// AddUser is part of ui.Client.
func (c *Client) AddUser(ctx context.Context, u apiv1.NewUser) (apiv1.User, error) {
	var out apiv1.User
	return out, c.do(ctx, http.MethodPost, "/api/v1/users", nil, u, &out)
}

// SetupNeeded is part of ui.Client: GET /api/v1/setup, open to all, says
// whether the core still waits for its first admin.
func (c *Client) SetupNeeded(ctx context.Context) (bool, error) {
	var st apiv1.Setup
	return st.Needed, c.do(ctx, http.MethodGet, "/api/v1/setup", nil, nil, &st)
}

// Setup is part of ui.Client: POST /api/v1/setup creates the first admin.
// The core takes it from its own machine or with the bootstrap admin token;
// the session it answers with is not kept, since the console signs in with
// its token.
func (c *Client) Setup(ctx context.Context, name, password string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/setup", nil,
		apiv1.NewUser{Name: name, Role: apiv1.RoleAdmin, Password: password}, nil)
}

// UpdateUser is part of ui.Client.
func (c *Client) UpdateUser(ctx context.Context, name string, p apiv1.UserPatch) (apiv1.User, error) {
	var out apiv1.User
	return out, c.do(ctx, http.MethodPatch, "/api/v1/users/"+url.PathEscape(name), nil, p, &out)
}

// DeleteUser is part of ui.Client.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/users/"+url.PathEscape(name), nil, nil, nil)
}

// Subscribe implements ui.Client: it dials /ws/live on a goroutine of its
// own and passes each event on; the channel closes when the connection ends
// (the console then subscribes again) or cancel is called. cancel returns
// once that goroutine has ended.
func (c *Client) Subscribe() (<-chan apiv1.Event, func()) {
	out := make(chan apiv1.Event, 256)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(out)
		if err := c.follow(ctx, out); err != nil && ctx.Err() == nil {
			c.log.Warn("live feed", "core", c.base.Host, "err", err)
		}
	})
	var once sync.Once
	return out, func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
}

func (c *Client) liveURL() string {
	u := *c.base
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path += "/ws/live"
	return u.String()
}

// Watch asks the core for the latest values of these hosts in their host
// events (apiv1.Host.Latest); Watch() asks for none. Without it, host
// events carry every figure the overview shows but not Latest. It holds for
// open feeds and the ones Subscribe opens later.
func (c *Client) Watch(hosts ...string) {
	c.liveMu.Lock()
	defer c.liveMu.Unlock()
	c.watched = append([]string{}, hosts...)
	for ws := range c.feeds {
		if err := c.sendWatchLocked(ws); err != nil {
			c.log.Warn("live feed: send the watch list", "core", c.base.Host, "err", err)
		}
	}
}

// sendWatchLocked sends the watch list on ws; c.liveMu is held.
func (c *Client) sendWatchLocked(ws *websocket.Conn) error {
	b, err := json.Marshal(apiv1.LiveWatch{Watch: c.watched})
	if err != nil {
		return err
	}
	ws.SetWriteDeadline(time.Now().Add(writeWait))
	return ws.WriteMessage(websocket.TextMessage, b)
}

// follow reads the live feed into out until it ends or ctx is done.
func (c *Client) follow(ctx context.Context, out chan<- apiv1.Event) error {
	h := http.Header{}
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	ws, resp, err := c.dialer.DialContext(ctx, c.liveURL(), h)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("dial live feed: %w (%s)", err, resp.Status)
		}
		return fmt.Errorf("dial live feed: %w", err)
	}
	// Closing the connection is how ctx ends the read below.
	stop := context.AfterFunc(ctx, func() {
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, "console closing"), time.Now().Add(writeWait))
		ws.Close()
	})
	defer func() {
		if stop() {
			ws.Close()
		}
	}()
	c.liveMu.Lock()
	c.feeds[ws] = struct{}{}
	var werr error
	if len(c.watched) > 0 {
		werr = c.sendWatchLocked(ws)
	}
	c.liveMu.Unlock()
	defer func() {
		c.liveMu.Lock()
		delete(c.feeds, ws)
		c.liveMu.Unlock()
	}()
	if werr != nil {
		return fmt.Errorf("send the watch list: %w", werr)
	}
	ws.SetReadLimit(maxFrame)
	_ = ws.SetReadDeadline(time.Now().Add(pongWait))
	ws.SetPingHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(pongWait))
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	var dec apiv1.LiveDecoder
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code == 4401 {
				return errors.New("the core refused the API token")
			}
			return fmt.Errorf("read live feed: %w", err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(pongWait))
		// A batch unpacks into its events; host events get the identity
		// they leave out from the feed's earlier events.
		evs, err := dec.Decode(msg)
		if err != nil {
			c.badFrames.Inc()
			c.log.Warn("unreadable live event; skipped", "err", err)
			continue
		}
		for _, ev := range evs {
			select {
			case out <- ev:
			case <-ctx.Done():
				return nil
			}
		}
	}
}
