package tlscert

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"esmon/core/wire"
)

func parse(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSelfSigned(t *testing.T) {
	certPEM, keyPEM, err := SelfSigned([]string{"localhost", "127.0.0.1", "core.example", "::1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := parse(t, certPEM)
	if _, ok := c.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("key %T, want ECDSA", c.PublicKey)
	}
	if !slices.Equal(c.DNSNames, []string{"localhost", "core.example"}) || len(c.IPAddresses) != 2 {
		t.Errorf("SANs %v %v", c.DNSNames, c.IPAddresses)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "core.example", "::1"} {
		if err := c.VerifyHostname(name); err != nil {
			t.Errorf("VerifyHostname(%s): %v", name, err)
		}
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Errorf("key does not match: %v", err)
	}
	// It is its own CA: a client that trusts the file verifies it fully.
	roots := x509.NewCertPool()
	roots.AddCert(c)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: "core.example"}); err != nil {
		t.Errorf("verify against itself: %v", err)
	}
}

func TestEnsureSelfSigned(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	cp, kp, err := EnsureSelfSigned(dir, []string{"extra.example"}, log)
	if err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{kp: 0o600, cp: 0o644} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want mode %v", path, fi, err, mode)
		}
	}
	first, _ := os.ReadFile(cp)
	hostname, _ := os.Hostname()
	c := parse(t, first)
	for _, want := range []string{"extra.example", hostname} {
		if !slices.Contains(c.DNSNames, want) {
			t.Errorf("SANs %v lack %s", c.DNSNames, want)
		}
	}
	if _, _, err := EnsureSelfSigned(dir, nil, log); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(cp)
	if string(again) != string(first) {
		t.Error("a second call made a new certificate")
	}
}

// writePair writes a new self-signed pair to the paths, dated at.
func writePair(t *testing.T, cp, kp string, at time.Time) string {
	t.Helper()
	certPEM, keyPEM, err := SelfSigned([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range map[string][]byte{cp: certPEM, kp: keyPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, at, at)
	}
	return wire.SPKIPin(parse(t, certPEM))
}

// servedPin does a real TLS handshake with a listener that serves r and
// returns the pin of the certificate it presented.
func servedPin(t *testing.T, r *Reloader) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return wire.SPKIPin(conn.ConnectionState().PeerCertificates[0])
}

// TestReloader replaces the files under a running Reloader and checks what
// a client's handshake then gets.
func TestReloader(t *testing.T) {
	dir := t.TempDir()
	cp, kp := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	t0 := time.Now().Add(-time.Hour)
	pin0 := writePair(t, cp, kp, t0)
	r, err := NewReloader(cp, kp, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := servedPin(t, r); got != pin0 {
		t.Fatalf("served %s, want %s", got, pin0)
	}
	var pin1 string
	tests := []struct {
		name         string
		change       func(at time.Time)
		wantPin      func() string
		reloads, bad float64
	}{
		{"renewed pair is served", func(at time.Time) { pin1 = writePair(t, cp, kp, at) }, func() string { return pin1 }, 1, 0},
		{"half-written certificate keeps the one before", func(at time.Time) {
			os.WriteFile(cp, []byte("-----BEGIN CERTIFICATE-----\nAAAA"), 0o600)
			os.Chtimes(cp, at, at)
		}, func() string { return pin1 }, 1, 1},
		{"key of another pair keeps the one before", func(at time.Time) {
			other := filepath.Join(dir, "other")
			os.Mkdir(other, 0o700)
			writePair(t, filepath.Join(other, "c"), filepath.Join(other, "k"), at)
			writePair(t, cp, filepath.Join(other, "k2"), at)
			b, _ := os.ReadFile(filepath.Join(other, "k"))
			os.WriteFile(kp, b, 0o600)
			os.Chtimes(kp, at, at)
		}, func() string { return pin1 }, 1, 2},
		{"a good pair again is served", func(at time.Time) { pin1 = writePair(t, cp, kp, at) }, func() string { return pin1 }, 2, 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change(t0.Add(time.Duration(i+1) * time.Minute))
			r.mu.Lock()
			r.checked = time.Time{} // look at the files on the next handshake
			r.mu.Unlock()
			if got := servedPin(t, r); got != tt.wantPin() {
				t.Errorf("served %s, want %s", got, tt.wantPin())
			}
			if got := testutil.ToFloat64(r.reloads); got != tt.reloads {
				t.Errorf("reloads %v, want %v", got, tt.reloads)
			}
			if got := testutil.ToFloat64(r.failures); got != tt.bad {
				t.Errorf("failures %v, want %v", got, tt.bad)
			}
		})
	}
}

func TestNewReloaderRefusesMissingFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewReloader(filepath.Join(dir, "c"), filepath.Join(dir, "k"), nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("NewReloader with no files succeeded")
	}
}

func TestHostNames(t *testing.T) {
	names := HostNames("core.example", "")
	for _, want := range []string{"localhost", "127.0.0.1", "core.example"} {
		if !slices.Contains(names, want) {
			t.Errorf("HostNames() = %v, lacks %s", names, want)
		}
	}
	if slices.Contains(names, "") || !slices.IsSorted(names) {
		t.Errorf("HostNames() = %v: empty or unsorted", names)
	}
}
