package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/tlscert"
	"esmon/core/wire"
	"esmon/internal/testenv"
)

// TestTLS starts a core with its defaults: it makes a self-signed
// certificate, serves HTTPS only, keeps the certificate across restarts,
// and its join codes name its https address and pin.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	start := func() (*Core, *testenv.Buffer) {
		logs := &testenv.Buffer{}
		c, err := New(Options{DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return c, logs
	}
	c, _ := start()
	base := strings.TrimSuffix(c.WebURL(), "/")
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("WebURL %s, want https", base)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	keyInfo, err := os.Stat(filepath.Join(dir, tlscert.KeyFile))
	if err != nil || keyInfo.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", keyInfo, err)
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, tlscert.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if c.Pin() != wire.SPKIPin(cert) {
		t.Errorf("Pin %s, want the pin of %s", c.Pin(), tlscert.CertFile)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)

	get := func(cfg *tls.Config, url string) error {
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 5 * time.Second}
		resp, err := cl.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			// Go's server answers plain HTTP on a TLS port with a 400.
			return errors.New(resp.Status)
		}
		return nil
	}
	tests := []struct {
		name string
		cfg  *tls.Config
		url  string
		ok   bool
	}{
		{"trusted as a CA file", &tls.Config{RootCAs: roots}, base + "/healthz", true},
		{"system CAs do not know it", &tls.Config{}, base + "/healthz", false},
		{"plain HTTP is not served", nil, "http://" + c.Addr().String() + "/healthz", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := get(tt.cfg, tt.url)
			if (err == nil) != tt.ok {
				t.Errorf("GET %s: %v, want ok=%v", tt.url, err, tt.ok)
			}
		})
	}

	jc, err := c.CreateJoinCode(apiv1.NewJoinCode{})
	if err != nil {
		t.Fatal(err)
	}
	code, err := wire.ParseJoinCode(jc.Code)
	if err != nil {
		t.Fatal(err)
	}
	if code.URL != base || code.Pin != c.Pin() {
		t.Errorf("join code names %s with pin %s, want %s with %s", code.URL, code.Pin, base, c.Pin())
	}
	pin := c.Pin()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	c2, _ := start()
	defer c2.Stop()
	if c2.Pin() != pin {
		t.Error("the certificate changed on the second start: every agent's pin would break")
	}
}

// TestInsecureHTTPWarns checks that plain HTTP is there only when asked
// for, and says so in the log.
func TestInsecureHTTPWarns(t *testing.T) {
	c, logs := newCore(t, t.TempDir())
	defer c.Stop()
	if !strings.HasPrefix(c.WebURL(), "http://") || c.Pin() != "" {
		t.Errorf("WebURL %s, pin %q; want http and no pin", c.WebURL(), c.Pin())
	}
	if !strings.Contains(logs.String(), "TLS is OFF") {
		t.Errorf("no warning in the log:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(c.opts.DataDir, tlscert.CertFile)); err == nil {
		t.Error("a certificate was made for a plain-HTTP core")
	}
}
