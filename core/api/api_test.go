package api_test

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
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/alert"
	"esmon/core/api"
	"esmon/core/apiv1"
	"esmon/core/auth"
	"esmon/core/hub"
	"esmon/core/store"
)

const adminToken = "esm_admin_test-token"

var quiet = slog.New(slog.DiscardHandler)

// fakeHosts serves a fixed list.
type fakeHosts []apiv1.Host

func (f fakeHosts) List() []apiv1.Host { return f }

func (f fakeHosts) Get(id string) (apiv1.Host, bool) {
	for _, h := range f {
		if h.ID == id {
			return h, true
		}
	}
	return apiv1.Host{}, false
}

// fakeAlerts keeps rules in a map and validates them as the engine does.
type fakeAlerts struct {
	mu    sync.Mutex // guards rules
	rules map[string]apiv1.Rule
}

func (f *fakeAlerts) Active() []apiv1.Alert { return []apiv1.Alert{} }

func (f *fakeAlerts) History(limit int) ([]apiv1.Transition, error) {
	return []apiv1.Transition{}, nil
}

func (f *fakeAlerts) Rules() []apiv1.Rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []apiv1.Rule{}
	for _, r := range f.rules {
		out = append(out, r)
	}
	return out
}

func (f *fakeAlerts) Rule(id string) (apiv1.Rule, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rules[id]
	return r, ok
}

