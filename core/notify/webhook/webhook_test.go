package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"esmon/core/apiv1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{Name: "hook", URL: "https://x.test/h"}, ""},
		{"no name", Config{URL: "https://x.test/h"}, "name:"},
		{"no url", Config{Name: "hook"}, "url:"},
		{"bad severity", Config{Name: "hook", URL: "http://x.test", MinSeverity: "x"}, "min_severity:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestSignedPost checks, with a real HTTP receiver, that the body is one
// JSON document listing every transition and that its signature verifies
// with the secret and not with another.
func TestSignedPost(t *testing.T) {
	type got struct {
		body []byte
		sig  string
	}
	recv := make(chan got, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		recv <- got{b, r.Header.Get(SignatureHeader)}
	}))
	defer srv.Close()
	tests := []struct {
		name   string
		secret string
	}{
		{"signed", "s3cret"},
		{"unsigned", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := New(Config{Name: "hook", URL: srv.URL, Secret: tt.secret})
			if err != nil {
				t.Fatal(err)
			}
			ts := []apiv1.Transition{
				{Alert: apiv1.Alert{ID: "1", Host: "a", Severity: "critical"}, From: "pending", To: "firing", At: time.Now()},
				{Alert: apiv1.Alert{ID: "2", Host: "b", Severity: "warning"}, From: "firing", To: "resolved", At: time.Now()},
			}
			if _, err := ch.Notify(context.Background(), ts...); err != nil {
				t.Fatal(err)
			}
			g := <-recv
			var p Payload
			if err := json.Unmarshal(g.body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Version != 1 || len(p.Transitions) != 2 || p.Firing != 1 || p.Resolved != 1 || p.Transitions[1].Alert.Host != "b" {
				t.Fatalf("payload %+v", p)
			}
			if tt.secret == "" {
				if g.sig != "" {
					t.Fatalf("unsigned channel sent signature %q", g.sig)
				}
				return
			}
			if !Verify(tt.secret, g.body, g.sig) {
				t.Errorf("signature %q does not verify", g.sig)
			}
			if Verify("wrong", g.body, g.sig) {
				t.Errorf("signature verifies with the wrong secret")
			}
		})
	}
	srv.CloseClientConnections()
}
