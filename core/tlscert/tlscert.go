// Package tlscert gives the core its TLS certificate: a self-signed ECDSA
// one made on first start (named for every name and address of the host),
// or one the operator configured, reloaded when its files change so a
// renewed certificate needs no restart.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/wire"
)

// Files of the self-signed certificate in the core's data directory.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// selfSignedLife is how long a made certificate is valid. Agents pin its
// key, not its dates, so a long life costs nothing and spares a renewal.
const selfSignedLife = 10 * 365 * 24 * time.Hour

// reloadCheck is how often, at most, the files are looked at for changes.
const reloadCheck = time.Second

// EnsureSelfSigned returns the paths of the self-signed certificate and key
// in dir, making them (key mode 0600) when there are none. The certificate
// names localhost, the host name, every address of the host and extra.
func EnsureSelfSigned(dir string, extra []string, log *slog.Logger) (certPath, keyPath string, err error) {
	certPath, keyPath = filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	_, cerr := os.Stat(certPath)
	_, kerr := os.Stat(keyPath)
	if cerr == nil && kerr == nil {
		return certPath, keyPath, nil
	}
	if !errors.Is(cerr, fs.ErrNotExist) && cerr != nil || !errors.Is(kerr, fs.ErrNotExist) && kerr != nil {
		return "", "", fmt.Errorf("look for the TLS certificate: %w", errors.Join(cerr, kerr))
	}
	certPEM, keyPEM, err := SelfSigned(HostNames(extra...), time.Now())
	if err != nil {
		return "", "", err
	}
	// The key first: a certificate without its key is useless, the reverse
	// is made again.
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeFile(certPath, certPEM, 0o644); err != nil {
		return "", "", err
	}
	log.Info("created a self-signed TLS certificate", "cert", certPath)
	return certPath, keyPath, nil
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// HostNames returns localhost, this host's name and every address of its
// interfaces, and extra, without repeats: the names an agent may dial.
func HostNames(extra ...string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
				names = append(names, ipn.IP.String())
			}
		}
	}
	for _, e := range extra {
		if e != "" {
			names = append(names, e)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// SelfSigned makes a self-signed ECDSA P-256 certificate for names (DNS
// names or IP addresses), valid from now, and its key, both PEM-encoded.
func SelfSigned(names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("make TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("make TLS certificate: %w", err)
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "esmon core " + host, Organization: []string{"esmon"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLife),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		// A CA of itself, so `curl --cacert tls.crt` and an agent's
		// ca_file can trust it directly.
		IsCA: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("make TLS certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode TLS key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}

// Reloader serves a certificate from files and loads them again when they
// change, checking at most once a second, on a handshake. A change that
// does not load (a half-written file, a key that does not match) keeps the
// certificate before it, is logged and counted, and is tried again.
type Reloader struct {
	certPath, keyPath string
	log               *slog.Logger
	failures          prometheus.Counter
	reloads           prometheus.Counter

	mu      sync.Mutex // guards the fields below
	cert    *tls.Certificate
	pin     string
	stamp   [2]time.Time // modification times of the loaded files
	checked time.Time
}

// NewReloader loads the certificate and key at the paths; it fails when
// they do not load now. Counters are registered with reg (if not nil).
func NewReloader(certPath, keyPath string, reg prometheus.Registerer, log *slog.Logger) (*Reloader, error) {
	r := &Reloader{certPath: certPath, keyPath: keyPath, log: log,
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_tls_reload_failures_total",
			Help: "Changed TLS certificate files that did not load; the certificate before stays in use."}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_tls_reloads_total",
			Help: "TLS certificates loaded again after their files changed."}),
	}
	stamp, err := r.stamps()
	if err != nil {
		return nil, err
	}
	if err := r.load(stamp); err != nil {
		return nil, err
	}
	r.checked = time.Now()
	if reg != nil {
		reg.MustRegister(r.failures, r.reloads)
	}
	return r, nil
}

func (r *Reloader) stamps() ([2]time.Time, error) {
	var out [2]time.Time
	for i, p := range []string{r.certPath, r.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return out, fmt.Errorf("TLS file: %w", err)
		}
		out[i] = fi.ModTime()
	}
	return out, nil
}

// load reads the files; r.mu is held or r is not shared yet.
func (r *Reloader) load(stamp [2]time.Time) error {
	c, err := tls.LoadX509KeyPair(r.certPath, r.keyPath)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s: %w", r.certPath, err)
	}
	r.cert, r.pin, r.stamp = &c, wire.SPKIPin(c.Leaf), stamp
	return nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maybeReload(time.Now())
	return r.cert, nil
}

// maybeReload loads the files again if they changed; r.mu is held.
func (r *Reloader) maybeReload(now time.Time) {
	if now.Sub(r.checked) < reloadCheck {
		return
	}
	r.checked = now
	stamp, err := r.stamps()
	if err == nil && stamp == r.stamp {
		return
	}
	if err == nil {
		err = r.load(stamp)
	}
	if err != nil {
		r.failures.Inc()
		r.log.Error("TLS certificate files changed but do not load; keeping the one before", "err", err)
		return
	}
	r.reloads.Inc()
	r.log.Info("TLS certificate reloaded", "cert", r.certPath, "pin", r.pin)
}

// Pin is the SPKI SHA-256 pin (wire.SPKIPin) of the certificate served now.
func (r *Reloader) Pin() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maybeReload(time.Now())
	return r.pin
}

// ServerConfig is a TLS configuration that serves r's certificate.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}
