package wire

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// A join code is how an operator hands a new agent everything it needs to
// enrol, as one string that survives copy and paste into a shell, an MSI
// property or a YAML file:
//
//	esmon1_<base64url, no padding, of the JSON {"u":URL,"p":PIN,"s":SECRET,"e":UNIX}>
//
// u is the core's address (https://host:port; http:// only for a core
// that runs without TLS, when p is empty), p the pin of the core's
// certificate (see SPKIPin), s the join secret (its id, a dot, then random
// bytes; the core keeps only a hash) and e when the code stops working, in
// Unix seconds. The agent checks the core's certificate against p before it
// sends s, so a code pasted on a hostile network gives nothing away.
const JoinCodePrefix = "esmon1_"

// maxJoinCodeLen bounds what ParseJoinCode accepts; real codes are about
// 250 bytes.
const maxJoinCodeLen = 4096

// EnrolPath is where an agent exchanges a join secret for its credential.
const EnrolPath = "/api/v1/enrol"

// JoinCode is a decoded join code.
type JoinCode struct {
	URL     string `json:"u"`
	Pin     string `json:"p"`
	Secret  string `json:"s"`
	Expires int64  `json:"e"`
}

// String encodes the code for people to copy.
func (j JoinCode) String() string {
	b, _ := json.Marshal(j) // plain strings and an int: cannot fail
	return JoinCodePrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ExpiresAt is Expires as a time.
func (j JoinCode) ExpiresAt() time.Time { return time.Unix(j.Expires, 0) }

// ParseJoinCode decodes and checks a join code. It does not check expiry:
// the core does, and says so in its answer.
func ParseJoinCode(s string) (JoinCode, error) {
	var j JoinCode
	s = strings.TrimSpace(s)
	if len(s) > maxJoinCodeLen {
		return j, errors.New("join code too long")
	}
	body, ok := strings.CutPrefix(s, JoinCodePrefix)
	if !ok {
		return j, fmt.Errorf("join code must start with %q", JoinCodePrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return j, fmt.Errorf("join code is damaged (copy it again): %w", err)
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return j, fmt.Errorf("join code is damaged (copy it again): %w", err)
	}
	u, err := url.Parse(j.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return j, fmt.Errorf("join code names no core address (%q)", j.URL)
	}
	// A core on plain HTTP (its insecure_http setting) has no certificate
	// to pin; one on HTTPS always names its pin.
	if u.Scheme == "https" && !ValidPin(j.Pin) || u.Scheme == "http" && j.Pin != "" {
		return j, errors.New("join code has no valid certificate pin")
	}
	if j.Secret == "" || len(j.Secret) > MaxNameLen {
		return j, errors.New("join code has no valid secret")
	}
	return j, nil
}

// SPKIPin is the pin of a certificate: the SHA-256 of its public key (the
// DER SubjectPublicKeyInfo), in standard base64. That is the form curl's
// --pinnedpubkey sha256//… and Chromium's
// --ignore-certificate-errors-spki-list take, so one string serves all three.
// A pin of the key, not the certificate, survives renewing the certificate
// with the same key.
func SPKIPin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// ValidPin reports whether s looks like a pin SPKIPin makes. A leading
// "sha256/" or "sha256//" (as curl writes it) is accepted by NormalizePin.
func ValidPin(s string) bool {
	b, err := base64.StdEncoding.DecodeString(NormalizePin(s))
	return err == nil && len(b) == sha256.Size
}

// NormalizePin drops the "sha256/" or "sha256//" prefix people copy along
// from curl's syntax, and surrounding space.
func NormalizePin(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "sha256//")
	return strings.TrimPrefix(s, "sha256/")
}

// EnrolRequest is what an agent posts to EnrolPath, as JSON over HTTPS with
// the core's certificate pinned.
type EnrolRequest struct {
	// Secret is the join secret from the join code.
	Secret       string    `json:"secret"`
	AgentVersion string    `json:"agent_version,omitempty"`
	Host         HostFacts `json:"host"`
}

// EnrolResponse is the core's answer to an accepted EnrolRequest: the
// agent's own id and credential. The core keeps only a hash of the
// credential, so this is the only time it is sent.
type EnrolResponse struct {
	AgentID    string `json:"agent_id"`
	Credential string `json:"credential"`
}

// EnrolError is the core's answer to a refused EnrolRequest; Code is one of
// the EnrolRefused* reasons.
type EnrolError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Reasons the core refuses an enrolment, as EnrolError.Code and as the
// reason label of its counter.
const (
	EnrolRefusedUnknown = "unknown_code"
	EnrolRefusedExpired = "expired_code"
	EnrolRefusedUsedUp  = "used_up_code"
	EnrolRefusedRevoked = "revoked_code"
	EnrolRefusedInvalid = "invalid_request"
)