func (f *fakeAlerts) PutRule(r apiv1.Rule, create bool) (apiv1.Rule, error) {
	if err := alert.Validate(&r); err != nil {
		return apiv1.Rule{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if create {
		r.ID = "r" + string(rune('0'+len(f.rules)))
	} else if _, ok := f.rules[r.ID]; !ok {
		return apiv1.Rule{}, alert.ErrNoRule
	}
	f.rules[r.ID] = r
	return r, nil
}

func (f *fakeAlerts) DeleteRule(id, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.rules[id]; !ok {
		return alert.ErrNoRule
	}
	delete(f.rules, id)
	return nil
}

type fixture struct {
	clock  *offsetClock
	srv    *httptest.Server
	reg    *prometheus.Registry
	db     *store.DB
	alerts *fakeAlerts
	acts   *fakeAlerting
	people *auth.Service
}

const indexHTML = "<!doctype html><title>esmon</title>"

func newServer(t testing.TB) *fixture {
	return newServerOn(t, store.Options{InMemory: true, Logger: quiet})
}

// newServerOn serves the API on a store opened with so, with the fake
// alert actions and a real auth.Service (cheap password hashing).
func newServerOn(t testing.TB, so store.Options) *fixture {
	t.Helper()
	db, err := store.Open(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg := prometheus.NewRegistry()
	clock := &offsetClock{}
	people, err := auth.Open(auth.Options{KV: db, BootstrapToken: adminToken, Registerer: reg, Logger: quiet, Now: clock.Now,
		Argon2: auth.Argon2{Time: 1, Memory: 64, Threads: 1}, MaxFailures: 3, RemoteFailures: 1000})
	if err != nil {
		t.Fatal(err)
	}
	acts := &fakeAlerting{}
	alerts := &fakeAlerts{rules: map[string]apiv1.Rule{
		"cpu": {ID: "cpu", Name: "CPU", Kind: apiv1.RuleThreshold, Metric: "cpu_usage_percent", Op: ">", Threshold: 90, Severity: "warning", Enabled: true},
	}}
	live := hub.NewLive(func(bool) apiv1.Event { return apiv1.Event{Type: apiv1.EventSnapshot} }, nil, quiet)
	h := api.New(api.Deps{
		Hosts:    fakeHosts{{ID: "web-01", Status: apiv1.StatusOK, Facts: apiv1.HostFacts{Hostname: "web-01"}}},
		Alerts:   alerts,
		Series:   db,
		Alerting: acts,
		Auth:     api.NewAuth(people, reg, quiet),
		Live:     live,
		Agents:   http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }),
		Web: fstest.MapFS{
			"index.html":    {Data: []byte(indexHTML)},
			"assets/app.js": {Data: []byte("console.log(1)")},
		},
		Gatherer: reg, Reg: reg, Log: quiet,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		live.Close()
	})
	return &fixture{clock: clock, srv: srv, reg: reg, db: db, alerts: alerts, acts: acts, people: people}
}

type req struct {
	method, path, body string
	header             map[string]string
}

// do sends r; the client follows no redirects and keeps no cookies.
func (f *fixture) do(t *testing.T, r req, client ...*http.Client) *http.Response {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	hr, err := http.NewRequest(r.method, f.srv.URL+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if len(client) > 0 {
		c = client[0]
	}
	resp, err := c.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

func authed(method, path, body string) req {
	return req{method: method, path: path, body: body, header: bearer(adminToken)}
}

// errorBody reads and checks the shape every error answer has.
func errorBody(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("error body is not JSON: %v", err)
	}
	if s, _ := m["error"].(string); s == "" {
		t.Errorf("error body %v has no error message", m)
	}
	if s, _ := m["code"].(string); s == "" {
		t.Errorf("error body %v has no code", m)
	}
	return m
}

func authFailures(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "esmon_auth_failures_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("esmon_auth_failures_total not registered")
	return 0
}

func TestAuthentication(t *testing.T) {
	tests := []struct {
		name        string
		header      map[string]string
		wantCode    int
		wantFailure bool
	}{
		{"no credentials", nil, http.StatusUnauthorized, true},
		{"wrong token", bearer("esm_admin_wrong"), http.StatusUnauthorized, true},
		{"empty bearer", bearer(""), http.StatusUnauthorized, true},
		{"token with another scheme", map[string]string{"Authorization": "Basic " + adminToken}, http.StatusUnauthorized, true},
		{"token as a prefix", bearer(adminToken + "x"), http.StatusUnauthorized, true},
		{"unknown session cookie", map[string]string{"Cookie": api.SessionCookie + "=forged"}, http.StatusUnauthorized, true},
		{"bearer token", bearer(adminToken), http.StatusOK, false},
		{"bearer token with spaces", bearer(" " + adminToken + " "), http.StatusOK, false},
	}
	f := newServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := authFailures(t, f.reg)
			resp := f.do(t, req{path: "/api/v1/hosts", header: tt.header})
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if tt.wantCode == http.StatusUnauthorized {
				if m := errorBody(t, resp); m["code"] != "unauthorized" {
					t.Errorf("code %v, want unauthorized", m["code"])
				}
			} else {
				var hosts []apiv1.Host
				if err := json.NewDecoder(resp.Body).Decode(&hosts); err != nil || len(hosts) != 1 || hosts[0].ID != "web-01" {
					t.Errorf("hosts %+v (%v), want web-01", hosts, err)
				}
			}
			if got := authFailures(t, f.reg) - before; (got == 1) != tt.wantFailure || got > 1 {
				t.Errorf("auth failures grew by %v, want counted=%v", got, tt.wantFailure)
			}
		})
	}
}

func TestOpenEndpoints(t *testing.T) {
	f := newServer(t)
	for _, path := range []string{"/healthz", "/metrics"} {
		if resp := f.do(t, req{path: path}); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s without auth: %d, want 200", path, resp.StatusCode)
		}
	}
	if resp := f.do(t, req{path: "/ws/agent"}); resp.StatusCode != http.StatusTeapot {
		t.Errorf("GET /ws/agent: %d, want the agent handler (authenticated by hello)", resp.StatusCode)
	}
}

