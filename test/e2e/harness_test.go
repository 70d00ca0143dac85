// Package e2e runs the real esmon core (`esmon serve`) and real agents as
// processes on loopback, with a real SMTP server and a real browser, and
// checks what an operator would see.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"esmon/agentsvc/link"
	"esmon/core/apiv1"
	"esmon/core/tlscert"
	"esmon/core/wire"
	"esmon/internal/testenv"
)

// bins holds the binaries TestMain builds once for every test.
var bins struct {
	dir   string
	core  string
	agent string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "esmon-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = dir
	bins.core = filepath.Join(dir, "esmon")
	bins.agent = filepath.Join(dir, "esmon-agent")
	for _, b := range []struct{ out, pkg, tags string }{
		{bins.core, "esmon/app", "headless"},
		{bins.agent, "esmon/agentsvc", ""},
	} {
		cmd := exec.Command("go", "build", "-tags", b.tags, "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", b.pkg, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a child process that is killed when the test ends and whose
// output is shown when the test fails.
type proc struct {
	cmd    *exec.Cmd
	out    *testenv.Buffer
	exited chan struct{}
}

func start(t *testing.T, name string, path string, args ...string) *proc {
	t.Helper()
	return startWithEnv(t, name, nil, path, args...)
}

// startWithEnv is start with more environment variables.
func startWithEnv(t *testing.T, name string, env []string, path string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(path, args...), out: &testenv.Buffer{}, exited: make(chan struct{})}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, p.out.String())
		}
	})
	return p
}

// stop asks the process to end (SIGTERM) and kills it after 10 s.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// coreProc is a running `esmon serve`, on HTTPS with the certificate it
// made itself.
type coreProc struct {
	*proc
	url        string // https://127.0.0.1:port
	data       string
	adminToken string
	// pin is the SPKI SHA-256 of the core's certificate, read from the
	// certificate file in its data directory, as an operator would.
	pin string
	// client trusts the core by its pin, as agents do.
	client *http.Client
}

var webRE = regexp.MustCompile(`Web dashboard: (https?://[0-9.:]+)/`)

