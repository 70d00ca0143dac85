package core

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"gopkg.in/yaml.v3"

	"esmon/core/apiv1"
	"esmon/core/notify/email"
	"esmon/core/notify/teams"
	"esmon/core/notify/webhook"
	"esmon/core/store"
	"esmon/internal/mailpit"
	"esmon/internal/testenv"
)

// apiCall sends a request with the admin token and decodes a JSON answer
// into out (when not nil); it returns the status and the raw body.
func apiCall(t testing.TB, base, token, method, path, ctype string, body []byte, out any) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, b
}

func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// receiver is a real HTTP receiver that keeps what it is posted.
type receiver struct {
	mu     sync.Mutex // guards bodies
	bodies [][]byte
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bodies)
}

// TestAlertingAPI drives people's actions through the real HTTP API of a
// running core: channels listed and tested, a rule with a wrong field, an
// alert acknowledged (and shown so), a silence, a maintenance window, rules
// exported and imported as YAML, every change with who made it.
func TestAlertingAPI(t *testing.T) {
	dir := t.TempDir()
	tm, hook := newReceiver(t), newReceiver(t)
	logs := &testenv.Buffer{}
	c, err := New(Options{
		DataDir: dir, Listen: "127.0.0.1:0", Version: "test", InsecureHTTP: true, AllowClearSecrets: true,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Channels: Channels{
			Teams:    []teams.Config{{Name: "teams-ops", URL: tm.srv.URL + "/wf"}},
			Webhooks: []webhook.Config{{Name: "hook", URL: hook.srv.URL, Secret: "k", MinSeverity: apiv1.SeverityCritical}},
		},
		PublicURL: "https://esmon.example.test/",
	})
	if err != nil {
		t.Fatal(err)
	}
	base := run(t, c)
	waitHealthy(t, base)
	token := readToken(t, filepath.Join(dir, AdminTokenFile))
	call := func(method, path string, body any, out any) (int, string) {
		t.Helper()
		var b []byte
		if body != nil {
			b = jsonBody(body)
		}
		code, raw := apiCall(t, base, token, method, path, "application/json", b, out)
		return code, string(raw)
	}

	var chs []apiv1.Channel
	call("GET", "/api/v1/channels", nil, &chs)
	var names []string
	for _, ch := range chs {
		names = append(names, ch.Name+"/"+ch.MinSeverity)
	}
	if got := strings.Join(names, " "); got != "log/ teams-ops/warning hook/critical" {
		t.Fatalf("channels: %s", got)
	}
	if code, body := call("POST", "/api/v1/channels/teams-ops/test", nil, nil); code != 200 {
		t.Fatalf("test teams: %d %s", code, body)
	}
	if got := tm.got(); len(got) != 1 || !strings.Contains(string(got[0]), "Test notification from esmon, sent by admin") ||
		!strings.Contains(string(got[0]), "https://esmon.example.test/") {
		t.Fatalf("teams test card: %q", got)
	}
	if code, _ := call("POST", "/api/v1/channels/pager/test", nil, nil); code != 404 {
		t.Errorf("test of an unknown channel: %d", code)
	}

	// A rule that routes to a channel that does not exist names the field.
	var fe struct{ Field, Code string }
	code, body := call("POST", "/api/v1/rules", apiv1.Rule{Name: "x", Metric: "cpu_usage_percent", Severity: "critical", Channels: []string{"pager"}}, nil)
	json.Unmarshal([]byte(body), &fe)
	if code != 400 || fe.Field != "channels" {
		t.Fatalf("bad rule: %d %s", code, body)
	}
	var rule apiv1.Rule
	if code, body := call("POST", "/api/v1/rules", apiv1.Rule{Name: "load", Metric: "load_average_1m", Threshold: 8, Warning: ptr(4.0),
		Severity: "critical", Channels: []string{"hook"}, Enabled: true}, &rule); code != 201 || rule.UpdatedBy != "admin.token" {
		t.Fatalf("create rule: %d %s", code, body)
	}

	// The rule fires on an ingested sample; the webhook gets it as its
	// rule routes, Teams does not.
	load := func(v float64) {
		t.Helper()
		s := store.Sample{Metric: "load_average_1m", Labels: store.Labels{{Name: "host", Value: "app-1"}}, T: time.Now().UnixMilli(), V: v}
		if err := c.Ingest(context.Background(), "app-1", []store.Sample{s}); err != nil {
			t.Fatal(err)
		}
	}
	load(9)
	var active []apiv1.Alert
	call("GET", "/api/v1/alerts", nil, &active)
	var a apiv1.Alert
	for _, x := range active {
		if x.RuleID == rule.ID {
			a = x
		}
	}
	if a.State != apiv1.StateFiring || a.Severity != "critical" {
		t.Fatalf("alert %+v among %+v; log:\n%s", a, active, logs.String())
	}
	waitFor(t, "the webhook post", func() bool { return len(hook.got()) == 1 })
	if len(tm.got()) != 1 {
		t.Errorf("teams got %d posts; the rule routes to hook only", len(tm.got()))
	}

	if code, body := call("POST", "/api/v1/alerts/"+a.ID+"/ack", apiv1.AckRequest{Comment: "looking"}, &a); code != 200 || a.Ack == nil || a.Ack.By != "admin.token" {
		t.Fatalf("ack: %d %s", code, body)
	}
	call("GET", "/api/v1/alerts/"+a.ID, nil, &a)
	if a.Ack == nil || a.Ack.Comment != "looking" {
		t.Fatalf("alert after ack %+v", a)
	}
	if code, _ := call("POST", "/api/v1/alerts/nope/ack", nil, nil); code != 404 {
		t.Errorf("ack of an unknown alert: %d", code)
	}
	var unacked apiv1.Alert
	if code, _ := call("DELETE", "/api/v1/alerts/"+a.ID+"/ack", nil, &unacked); code != 200 || unacked.Ack != nil || unacked.ID != a.ID {
		t.Errorf("unack: %d %+v", code, unacked)
	}

	var sil apiv1.Silence
	if code, body := call("POST", "/api/v1/silences", apiv1.Silence{Match: map[string]string{"host": "app-*"}, EndsAt: time.Now().Add(time.Hour), Comment: "deploy"}, &sil); code != 201 || sil.CreatedBy != "admin.token" {
		t.Fatalf("silence: %d %s", code, body)
	}
	code, body = call("POST", "/api/v1/silences", apiv1.Silence{EndsAt: time.Now().Add(time.Hour)}, nil)
	json.Unmarshal([]byte(body), &fe)
	if code != 400 || fe.Field != "match" {
		t.Errorf("silence without matchers: %d %s", code, body)
	}
	// Severity drops to warning while silenced: recorded, not sent.
	load(5)
	time.Sleep(300 * time.Millisecond)
	if n := len(hook.got()); n != 1 {
		t.Errorf("webhook got %d posts while silenced, want still 1", n)
	}
	var hist []apiv1.Transition
	call("GET", "/api/v1/alerts/history", nil, &hist)
	if len(hist) == 0 || hist[0].Reason != "severity" || !hist[0].Muted || hist[0].Alert.Severity != "warning" {
		t.Fatalf("newest history entry %+v", hist[0])
	}
	// The history is in the journal's files, counted on /metrics.
	if files, _ := filepath.Glob(filepath.Join(dir, "db", "history", "*.journal")); len(files) == 0 {
		t.Error("no alert history file in db/history")
	}
	_, metrics := apiCall(t, base, token, "GET", "/metrics", "", nil, nil)
	for _, want := range []string{`(?m)^esmon_alert_history_files [1-9]`, `(?m)^esmon_alert_history_bytes [1-9]`, `(?m)^esmon_alert_history_damaged_frames_total 0$`} {
		if !regexp.MustCompile(want).Match(metrics) {
			t.Errorf("/metrics has no line matching %s", want)
		}
	}
	if code, _ := call("DELETE", "/api/v1/silences/"+sil.ID, nil, nil); code != 204 {
		t.Errorf("delete silence: %d", code)
	}

	var mw apiv1.Maintenance
	if code, body := call("POST", "/api/v1/maintenance", apiv1.Maintenance{Name: "patch tuesday", Schedule: "0 22 * * TUE",
		Duration: apiv1.Duration(2 * time.Hour), Match: map[string]string{"host": "db-*"}}, &mw); code != 201 || mw.Next.IsZero() {
		t.Fatalf("maintenance: %d %s", code, body)
	}
	code, body = call("POST", "/api/v1/maintenance", apiv1.Maintenance{Name: "x", Schedule: "tuesdays", Duration: apiv1.Duration(time.Hour), Match: map[string]string{"host": "a"}}, nil)
	json.Unmarshal([]byte(body), &fe)
	if code != 400 || fe.Field != "schedule" {
		t.Errorf("bad schedule: %d %s", code, body)
	}

	code, yamlDoc := apiCall(t, base, token, "GET", "/api/v1/rules/export", "", nil, nil)
	if code != 200 || !bytes.Contains(yamlDoc, []byte("name: load")) {
		t.Fatalf("export: %d %s", code, yamlDoc)
	}
	var counts map[string]int
	if code, body := apiCall(t, base, token, "POST", "/api/v1/rules/import", "application/yaml", yamlDoc, &counts); code != 200 || counts["created"] != 0 || counts["updated"] == 0 {
		t.Fatalf("import of the export: %d %s", code, body)
	}
	bad := []byte("rules:\n  - {name: a, metric: m, severity: critical}\n  - {name: b, metric: m, severity: loud}\n")
	code, raw := apiCall(t, base, token, "POST", "/api/v1/rules/import", "application/yaml", bad, nil)
	json.Unmarshal(raw, &fe)
	if code != 400 || fe.Field != "rules[1].severity" {
		t.Errorf("bad import: %d %s", code, raw)
	}
	if code, _ := call("POST", "/api/v1/rules/"+rule.ID+"/disable", nil, &rule); code != 200 || rule.Enabled {
		t.Errorf("disable: %d %+v", code, rule)
	}
	var changes []apiv1.RuleChange
	call("GET", "/api/v1/rules/changes?limit=5", nil, &changes)
	if len(changes) == 0 || changes[0].Action != "disabled" || changes[0].By != "admin.token" {
		t.Fatalf("rule changes %+v", changes)
	}
}