func TestQueryValidation(t *testing.T) {
	f := newServer(t)
	tests := []struct {
		name    string
		query   string
		wantMsg string
	}{
		{"missing metric", "", "metric is required"},
		{"empty metric", "metric=", "metric is required"},
		{"bad from", "metric=m&from=yesterday", `from: "yesterday" is not RFC 3339`},
		{"bad to", "metric=m&to=soon", `to: "soon" is not RFC 3339`},
		{"from out of range", "metric=m&from=1e30", `from: "1e30" is not RFC 3339`},
		{"to out of range", "metric=m&to=-1e300", `to: "-1e300" is not RFC 3339`},
		{"from infinite", "metric=m&from=-Inf", `from: "-Inf" is not RFC 3339`},
		{"from after to", "metric=m&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from is after to"},
		{"step not a duration", "metric=m&step=often", "step: must be a positive duration"},
		{"step zero", "metric=m&step=0", "step: must be a positive duration"},
		{"step negative", "metric=m&step=-10s", "step: must be a positive duration"},
		{"step NaN", "metric=m&step=NaN", "step: must be a positive duration"},
		{"step overflows", "metric=m&step=1e30", "step: must be a positive duration"},
		{"step infinite", "metric=m&step=Inf", "step: must be a positive duration"},
		{"step too small for the range", "metric=m&from=-24h&step=1s", "more than 11000 points; use a larger step"},
		{"step too small for a huge range", "metric=m&from=-1000000000&to=1000000000&step=1h", "more than 11000 points"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.do(t, authed("GET", "/api/v1/query?"+tt.query, ""))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			m := errorBody(t, resp)
			if msg, _ := m["error"].(string); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("error %q, want it to contain %q", msg, tt.wantMsg)
			}
			if m["code"] != "bad_query" {
				t.Errorf("code %v, want bad_query", m["code"])
			}
		})
	}
}

func TestQuery(t *testing.T) {
	f := newServer(t)
	labels := func(kv ...string) store.Labels {
		var ls store.Labels
		for i := 0; i < len(kv); i += 2 {
			ls = append(ls, store.Label{Name: kv[i], Value: kv[i+1]})
		}
		ls.Sort()
		return ls
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	var samples []store.Sample
	for i := range int64(6) {
		samples = append(samples,
			store.Sample{Metric: "disk_used_percent", Labels: labels("host", "a", "mount", "/"), T: base + i*10_000, V: float64(i)},
			store.Sample{Metric: "disk_used_percent", Labels: labels("host", "a", "mount", "/data"), T: base + i*10_000, V: 50},
			store.Sample{Metric: "disk_used_percent", Labels: labels("host", "b", "mount", "/"), T: base + i*10_000, V: 70},
		)
	}
	if err := f.db.Append(context.Background(), samples); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		query      string
		wantSeries int
		wantPoints []apiv1.Point // of the first series
	}{
		{"one series by host and matcher", "host=a&match[mount]=/&from=2026-01-01T00:00:00Z&to=2026-01-01T00:01:00Z",
			1, []apiv1.Point{{T: base, V: 0}, {T: base + 10_000, V: 1}, {T: base + 20_000, V: 2}, {T: base + 30_000, V: 3}, {T: base + 40_000, V: 4}, {T: base + 50_000, V: 5}}},
		{"averaged by step", "host=a&match[mount]=/&from=2026-01-01T00:00:00Z&to=2026-01-01T00:01:00Z&step=30",
			1, []apiv1.Point{{T: base, V: 1}, {T: base + 30_000, V: 4}}},
		{"range in Unix seconds", "host=a&match[mount]=/&from=1767225600&to=1767225615",
			1, []apiv1.Point{{T: base, V: 0}, {T: base + 10_000, V: 1}}},
		{"every host", "from=2026-01-01T00:00:00Z&to=2026-01-01T00:01:00Z", 3, nil},
		{"unknown host", "host=c&from=2026-01-01T00:00:00Z&to=2026-01-01T00:01:00Z", 0, nil},
		{"outside the data", "host=a&match[mount]=/&from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00Z", 1, []apiv1.Point{}},
		// 200 days without a step: averaged into buckets of about
		// range/11000 (1571 s) rounded up to whole minutes (1620 s), so
		// the six samples of the first minute make one point.
		{"long range without step is averaged", "host=a&match[mount]=/&from=2025-12-31T00:00:00Z&to=2026-07-19T00:00:00Z",
			1, []apiv1.Point{{T: base - base%1_620_000, V: 2.5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.do(t, authed("GET", "/api/v1/query?metric=disk_used_percent&"+tt.query, ""))
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			var res apiv1.QueryResult
			if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
				t.Fatal(err)
			}
			if res.Series == nil {
				t.Error("series is null, want a list")
			}
			if len(res.Series) != tt.wantSeries {
				t.Fatalf("%d series, want %d: %+v", len(res.Series), tt.wantSeries, res.Series)
			}
			if tt.wantPoints == nil {
				return
			}
			got := res.Series[0]
			if got.Labels["host"] != "a" || got.Labels["mount"] != "/" {
				t.Errorf("labels %v, want host a mount /", got.Labels)
			}
			if len(got.Points) != len(tt.wantPoints) {
				t.Fatalf("points %v, want %v", got.Points, tt.wantPoints)
			}
			for i := range got.Points {
				if got.Points[i] != tt.wantPoints[i] {
					t.Errorf("point %d = %v, want %v", i, got.Points[i], tt.wantPoints[i])
				}
			}
		})
	}

	resp := f.do(t, authed("GET", "/api/v1/series?host=b", ""))
	var series []apiv1.Series
	if err := json.NewDecoder(resp.Body).Decode(&series); err != nil || len(series) != 1 || series[0].Labels["host"] != "b" {
		t.Errorf("series of host b: %+v (%v), want one", series, err)
	}
}

