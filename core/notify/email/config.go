package email

import (
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"esmon/core/apiv1"
)

// Security says how the connection to the SMTP server is protected.
type Security string

// Security modes.
const (
	// SecurityPlain sends in clear text (port 25), for a relay on a trusted
	// network. Credentials are refused in this mode.
	SecurityPlain Security = "plain"
	// SecuritySTARTTLS connects in clear text and upgrades with STARTTLS
	// before anything else is said (submission, port 587). The server must
	// offer STARTTLS. This is the default.
	SecuritySTARTTLS Security = "starttls"
	// SecurityTLS speaks TLS from the first byte (implicit TLS, port 465).
	SecurityTLS Security = "tls"
)

// DefaultTimeout bounds one connection: dial, TLS, auth and sending.
const DefaultTimeout = 30 * time.Second

// Config is one email channel: the SMTP server and who gets the mail.
type Config struct {
	// Name names the channel in routes and the API. Default "email"; give
	// each of several email channels its own.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// MinSeverity is the least severity mailed. Default "very_critical".
	MinSeverity string `yaml:"min_severity,omitempty" json:"min_severity,omitempty"`
	// GroupAbove makes one mail that lists them all of a batch of more
	// than this many transitions (alerts that fire together), instead of
	// one mail each. Default 3; negative never groups.
	GroupAbove int `yaml:"group_above,omitempty" json:"group_above,omitempty"`
	// Host is the SMTP server's name or address, without a port.
	Host string `yaml:"host" json:"host"`
	// Port defaults by Security: 587 for starttls, 465 for tls, 25 for plain.
	Port int `yaml:"port,omitempty" json:"port,omitempty"`
	// Security is "plain", "starttls" (default) or "tls" (implicit TLS).
	Security Security `yaml:"security,omitempty" json:"security,omitempty"`
	// Username and Password log in to the server when Username is set;
	// only over starttls or tls. The password is never logged or printed.
	Username string `yaml:"username,omitempty" json:"username,omitempty"`
	Password string `yaml:"password,omitempty" json:"password,omitempty"`
	// From is the sender address, e.g. "esmon <esmon@example.com>".
	From string `yaml:"from" json:"from"`
	// To lists the recipients; at least one.
	To []string `yaml:"to" json:"to"`
	// CAFile names a PEM file of CA certificates to trust for the server's
	// certificate instead of the system's roots, for a server whose
	// certificate comes from a private CA.
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// InsecureSkipVerify accepts any server certificate. It exists for tests
	// and throwaway setups only: it makes TLS worthless against anyone on
	// the path, who could read the password. Prefer CAFile.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty" json:"insecure_skip_verify,omitempty"`
	// Timeout bounds one delivery (dial, TLS, auth, send). Default 30s.
	Timeout apiv1.Duration `yaml:"timeout,omitempty" json:"timeout,omitzero"`
}

// WithDefaults returns c with the empty fields that have defaults filled in:
// security, port and timeout.
func (c Config) WithDefaults() Config {
	if c.Name == "" {
		c.Name = Name
	}
	if c.MinSeverity == "" {
		c.MinSeverity = apiv1.SeverityVeryCritical
	}
	if c.GroupAbove == 0 {
		c.GroupAbove = 3
	}
	if c.Security == "" {
		c.Security = SecuritySTARTTLS
	}
	if c.Port == 0 {
		switch c.Security {
		case SecurityTLS:
			c.Port = 465
		case SecurityPlain:
			c.Port = 25
		default:
			c.Port = 587
		}
	}
	if c.Timeout == 0 {
		c.Timeout = apiv1.Duration(DefaultTimeout)
	}
	return c
}

// Validate reports every problem with c, each naming its field. Empty
// fields that have defaults are fine. It does not read CAFile; New does.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}

	switch {
	case c.Host == "":
		bad("host", "required")
	case strings.ContainsAny(c.Host, "/ \t\r\n") || strings.Count(c.Host, ":") == 1:
		bad("host", "want a host name or address without scheme or port, got %q", c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("port", "%d is outside 1-65535", c.Port)
	}
	sec := c.Security
	switch sec {
	case "", SecurityPlain, SecuritySTARTTLS, SecurityTLS:
	default:
		bad("security", "%q is not one of plain, starttls, tls", string(sec))
	}
	if c.From == "" {
		bad("from", "required")
	} else if _, err := mail.ParseAddress(c.From); err != nil {
		bad("from", "%q: %v", c.From, err)
	}
	if len(c.To) == 0 {
		bad("to", "at least one recipient required")
	}
	for i, to := range c.To {
		if _, err := mail.ParseAddress(to); err != nil {
			bad(fmt.Sprintf("to[%d]", i), "%q: %v", to, err)
		}
	}
	if c.Password != "" && c.Username == "" {
		bad("password", "set without a username")
	}
	if sec == SecurityPlain {
		if c.Username != "" {
			bad("username", "credentials would cross the network in clear text; use security starttls or tls")
		}
		if c.CAFile != "" {
			bad("ca_file", "has no use with security plain")
		}
		if c.InsecureSkipVerify {
			bad("insecure_skip_verify", "has no use with security plain")
		}
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative")
	}
	if c.MinSeverity != "" && apiv1.SeverityRank(c.MinSeverity) == 0 {
		bad("min_severity", "%q is not one of %v", c.MinSeverity, apiv1.Severities)
	}
	return errors.Join(errs...)
}

// redacted is c with the password masked, for printing and logs.
func (c Config) redacted() map[string]any {
	pw := ""
	if c.Password != "" {
		pw = "<redacted>"
	}
	return map[string]any{
		"host": c.Host, "port": c.Port, "security": string(c.Security),
		"username": c.Username, "password": pw, "from": c.From, "to": c.To,
		"ca_file": c.CAFile, "insecure_skip_verify": c.InsecureSkipVerify,
		"timeout": time.Duration(c.Timeout).String(),
	}
}

// String prints c with the password masked, so that %v and %+v never show it.
func (c Config) String() string {
	r := c.redacted()
	return fmt.Sprintf("{host:%v port:%v security:%v username:%v password:%v from:%v to:%v ca_file:%v insecure_skip_verify:%v timeout:%v}",
		r["host"], r["port"], r["security"], r["username"], r["password"], r["from"], r["to"], r["ca_file"], r["insecure_skip_verify"], r["timeout"])
}

// GoString keeps %#v from printing the password too.
func (c Config) GoString() string { return "email.Config" + c.String() }

// LogValue keeps slog from writing the password.
func (c Config) LogValue() slog.Value {
	r := c.redacted()
	var attrs []slog.Attr
	for _, k := range []string{"host", "port", "security", "username", "password", "from", "to", "ca_file", "insecure_skip_verify", "timeout"} {
		attrs = append(attrs, slog.Any(k, r[k]))
	}
	return slog.GroupValue(attrs...)
}
