package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/alert"
	"esmon/core/api"
	"esmon/core/apiv1"
	"esmon/core/auth"
	"esmon/core/notify"
)

// fakeAlerting has one firing alert, "a1", and records who acted on it.
type fakeAlerting struct {
	mu       sync.Mutex // guards the fields below
	ackBy    string
	silences []apiv1.Silence
}

var _ api.Alerting = (*fakeAlerting)(nil)

func (f *fakeAlerting) Alert(id string) (apiv1.Alert, bool) {
	return apiv1.Alert{ID: id, State: apiv1.StateFiring}, id == "a1"
}

func (f *fakeAlerting) Ack(id, by, comment string) (apiv1.Transition, error) {
	if id != "a1" {
		return apiv1.Transition{}, alert.ErrNoAlert
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ackBy = by
	return apiv1.Transition{Alert: apiv1.Alert{ID: id, State: apiv1.StateFiring, Ack: &apiv1.Ack{By: by, Comment: comment}}}, nil
}

func (f *fakeAlerting) Unack(id, by string) (apiv1.Transition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ackBy = ""
	return apiv1.Transition{Alert: apiv1.Alert{ID: id}}, nil
}

func (f *fakeAlerting) acker() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ackBy
}

func (f *fakeAlerting) SetRuleEnabled(id string, enabled bool, by string) (apiv1.Rule, error) {
	return apiv1.Rule{ID: id, Enabled: enabled, UpdatedBy: by}, nil
}
func (f *fakeAlerting) ExportRules() ([]byte, error)                      { return []byte("rules: []\n"), nil }
func (f *fakeAlerting) ImportRules([]byte, string) (int, int, error)      { return 0, 0, nil }
func (f *fakeAlerting) RuleChanges(int) ([]apiv1.RuleChange, error)       { return []apiv1.RuleChange{}, nil }
func (f *fakeAlerting) Maintenance() []apiv1.Maintenance                  { return []apiv1.Maintenance{} }
func (f *fakeAlerting) DeleteMaintenance(string, string) error            { return alert.ErrNoMaintenance }
func (f *fakeAlerting) Channels() []apiv1.Channel                         { return []apiv1.Channel{{Name: "log"}} }
func (f *fakeAlerting) TestChannel(context.Context, string, string) error { return notify.ErrNoChannel }

func (f *fakeAlerting) AddMaintenance(m apiv1.Maintenance, by string) (apiv1.Maintenance, error) {
	m.ID, m.CreatedBy = "m1", by
	return m, nil
}

func (f *fakeAlerting) Silences() []apiv1.Silence {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiv1.Silence{}, f.silences...)
}

func (f *fakeAlerting) AddSilence(s apiv1.Silence, by string) (apiv1.Silence, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s.ID, s.CreatedBy = "s1", by
	f.silences = append(f.silences, s)
	return s, nil
}

func (f *fakeAlerting) DeleteSilence(string, string) error { return alert.ErrNoSilence }

// offsetClock is the auth service's clock: now, moved by an offset.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// person is someone signed in through the API, as the web page is.
type person struct {
	name, cookie, csrf string
}

// header is what the page sends: the cookie, this origin, and the CSRF
// token on changes.
func (p person) header(f *fixture, change bool) map[string]string {
	h := map[string]string{"Cookie": api.SessionCookie + "=" + p.cookie, "Origin": f.srv.URL}
	if change {
		h[api.CSRFHeader] = p.csrf
	}
	return h
}

// addPerson creates a user with role (through the bootstrap token) and
// signs them in.
func (f *fixture) addPerson(t *testing.T, name, role string) person {
	t.Helper()
	body, _ := json.Marshal(apiv1.NewUser{Name: name, Role: role, Password: name + "-password"})
	if resp := f.do(t, authed("POST", "/api/v1/users", string(body))); resp.StatusCode != http.StatusCreated {
		t.Fatalf("add %s: %d %v", name, resp.StatusCode, errorBody(t, resp))
	}
	return f.signIn(t, name, name+"-password")
}

