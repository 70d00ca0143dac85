package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestActor checks the seam that names who makes a request: the admin
// token is "admin"; a request that never passed Auth is "unknown".
func TestActor(t *testing.T) {
	a := NewAuth("esm_admin_secret", nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var got string
	h := a.Require(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = Actor(r.Context()) }))
	tests := []struct {
		name  string
		token string
		want  string
		code  int
	}{
		{"admin token", "esm_admin_secret", "admin", http.StatusOK},
		{"wrong token", "nope", "", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got = ""
			req := httptest.NewRequest("POST", "/api/v1/alerts/x/ack", nil)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code || got != tc.want {
				t.Fatalf("status %d actor %q, want %d %q", rec.Code, got, tc.code, tc.want)
			}
		})
	}
	if who := Actor(context.Background()); who != "unknown" {
		t.Errorf("Actor without Auth = %q", who)
	}
	if who := Actor(WithActor(context.Background(), "alice")); who != "alice" {
		t.Errorf("Actor = %q, want alice", who)
	}
}
