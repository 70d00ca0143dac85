package teams

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"esmon/core/apiv1"
	"esmon/core/notify"
	"esmon/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func firing(host string, sev string, v float64) apiv1.Transition {
	at := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	return apiv1.Transition{
		Alert: apiv1.Alert{ID: "a-" + host, RuleName: "High CPU", Host: host, Metric: "cpu_usage_percent",
			Severity: sev, State: apiv1.StateFiring, Op: ">", Threshold: 90, Value: v, FiredAt: at,
			Summary: "High CPU on " + host + ": cpu_usage_percent is " + num(v) + " (> 90)"},
		From: apiv1.StatePending, To: apiv1.StateFiring, At: at, Value: v, Threshold: 90,
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{URL: "https://prod.example.test/workflows/abc"}, ""},
		{"no url", Config{}, "url:"},
		{"not http", Config{URL: "ftp://x/y"}, "url:"},
		{"bad severity", Config{URL: "https://x/y", MinSeverity: "loud"}, "min_severity:"},
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

// card digs the Adaptive Card out of a Workflows payload.
func card(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string         `json:"contentType"`
			Content     map[string]any `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(b, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Type != "message" || len(msg.Attachments) != 1 || msg.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("not a Workflows card message: %s", b)
	}
	c := msg.Attachments[0].Content
	if c["type"] != "AdaptiveCard" {
		t.Fatalf("content is not an Adaptive Card: %v", c)
	}
	return c
}

func TestMessage(t *testing.T) {
	tests := []struct {
		name  string
		ts    []apiv1.Transition
		style string
		want  []string
	}{
		{"one critical", []apiv1.Transition{firing("web-1", apiv1.SeverityCritical, 97.456)}, "attention",
			[]string{"FIRING critical: High CPU on web-1", `"Host","value":"web-1"`, `"value":"97.46"`, `"value":"\u003e 90"`, "2026-11-28 08:00:00 UTC", "Open in esmon", "http://esmon.test/"}},
		{"one warning", []apiv1.Transition{firing("web-2", apiv1.SeverityWarning, 91)}, "warning", []string{"FIRING warning"}},
		{"group of three", []apiv1.Transition{firing("a", apiv1.SeverityWarning, 91), firing("b", apiv1.SeverityVeryCritical, 99), firing("c", apiv1.SeverityCritical, 95)},
			"attention", []string{"3 alerts: 3 firing, 0 resolved", "High CPU on a", "High CPU on b", "High CPU on c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(Message(tt.ts, "http://esmon.test/"))
			c := card(t, b)
			if got := c["body"].([]any)[0].(map[string]any)["style"]; got != tt.style {
				t.Errorf("style %v, want %s", got, tt.style)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("card lacks %q:\n%s", w, b)
				}
			}
		})
	}
}

// TestRetryAfterThenServerErrorThenOK runs the channel behind the Router
// against a real HTTP receiver that answers 429 with Retry-After: 1, then
// 500, then 202: the Router waits the second asked for, and the card
// arrives once.
func TestRetryAfterThenServerErrorThenOK(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		n := len(times)
		times = append(times, time.Now())
		mu.Unlock()
		switch n {
		case 0:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		case 1:
			http.Error(w, "busy", http.StatusInternalServerError)
		default:
			mu.Lock()
			bodies = append(bodies, b)
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer srv.Close()
	ch, err := New(Config{URL: srv.URL + "/workflows/secret"}, func() string { return "http://esmon.test/" })
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.Buffer
	r, err := notify.NewRouter([]notify.Route{{Channel: ch}}, nil, notify.Options{
		MinBackoff: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r.Send(firing("web-1", apiv1.SeverityCritical, 97))
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(bodies)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 3 || len(bodies) != 1 {
		t.Fatalf("%d requests, %d cards delivered; want 3 and 1; log:\n%s", len(times), len(bodies), logs.String())
	}
	if d := times[1].Sub(times[0]); d < time.Second {
		t.Errorf("retried %v after the 429, want at least the 1s of Retry-After", d)
	}
	if d := times[2].Sub(times[1]); d > 900*time.Millisecond {
		t.Errorf("retried %v after the 500, want the short backoff", d)
	}
	if !strings.Contains(string(bodies[0]), "web-1") {
		t.Errorf("card lacks the host: %s", bodies[0])
	}
	if strings.Contains(logs.String(), "/workflows/secret") {
		t.Errorf("log shows the webhook URL:\n%s", logs.String())
	}
}

func TestNotifyRefusals(t *testing.T) {
	tests := []struct {
		name      string
		code      int
		wantRetry bool
	}{
		{"bad request", http.StatusBadRequest, false},
		{"gone", http.StatusNotFound, false},
		{"bad gateway", http.StatusBadGateway, true},
		{"too many", http.StatusTooManyRequests, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tt.code) }))
			defer srv.Close()
			ch, err := New(Config{URL: srv.URL}, nil)
			if err != nil {
				t.Fatal(err)
			}
			retry, err := ch.Notify(context.Background(), firing("h", apiv1.SeverityCritical, 95))
			if err == nil || retry != tt.wantRetry {
				t.Fatalf("Notify = %v, %v; want an error and retry %v", retry, err, tt.wantRetry)
			}
			srv.CloseClientConnections()
		})
	}
}
