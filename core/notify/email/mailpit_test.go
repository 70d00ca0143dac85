package email

// These tests send through a real SMTP server, mailpit, started as a child
// process on loopback, and read what arrived back from its HTTP API.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/apiv1"
	"esmon/core/notify"
	"esmon/core/notify/notifytest"
	"esmon/internal/mailpit"
	"esmon/internal/testenv"
)

// selfSigned writes a throwaway certificate for 127.0.0.1 and localhost,
// which is its own CA, and its key; it returns their paths.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "esmon test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func mailpitConfig(mp *mailpit.Server, security Security) Config {
	return Config{
		Host:     "127.0.0.1",
		Port:     mp.SMTPPort,
		Security: security,
		From:     "esmon <esmon@example.com>",
		To:       []string{"ops@example.com", "oncall@example.com"},
		Timeout:  apiv1.Duration(5 * time.Second),
	}
}

// TestMailpitRouter sends a FIRING and then a RESOLVED transition through a
// Router and the email channel, over every security mode, and reads both
// mails back.
func TestMailpitRouter(t *testing.T) {
	t.Parallel()
	cert, key := selfSigned(t)
	authFile := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(authFile, []byte("esmon:s3cret-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsArgs := []string{"--smtp-tls-cert", cert, "--smtp-tls-key", key}

	tests := []struct {
		name     string
		args     []string
		security Security
		user     string
		pass     string
	}{
		{name: "plain", security: SecurityPlain},
		{name: "starttls", args: append([]string{"--smtp-require-starttls"}, tlsArgs...), security: SecuritySTARTTLS},
		{name: "implicit tls", args: append([]string{"--smtp-require-tls"}, tlsArgs...), security: SecurityTLS},
		{name: "starttls with auth", args: append([]string{"--smtp-require-starttls", "--smtp-auth-file", authFile}, tlsArgs...),
			security: SecuritySTARTTLS, user: "esmon", pass: "s3cret-pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mp := mailpit.Start(t, tt.args...)
			cfg := mailpitConfig(mp, tt.security)
			if tt.security != SecurityPlain {
				cfg.CAFile = cert
			}
			cfg.Username, cfg.Password = tt.user, tt.pass
			ch, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			var logs testenv.Buffer
			r, err := notify.NewRouter([]notify.Route{{Channel: ch, MinSeverity: apiv1.SeverityVeryCritical}}, reg,
				notify.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			r.Send(sampleTransition(apiv1.StateFiring))
			if msgs := mp.WaitMessages(t, 1); len(msgs) != 1 {
				t.Fatalf("after FIRING, %d mails arrived; router log:\n%s", len(msgs), logs.String())
			}
			r.Send(sampleTransition(apiv1.StateResolved))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Stop(ctx); err != nil {
				t.Fatal(err)
			}

			msgs := mp.WaitMessages(t, 2)
			if len(msgs) != 2 {
				t.Fatalf("%d mails arrived, want 2; router log:\n%s", len(msgs), logs.String())
			}
			wantSubjects := []string{"[FIRING very_critical] High CPU on host-a", "[RESOLVED] High CPU on host-a"}
			wantValues := []string{"Value:      97.46 (threshold > 90)", "Value:      41.5 (threshold > 90)"}
			for i, m := range msgs {
				if m.Subject != wantSubjects[i] {
					t.Errorf("mail %d subject %q, want %q", i, m.Subject, wantSubjects[i])
				}
				var to []string
				for _, a := range m.To {
					to = append(to, a.Address)
				}
				if !slices.Equal(to, cfg.To) {
					t.Errorf("mail %d to %v, want %v", i, to, cfg.To)
				}
				if m.From.Address != "esmon@example.com" {
					t.Errorf("mail %d from %q", i, m.From.Address)
				}
				for _, want := range []string{"Host:       host-a", wantValues[i], "Metric:     cpu_percent"} {
					if !strings.Contains(m.Text, want) {
						t.Errorf("mail %d text lacks %q:\n%s", i, want, m.Text)
					}
				}
				if !strings.Contains(m.HTML, "<td>host-a</td>") {
					t.Errorf("mail %d HTML lacks the host:\n%s", i, m.HTML)
				}
				if m.Username != tt.user {
					t.Errorf("mail %d sent as user %q, want %q", i, m.Username, tt.user)
				}
			}
			if strings.Contains(logs.String(), "s3cret") {
				t.Errorf("router log shows the password:\n%s", logs.String())
			}
			if got := notifytest.Notifications(t, reg, "", notify.OutcomeSent); got != 2 {
				t.Errorf("sent = %v, want 2", got)
			}
		})
	}
}

// TestMailpitFailures checks which failures against a real server are worth
// a retry.
func TestMailpitFailures(t *testing.T) {
	t.Parallel()
	cert, key := selfSigned(t)
	authFile := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(authFile, []byte("esmon:s3cret-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secure := mailpit.Start(t, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls", "--smtp-auth-file", authFile)
	plain := mailpit.Start(t)

	tests := []struct {
		name      string
		mp        *mailpit.Server
		config    func(Config) Config
		wantRetry bool
		wantErr   string
	}{
		{"wrong password", secure, func(c Config) Config {
			c.Security, c.CAFile, c.Username, c.Password = SecuritySTARTTLS, cert, "esmon", "wrong-pass"
			return c
		}, false, "535"},
		{"unknown user", secure, func(c Config) Config {
			c.Security, c.CAFile, c.Username, c.Password = SecuritySTARTTLS, cert, "mallory", "s3cret-pass"
			return c
		}, false, "535"},
		{"untrusted certificate", secure, func(c Config) Config {
			c.Security, c.Username, c.Password = SecuritySTARTTLS, "esmon", "s3cret-pass"
			return c
		}, false, "certificate"},
		{"server without STARTTLS", plain, func(c Config) Config {
			c.Security = SecuritySTARTTLS
			return c
		}, false, "STARTTLS"},
		{"TLS to a plain server", plain, func(c Config) Config {
			c.Security, c.InsecureSkipVerify = SecurityTLS, true
			return c
		}, false, "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := New(tt.config(mailpitConfig(tt.mp, SecurityPlain)))
			if err != nil {
				t.Fatal(err)
			}
			retry, err := ch.Notify(context.Background(), sampleTransition(apiv1.StateFiring))
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			t.Logf("retry=%v err=%v", retry, err)
			if retry != tt.wantRetry {
				t.Errorf("retry = %v, want %v (err %v)", retry, tt.wantRetry, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wrong-pass") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	if n := len(secure.Messages(t)) + len(plain.Messages(t)); n != 0 {
		t.Errorf("%d mails arrived from failed deliveries", n)
	}
}

// TestMailpitSMTPCodes has mailpit refuse MAIL FROM with a temporary and
// then a permanent code, and checks that the Router retries the first until
// it goes through, exactly once, and gives up on the second.
func TestMailpitSMTPCodes(t *testing.T) {
	t.Parallel()
	mp := mailpit.Start(t, "--enable-chaos")
	ch, err := New(mailpitConfig(mp, SecurityPlain))
	if err != nil {
		t.Fatal(err)
	}

	mp.SetChaos(t, 451)
	retry, err := ch.Notify(context.Background(), sampleTransition(apiv1.StateFiring))
	if err == nil || !retry || !strings.Contains(err.Error(), "451") {
		t.Errorf("with 451: Notify = %v, %v; want a retryable 451", retry, err)
	}
	mp.SetChaos(t, 550)
	retry, err = ch.Notify(context.Background(), sampleTransition(apiv1.StateFiring))
	if err == nil || retry || !strings.Contains(err.Error(), "550") {
		t.Errorf("with 550: Notify = %v, %v; want a permanent 550", retry, err)
	}

	// Through the Router: 451 twice, then the server recovers.
	mp.SetChaos(t, 451)
	var mu sync.Mutex
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		if len(waits) == 2 {
			mp.SetChaos(t, 0)
		}
		mu.Unlock()
		return ctx.Err()
	}
	reg := prometheus.NewRegistry()
	r, err := notify.NewRouter([]notify.Route{{Channel: ch}}, reg, notify.Options{
		Sleep:  sleep,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Send(sampleTransition(apiv1.StateFiring))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(waits, want) {
		t.Errorf("backoff waits %v, want %v", waits, want)
	}
	msgs := mp.WaitMessages(t, 1)
	if len(msgs) != 1 || msgs[0].Subject != "[FIRING very_critical] High CPU on host-a" {
		t.Errorf("want exactly the one FIRING mail, got %d: %+v", len(msgs), msgs)
	}
	if got := notifytest.Notifications(t, reg, "", notify.OutcomeSent); got != 1 {
		t.Errorf("sent = %v, want 1", got)
	}
}
