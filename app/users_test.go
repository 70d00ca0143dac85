package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"esmon/core"
	"esmon/core/auth"
)

// TestUsersCommand runs `esmon users` as a person would on a fresh data
// directory: the first admin, a viewer, a listing, a password change, a
// deletion, and the mistakes people make.
func TestUsersCommand(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("file-password-123\n"), 0o600)
	steps := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout string
		stderr string
	}{
		{"add the first admin", []string{"add", "root"}, "root-password-1\n", 0, "added root (admin)", ""},
		{"add a viewer after the name", []string{"add", "vera", "--role", "viewer"}, "vera-password-1\n", 0, "added vera (viewer)", ""},
		{"add from a password file", []string{"add", "--password-file", pwFile, "--role", "operator", "otto"}, "", 0, "added otto (operator)", ""},
		{"add a duplicate", []string{"add", "root"}, "root-password-2\n", 1, "", "a user of that name exists"},
		{"add with a short password", []string{"add", "ann"}, "short\n", 1, "", "password: must be at least"},
		{"add with a bad role", []string{"add", "ann", "--role", "king"}, "ann-password-1\n", 1, "", "role: must be one of"},
		{"list", []string{"list"}, "", 0, "otto  operator  enabled", ""},
		{"change a password", []string{"passwd", "vera"}, "vera-password-2\n", 0, "password of vera changed", ""},
		{"change nobody's password", []string{"passwd", "nobody"}, "nobody-password\n", 1, "", "no such user"},
		{"delete the last admin", []string{"delete", "root"}, "", 1, "", "no enabled admin"},
		{"delete a viewer", []string{"delete", "vera"}, "", 0, "deleted vera", ""},
		{"no verb", []string{}, "", 2, "", "Usage:"},
		{"unknown verb", []string{"promote", "x"}, "", 2, "", "Usage:"},
		{"add without a name", []string{"add"}, "", 2, "", "Usage:"},
	}
	for _, st := range steps {
		var out, errOut bytes.Buffer
		code := runUsers("users", append(st.args, "--data", dir), strings.NewReader(st.stdin), &out, &errOut)
		if code != st.code || !strings.Contains(out.String(), st.stdout) || !strings.Contains(errOut.String(), st.stderr) {
			t.Fatalf("%s: code %d, stdout %q, stderr %q; want %d, %q, %q", st.name, code, out.String(), errOut.String(), st.code, st.stdout, st.stderr)
		}
	}
	// The core opens the same users: root signs in with the password
	// given, vera is gone, and the audit log names the command.
	svc, closeDB, err := core.OpenPeople(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB()
	ctx := context.Background()
	if _, _, err := svc.SignIn(ctx, "root", "root-password-1", ""); err != nil {
		t.Errorf("root signs in: %v", err)
	}
	if _, _, err := svc.SignIn(ctx, "otto", "file-password-123", ""); err != nil {
		t.Errorf("otto signs in with the password from the file: %v", err)
	}
	if _, ok := svc.User("vera"); ok {
		t.Error("vera was not deleted")
	}
	log, _ := svc.AuditLog(0)
	found := false
	for _, e := range log {
		found = found || (e.Actor == cliActor && e.Action == "user.delete" && e.Target == "vera")
	}
	if !found {
		t.Errorf("the audit log does not record the deletion by %q: %+v", cliActor, log)
	}
}

func TestSecretSeal(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if code := runUsers("secret", []string{"seal", "--data", dir}, strings.NewReader("https://hooks.example/abc\n"), &out, &errOut); code != 0 {
		t.Fatalf("seal: %d %s", code, errOut.String())
	}
	sealed := strings.TrimSpace(out.String())
	if !strings.HasPrefix(sealed, auth.SealPrefix) || strings.Contains(sealed, "hooks.example") {
		t.Fatalf("sealed %q", sealed)
	}
	s, err := auth.LoadSealer(filepath.Join(dir, auth.SecretKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(sealed); err != nil || got != "https://hooks.example/abc" {
		t.Errorf("open = %q, %v", got, err)
	}
	if code := runUsers("secret", []string{"list"}, strings.NewReader(""), &out, &errOut); code != 2 {
		t.Errorf("esmon secret list: %d, want usage", code)
	}
}
