package core

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/tlscert"
)

// TLS is the `tls:` section of the settings. With neither file given the
// core makes a self-signed certificate in its data directory on first start
// and keeps using it; agents pin its key through their join codes.
type TLS struct {
	// CertFile and KeyFile name a certificate (with its chain) and key in
	// PEM, from the organisation's CA. They are read again when they
	// change, so a renewal needs no restart.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Names are more DNS names or addresses for the self-signed
	// certificate, besides the host's own; used when it is made.
	Names []string `yaml:"names"`
}

// setupTLS loads or makes the certificate, unless the core runs on plain
// HTTP, which it says loudly.
func (c *Core) setupTLS(reg prometheus.Registerer) error {
	if c.opts.InsecureHTTP {
		c.log.Warn("TLS is OFF (insecure_http): agent credentials, join codes and sign-ins cross the network in clear text; use this only on a trusted test network")
		return nil
	}
	t := c.opts.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		return fmt.Errorf("tls: give both cert_file and key_file, or neither")
	}
	certPath, keyPath := t.CertFile, t.KeyFile
	if certPath == "" {
		var err error
		if certPath, keyPath, err = tlscert.EnsureSelfSigned(c.opts.DataDir, t.Names, c.log); err != nil {
			return err
		}
	}
	r, err := tlscert.NewReloader(certPath, keyPath, reg, c.log.With("component", "tls"))
	if err != nil {
		return err
	}
	c.certs = r
	return nil
}

// listen binds the listener, with TLS unless the core runs on plain HTTP.
func (c *Core) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", c.opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", c.opts.Listen, err)
	}
	if c.certs == nil {
		return ln, nil
	}
	cfg := c.certs.ServerConfig()
	// HTTP/1.1 alone: gorilla's WebSockets (agents, the live feed) need
	// it, and one protocol keeps every client on the same path.
	cfg.NextProtos = []string{"http/1.1"}
	return tls.NewListener(ln, cfg), nil
}

// Pin is the SPKI SHA-256 pin of the core's certificate (see wire.SPKIPin):
// what agents check the core by, and what Chromium's
// --ignore-certificate-errors-spki-list takes. Empty on plain HTTP.
func (c *Core) Pin() string {
	if c.certs == nil {
		return ""
	}
	return c.certs.Pin()
}

func (c *Core) scheme() string {
	if c.certs == nil {
		return "http"
	}
	return "https"
}