func (f *fixture) signIn(t *testing.T, name, pw string) person {
	t.Helper()
	body, _ := json.Marshal(apiv1.SignIn{Name: name, Password: pw})
	resp := f.do(t, req{method: "POST", path: "/api/v1/session", body: string(body), header: map[string]string{"Origin": f.srv.URL}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in %s: %d %v", name, resp.StatusCode, errorBody(t, resp))
	}
	var s apiv1.Session
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || s.CSRF == "" || s.User != name {
		t.Fatalf("session %+v (%v)", s, err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == api.SessionCookie {
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge <= 0 {
				t.Errorf("cookie %+v, want HttpOnly, SameSite=Strict, Path=/ and a max age", c)
			}
			return person{name: name, cookie: c.Value, csrf: s.CSRF}
		}
	}
	t.Fatalf("no session cookie in %v", resp.Header["Set-Cookie"])
	return person{}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("%s not registered", name)
	return 0
}

// TestRoles checks the role each route needs, as people signed in to the
// page see it: a viewer reads, an operator acknowledges and silences, an
// admin changes rules and users.
func TestRoles(t *testing.T) {
	f := newServer(t)
	viewer := f.addPerson(t, "vera", apiv1.RoleViewer)
	operator := f.addPerson(t, "otto", apiv1.RoleOperator)
	admin := f.addPerson(t, "ada", apiv1.RoleAdmin)
	rule := `{"name":"Disk","metric":"disk_used_percent","threshold":90,"severity":"critical"}`
	silence := `{"match":{"host":"web-01"},"ends_at":"2099-01-01T00:00:00Z"}`
	user := `{"name":"new","role":"viewer","password":"0123456789ab"}`
	tests := []struct {
		name   string
		who    person
		method string
		path   string
		body   string
		want   int
	}{
		{"viewer reads hosts", viewer, "GET", "/api/v1/hosts", "", 200},
		{"viewer reads alerts", viewer, "GET", "/api/v1/alerts", "", 200},
		{"viewer reads channels", viewer, "GET", "/api/v1/channels", "", 200},
		{"viewer acknowledges", viewer, "POST", "/api/v1/alerts/a1/ack", `{"comment":"mine"}`, 403},
		{"viewer unacknowledges", viewer, "DELETE", "/api/v1/alerts/a1/ack", "", 403},
		{"viewer silences", viewer, "POST", "/api/v1/silences", silence, 403},
		{"viewer creates a rule", viewer, "POST", "/api/v1/rules", rule, 403},
		{"viewer lists users", viewer, "GET", "/api/v1/users", "", 403},
		{"viewer reads the audit log", viewer, "GET", "/api/v1/audit", "", 403},
		{"operator acknowledges", operator, "POST", "/api/v1/alerts/a1/ack", `{"comment":"on it"}`, 200},
		{"operator silences", operator, "POST", "/api/v1/silences", silence, 201},
		{"operator adds maintenance", operator, "POST", "/api/v1/maintenance", `{"name":"m","schedule":"0 2 * * 0","duration":"1h","match":{"host":"x"}}`, 201},
		{"operator creates a rule", operator, "POST", "/api/v1/rules", rule, 403},
		{"operator disables a rule", operator, "POST", "/api/v1/rules/cpu/disable", "", 403},
		{"operator tests a channel", operator, "POST", "/api/v1/channels/log/test", "", 403},
		{"operator adds a user", operator, "POST", "/api/v1/users", user, 403},
		{"admin creates a rule", admin, "POST", "/api/v1/rules", rule, 201},
		{"admin deletes a rule", admin, "DELETE", "/api/v1/rules/cpu", "", 204},
		{"admin adds a user", admin, "POST", "/api/v1/users", user, 201},
		{"admin reads the audit log", admin, "GET", "/api/v1/audit", "", 200},
		{"admin acknowledges", admin, "POST", "/api/v1/alerts/a1/ack", "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := counter(t, f.reg, "esmon_auth_forbidden_total")
			resp := f.do(t, req{method: tc.method, path: tc.path, body: tc.body, header: tc.who.header(f, tc.method != "GET")})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusForbidden {
				if m := errorBody(t, resp); m["code"] != "forbidden" {
					t.Errorf("code %v, want forbidden", m["code"])
				}
				if got := counter(t, f.reg, "esmon_auth_forbidden_total") - before; got != 1 {
					t.Errorf("forbidden counted %v times, want 1", got)
				}
			}
		})
	}
	if by := f.acts.acker(); by != "ada" {
		t.Errorf("acknowledged by %q, want the last acknowledger's name, ada", by)
	}
}

// TestViewerCannotAcknowledge is the issue's own case: the alert stays
// unacknowledged and the refusal is in the audit log.
func TestViewerCannotAcknowledge(t *testing.T) {
	f := newServer(t)
	viewer := f.addPerson(t, "vera", apiv1.RoleViewer)
	operator := f.addPerson(t, "otto", apiv1.RoleOperator)
	tests := []struct {
		name   string
		who    person
		want   int
		ackBy  string
		action string
	}{
		{"viewer", viewer, http.StatusForbidden, "", "denied"},
		{"operator", operator, http.StatusOK, "otto", "POST /api/v1/alerts/{id}/ack"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do(t, req{method: "POST", path: "/api/v1/alerts/a1/ack", body: `{"comment":"x"}`, header: tc.who.header(f, true)})
			if resp.StatusCode != tc.want || f.acts.acker() != tc.ackBy {
				t.Fatalf("status %d, acknowledged by %q; want %d and %q", resp.StatusCode, f.acts.acker(), tc.want, tc.ackBy)
			}
			es, _ := f.people.AuditLog(0)
			if len(es) == 0 || es[0].Actor != tc.who.name || es[0].Action != tc.action {
				t.Errorf("newest audit entry %+v, want %s by %s", es, tc.action, tc.who.name)
			}
		})
	}
}