func TestRules(t *testing.T) {
	f := newServer(t)
	tests := []struct {
		name      string
		method    string
		path      string
		body      string
		wantCode  int
		wantErr   string // error code
		wantField string
	}{
		{"create", "POST", "/api/v1/rules", `{"name":"Mem","metric":"memory_used_percent","threshold":95,"for":"5m","severity":"critical"}`, http.StatusCreated, "", ""},
		{"create bad severity", "POST", "/api/v1/rules", `{"name":"Mem","metric":"memory_used_percent","threshold":95,"severity":"loud"}`, http.StatusBadRequest, "invalid_rule", "severity"},
		{"create bad metric", "POST", "/api/v1/rules", `{"name":"Mem","metric":"memory used","severity":"info"}`, http.StatusBadRequest, "invalid_rule", "metric"},
		{"create bad op", "POST", "/api/v1/rules", `{"name":"Mem","metric":"m","op":"=>","severity":"info"}`, http.StatusBadRequest, "invalid_rule", "op"},
		{"create without name", "POST", "/api/v1/rules", `{"metric":"m","severity":"info"}`, http.StatusBadRequest, "invalid_rule", "name"},
		{"create with bad for", "POST", "/api/v1/rules", `{"name":"x","metric":"m","severity":"info","for":"soon"}`, http.StatusBadRequest, "bad_json", ""},
		{"create with unknown field", "POST", "/api/v1/rules", `{"name":"x","metric":"m","severity":"info","treshold":5}`, http.StatusBadRequest, "bad_json", ""},
		{"create with two bodies", "POST", "/api/v1/rules", `{"name":"x","metric":"m","severity":"info"} {}`, http.StatusBadRequest, "bad_json", ""},
		{"create with no body", "POST", "/api/v1/rules", ``, http.StatusBadRequest, "bad_json", ""},
		{"create with a huge body", "POST", "/api/v1/rules", `{"name":"` + strings.Repeat("x", 1<<20) + `"}`, http.StatusRequestEntityTooLarge, "too_large", ""},
		{"sign-in with a huge body", "POST", "/api/v1/session", `{"token":"` + strings.Repeat("x", 1<<20) + `"}`, http.StatusRequestEntityTooLarge, "too_large", ""},
		{"get", "GET", "/api/v1/rules/cpu", "", http.StatusOK, "", ""},
		{"get unknown", "GET", "/api/v1/rules/nope", "", http.StatusNotFound, "not_found", ""},
		{"update with a wrongly typed field", "PUT", "/api/v1/rules/cpu", `{"name":"CPU","metric":"cpu_usage_percent","severity":"warning","threshold":"high"}`, http.StatusBadRequest, "bad_json", ""},
		{"update bad for", "PUT", "/api/v1/rules/cpu", `{"name":"CPU","metric":"cpu_usage_percent","severity":"warning","for":"-1s"}`, http.StatusBadRequest, "invalid_rule", "for"},
		{"update", "PUT", "/api/v1/rules/cpu", `{"name":"CPU busy","metric":"cpu_usage_percent","severity":"critical","threshold":95}`, http.StatusOK, "", ""},
		{"update unknown", "PUT", "/api/v1/rules/nope", `{"name":"x","metric":"m","severity":"info"}`, http.StatusNotFound, "not_found", ""},
		{"delete unknown", "DELETE", "/api/v1/rules/nope", "", http.StatusNotFound, "not_found", ""},
		{"delete", "DELETE", "/api/v1/rules/cpu", "", http.StatusNoContent, "", ""},
		{"get deleted", "GET", "/api/v1/rules/cpu", "", http.StatusNotFound, "not_found", ""},
		{"history limit zero", "GET", "/api/v1/alerts/history?limit=0", "", http.StatusBadRequest, "bad_request", ""},
		{"history limit text", "GET", "/api/v1/alerts/history?limit=all", "", http.StatusBadRequest, "bad_request", ""},
		{"history", "GET", "/api/v1/alerts/history?limit=10", "", http.StatusOK, "", ""},
		{"host", "GET", "/api/v1/hosts/web-01", "", http.StatusOK, "", ""},
		{"unknown host", "GET", "/api/v1/hosts/web-99", "", http.StatusNotFound, "not_found", ""},
		{"unknown API path", "GET", "/api/v1/nope", "", http.StatusNotFound, "not_found", ""},
		{"unknown API version", "GET", "/api/v2/hosts", "", http.StatusNotFound, "not_found", ""},
		{"wrong method on an API path", "PATCH", "/api/v1/hosts", "", http.StatusNotFound, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.do(t, authed(tt.method, tt.path, tt.body))
			if resp.StatusCode != tt.wantCode {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantCode, b)
			}
			if tt.wantErr == "" {
				if resp.StatusCode != http.StatusNoContent && resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("Content-Type %q, want application/json", resp.Header.Get("Content-Type"))
				}
				return
			}
			m := errorBody(t, resp)
			if m["code"] != tt.wantErr {
				t.Errorf("code %v, want %s (%v)", m["code"], tt.wantErr, m["error"])
			}
			if tt.wantField != "" {
				if m["field"] != tt.wantField {
					t.Errorf("field %v, want %s", m["field"], tt.wantField)
				}
				if msg, _ := m["error"].(string); !strings.HasPrefix(msg, tt.wantField+":") {
					t.Errorf("error %q does not name the field %s", msg, tt.wantField)
				}
			}
		})
	}
}

