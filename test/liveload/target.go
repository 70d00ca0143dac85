package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// target is the core under load: how to reach its live feed and metrics.
type target struct {
	base   *url.URL
	token  string
	client *http.Client
	dialer *websocket.Dialer
}

func newTarget(core, token, pin string) (*target, error) {
	u, err := url.Parse(strings.TrimRight(core, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--core %q: want http://host:port or https://host:port", core)
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if pin != "" {
		want, err := parsePin(pin)
		if err != nil {
			return nil, err
		}
		// The pin replaces the chain check: the core's certificate is
		// self-signed, and its public key is what was agreed on.
		tlsConf.InsecureSkipVerify = true
		tlsConf.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("core sent no certificate")
			}
			cert, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return fmt.Errorf("core certificate: %w", err)
			}
			if sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo); sum != want {
				return fmt.Errorf("core certificate key %x does not match the pinned fingerprint", sum)
			}
			return nil
		}
	}
	return &target{
		base:   u,
		token:  token,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}},
		dialer: &websocket.Dialer{TLSClientConfig: tlsConf, HandshakeTimeout: 10 * time.Second,
			ReadBufferSize: 4096, WriteBufferSize: 512},
	}, nil
}

// parsePin reads a SHA-256 fingerprint as hex (with or without colons) or
// base64.
func parsePin(s string) ([32]byte, error) {
	var out [32]byte
	clean := strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(s), "sha256:"), ":", "")
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != 32 {
		if b, err = base64.StdEncoding.DecodeString(clean); err != nil || len(b) != 32 {
			return out, fmt.Errorf("--fingerprint %q: want the SHA-256 of the key as 64 hex digits or base64", s)
		}
	}
	copy(out[:], b)
	return out, nil
}

// liveURL is the core's /ws/live address.
func (t *target) liveURL() string {
	u := *t.base
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path += "/ws/live"
	return u.String()
}

func (t *target) header() http.Header {
	return http.Header{"Authorization": {"Bearer " + t.token}}
}

// metric reads one unlabelled sample from the core's /metrics.
func (t *target) metric(name string) (float64, error) {
	req, err := http.NewRequest("GET", t.base.String()+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	req.Header = t.header()
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read core metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("read core metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("core metrics have no %s", name)
}