func TestSignInAPI(t *testing.T) {
	f := newServer(t)
	f.addPerson(t, "ann", apiv1.RoleOperator)
	origin := map[string]string{"Origin": f.srv.URL}
	signIn := func(name, pw string, hdr map[string]string) *http.Response {
		body, _ := json.Marshal(apiv1.SignIn{Name: name, Password: pw})
		return f.do(t, req{method: "POST", path: "/api/v1/session", body: string(body), header: hdr})
	}
	tests := []struct {
		name, user, pw string
		hdr            map[string]string
		want           int
		code           string
		failure        bool
	}{
		{"foreign origin", "ann", "ann-password", map[string]string{"Origin": "https://evil.example"}, 403, "csrf", false},
		{"wrong password", "ann", "wrong", origin, 401, "bad_credentials", true},
		{"unknown user answers the same", "zoe", "whatever", origin, 401, "bad_credentials", true},
		{"bootstrap token, no name", "", adminToken, origin, 200, "", false},
		{"wrong token, no name", "", "esm_admin_nope", origin, 401, "bad_credentials", true},
		{"right password", "ann", "ann-password", origin, 200, "", false},
		{"second failure", "ann", "wrong", origin, 401, "bad_credentials", true},
		{"third failure", "ann", "wrong", origin, 401, "bad_credentials", true},
		{"fourth failure locks", "ann", "wrong", origin, 401, "bad_credentials", true},
		{"locked, right password", "ann", "ann-password", origin, 429, "locked", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := counter(t, f.reg, "esmon_auth_signin_failures_total")
			resp := signIn(tc.user, tc.pw, tc.hdr)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.code != "" {
				if m := errorBody(t, resp); m["code"] != tc.code {
					t.Errorf("code %v, want %s", m["code"], tc.code)
				}
				if len(resp.Cookies()) != 0 {
					t.Errorf("a refused sign-in set %v", resp.Cookies())
				}
			}
			if got := counter(t, f.reg, "esmon_auth_signin_failures_total") - before; (got == 1) != tc.failure {
				t.Errorf("sign-in failures grew by %v, want counted=%v", got, tc.failure)
			}
		})
	}
	if got := counter(t, f.reg, "esmon_auth_lockouts_total"); got != 1 {
		t.Errorf("lockouts %v, want 1", got)
	}
}