// startCore runs `esmon serve` on a free loopback port with extra settings
// (YAML) and waits until it answers.
func startCore(t *testing.T, settings string) *coreProc {
	t.Helper()
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "esmon.yaml")
	if err := os.WriteFile(cfg, []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "esmon serve", bins.core, "serve", "--data", data, "--listen", "127.0.0.1:0", "--config", cfg, "--log-level", "debug")
	c := &coreProc{proc: p, data: data}
	deadline := time.Now().Add(20 * time.Second)
	for c.url == "" {
		if m := webRE.FindStringSubmatch(p.out.String()); m != nil {
			c.url = m[1]
			break
		}
		select {
		case <-p.exited:
			t.Fatalf("esmon serve exited:\n%s", p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("esmon serve printed no address:\n%s", p.out.String())
		}
	}
	c.adminToken = readToken(t, filepath.Join(data, "admin.token"))
	c.trust(t)
	waitFor(t, 10*time.Second, "healthz", func() bool {
		resp, err := c.client.Get(c.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return c
}

// trust reads the pin of the core's certificate and makes a client that
// checks the core by it.
func (c *coreProc) trust(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.data, tlscert.CertFile))
	if err != nil {
		t.Fatalf("the core's certificate: %v", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM certificate", tlscert.CertFile)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	c.pin = wire.SPKIPin(cert)
	if !strings.Contains(c.out.String(), c.pin) {
		t.Errorf("esmon serve did not print its certificate pin %s", c.pin)
	}
	cfg, err := link.TLSConfig(c.pin, "")
	if err != nil {
		t.Fatal(err)
	}
	c.client = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
	t.Cleanup(c.client.CloseIdleConnections)
}

// addr is the core's host:port, to start it again on the same address.
func (c *coreProc) addr() string {
	return strings.TrimPrefix(strings.TrimPrefix(c.url, "https://"), "http://")
}

// wsDialer dials the core's WebSockets, checking it by its pin.
func (c *coreProc) wsDialer() *websocket.Dialer {
	return &websocket.Dialer{TLSClientConfig: c.client.Transport.(*http.Transport).TLSClientConfig, HandshakeTimeout: 10 * time.Second}
}

// wsURL is the WebSocket URL of path on the core.
func (c *coreProc) wsURL(path string) string { return "ws" + strings.TrimPrefix(c.url, "http") + path }

// joinCode makes a join code through the API, as an operator does on the
// Agents page, and returns it.
func (c *coreProc) joinCode(t *testing.T, uses int, ttl time.Duration) apiv1.CreatedJoinCode {
	t.Helper()
	var jc apiv1.CreatedJoinCode
	if code := c.do(t, "POST", "/api/v1/join-codes", apiv1.NewJoinCode{Uses: uses, TTLSeconds: int64(ttl.Seconds()), Note: t.Name()}, &jc); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/join-codes: HTTP %d", code)
	}
	return jc
}

// enrol enrols a hand-made agent with a fresh join code through
// POST /api/v1/enrol, as esmon-agent does, and returns its id and
// credential.
func (c *coreProc) enrol(t *testing.T, hostname string) (id, credential string) {
	t.Helper()
	jc := c.joinCode(t, 1, 10*time.Minute)
	code, err := wire.ParseJoinCode(jc.Code)
	if err != nil {
		t.Fatal(err)
	}
	var r wire.EnrolResponse
	st, err := c.post(wire.EnrolPath, "", wire.EnrolRequest{Secret: code.Secret, Host: wire.HostFacts{Hostname: hostname, OS: "linux"}}, &r)
	if err != nil || st != http.StatusOK {
		t.Fatalf("enrol: HTTP %d, %v", st, err)
	}
	return r.AgentID, r.Credential
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// startAgent runs `esmon-agent run` against the core, collecting every
// second, enrolled with a fresh one-use join code passed in the
// environment (as the MSI and the Linux install command pass it to the
// service), so it checks the core by the pin in the code.
func startAgent(t *testing.T, c *coreProc, args ...string) *proc {
	t.Helper()
	jc := c.joinCode(t, 1, 10*time.Minute)
	base := []string{"run", "--interval", "1s", "--state-dir", t.TempDir()}
	return startWithEnv(t, "esmon-agent", []string{"ESMON_JOIN_CODE=" + jc.Code}, bins.agent, append(base, args...)...)
}

// do sends an API request with the admin token and decodes the JSON answer
// into out (if not nil). It returns the status code.
func (c *coreProc) do(t *testing.T, method, path string, body, out any) int {
	t.Helper()
	code, err := c.try(method, path, body, out)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// try is do for a core that may not be up: it returns the error.
func (c *coreProc) try(method, path string, body, out any) (int, error) {
	return c.request(method, path, c.adminToken, body, out)
}

// post is an API POST with token (none if "").
func (c *coreProc) post(path, token string, body, out any) (int, error) {
	return c.request("POST", path, token, body, out)
}

func (c *coreProc) request(method, path, token string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, nil
}

// metric returns the value of one line of /metrics (name with labels as
// printed, e.g. `esmon_agent_frames_invalid_total{reason="malformed"}`).
func (c *coreProc) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := c.client.Get(c.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	t.Fatalf("metric %s not in /metrics", series)
	return 0
}

// live is a /ws/live subscriber that records every event (it watches no
// host: host events come without Latest).
type live struct {
	mu     sync.Mutex
	events []apiv1.Event
	times  []time.Time // when each event arrived
	ws     *websocket.Conn
}

func (c *coreProc) subscribe(t *testing.T) *live {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + c.adminToken}}
	ws, _, err := c.wsDialer().Dial(c.wsURL("/ws/live"), h)
	if err != nil {
		t.Fatalf("dial /ws/live: %v", err)
	}
	l := &live{ws: ws}
	go func() {
		// A message is one event or a batch of them; the decoder unpacks
		// batches and fills in the host identity events leave out.
		var dec apiv1.LiveDecoder
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			evs, err := dec.Decode(msg)
			if err != nil {
				return
			}
			now := time.Now()
			l.mu.Lock()
			for _, ev := range evs {
				l.events = append(l.events, ev)
				l.times = append(l.times, now)
			}
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() { ws.Close() })
	return l
}

// transition waits for an alert transition of rule to state to.
func (l *live) transition(t *testing.T, rule, to string) apiv1.Transition {
	t.Helper()
	var got apiv1.Transition
	waitFor(t, 15*time.Second, "live transition "+rule+" → "+to, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, ev := range l.events {
			if ev.Type == apiv1.EventAlert && ev.Transition.Alert.RuleName == rule && ev.Transition.To == to {
				got = *ev.Transition
				return true
			}
		}
		return false
	})
	return got
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hostNamed waits for a host with an online agent and values, and returns it.
func (c *coreProc) waitHost(t *testing.T) apiv1.Host {
	t.Helper()
	var h apiv1.Host
	waitFor(t, 15*time.Second, "the agent's host in /api/v1/hosts", func() bool {
		var hs []apiv1.Host
		c.do(t, "GET", "/api/v1/hosts", nil, &hs)
		for _, x := range hs {
			if x.Online && x.Gauges.Memory > 0 {
				h = x
				return true
			}
		}
		return false
	})
	return h
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