func TestWebPage(t *testing.T) {
	f := newServer(t)
	tests := []struct {
		name     string
		method   string
		path     string
		wantCode int
		wantBody string
	}{
		{"index", "GET", "/", http.StatusOK, indexHTML},
		{"asset", "GET", "/assets/app.js", http.StatusOK, "console.log(1)"},
		{"page route falls back to index", "GET", "/hosts/web-01", http.StatusOK, indexHTML},
		{"unknown file falls back to index", "GET", "/nope.js", http.StatusOK, indexHTML},
		{"head", "HEAD", "/", http.StatusOK, ""},
		{"post", "POST", "/", http.StatusMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.do(t, req{method: tt.method, path: tt.path})
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			b, _ := io.ReadAll(resp.Body)
			if tt.wantBody != "" && string(b) != tt.wantBody {
				t.Errorf("body %q, want %q", b, tt.wantBody)
			}
			if tt.wantCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q, want GET, HEAD", resp.Header.Get("Allow"))
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newServer(t)
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
	}
	for _, r := range []req{
		{path: "/"},
		{path: "/hosts/web-01"},
		{path: "/healthz"},
		{path: "/api/v1/hosts"}, // 401
		{path: "/ws/live", header: map[string]string{"Origin": "https://evil.example", "Connection": "Upgrade", "Upgrade": "websocket",
			"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}}, // 403
		authed("GET", "/api/v1/hosts", ""),   // 200
		authed("GET", "/api/v1/missing", ""), // 404
		authed("GET", "/api/v1/query", ""),   // 400
		{method: "POST", path: "/api/v1/session", header: map[string]string{"Origin": "https://evil.example"}}, // 403
	} {
		resp := f.do(t, r)
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s %s (%d): %s = %q, want %q", r.method, r.path, resp.StatusCode, k, got, v)
			}
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s %s: CSP %q lacks %q", r.method, r.path, csp, d)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("%s %s: CSP %q allows something unsafe", r.method, r.path, csp)
		}
	}
	// API answers are not cached: they carry the state of the hosts.
	if cc := f.do(t, authed("GET", "/api/v1/hosts", "")).Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
}

func TestRequestsCounted(t *testing.T) {
	f := newServer(t)
	f.do(t, authed("GET", "/api/v1/hosts", ""))
	f.do(t, req{path: "/api/v1/hosts"})
	resp := f.do(t, req{path: "/metrics"})
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`esmon_http_requests_total{code="200",route="GET /api/v1/hosts"} 1`,
		`esmon_http_requests_total{code="401",route="GET /api/v1/hosts"} 1`,
		`esmon_auth_failures_total 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestQueryAggregationAndTier(t *testing.T) {
	f := newServer(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	ls := store.Labels{{Name: "host", Value: "a"}}
	var samples []store.Sample
	for i := range int64(18) { // three minutes of a counter rising 10 per second
		samples = append(samples, store.Sample{Metric: "net_sent_bytes_total", Labels: ls, T: base + i*10_000, V: float64(100 * i)})
	}
	if err := f.db.Append(context.Background(), samples); err != nil {
		t.Fatal(err)
	}
	const rng = "host=a&from=2026-01-01T00:00:00Z&to=2026-01-01T00:03:00Z"
	tests := []struct {
		name     string
		query    string
		wantCode int
		wantTier string
		wantV    float64 // of the first point
	}{
		{"max per minute from the 1m tier", rng + "&step=1m&agg=max", 200, "1m", 500},
		{"sum per hour from the 1h tier", rng + "&step=1h&agg=sum", 200, "1h", 15300},
		// From minute rows: the increase of their last values from one
		// minute to the next, so the first point is the second minute's.
		{"rate of a counter", rng + "&step=1m&agg=rate", 200, "1m", 10},
		{"last by raw step", rng + "&step=30s&agg=last", 200, "raw", 200},
		{"unknown aggregation", rng + "&agg=median", 400, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.do(t, authed("GET", "/api/v1/query?metric=net_sent_bytes_total&"+tt.query, ""))
			if resp.StatusCode != tt.wantCode {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if tt.wantCode != 200 {
				return
			}
			var res apiv1.QueryResult
			if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
				t.Fatal(err)
			}
			if res.Tier != tt.wantTier {
				t.Errorf("tier %q, want %q", res.Tier, tt.wantTier)
			}
			if len(res.Series) != 1 || len(res.Series[0].Points) == 0 {
				t.Fatalf("series %+v", res.Series)
			}
			if got := res.Series[0].Points[0].V; got != tt.wantV {
				t.Errorf("first value %v, want %v", got, tt.wantV)
			}
		})
	}
}