// TestSessionCookie covers forged, expired and ended session cookies.
func TestSessionCookie(t *testing.T) {
	f := newServer(t)
	ann := f.addPerson(t, "ann", apiv1.RoleAdmin)
	expired := f.addPerson(t, "eve", apiv1.RoleViewer)
	tests := []struct {
		name   string
		cookie string
		want   int
	}{
		{"live session", ann.cookie, 200},
		{"forged value", "Zm9yZ2VkLXNlc3Npb24taWQtdGhhdC1sb29rcy1yZWFs", 401},
		{"another session's CSRF token as the cookie", ann.csrf, 401},
		{"expired session", expired.cookie, 401},
		{"empty", "", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cookie == expired.cookie {
				// 13 hours on, past the 12-hour lifetime.
				f.clock.Advance(13 * time.Hour)
				defer f.clock.Advance(-13 * time.Hour)
			}
			before := counter(t, f.reg, "esmon_auth_failures_total")
			resp := f.do(t, req{path: "/api/v1/session", header: map[string]string{"Cookie": api.SessionCookie + "=" + tc.cookie}})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 401 {
				if got := counter(t, f.reg, "esmon_auth_failures_total") - before; got != 1 {
					t.Errorf("failures grew by %v, want 1", got)
				}
				return
			}
			var s apiv1.Session
			json.NewDecoder(resp.Body).Decode(&s)
			if s.User != "ann" || s.Role != apiv1.RoleAdmin || s.CSRF != ann.csrf || s.Via != auth.ViaSession {
				t.Errorf("session %+v, want ann, admin, her CSRF token", s)
			}
		})
	}
	t.Run("sign out ends the session", func(t *testing.T) {
		resp := f.do(t, req{method: "DELETE", path: "/api/v1/session", header: ann.header(f, true)})
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("sign-out status %d, want 204", resp.StatusCode)
		}
		var cleared bool
		for _, c := range resp.Cookies() {
			cleared = cleared || (c.Name == api.SessionCookie && c.MaxAge < 0)
		}
		if !cleared {
			t.Errorf("sign-out does not clear the cookie: %v", resp.Header["Set-Cookie"])
		}
		if resp := f.do(t, req{path: "/api/v1/hosts", header: ann.header(f, false)}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("old cookie after sign-out: %d, want 401", resp.StatusCode)
		}
	})
}

// TestCSRF: every change a cookie authorises needs the session's CSRF
// token and this origin; bearer tokens need neither.
func TestCSRF(t *testing.T) {
	f := newServer(t)
	ann := f.addPerson(t, "ann", apiv1.RoleAdmin)
	other := f.addPerson(t, "bob", apiv1.RoleAdmin)
	rule := `{"name":"Disk","metric":"disk_used_percent","threshold":90,"severity":"critical"}`
	with := func(extra map[string]string) map[string]string {
		h := ann.header(f, false)
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		want   int
		csrf   bool // refused as CSRF
	}{
		{"cookie POST without the token", "POST", "/api/v1/rules", with(nil), 403, true},
		{"cookie POST with a wrong token", "POST", "/api/v1/rules", with(map[string]string{api.CSRFHeader: "wrong"}), 403, true},
		{"cookie POST with another session's token", "POST", "/api/v1/rules", with(map[string]string{api.CSRFHeader: other.csrf}), 403, true},
		{"cookie DELETE without the token", "DELETE", "/api/v1/rules/cpu", with(nil), 403, true},
		{"cookie POST with the token from a foreign origin", "POST", "/api/v1/rules",
			with(map[string]string{api.CSRFHeader: ann.csrf, "Origin": "https://evil.example"}), 403, true},
		{"cookie ack without the token", "POST", "/api/v1/alerts/a1/ack", with(nil), 403, true},
		{"cookie sign-out without the token", "DELETE", "/api/v1/session", with(nil), 403, true},
		{"cookie GET needs no token", "GET", "/api/v1/rules", with(nil), 200, false},
		{"cookie POST with the token", "POST", "/api/v1/rules", with(map[string]string{api.CSRFHeader: ann.csrf}), 201, false},
		{"bearer POST needs no token", "POST", "/api/v1/rules", map[string]string{"Authorization": "Bearer " + adminToken, "Origin": "https://evil.example"}, 201, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := counter(t, f.reg, "esmon_auth_csrf_refusals_total")
			resp := f.do(t, req{method: tc.method, path: tc.path, body: rule, header: tc.hdr})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			got := counter(t, f.reg, "esmon_auth_csrf_refusals_total") - before
			if tc.csrf {
				if m := errorBody(t, resp); m["code"] != "csrf" {
					t.Errorf("code %v, want csrf", m["code"])
				}
			}
			if (got == 1) != tc.csrf {
				t.Errorf("CSRF refusals grew by %v, want counted=%v", got, tc.csrf)
			}
		})
	}
	if _, ok := f.alerts.Rule("cpu"); !ok {
		t.Error("the DELETE without a CSRF token removed the rule")
	}
}

