package email

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mail "github.com/wneessen/go-mail"
	"go.uber.org/goleak"

	"esmon/core/apiv1"
	"esmon/internal/mailpit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func validConfig() Config {
	return Config{Host: "smtp.example.com", From: "esmon <esmon@example.com>", To: []string{"ops@example.com"}}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // fields named in the error; none means valid
	}{
		{"minimal", func(*Config) {}, nil},
		{"full", func(c *Config) {
			c.Port, c.Security, c.Username, c.Password, c.CAFile, c.Timeout = 2525, SecurityTLS, "u", "p", "/etc/ca.pem", apiv1.Duration(time.Second)
		}, nil},
		{"ipv6 host", func(c *Config) { c.Host = "::1" }, nil},
		{"empty", func(c *Config) { *c = Config{} }, []string{"host: required", "from: required", "to: at least one"}},
		{"host with port", func(c *Config) { c.Host = "smtp.example.com:587" }, []string{"host: want a host name"}},
		{"host with scheme", func(c *Config) { c.Host = "smtp://smtp.example.com" }, []string{"host: want a host name"}},
		{"port", func(c *Config) { c.Port = 70000 }, []string{"port: 70000"}},
		{"security", func(c *Config) { c.Security = "ssl" }, []string{`security: "ssl" is not one of`}},
		{"from", func(c *Config) { c.From = "not an address" }, []string{"from:"}},
		{"to", func(c *Config) { c.To = []string{"ops@example.com", "nobody"} }, []string{"to[1]:"}},
		{"password alone", func(c *Config) { c.Password = "hunter2" }, []string{"password: set without a username"}},
		{"credentials in clear", func(c *Config) { c.Security, c.Username, c.Password = SecurityPlain, "u", "hunter2" }, []string{"username: credentials would cross"}},
		{"tls options with plain", func(c *Config) { c.Security, c.CAFile, c.InsecureSkipVerify = SecurityPlain, "ca.pem", true }, []string{"ca_file:", "insecure_skip_verify:"}},
		{"timeout", func(c *Config) { c.Timeout = -1 }, []string{"timeout:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %v", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		security Security
		port     int
		wantSec  Security
		wantPort int
	}{
		{"", 0, SecuritySTARTTLS, 587},
		{SecuritySTARTTLS, 0, SecuritySTARTTLS, 587},
		{SecurityTLS, 0, SecurityTLS, 465},
		{SecurityPlain, 0, SecurityPlain, 25},
		{SecurityPlain, 2525, SecurityPlain, 2525},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.security, tt.port), func(t *testing.T) {
			c := validConfig()
			c.Security, c.Port = tt.security, tt.port
			d := c.WithDefaults()
			if d.Security != tt.wantSec || d.Port != tt.wantPort || time.Duration(d.Timeout) != DefaultTimeout {
				t.Errorf("defaults: security %q port %d timeout %v", d.Security, d.Port, time.Duration(d.Timeout))
			}
		})
	}
}

func TestConfigNeverShowsPassword(t *testing.T) {
	c := validConfig()
	c.Username, c.Password = "esmon", "hunter2"
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "email", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), logs.String()} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password shown: %s", s)
		}
		if !strings.Contains(s, "smtp.example.com") {
			t.Errorf("host missing: %s", s)
		}
	}
}

func TestNewCAFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"missing": filepath.Join(dir, "nope.pem"), "not pem": notPEM} {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			c.CAFile = path
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), "ca_file") {
				t.Errorf("New = %v, want a ca_file error", err)
			}
		})
	}
}