func ptr[T any](v T) *T { return &v }

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAlertLatency measures, on a running core with a real SMTP server,
// the time from the ingest of a sample that crosses a threshold (for 0) to
// the FIRING event on /ws/live, and to the mail being handed to the SMTP
// server. It fails when an alert does not arrive; the figures it logs go
// into BENCHMARKS.md beside the budgets. ESMON_LATENCY_N sets the number of alerts (default 200; 30
// with -short).
func TestAlertLatency(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 30
	}
	if v := os.Getenv("ESMON_LATENCY_N"); v != "" {
		fmt.Sscan(v, &n)
	}
	mp := mailpit.Start(t)
	dir := t.TempDir()
	c, err := New(Options{
		DataDir: dir, Listen: "127.0.0.1:0", Version: "test", InsecureHTTP: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		SMTP: &email.Config{Host: "127.0.0.1", Port: mp.SMTPPort, Security: email.SecurityPlain,
			From: "esmon@example.test", To: []string{"ops@example.test"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	base := run(t, c)
	waitHealthy(t, base)
	token := readToken(t, filepath.Join(dir, AdminTokenFile))
	if _, _, err := c.alerts.PutRule(apiv1.Rule{Name: "latency", Metric: "latency_probe_percent", Threshold: 50,
		Severity: apiv1.SeverityVeryCritical, Enabled: true}, true); err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws/live", http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var mu sync.Mutex
	seen := map[string]time.Time{}
	go func() {
		var dec apiv1.LiveDecoder // the feed batches events that pile up
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			evs, err := dec.Decode(msg)
			if err != nil {
				t.Errorf("live message: %v", err)
				return
			}
			for _, ev := range evs {
				if ev.Type == apiv1.EventAlert && ev.Transition.To == apiv1.StateFiring && ev.Transition.Alert.RuleName == "latency" {
					mu.Lock()
					seen[ev.Transition.Alert.Host] = time.Now()
					mu.Unlock()
				}
			}
		}
	}()
	sent := map[string]time.Time{}
	for i := range n {
		host := fmt.Sprintf("lat-%04d", i)
		s := store.Sample{Metric: "latency_probe_percent", Labels: store.Labels{{Name: "host", Value: host}}, T: time.Now().UnixMilli(), V: 90}
		sent[host] = time.Now()
		if err := c.Ingest(context.Background(), host, []store.Sample{s}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, "every FIRING on /ws/live", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	var live []time.Duration
	mu.Lock()
	for h, at := range seen {
		live = append(live, at.Sub(sent[h]))
	}
	mu.Unlock()

	mailed := map[string]time.Time{}
	deadline := time.Now().Add(30 * time.Second)
	for len(mailed) < n && time.Now().Before(deadline) {
		for _, m := range mp.Messages(t) {
			for h := range sent {
				if _, ok := mailed[h]; !ok && strings.Contains(m.Text, h) {
					mailed[h] = m.Created
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(mailed) != n {
		t.Fatalf("%d of %d alerts mailed", len(mailed), n)
	}
	var mail []time.Duration
	for h, at := range mailed {
		mail = append(mail, at.Sub(sent[h]))
	}
	lp50, lp99 := percentiles(live)
	mp50, mp99 := percentiles(mail)
	t.Logf("%d alerts: ingest → FIRING on /ws/live p50 %v p99 %v; ingest → mail at the SMTP server p50 %v p99 %v", n, lp50, lp99, mp50, mp99)
	// The budgets (p99 under 100 ms and under 2 s) are measured and
	// recorded in BENCHMARKS.md, not asserted: this machine is shared and
	// a timed assertion would fail on its load, not on a regression.
}

func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return at(0.50).Round(time.Millisecond / 10), at(0.99).Round(time.Millisecond / 10)
}

// TestChannelsFromSettings reads channels from a settings file as the
// commands do (unknown fields refused) and checks what the core builds,
// and that a bad channel is refused with every problem named.
func TestChannelsFromSettings(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    string // channel/min_severity, in order
		wantErr []string
	}{
		{"defaults", `
allow_clear_secrets: true
smtp: {host: mail.example.test, from: esmon@example.test, to: [ops@example.test]}
channels:
  email:
    - {name: dba, host: mail.example.test, from: esmon@example.test, to: [dba@example.test], min_severity: critical}
  teams:
    - {url: "https://teams.example.test/wf/1"}
  webhooks:
    - {name: hook, url: "https://hooks.example.test/esmon", secret: s}
  log_file: {path: LOGDIR/alerts.jsonl}
`, "log/ email/very_critical dba/critical teams/warning hook/ logfile/", nil},
		{"bad channels", `
allow_clear_secrets: true
channels:
  teams:
    - {url: "not a url"}
  webhooks:
    - {url: "https://hooks.example.test/esmon"}
`, "", []string{"channels.teams[0]: teams config: url:", "channels.webhooks[0]: webhook config: name: required"}},
		// Secure by default: a secret in clear stops the start and says
		// which setting and how to seal it; its value is never repeated.
		{"secrets in clear", `
smtp: {host: mail.example.test, username: esmon, password: "pw-CLEAR-1", from: esmon@example.test, to: [ops@example.test]}
channels:
  teams:
    - {url: "https://teams.example.test/wf/CLEAR-2"}
  webhooks:
    - {name: hook, url: "https://hooks.example.test/CLEAR-3", secret: "CLEAR-4"}
`, "", []string{"channels.email[0].password is a secret in clear text", "channels.teams[0].url is a secret in clear text",
			"channels.webhooks[0].url is a secret in clear text", "channels.webhooks[0].secret is a secret in clear text", "esmon secret seal"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts Options
			dec := yaml.NewDecoder(strings.NewReader(strings.ReplaceAll(tc.yaml, "LOGDIR", t.TempDir())))
			dec.KnownFields(true)
			if err := dec.Decode(&opts); err != nil {
				t.Fatal(err)
			}
			opts.DataDir, opts.Listen, opts.Logger = t.TempDir(), "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil))
			c, err := New(opts)
			if tc.wantErr != nil {
				for _, w := range tc.wantErr {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("New = %v, want it to say %q", err, w)
					}
				}
				if err != nil && strings.Contains(err.Error(), "CLEAR-") {
					t.Errorf("the error repeats a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Stop()
			var got []string
			for _, ch := range c.router.Channels() {
				got = append(got, ch.Name+"/"+ch.MinSeverity)
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Fatalf("channels %q, want %q", s, tc.want)
			}
		})
	}
}