func TestBrowserSession(t *testing.T) {
	// The flow as a browser does it, with a cookie jar.
	f := newServer(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp := f.do(t, req{method: "POST", path: "/api/v1/session", body: `{"password":"` + adminToken + `"}`,
		header: map[string]string{"Origin": f.srv.URL}}, c)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	if resp := f.do(t, req{path: "/api/v1/alerts"}, c); resp.StatusCode != http.StatusOK {
		t.Errorf("GET with the cookie jar: %d, want 200", resp.StatusCode)
	}
}

func dialLive(t *testing.T, f *fixture, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/ws/live"
	ws, resp, err := websocket.DefaultDialer.Dial(u, hdr)
	if ws != nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

// TestLiveAuth: /ws/live checks the origin, then the credential, and only
// then upgrades.
func TestLiveAuth(t *testing.T) {
	f := newServer(t)
	vera := f.addPerson(t, "vera", apiv1.RoleViewer)
	cookie := http.Header{"Cookie": {api.SessionCookie + "=" + vera.cookie}}
	tests := []struct {
		name    string
		hdr     http.Header
		want    int // HTTP status of a refused handshake; 0 when upgraded
		counter string
	}{
		{"no credentials", nil, 401, "esmon_auth_failures_total"},
		{"forged cookie", http.Header{"Cookie": {api.SessionCookie + "=forged"}}, 401, "esmon_auth_failures_total"},
		{"cookie from a foreign page", http.Header{"Cookie": cookie["Cookie"], "Origin": {"https://evil.example"}}, 403, "esmon_auth_csrf_refusals_total"},
		{"bearer from a foreign origin", http.Header{"Authorization": {"Bearer " + adminToken}, "Origin": {"null"}}, 403, "esmon_auth_csrf_refusals_total"},
		{"viewer's cookie", cookie, 0, ""},
		{"bearer token", http.Header{"Authorization": {"Bearer " + adminToken}}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before float64
			if tc.counter != "" {
				before = counter(t, f.reg, tc.counter)
			}
			ws, resp, err := dialLive(t, f, tc.hdr)
			if tc.want != 0 {
				if err == nil || resp == nil || resp.StatusCode != tc.want {
					t.Fatalf("dial: %v, response %v; want a refused handshake with %d", err, resp, tc.want)
				}
				if got := counter(t, f.reg, tc.counter) - before; got != 1 {
					t.Errorf("%s grew by %v, want 1", tc.counter, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			var ev apiv1.Event
			if err := ws.ReadJSON(&ev); err != nil || ev.Type != apiv1.EventSnapshot {
				t.Fatalf("first event %+v (%v), want the snapshot", ev, err)
			}
		})
	}
}

// TestSetup: the first admin is created only while no user exists, and
// only from this machine or with the bootstrap token.
func TestSetup(t *testing.T) {
	f := newServer(t)
	proxied := map[string]string{"X-Forwarded-For": "203.0.113.9", "Origin": f.srv.URL}
	tests := []struct {
		name string
		hdr  map[string]string
		body string
		want int
	}{
		{"through a proxy without the token", proxied, `{"name":"root","password":"root-password"}`, 403},
		{"from a foreign page", map[string]string{"Origin": "https://evil.example"}, `{"name":"root","password":"root-password"}`, 403},
		{"short password", nil, `{"name":"root","password":"short"}`, 400},
		{"bad name", nil, `{"name":"Root Admin","password":"root-password"}`, 400},
		{"through a proxy with the bootstrap token", map[string]string{"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer " + adminToken},
			`{"name":"root","password":"root-password"}`, 201},
		{"second setup from loopback", nil, `{"name":"evil","password":"evil-password"}`, 409},
	}
	var state apiv1.Setup
	json.NewDecoder(f.do(t, req{path: "/api/v1/setup"}).Body).Decode(&state)
	if !state.Needed {
		t.Fatal("a fresh core does not ask for setup")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do(t, req{method: "POST", path: "/api/v1/setup", body: tc.body, header: tc.hdr})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.want, errorBody(t, resp))
			}
			if tc.want == 201 {
				var s apiv1.Session
				if json.NewDecoder(resp.Body).Decode(&s); s.User != "root" || s.Role != apiv1.RoleAdmin || len(resp.Cookies()) == 0 {
					t.Errorf("setup answered %+v, cookies %v; want root signed in as admin", s, resp.Cookies())
				}
			}
		})
	}
	json.NewDecoder(f.do(t, req{path: "/api/v1/setup"}).Body).Decode(&state)
	if state.Needed {
		t.Error("setup still needed after the first admin")
	}
	if us := f.people.Users(); len(us) != 1 || us[0].Name != "root" {
		t.Errorf("users %+v, want root alone", us)
	}
}

