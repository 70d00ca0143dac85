package link

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"esmon/core/wire"
)

// ErrPinMismatch is the error of a handshake with a core whose certificate
// key is not the pinned one: another server, or a man in the middle.
var ErrPinMismatch = errors.New("core's certificate does not match the pinned fingerprint")

// TLSConfig is how an agent checks the core it talks to. With a pin (see
// wire.SPKIPin) the core's certificate must carry that public key, whoever
// signed it and whatever names it has: that is what a self-signed core
// offers. Without a pin the certificate must chain to the CAs in caFile, or
// to the system's when caFile is empty, and name the host dialled. There
// is no way to skip the check.
func TLSConfig(pin, caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if pin != "" {
		if !wire.ValidPin(pin) {
			return nil, fmt.Errorf("fingerprint %q: want the base64 SHA-256 of the core's public key (44 characters)", pin)
		}
		want := wire.NormalizePin(pin)
		// The chain check is replaced, not skipped: VerifyConnection
		// below refuses every certificate but the pinned one.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrPinMismatch
			}
			got := wire.SPKIPin(cs.PeerCertificates[0])
			if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
				return fmt.Errorf("%w (core has %s, pinned %s)", ErrPinMismatch, got, want)
			}
			return nil
		}
		return cfg, nil
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
