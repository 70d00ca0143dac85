package api_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"esmon/core/api"
	"esmon/core/apiv1"
	"esmon/core/hub"
)

// TestLiveEndsWithCredential: an open /ws/live lasts only as long as what
// opened it. Signing out, disabling or demoting the user, or deleting the
// token closes the feed with CloseSignedOut (the page then shows its
// sign-in form); someone else's sign-out leaves it open.
func TestLiveEndsWithCredential(t *testing.T) {
	tests := []struct {
		name   string
		role   string
		bearer bool                                                     // open the feed with a personal token instead of the cookie
		end    func(t *testing.T, f *fixture, p person, tokenID string) // what the test does to the credential
		closes bool
	}{
		{"sign-out", apiv1.RoleViewer, false, func(t *testing.T, f *fixture, p person, _ string) {
			f.must(t, req{method: "DELETE", path: "/api/v1/session", header: p.header(f, true)}, http.StatusNoContent, http.StatusOK)
		}, true},
		{"user disabled", apiv1.RoleViewer, false, func(t *testing.T, f *fixture, p person, _ string) {
			f.must(t, authed("PATCH", "/api/v1/users/"+p.name, `{"disabled":true}`), http.StatusOK)
		}, true},
		{"role lowered", apiv1.RoleOperator, false, func(t *testing.T, f *fixture, p person, _ string) {
			f.must(t, authed("PATCH", "/api/v1/users/"+p.name, `{"role":"viewer"}`), http.StatusOK)
		}, true},
		{"token deleted", apiv1.RoleViewer, true, func(t *testing.T, f *fixture, p person, id string) {
			f.must(t, req{method: "DELETE", path: "/api/v1/tokens/" + id, header: p.header(f, true)}, http.StatusNoContent, http.StatusOK)
		}, true},
		{"someone else signs out", apiv1.RoleViewer, false, func(t *testing.T, f *fixture, _ person, _ string) {
			other := f.addPerson(t, "olga", apiv1.RoleViewer)
			f.must(t, req{method: "DELETE", path: "/api/v1/session", header: other.header(f, true)}, http.StatusNoContent, http.StatusOK)
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newServer(t)
			p := f.addPerson(t, "pia", tc.role)
			hdr := http.Header{"Cookie": {api.SessionCookie + "=" + p.cookie}}
			var tokenID string
			if tc.bearer {
				resp := f.do(t, req{method: "POST", path: "/api/v1/tokens", body: `{"name":"wall","scopes":["read"]}`, header: p.header(f, true)})
				var tok apiv1.CreatedToken
				if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&tok) != nil || tok.Secret == "" {
					t.Fatalf("create token: %d", resp.StatusCode)
				}
				tokenID, hdr = tok.ID, http.Header{"Authorization": {"Bearer " + tok.Secret}}
			}
			ws, _, err := dialLive(t, f, hdr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			var ev apiv1.Event
			if err := ws.ReadJSON(&ev); err != nil || ev.Type != apiv1.EventSnapshot {
				t.Fatalf("first event %+v (%v), want the snapshot", ev, err)
			}

			tc.end(t, f, p, tokenID)

			// The feed is checked every second: five seconds are plenty,
			// and a feed that stays open reads a timeout.
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				_, _, err = ws.ReadMessage()
				if err != nil {
					break
				}
			}
			var ce *websocket.CloseError
			closed := errors.As(err, &ce)
			switch {
			case tc.closes && (!closed || ce.Code != hub.CloseSignedOut):
				t.Fatalf("feed ended with %v, want close %d", err, hub.CloseSignedOut)
			case !tc.closes && closed:
				t.Fatalf("feed closed with %v; it should stay open", err)
			}
		})
	}
}

// must sends r and fails unless the answer has one of the codes.
func (f *fixture) must(t *testing.T, r req, codes ...int) {
	t.Helper()
	resp := f.do(t, r)
	for _, c := range codes {
		if resp.StatusCode == c {
			return
		}
	}
	t.Fatalf("%s %s: %d, want one of %v", r.method, r.path, resp.StatusCode, codes)
}