// TestUsersAndTokensAPI walks an admin and an operator through users,
// password changes, tokens and their scopes, and the audit log.
func TestUsersAndTokensAPI(t *testing.T) {
	f := newServer(t)
	ada := f.addPerson(t, "ada", apiv1.RoleAdmin)
	otto := f.addPerson(t, "otto", apiv1.RoleOperator)
	call := func(p person, method, path, body string, out any) int {
		t.Helper()
		resp := f.do(t, req{method: method, path: path, body: body, header: p.header(f, method != "GET")})
		if out != nil {
			json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	var tok apiv1.CreatedToken
	steps := []struct {
		name         string
		who          person
		method, path string
		body         string
		want         int
		out          any
	}{
		{"operator makes a read token", otto, "POST", "/api/v1/tokens", `{"name":"grafana","scopes":["read"]}`, 201, &tok},
		{"operator may not make an admin token", otto, "POST", "/api/v1/tokens", `{"name":"x","scopes":["admin"]}`, 400, nil},
		{"unknown scope", otto, "POST", "/api/v1/tokens", `{"name":"x","scopes":["root"]}`, 400, nil},
		{"operator lists own tokens", otto, "GET", "/api/v1/tokens", "", 200, nil},
		{"operator may not list everyone's", otto, "GET", "/api/v1/tokens?all=1", "", 403, nil},
		{"operator changes own password with the current one", otto, "POST", "/api/v1/users/otto/password",
			`{"current":"otto-password","password":"otto-new-password"}`, 204, nil},
		{"operator with a wrong current password", otto, "POST", "/api/v1/users/otto/password",
			`{"current":"nope","password":"otto-newer-password"}`, 400, nil},
		{"operator may not change ada's password", otto, "POST", "/api/v1/users/ada/password", `{"password":"hijacked-pass"}`, 403, nil},
		{"admin resets otto's password", ada, "POST", "/api/v1/users/otto/password", `{"password":"otto-reset-password"}`, 204, nil},
		{"admin makes otto a viewer", ada, "PATCH", "/api/v1/users/otto", `{"role":"viewer"}`, 200, nil},
		{"admin may not demote herself, the last admin", ada, "PATCH", "/api/v1/users/ada", `{"role":"viewer"}`, 409, nil},
		{"admin with an unknown field", ada, "PATCH", "/api/v1/users/otto", `{"rank":"general"}`, 400, nil},
		{"admin disables nobody", ada, "PATCH", "/api/v1/users/nobody", `{"disabled":true}`, 404, nil},
		{"admin deletes otto", ada, "DELETE", "/api/v1/users/otto", "", 204, nil},
	}
	for _, st := range steps {
		if got := call(st.who, st.method, st.path, st.body, st.out); got != st.want {
			t.Fatalf("%s: status %d, want %d", st.name, got, st.want)
		}
		if st.name == "operator makes a read token" {
			// The token reads but cannot acknowledge, and needs no CSRF.
			for _, c := range []struct {
				method, path string
				want         int
			}{{"GET", "/api/v1/hosts", 200}, {"POST", "/api/v1/alerts/a1/ack", 403}} {
				resp := f.do(t, req{method: c.method, path: c.path, header: bearer(tok.Secret)})
				if resp.StatusCode != c.want {
					t.Errorf("read token %s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.want)
				}
			}
		}
	}
	if resp := f.do(t, req{path: "/api/v1/hosts", header: bearer(tok.Secret)}); resp.StatusCode != 401 {
		t.Errorf("deleted user's token: %d, want 401", resp.StatusCode)
	}
	var users []apiv1.User
	if code := call(ada, "GET", "/api/v1/users", "", &users); code != 200 || len(users) != 1 || users[0].Name != "ada" {
		t.Errorf("users %d %+v, want ada alone", code, users)
	}
	var log []apiv1.AuditEntry
	if code := call(ada, "GET", "/api/v1/audit?limit=100", "", &log); code != 200 {
		t.Fatalf("audit: %d", code)
	}
	for _, want := range []struct{ actor, action, target string }{
		{"otto", "signin", ""},
		{"otto", "token.create", "grafana"},
		{"otto", "user.password", "otto"},
		{"ada", "user.password", "otto"},
		{"ada", "user.update", "otto"},
		{"ada", "user.delete", "otto"},
		{"otto", "denied", "GET /api/v1/tokens"},
	} {
		found := false
		for _, e := range log {
			found = found || (e.Actor == want.actor && e.Action == want.action && strings.HasPrefix(e.Target, want.target))
		}
		if !found {
			t.Errorf("no audit entry %+v", want)
		}
	}
	b, _ := json.Marshal(log)
	for _, secret := range []string{tok.Secret, "otto-new-password", "otto-reset-password", ada.cookie} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the audit log holds a secret")
		}
	}
	// An API answer never carries a password hash.
	resp := f.do(t, req{path: "/api/v1/users", header: ada.header(f, false)})
	var raw bytes.Buffer
	raw.ReadFrom(resp.Body)
	if strings.Contains(raw.String(), "argon2") || strings.Contains(raw.String(), "hash") {
		t.Errorf("GET /api/v1/users shows a hash: %s", raw.String())
	}
}

// FuzzPeopleInputs feeds arbitrary bodies to the JSON endpoints of people
// (sign-in, setup, users, passwords, tokens): none may crash the core or
// answer 500, and every answer is JSON.
func FuzzPeopleInputs(f *testing.F) {
	for _, s := range []string{`{"name":"ann","password":"ann-password"}`, `{"password":"x"}`, `{}`, `[]`, `null`, ``,
		`{"name":"x","role":"admin","password":"0123456789"}`, `{"role":"viewer","disabled":true}`, `{"name":"t","scopes":["read"],"expires_in":"1h"}`,
		`{"current":"ann-password","password":"0123456789"}`, `{"name":"` + strings.Repeat("a", 5000) + `"}`, `{"scopes":[1,2]}`, `{"expires_in":-5}`} {
		for ep := range 6 {
			f.Add(uint8(ep), []byte(s))
		}
	}
	fx := newServer(f)
	people := fx.people
	h := fx.srv.Config.Handler
	ctx := context.Background()
	people.AddUser(ctx, apiv1.NewUser{Name: "ann", Role: apiv1.RoleAdmin, Password: "ann-password"}, "test", "")
	id, sid, err := people.SignIn(ctx, "ann", "ann-password", "")
	if err != nil {
		f.Fatal(err)
	}
	endpoints := []struct{ method, path string }{
		{"POST", "/api/v1/session"}, {"POST", "/api/v1/setup"}, {"POST", "/api/v1/users"},
		{"PATCH", "/api/v1/users/ann"}, {"POST", "/api/v1/users/ann/password"}, {"POST", "/api/v1/tokens"},
	}
	f.Fuzz(func(t *testing.T, ep uint8, body []byte) {
		e := endpoints[int(ep)%len(endpoints)]
		r := httptest.NewRequest(e.method, e.path, bytes.NewReader(body))
		r.RemoteAddr = "192.0.2.1:1234" // not loopback: setup refuses
		r.Header.Set("Cookie", api.SessionCookie+"="+sid)
		r.Header.Set(api.CSRFHeader, id.CSRF)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", e.method, e.path, body, w.Code, w.Body)
		}
		if w.Code != http.StatusNoContent && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s: answer is not JSON: %s", e.method, e.path, w.Body)
		}
	})
}