func sampleTransition(to string) apiv1.Transition {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	a := apiv1.Alert{
		ID: "r1/host-a/cpu", RuleID: "r1", RuleName: "High CPU", Host: "host-a", Metric: "cpu_percent",
		Labels: map[string]string{"core": "all"}, Severity: apiv1.SeverityVeryCritical, State: to,
		Value: 97.456, Op: ">", Threshold: 90, ActiveAt: at.Add(-5 * time.Minute), FiredAt: at,
	}
	tr := apiv1.Transition{Alert: a, From: apiv1.StatePending, To: to, At: at, Value: 97.456}
	if to == apiv1.StateResolved {
		tr.From, tr.Value = apiv1.StateFiring, 41.5
		tr.At = at.Add(10 * time.Minute)
		tr.Alert.ResolvedAt = tr.At
	}
	return tr
}

func TestSubject(t *testing.T) {
	tests := []struct {
		name string
		tr   apiv1.Transition
		want string
	}{
		{"firing", sampleTransition(apiv1.StateFiring), "[FIRING very_critical] High CPU on host-a"},
		{"resolved", sampleTransition(apiv1.StateResolved), "[RESOLVED] High CPU on host-a"},
		{"summary with host", func() apiv1.Transition {
			tr := sampleTransition(apiv1.StateFiring)
			tr.Alert.Summary = "CPU at 97% on host-a"
			return tr
		}(), "[FIRING very_critical] CPU at 97% on host-a"},
		{"no header injection", func() apiv1.Transition {
			tr := sampleTransition(apiv1.StateFiring)
			tr.Alert.RuleName = "High\r\nBcc: victim@example.com"
			return tr
		}(), "[FIRING very_critical] High Bcc: victim@example.com on host-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Subject(tt.tr); got != tt.want {
				t.Errorf("Subject = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRender(t *testing.T) {
	tr := sampleTransition(apiv1.StateFiring)
	tr.Alert.Labels["mount"] = `<script>alert("x")</script>`
	text, html, err := render(tr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FIRING very_critical: High CPU on host-a", "Host:       host-a", "Metric:     cpu_percent",
		"Value:      97.46 (threshold > 90)", "core=all", "pending -> firing at 2025-03-01 12:00:00 UTC", "Fired at:   2025-03-01 12:00:00 UTC"} {
		if !strings.Contains(text, want) {
			t.Errorf("text body lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Errorf("HTML body does not escape labels:\n%s", html)
	}
	for _, want := range []string{"&lt;script&gt;", "<td>host-a</td>", "97.46 (threshold &gt; 90)"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML body lacks %q:\n%s", want, html)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"timeout", fmt.Errorf("dial: %w", timeoutErr{}), true},
		{"eof", fmt.Errorf("read: %w", io.EOF), true},
		{"deadline", context.DeadlineExceeded, true},
		{"421 service not available", fmt.Errorf("dial failed: %w", &textproto.Error{Code: 421, Msg: "try later"}), true},
		{"454 temporary auth failure", fmt.Errorf("SMTP AUTH failed: %w", &textproto.Error{Code: 454, Msg: "later"}), true},
		{"535 bad credentials", fmt.Errorf("SMTP AUTH failed: %w", &textproto.Error{Code: 535, Msg: "invalid"}), false},
		{"unknown CA", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false},
		{"hostname", x509.HostnameError{Host: "x"}, false},
		{"bad address", &mail.SendError{Reason: mail.ErrGetRcpts}, false},
		{"no STARTTLS", errors.New(`STARTTLS mode set to: "TLSMandatory", but target host does not support STARTTLS`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Retryable(tt.err); got != tt.want {
				t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestNotifyUnreachable(t *testing.T) {
	// A port that was free a moment ago: nothing listens, the dial is
	// refused, and that is worth a retry.
	port := mailpit.FreePort(t)
	c := validConfig()
	c.Host, c.Port, c.Security, c.Timeout = "127.0.0.1", port, SecurityPlain, apiv1.Duration(2*time.Second)
	ch, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := ch.Notify(context.Background(), sampleTransition(apiv1.StateFiring))
	if err == nil || !retry {
		t.Errorf("Notify = %v, %v; want a retryable error", retry, err)
	}
}
