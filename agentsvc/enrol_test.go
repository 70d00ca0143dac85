package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"esmon/core"
	"esmon/core/apiv1"
	"esmon/core/wire"
)

// startCore runs a real core with its own certificate on loopback until the
// test ends.
func startCore(t *testing.T) *core.Core {
	t.Helper()
	c, err := core.New(core.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("core: %v", err)
		}
	})
	return c
}

// TestResolveIdentity enrols against a real core over TLS and checks what
// the agent keeps and when it refuses to go on.
func TestResolveIdentity(t *testing.T) {
	c := startCore(t)
	log := slog.New(slog.DiscardHandler)
	newCode := func(uses int) string {
		jc, err := c.CreateJoinCode(apiv1.NewJoinCode{Uses: uses, TTLSeconds: 600})
		if err != nil {
			t.Fatal(err)
		}
		return jc.Code
	}
	usesLeft := func(code string) int {
		j, _ := wire.ParseJoinCode(code)
		id, _, _ := strings.Cut(j.Secret, ".")
		for _, jc := range c.JoinCodes() {
			if jc.ID == id {
				return jc.UsesLeft
			}
		}
		t.Fatalf("join code %s not listed", id)
		return 0
	}
	facts := wire.HostFacts{Hostname: "enrol-test", OS: "linux"}
	otherPin := "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

	t.Run("wrong pin: refused before the secret is sent", func(t *testing.T) {
		code := newCode(1)
		dir := t.TempDir()
		_, err := resolveIdentity(Config{StateDir: dir, JoinCode: code, Fingerprint: otherPin}, facts, log)
		if err == nil || !strings.Contains(err.Error(), "does not match the pinned fingerprint") {
			t.Fatalf("resolveIdentity: %v, want a pin mismatch", err)
		}
		if n := usesLeft(code); n != 1 {
			t.Errorf("uses left %d: the core saw the secret", n)
		}
		if hasEnrolment(dir) {
			t.Error("an enrolment was kept")
		}
	})

	dir := t.TempDir()
	code := newCode(1)
	var first *identity
	t.Run("enrols once and keeps the credential for the service account alone", func(t *testing.T) {
		var err error
		first, err = resolveIdentity(Config{StateDir: dir, JoinCode: code}, facts, log)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, enrolmentFile))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("enrolment file: %v %v, want mode 0600", fi, err)
		}
		e, _ := loadEnrolment(dir)
		if e.Pin != c.Pin() || e.AgentID != first.AgentID || !strings.HasPrefix(e.Credential, "esma_") {
			t.Errorf("kept %+v; want the core's pin %s", e, c.Pin())
		}
	})
	t.Run("a restart reuses it; the used-up code is not needed", func(t *testing.T) {
		again, err := resolveIdentity(Config{StateDir: dir, JoinCode: code}, facts, log)
		if err != nil || again.AgentID != first.AgentID || again.Token != first.Token {
			t.Fatalf("second start: %+v %v", again, err)
		}
		if _, err := c.HelloFrom(&wire.Hello{AgentID: again.AgentID, Token: again.Token, Host: facts}, "test"); err != nil {
			t.Errorf("the core refuses the kept credential: %v", err)
		}
	})
	t.Run("revoked: the same code does not bring it back", func(t *testing.T) {
		if err := markRevoked(dir); err != nil {
			t.Fatal(err)
		}
		_, err := resolveIdentity(Config{StateDir: dir, JoinCode: code}, facts, log)
		if err == nil || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("resolveIdentity: %v, want revoked", err)
		}
		_, err = resolveIdentity(Config{StateDir: dir}, facts, log)
		if err == nil || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("resolveIdentity without a code: %v, want revoked", err)
		}
	})
	t.Run("revoked: a new code enrols it as a new agent", func(t *testing.T) {
		who, err := resolveIdentity(Config{StateDir: dir, JoinCode: newCode(1)}, facts, log)
		if err != nil || who.AgentID == first.AgentID {
			t.Fatalf("re-enrol: %+v %v", who, err)
		}
	})
	t.Run("a code the core refuses says why", func(t *testing.T) {
		used := newCode(1)
		if _, err := resolveIdentity(Config{StateDir: t.TempDir(), JoinCode: used}, facts, log); err != nil {
			t.Fatal(err)
		}
		_, err := resolveIdentity(Config{StateDir: t.TempDir(), JoinCode: used}, facts, log)
		if err == nil || !strings.Contains(err.Error(), "used up") {
			t.Fatalf("second agent on a one-use code: %v", err)
		}
	})
	t.Run("not enrolled and no code", func(t *testing.T) {
		_, err := resolveIdentity(Config{StateDir: t.TempDir()}, facts, log)
		if err == nil || !strings.Contains(err.Error(), "join code") {
			t.Fatalf("resolveIdentity: %v", err)
		}
	})
}
