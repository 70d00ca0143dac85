package email

// These tests send through a real SMTP server, mailpit, started as a child
// process on loopback, and read what arrived back from its HTTP API.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/apiv1"
	"esmon/core/notify"
	"esmon/internal/testenv"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a child's output from its copying goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mailpit is one running mailpit.
type mailpit struct {
	smtpPort int
	api      string
}

// startMailpit runs mailpit with args added to its loopback listeners and
// waits until both its API and SMTP port answer. A port taken between
// choosing and binding it gets another try.
func startMailpit(t *testing.T, args ...string) *mailpit {
	t.Helper()
	bin := testenv.LookPath(t, "mailpit")
	var lastOut string
	for range 3 {
		smtpPort, httpPort := freePort(t), freePort(t)
		cmd := exec.Command(bin, append([]string{
			"--smtp", fmt.Sprintf("127.0.0.1:%d", smtpPort),
			"--listen", fmt.Sprintf("127.0.0.1:%d", httpPort),
			"--database", filepath.Join(t.TempDir(), "mailpit.db"),
			"--smtp-disable-rdns",
		}, args...)...)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start mailpit: %v", err)
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		mp := &mailpit{smtpPort: smtpPort, api: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
		if mp.waitReady(exited, 10*time.Second) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			return mp
		}
		_ = cmd.Process.Kill()
		<-exited
		lastOut = out.String()
	}
	t.Fatalf("mailpit did not start:\n%s", lastOut)
	return nil
}

func (m *mailpit) waitReady(exited <-chan struct{}, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		case <-time.After(25 * time.Millisecond):
		}
		resp, err := http.Get(m.api + "/api/v1/messages")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			continue
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", m.smtpPort))
		if err != nil {
			continue
		}
		c.Close()
		return true
	}
	return false
}

type mpAddress struct{ Name, Address string }

// mpMessage is a received mail as mailpit's API shows it.
type mpMessage struct {
	ID       string
	Subject  string
	From     mpAddress
	To       []mpAddress
	Username string // who logged in to send it
	Text     string
	HTML     string
}

func (m *mailpit) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(m.api + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// messages returns every received mail, oldest first.
func (m *mailpit) messages(t *testing.T) []mpMessage {
	t.Helper()
	var list struct {
		Messages []struct{ ID string } `json:"messages"`
	}
	m.getJSON(t, "/api/v1/messages", &list)
	var msgs []mpMessage
	for _, s := range slices.Backward(list.Messages) {
		var msg mpMessage
		m.getJSON(t, "/api/v1/message/"+s.ID, &msg)
		msgs = append(msgs, msg)
	}
	return msgs
}

// waitMessages waits until n mails have arrived and returns them.
func (m *mailpit) waitMessages(t *testing.T, n int) []mpMessage {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs := m.messages(t)
		if len(msgs) >= n || time.Now().After(deadline) {
			return msgs
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// setChaos makes mailpit answer MAIL FROM with code every time; code 0
// turns that off. Needs --enable-chaos.
func (m *mailpit) setChaos(t *testing.T, code int) {
	t.Helper()
	probability := 100
	if code == 0 {
		code, probability = 451, 0
	}
	body := fmt.Sprintf(`{"Sender":{"ErrorCode":%d,"Probability":%d}}`, code, probability)
	req, err := http.NewRequest(http.MethodPut, m.api+"/api/v1/chaos", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("set chaos: %s", resp.Status)
	}
}

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

func mailpitConfig(mp *mailpit, security Security) Config {
	return Config{
		Host:     "127.0.0.1",
		Port:     mp.smtpPort,
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
			mp := startMailpit(t, tt.args...)
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
			var logs syncBuffer
			r, err := notify.NewRouter([]notify.Route{{Channel: ch, MinSeverity: apiv1.SeverityVeryCritical}}, reg,
				notify.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			r.Send(sampleTransition(apiv1.StateFiring))
			if msgs := mp.waitMessages(t, 1); len(msgs) != 1 {
				t.Fatalf("after FIRING, %d mails arrived; router log:\n%s", len(msgs), logs.String())
			}
			r.Send(sampleTransition(apiv1.StateResolved))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Stop(ctx); err != nil {
				t.Fatal(err)
			}

			msgs := mp.waitMessages(t, 2)
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
			if got := sent(t, reg); got != 2 {
				t.Errorf("sent = %v, want 2", got)
			}
		})
	}
}

func sent(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "esmon_notify_notifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "outcome" && lp.GetValue() == notify.OutcomeSent {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
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
	secure := startMailpit(t, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls", "--smtp-auth-file", authFile)
	plain := startMailpit(t)

	tests := []struct {
		name      string
		mp        *mailpit
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
	if n := len(secure.messages(t)) + len(plain.messages(t)); n != 0 {
		t.Errorf("%d mails arrived from failed deliveries", n)
	}
}

// TestMailpitSMTPCodes has mailpit refuse MAIL FROM with a temporary and
// then a permanent code, and checks that the Router retries the first until
// it goes through, exactly once, and gives up on the second.
func TestMailpitSMTPCodes(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t, "--enable-chaos")
	ch, err := New(mailpitConfig(mp, SecurityPlain))
	if err != nil {
		t.Fatal(err)
	}

	mp.setChaos(t, 451)
	retry, err := ch.Notify(context.Background(), sampleTransition(apiv1.StateFiring))
	if err == nil || !retry || !strings.Contains(err.Error(), "451") {
		t.Errorf("with 451: Notify = %v, %v; want a retryable 451", retry, err)
	}
	mp.setChaos(t, 550)
	retry, err = ch.Notify(context.Background(), sampleTransition(apiv1.StateFiring))
	if err == nil || retry || !strings.Contains(err.Error(), "550") {
		t.Errorf("with 550: Notify = %v, %v; want a permanent 550", retry, err)
	}

	// Through the Router: 451 twice, then the server recovers.
	mp.setChaos(t, 451)
	var mu sync.Mutex
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		if len(waits) == 2 {
			mp.setChaos(t, 0)
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
	msgs := mp.waitMessages(t, 1)
	if len(msgs) != 1 || msgs[0].Subject != "[FIRING very_critical] High CPU on host-a" {
		t.Errorf("want exactly the one FIRING mail, got %d: %+v", len(msgs), msgs)
	}
	if got := sent(t, reg); got != 1 {
		t.Errorf("sent = %v, want 1", got)
	}
}
