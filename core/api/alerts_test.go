package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"esmon/core/apiv1"
	"esmon/core/auth"
	"esmon/core/store"
)

// TestActor checks the seam that names who makes a request: the user
// behind the credential, auth.BootstrapUser for the admin.token; a request
// that never passed Auth is "unknown".
func TestActor(t *testing.T) {
	db, err := store.Open(store.Options{InMemory: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err := auth.Open(auth.Options{KV: db, BootstrapToken: "esm_admin_secret", Argon2: auth.Argon2{Time: 1, Memory: 64, Threads: 1},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.AddUser(ctx, apiv1.NewUser{Name: "alice", Role: apiv1.RoleOperator, Password: "alice-password"}, "test", ""); err != nil {
		t.Fatal(err)
	}
	alice, _, err := svc.SignIn(ctx, "alice", "alice-password", "")
	if err != nil {
		t.Fatal(err)
	}
	pat, err := svc.CreateToken(alice, apiv1.NewToken{Name: "ci", Scopes: []string{apiv1.ScopeOperate}}, "")
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuth(svc, nil, slog.New(slog.DiscardHandler))
	var got string
	h := a.Require(apiv1.RoleOperator, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = Actor(r.Context()) }))
	tests := []struct {
		name  string
		token string
		want  string
		code  int
	}{
		{"admin token", "esm_admin_secret", auth.BootstrapUser, http.StatusOK},
		{"personal token", pat.Secret, "alice", http.StatusOK},
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
