package core

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"esmon/core/apiv1"
	"esmon/core/auth"
	"esmon/core/notify/email"
	"esmon/core/notify/teams"
	"esmon/core/notify/webhook"
	"esmon/internal/testenv"
)

// closedPort is a loopback port nothing listens on, so a channel's post
// fails with an error that quotes its address.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// TestChannelSecrets runs a core whose settings hold the channels' secrets
// sealed with the data directory's key, makes every channel fail (so its
// error, with the address in it, reaches the log and the test endpoint's
// answer), and then looks for the secrets where a person or a thief could
// see them: API answers, the log, and the raw files of the data directory.
func TestChannelSecrets(t *testing.T) {
	dir := t.TempDir()
	sealer, err := auth.LoadSealer(filepath.Join(dir, auth.SecretKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(closedPort(t))
	secrets := map[string]string{
		"teams url":      "http://127.0.0.1:" + port + "/workflows/TEAMS-SECRET-PATH?sig=TeamsSig123",
		"webhook url":    "http://127.0.0.1:" + port + "/hook/WEBHOOK-SECRET-PATH",
		"webhook secret": "webhook-hmac-key-SECRET",
		"smtp password":  "smtp-PASSWORD-secret",
	}
	logs := &testenv.Buffer{}
	c, err := New(Options{
		DataDir: dir, Listen: "127.0.0.1:0", Version: "test", InsecureHTTP: true,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SMTP: &email.Config{Name: "mail", Host: "127.0.0.1", Port: closedPort(t), Security: email.SecurityTLS,
			Username: "esmon", Password: sealer.Seal(secrets["smtp password"]), From: "esmon@example.test", To: []string{"ops@example.test"}},
		Channels: Channels{
			Teams:    []teams.Config{{Name: "teams", URL: sealer.Seal(secrets["teams url"])}},
			Webhooks: []webhook.Config{{Name: "hook", URL: sealer.Seal(secrets["webhook url"]), Secret: sealer.Seal(secrets["webhook secret"])}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	base := run(t, c)
	waitHealthy(t, base)
	token := readToken(t, filepath.Join(dir, AdminTokenFile))
	var answers bytes.Buffer
	call := func(method, path string) int {
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(&answers, resp.Body)
		return resp.StatusCode
	}
	if code := call("GET", "/api/v1/channels"); code != http.StatusOK {
		t.Fatalf("GET channels: %d", code)
	}
	var chans []apiv1.Channel
	json.Unmarshal(answers.Bytes(), &chans)
	if len(chans) < 4 {
		t.Fatalf("channels %s, want log, mail, teams and hook", answers.String())
	}
	for _, name := range []string{"mail", "teams", "hook"} {
		// Each fails: nothing listens. The answer says why, without
		// the address.
		if code := call("POST", "/api/v1/channels/"+name+"/test"); code != http.StatusBadGateway {
			t.Errorf("test %s: %d, want 502", name, code)
		}
	}
	// The webhook's failure still says what went wrong, with the
	// address masked.
	if !strings.Contains(answers.String(), `\u003csecret\u003e\": dial tcp`) {
		t.Errorf("the webhook's failure does not show its masked cause: %s", answers.String())
	}
	c.Stop()

	var files bytes.Buffer
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			files.Write(b)
		}
		return nil
	})
	places := []struct {
		name string
		text []byte
	}{
		{"API answers", answers.Bytes()},
		{"the log", []byte(logs.String())},
		{"the data directory's files", files.Bytes()},
	}
	for what, s := range secrets {
		for _, pl := range places {
			// The distinctive part of each secret: a URL's host is
			// loopback and may show; its path and signature may not.
			probe := s
			if i := strings.Index(s, "/"+"workflows"); i > 0 {
				probe = s[i:]
			} else if i := strings.Index(s, "/hook"); i > 0 {
				probe = s[i:]
			}
			if bytes.Contains(pl.text, []byte(probe)) {
				t.Errorf("the %s is in %s", what, pl.name)
			}
		}
	}
	if strings.Contains(logs.String(), "is not sealed") {
		t.Errorf("sealed secrets were taken for clear ones:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "channel") {
		t.Errorf("the log says nothing about the failed channels:\n%s", logs.String())
	}
}
