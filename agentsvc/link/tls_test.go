package link

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"esmon/core/tlscert"
	"esmon/core/wire"
)

// TestTLSConfig checks an agent's view of the core's certificate against a
// real HTTPS server on loopback with a self-signed certificate, as a core
// makes on first start.
func TestTLSConfig(t *testing.T) {
	certPEM, keyPEM, err := tlscert.SelfSigned([]string{"127.0.0.1", "localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()

	blk, _ := pem.Decode(certPEM)
	cert, _ := x509.ParseCertificate(blk.Bytes)
	pin := wire.SPKIPin(cert)
	otherPEM, _, _ := tlscert.SelfSigned([]string{"127.0.0.1"}, time.Now())
	blk, _ = pem.Decode(otherPEM)
	other, _ := x509.ParseCertificate(blk.Bytes)

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, certPEM, 0o600)
	otherCA := filepath.Join(dir, "other.pem")
	os.WriteFile(otherCA, otherPEM, 0o600)
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)

	tests := []struct {
		name        string
		pin, caFile string
		url         string
		configErr   string // TLSConfig's error
		dialErr     string // the request's error; "" for success
		pinMismatch bool
	}{
		{name: "right pin", pin: pin},
		{name: "right pin in curl's syntax", pin: "sha256//" + pin},
		{name: "right pin, any host name", pin: pin, url: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)},
		{name: "wrong pin", pin: wire.SPKIPin(other), dialErr: "does not match", pinMismatch: true},
		{name: "pin over a CA file that would pass", pin: wire.SPKIPin(other), caFile: caFile, dialErr: "does not match", pinMismatch: true},
		{name: "malformed pin", pin: "abc", configErr: "fingerprint"},
		{name: "CA file", caFile: caFile},
		{name: "CA file of another core", caFile: otherCA, dialErr: "certificate"},
		{name: "CA file without certificates", caFile: junk, configErr: "no PEM certificate"},
		{name: "missing CA file", caFile: filepath.Join(dir, "nope"), configErr: "read CA file"},
		{name: "system CAs do not know a self-signed core", dialErr: "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := TLSConfig(tt.pin, tt.caFile)
			if tt.configErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.configErr) {
					t.Fatalf("TLSConfig: %v, want %q", err, tt.configErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cl := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
			defer cl.CloseIdleConnections()
			url := srv.URL
			if tt.url != "" {
				url = tt.url
			}
			resp, err := cl.Get(url)
			if err == nil {
				resp.Body.Close()
			}
			switch {
			case tt.dialErr == "" && err != nil:
				t.Fatalf("GET: %v", err)
			case tt.dialErr != "" && (err == nil || !strings.Contains(err.Error(), tt.dialErr)):
				t.Fatalf("GET: %v, want an error with %q", err, tt.dialErr)
			case tt.pinMismatch && !errors.Is(err, ErrPinMismatch):
				t.Fatalf("GET: %v, want ErrPinMismatch", err)
			}
		})
	}
}
