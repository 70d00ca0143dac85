package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"esmon/agentsvc/link"
)

// coreProc is one esmon-serve process on loopback with its own data
// directory.
type coreProc struct {
	bin, data, addr string
	extra           []string // flags beyond --data and --listen
	logPath         string
	cmd             *exec.Cmd
	exited          chan struct{}
	token           string
	pin             string
	client          *http.Client
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startCore starts esmon-serve on addr with data dir data and waits until
// it answers /healthz over TLS checked by the pin of the certificate it
// made. The log goes to logPath (appended, so a restart keeps the first
// run's lines).
func startCore(bin, data, addr, logPath string, extra ...string) (*coreProc, error) {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	c := &coreProc{bin: bin, data: data, addr: addr, logPath: logPath, extra: extra, exited: make(chan struct{})}
	c.cmd = exec.Command(bin, append([]string{"serve", "--data", data, "--listen", addr}, extra...)...)
	c.cmd.Stdout, c.cmd.Stderr = lf, lf
	c.cmd.SysProcAttr = childAttr()
	if err := c.cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start core: %w", err)
	}
	go func() { c.cmd.Wait(); lf.Close(); close(c.exited) }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		if time.Now().After(deadline) {
			c.kill()
			return nil, fmt.Errorf("core did not come up within 60 s; log: %s", c.logTail())
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("core exited at start: %s", c.logTail())
		case <-time.After(100 * time.Millisecond):
		}
		if c.client == nil {
			if err := c.readCredentials(); err != nil {
				continue
			}
		}
		if resp, err := c.client.Get(c.url("/healthz")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
	}
}

// readCredentials reads the admin token and the certificate the core wrote
// into its data directory, and derives the pin (base64 SHA-256 of the
// public key) that agents and liveload check it by.
func (c *coreProc) readCredentials() error {
	tok, err := os.ReadFile(filepath.Join(c.data, "admin.token"))
	if err != nil || len(bytes.TrimSpace(tok)) == 0 {
		return errors.New("no admin token yet")
	}
	crt, err := os.ReadFile(filepath.Join(c.data, "tls.crt"))
	if err != nil {
		return err
	}
	blk, _ := pem.Decode(crt)
	if blk == nil {
		return errors.New("tls.crt not complete yet")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	pin := base64.StdEncoding.EncodeToString(sum[:])
	// The same check agents and liveload make: the pinned key.
	tc, err := link.TLSConfig(pin, "")
	if err != nil {
		return err
	}
	c.token = strings.TrimSpace(string(tok))
	c.pin = pin
	c.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 16}}
	return nil
}

func (c *coreProc) url(path string) string { return "https://" + c.addr + path }
func (c *coreProc) pid() int               { return c.cmd.Process.Pid }

func (c *coreProc) logTail() string {
	b, _ := os.ReadFile(c.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// kill ends the core with SIGKILL, as a crash or power cut would, and waits
// for it to be gone.
func (c *coreProc) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// stop ends the core with SIGTERM (a clean shutdown), SIGKILL after 30 s.
func (c *coreProc) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.kill()
	}
}

// do sends an API request with the admin token; a non-2xx answer is an
// error carrying the body.
func (c *coreProc) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// joinCode asks the core for a join code with uses uses.
func (c *coreProc) joinCode(ctx context.Context, uses int) (string, error) {
	var out struct {
		Code string `json:"code"`
	}
	err := c.do(ctx, "POST", "/api/v1/join-codes", map[string]any{"uses": uses, "ttl_seconds": 24 * 3600, "note": "bench/scale"}, &out)
	if err == nil && out.Code == "" {
		err = errors.New("join code answer has no code")
	}
	return out.Code, err
}

// metrics reads the core's /metrics exposition; a core so busy that a
// read times out gets two more tries.
func (c *coreProc) metrics(ctx context.Context) (promText, error) {
	var err error
	for range 3 {
		var p promText
		if p, err = c.metricsOnce(ctx); err == nil || ctx.Err() != nil {
			return p, err
		}
	}
	return nil, err
}

func (c *coreProc) metricsOnce(ctx context.Context) (promText, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.url("/metrics"), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	return parseProm(resp.Body)
}

// point is one stored sample as /api/v1/query returns it.
type point struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}

// queryPoints returns the raw points of metric for host between from and
// to (all series of the metric for the host, by series).
func (c *coreProc) queryPoints(ctx context.Context, metric, host string, from, to time.Time) ([][]point, error) {
	q := url.Values{"metric": {metric}, "host": {host},
		"from": {from.UTC().Format(time.RFC3339Nano)}, "to": {to.UTC().Format(time.RFC3339Nano)}}
	var out struct {
		Series []struct {
			Points []point `json:"points"`
		} `json:"series"`
	}
	if err := c.do(ctx, "GET", "/api/v1/query?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	res := make([][]point, 0, len(out.Series))
	for _, s := range out.Series {
		res = append(res, s.Points)
	}
	return res, nil
}

// promText is a parsed Prometheus text exposition: every sample line as
// its name with labels (exactly as written) and value.
type promText map[string]float64

// parseProm reads the text format: `name{labels} value [timestamp]`.
func parseProm(r io.Reader) (promText, error) {
	out := promText{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, rest := line, ""
		if i := strings.LastIndex(line, "}"); i >= 0 {
			key, rest = line[:i+1], strings.TrimSpace(line[i+1:])
		} else if i := strings.IndexByte(line, ' '); i >= 0 {
			key, rest = line[:i], strings.TrimSpace(line[i+1:])
		}
		if f := strings.Fields(rest); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				out[key] = v
			}
		}
	}
	return out, sc.Err()
}

// get returns the value of an unlabelled sample, or NaN.
func (p promText) get(name string) float64 {
	if v, ok := p[name]; ok {
		return v
	}
	return math.NaN()
}

// bucket is one cumulative histogram bucket.
type bucket struct{ le, count float64 }

// histogram returns the cumulative buckets of histogram name, sorted by le.
func (p promText) histogram(name string) []bucket {
	var bs []bucket
	prefix := name + `_bucket{le="`
	for k, v := range p {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
			if err == nil {
				bs = append(bs, bucket{le, v})
			}
		}
	}
	for i := 1; i < len(bs); i++ {
		for j := i; j > 0 && bs[j].le < bs[j-1].le; j-- {
			bs[j], bs[j-1] = bs[j-1], bs[j]
		}
	}
	return bs
}

// histQuantile is Prometheus' histogram_quantile over the difference of two
// readings of the same histogram: linear within the bucket that holds the
// rank; the +Inf bucket answers the highest finite bound.
func histQuantile(q float64, before, after []bucket) float64 {
	if len(after) == 0 {
		return math.NaN()
	}
	d := make([]bucket, len(after))
	for i, b := range after {
		d[i] = b
		for _, o := range before {
			if o.le == b.le {
				d[i].count -= o.count
			}
		}
	}
	total := d[len(d)-1].count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	prevLe, prevCount := 0.0, 0.0
	for _, b := range d {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return prevLe
			}
			if b.count == prevCount {
				return b.le
			}
			return prevLe + (b.le-prevLe)*(rank-prevCount)/(b.count-prevCount)
		}
		prevLe, prevCount = b.le, b.count
	}
	return prevLe
}
