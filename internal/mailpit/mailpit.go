// Package mailpit runs a real SMTP server, mailpit, as a child process on
// loopback for tests, and reads what it received from its HTTP API.
package mailpit

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"esmon/internal/testenv"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// client talks to mailpit without keeping connections, so goleak finds no
// idle connection goroutines after the tests.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

// Server is one running mailpit.
type Server struct {
	// SMTPPort is its SMTP port on 127.0.0.1.
	SMTPPort int
	// API is the base URL of its HTTP API.
	API string
}

// Start runs mailpit with args added to its loopback listeners and
// waits until both its API and SMTP port answer. A port taken between
// choosing and binding it gets another try.
func Start(t *testing.T, args ...string) *Server {
	t.Helper()
	return start(t, 0, args...)
}

// StartOn is Start with the SMTP server on smtpPort, for a test that has
// a core send to a port before the server behind it comes up.
func StartOn(t *testing.T, smtpPort int, args ...string) *Server {
	t.Helper()
	return start(t, smtpPort, args...)
}

func start(t *testing.T, fixedSMTP int, args ...string) *Server {
	t.Helper()
	bin := testenv.LookPath(t, "mailpit")
	var lastOut string
	for range 3 {
		smtpPort, httpPort := fixedSMTP, FreePort(t)
		if smtpPort == 0 {
			smtpPort = FreePort(t)
		}
		cmd := exec.Command(bin, append([]string{
			"--smtp", fmt.Sprintf("127.0.0.1:%d", smtpPort),
			"--listen", fmt.Sprintf("127.0.0.1:%d", httpPort),
			"--database", filepath.Join(t.TempDir(), "mailpit.db"),
			"--smtp-disable-rdns",
		}, args...)...)
		out := &testenv.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start mailpit: %v", err)
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		mp := &Server{SMTPPort: smtpPort, API: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
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

func (m *Server) waitReady(exited <-chan struct{}, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		case <-time.After(25 * time.Millisecond):
		}
		resp, err := client.Get(m.API + "/api/v1/messages")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			continue
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", m.SMTPPort))
		if err != nil {
			continue
		}
		c.Close()
		return true
	}
	return false
}

// Address is a mail address as mailpit shows it.
type Address struct{ Name, Address string }

// Message is a received mail as mailpit's API shows it.
type Message struct {
	ID       string
	Subject  string
	From     Address
	To       []Address
	Username string // who logged in to send it
	Text     string
	HTML     string
	// Created is when mailpit received the mail.
	Created time.Time
}

func (m *Server) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := client.Get(m.API + path)
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

// Messages returns every received mail, oldest first.
func (m *Server) Messages(t *testing.T) []Message {
	t.Helper()
	var list struct {
		Messages []struct {
			ID      string
			Created time.Time
		} `json:"messages"`
	}
	m.getJSON(t, "/api/v1/messages?limit=5000", &list)
	var msgs []Message
	for _, s := range slices.Backward(list.Messages) {
		var msg Message
		m.getJSON(t, "/api/v1/message/"+s.ID, &msg)
		msg.Created = s.Created
		msgs = append(msgs, msg)
	}
	return msgs
}

// WaitMessages waits until n mails have arrived and returns them.
func (m *Server) WaitMessages(t *testing.T, n int) []Message {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs := m.Messages(t)
		if len(msgs) >= n || time.Now().After(deadline) {
			return msgs
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// SetChaos makes mailpit answer MAIL FROM with code every time; code 0
// turns that off. Needs --enable-chaos.
func (m *Server) SetChaos(t *testing.T, code int) {
	t.Helper()
	probability := 100
	if code == 0 {
		code, probability = 451, 0
	}
	body := fmt.Sprintf(`{"Sender":{"ErrorCode":%d,"Probability":%d}}`, code, probability)
	req, err := http.NewRequest(http.MethodPut, m.API+"/api/v1/chaos", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("set chaos: %s", resp.Status)
	}
}
