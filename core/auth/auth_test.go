package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"esmon/core/apiv1"
	"esmon/core/store"
)

// cheap keeps tests fast; TestDefaultCost checks the real parameters.
var cheap = Argon2{Time: 1, Memory: 64, Threads: 1}

// clock is a settable time for sessions, tokens and lockouts.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	svc *Service
	db  *store.DB
	dir string
	clk *clock
	reg *prometheus.Registry
}

const bootstrap = "esm_admin_bootstrap-secret"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(store.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, dir: dir, clk: &clock{t: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}}
	t.Cleanup(func() { f.db.Close() })
	f.open(t)
	return f
}

// open (re)opens the service on the fixture's store, as a restart would.
func (f *fixture) open(t *testing.T) {
	t.Helper()
	f.reg = prometheus.NewRegistry()
	svc, err := Open(Options{KV: f.db, BootstrapToken: bootstrap, Argon2: cheap, Now: f.clk.Now, Registerer: f.reg,
		MaxFailures: 3, Lockout: 10 * time.Minute, RemoteFailures: 6, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
}

func (f *fixture) add(t *testing.T, name, role string) {
	t.Helper()
	if _, err := f.svc.AddUser(context.Background(), apiv1.NewUser{Name: name, Role: role, Password: name + "-password"}, "test", ""); err != nil {
		t.Fatalf("add %s: %v", name, err)
	}
}

func (f *fixture) signIn(name, pw, remote string) (Identity, string, error) {
	return f.svc.SignIn(context.Background(), name, pw, remote)
}

func TestSignIn(t *testing.T) {
	f := newFixture(t)
	f.add(t, "ann", apiv1.RoleOperator)
	f.add(t, "bob", apiv1.RoleViewer)
	if _, err := f.svc.UpdateUser("bob", apiv1.UserPatch{Disabled: new(true)}, "test", ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, pw string
		want           error
		role           string
	}{
		{"right password", "ann", "ann-password", nil, apiv1.RoleOperator},
		{"name in other case and spaces", " ANN ", "ann-password", nil, apiv1.RoleOperator},
		{"wrong password", "ann", "ann-passwort", ErrBadCredentials, ""},
		{"empty password", "ann", "", ErrBadCredentials, ""},
		{"unknown user", "nobody", "ann-password", ErrBadCredentials, ""},
		{"disabled user", "bob", "bob-password", ErrDisabled, ""},
		{"bootstrap token without a name", "", bootstrap, nil, apiv1.RoleAdmin},
		{"wrong token without a name", "", "esm_admin_nope", ErrBadToken, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(f.svc.signinFailures)
			id, sid, err := f.signIn(tc.user, tc.pw, "10.0.0.1")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			failures := testutil.ToFloat64(f.svc.signinFailures) - before
			if tc.want != nil {
				if sid != "" || failures != 1 {
					t.Errorf("session %q, failures counted %v; want none and 1", sid, failures)
				}
				return
			}
			if id.Role != tc.role || sid == "" || id.CSRF == "" {
				t.Fatalf("identity %+v session %q, want role %s with a session and a CSRF token", id, sid, tc.role)
			}
			got, err := f.svc.Session(sid)
			if err != nil || got.User != id.User || got.CSRF != id.CSRF {
				t.Errorf("Session = %+v, %v; want %s", got, err, id.User)
			}
		})
	}
	// Failures above were spread over names; none reached the limit of 3
	// in a row, since the right password in between resets the count.
}

func TestLockout(t *testing.T) {
	f := newFixture(t)
	f.add(t, "ann", apiv1.RoleAdmin)
	steps := []struct {
		name    string
		advance time.Duration
		pw      string
		remote  string
		want    error
	}{
		{"first failure", 0, "wrong-1", "10.0.0.1", ErrBadCredentials},
		{"second failure", 0, "wrong-2", "10.0.0.2", ErrBadCredentials},
		{"third failure locks", 0, "wrong-3", "10.0.0.3", ErrBadCredentials},
		{"right password while locked", time.Minute, "ann-password", "10.0.0.4", ErrLocked},
		{"still locked near the end", 8 * time.Minute, "ann-password", "10.0.0.4", ErrLocked},
		{"lock over", 2 * time.Minute, "ann-password", "10.0.0.4", nil},
		{"a failure after success starts a new count", 0, "wrong-4", "10.0.0.5", ErrBadCredentials},
		{"and does not lock at once", 0, "ann-password", "10.0.0.5", nil},
	}
	for _, st := range steps {
		f.clk.Add(st.advance)
		_, _, err := f.signIn("ann", st.pw, st.remote)
		if !errors.Is(err, st.want) {
			t.Fatalf("%s: err %v, want %v", st.name, err, st.want)
		}
		if st.name == "right password while locked" {
			if u, _ := f.svc.User("ann"); u.LockedUntil.IsZero() {
				t.Errorf("%s: the user list does not show the lock", st.name)
			}
		}
	}
	if got := testutil.ToFloat64(f.svc.lockouts); got != 1 {
		t.Errorf("lockouts counted %v, want 1", got)
	}
	entries, _ := f.svc.AuditLog(0)
	if !hasAudit(entries, "lockout", "user ann", true) {
		t.Errorf("no lockout entry in the audit log: %+v", entries)
	}
}

func TestThrottleAddress(t *testing.T) {
	f := newFixture(t)
	f.add(t, "ann", apiv1.RoleAdmin)
	// One address guessing over many names is throttled after 6 failures,
	// though no single name reached its limit; other addresses are not.
	for i := range 6 {
		if _, _, err := f.signIn("guess"+string(rune('a'+i)), "x", "10.9.9.9"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, _, err := f.signIn("ann", "ann-password", "10.9.9.9"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("from the guessing address: %v, want ErrThrottled", err)
	}
	if _, _, err := f.signIn("ann", "ann-password", "10.1.1.1"); err != nil {
		t.Fatalf("from another address: %v", err)
	}
	f.clk.Add(11 * time.Minute)
	if _, _, err := f.signIn("ann", "ann-password", "10.9.9.9"); err != nil {
		t.Fatalf("after the throttle: %v", err)
	}
}

func TestSessions(t *testing.T) {
	f := newFixture(t)
	f.add(t, "ann", apiv1.RoleAdmin)
	f.add(t, "cat", apiv1.RoleOperator)
	_, sid, err := f.signIn("ann", "ann-password", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the session id to try
		want  error
	}{
		{"live session", func(*testing.T) string { return sid }, nil},
		{"forged id", func(*testing.T) string { return secret("") }, ErrNoSession},
		{"empty id", func(*testing.T) string { return "" }, ErrNoSession},
		{"huge id", func(*testing.T) string { return strings.Repeat("a", 10000) }, ErrNoSession},
		{"the stored key instead of the id", func(*testing.T) string { return digest(sid) }, ErrNoSession},
		{"survives a restart", func(t *testing.T) string { f.open(t); return sid }, nil},
		{"expired after its lifetime", func(t *testing.T) string {
			_, s, _ := f.signIn("cat", "cat-password", "")
			for range 13 { // used every hour, so never idle, but 13 h old
				f.clk.Add(time.Hour)
				f.svc.Session(s)
			}
			return s
		}, ErrNoSession},
		{"idle too long", func(*testing.T) string {
			_, s, _ := f.signIn("cat", "cat-password", "")
			f.clk.Add(2*time.Hour + time.Second)
			return s
		}, ErrNoSession},
		{"user disabled", func(t *testing.T) string {
			_, s, _ := f.signIn("cat", "cat-password", "")
			if _, err := f.svc.UpdateUser("cat", apiv1.UserPatch{Disabled: new(true)}, "ann", ""); err != nil {
				t.Fatal(err)
			}
			return s
		}, ErrNoSession},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.svc.Session(tc.setup(t)); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	// Nothing in the store opens a session: only hashes are kept.
	assertNotInDir(t, f, sid)
}

func TestSignOutAndPasswordChange(t *testing.T) {
	f := newFixture(t)
	f.add(t, "ann", apiv1.RoleOperator)
	id1, s1, _ := f.signIn("ann", "ann-password", "")
	_, s2, _ := f.signIn("ann", "ann-password", "")
	_, s3, _ := f.signIn("ann", "ann-password", "")
	f.svc.SignOut(id1, "")
	if _, err := f.svc.Session(s1); !errors.Is(err, ErrNoSession) {
		t.Errorf("signed-out session: %v", err)
	}
	id2, _ := f.svc.Session(s2)
	wrong := "not-my-password"
	var fe *FieldError
	if err := f.svc.SetPassword(context.Background(), "ann", &wrong, "a-new-password", id2, ""); !errors.As(err, &fe) || fe.Field != "current" {
		t.Fatalf("change with a wrong current password: %v", err)
	}
	short := "ann-password"
	if err := f.svc.SetPassword(context.Background(), "ann", &short, "short", id2, ""); !errors.As(err, &fe) || fe.Field != "password" {
		t.Fatalf("change to a short password: %v", err)
	}
	if err := f.svc.SetPassword(context.Background(), "ann", &short, "a-new-password", id2, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Session(s2); err != nil {
		t.Errorf("the session that changed the password ended: %v", err)
	}
	if _, err := f.svc.Session(s3); !errors.Is(err, ErrNoSession) {
		t.Errorf("another session survived the change: %v", err)
	}
	if _, _, err := f.signIn("ann", "ann-password", ""); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("old password: %v", err)
	}
	if _, _, err := f.signIn("ann", "a-new-password", ""); err != nil {
		t.Errorf("new password: %v", err)
	}
}

func TestUsersRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if !f.svc.NeedsSetup() {
		t.Fatal("a fresh store needs no setup")
	}
	if _, err := f.svc.Setup(ctx, "root", "root-password", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	var fe *FieldError
	tests := []struct {
		name string
		do   func() error
		want func(error) bool
	}{
		{"second setup", func() error { _, err := f.svc.Setup(ctx, "evil", "evil-password", ""); return err },
			func(err error) bool { return errors.Is(err, ErrSetupDone) }},
		{"duplicate name", func() error {
			_, err := f.svc.AddUser(ctx, apiv1.NewUser{Name: "root", Role: "viewer", Password: "0123456789"}, "root", "")
			return err
		}, func(err error) bool { return errors.Is(err, ErrUserExists) }},
		{"bad name", func() error {
			_, err := f.svc.AddUser(ctx, apiv1.NewUser{Name: "a b", Role: "viewer", Password: "0123456789"}, "root", "")
			return err
		}, func(err error) bool { return errors.As(err, &fe) && fe.Field == "name" }},
		{"reserved bootstrap name", func() error {
			_, err := f.svc.AddUser(ctx, apiv1.NewUser{Name: BootstrapUser, Role: "viewer", Password: "0123456789"}, "root", "")
			return err
		}, func(err error) bool { return errors.As(err, &fe) && fe.Field == "name" }},
		{"bad role", func() error {
			_, err := f.svc.AddUser(ctx, apiv1.NewUser{Name: "eve", Role: "god", Password: "0123456789"}, "root", "")
			return err
		}, func(err error) bool { return errors.As(err, &fe) && fe.Field == "role" }},
		{"demote the last admin", func() error {
			_, err := f.svc.UpdateUser("root", apiv1.UserPatch{Role: new(apiv1.RoleViewer)}, "root", "")
			return err
		}, func(err error) bool { return errors.Is(err, ErrLastAdmin) }},
		{"disable the last admin", func() error {
			_, err := f.svc.UpdateUser("root", apiv1.UserPatch{Disabled: new(true)}, "root", "")
			return err
		}, func(err error) bool { return errors.Is(err, ErrLastAdmin) }},
		{"delete the last admin", func() error { return f.svc.DeleteUser("root", "root", "") },
			func(err error) bool { return errors.Is(err, ErrLastAdmin) }},
		{"delete nobody", func() error { return f.svc.DeleteUser("nobody", "root", "") },
			func(err error) bool { return errors.Is(err, ErrNoUser) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !tc.want(err) {
				t.Fatalf("unexpected error %v", err)
			}
		})
	}
	if us := f.svc.Users(); len(us) != 1 || us[0].Name != "root" || us[0].Role != apiv1.RoleAdmin {
		t.Errorf("users %+v, want root alone", us)
	}
	assertNotInDir(t, f, "root-password")
}

func TestTokens(t *testing.T) {
	f := newFixture(t)
	f.add(t, "ann", apiv1.RoleAdmin)
	f.add(t, "vic", apiv1.RoleViewer)
	ann, _, _ := f.signIn("ann", "ann-password", "")
	vic, _, _ := f.signIn("vic", "vic-password", "")
	ids := map[string]string{} // secret -> id
	mk := func(t *testing.T, id Identity, scopes ...string) string {
		t.Helper()
		ct, err := f.svc.CreateToken(id, apiv1.NewToken{Name: "script", Scopes: scopes}, "")
		if err != nil {
			t.Fatalf("create token %v: %v", scopes, err)
		}
		if !strings.HasPrefix(ct.Secret, TokenPrefix) || ct.ID == "" {
			t.Fatalf("token %+v", ct)
		}
		ids[ct.Secret] = ct.ID
		return ct.Secret
	}
	readTok, opTok, adminTok := mk(t, ann, "read"), mk(t, ann, "operate"), mk(t, ann, "admin", "read")
	tests := []struct {
		name  string
		token string
		need  string
		can   bool
	}{
		{"read token reads", readTok, apiv1.RoleViewer, true},
		{"read token may not acknowledge", readTok, apiv1.RoleOperator, false},
		{"operate token acknowledges", opTok, apiv1.RoleOperator, true},
		{"operate token may not change rules", opTok, apiv1.RoleAdmin, false},
		{"admin token changes rules", adminTok, apiv1.RoleAdmin, true},
		{"bootstrap token is admin", bootstrap, apiv1.RoleAdmin, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := f.svc.Authenticate(tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if got := id.Can(tc.need); got != tc.can {
				t.Fatalf("Can(%s) = %v, want %v (identity %+v)", tc.need, got, tc.can, id)
			}
		})
	}
	var fe *FieldError
	if _, err := f.svc.CreateToken(vic, apiv1.NewToken{Name: "x", Scopes: []string{"admin"}}, ""); !errors.As(err, &fe) {
		t.Errorf("a viewer made an admin token: %v", err)
	}
	tokID, _ := f.svc.Authenticate(opTok)
	if _, err := f.svc.CreateToken(tokID, apiv1.NewToken{Name: "x", Scopes: []string{"read"}}, ""); !errors.As(err, &fe) {
		t.Errorf("a token made a token: %v", err)
	}
	// A viewer's own read token stops working when the viewer is deleted,
	// and a demoted admin's admin token loses its power with the role.
	vicTok := mk(t, vic, "read")
	if err := f.svc.DeleteUser("vic", "ann", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(vicTok); !errors.Is(err, ErrBadToken) {
		t.Errorf("deleted user's token: %v", err)
	}
	f.add(t, "zed", apiv1.RoleAdmin)
	if _, err := f.svc.UpdateUser("ann", apiv1.UserPatch{Role: new(apiv1.RoleViewer)}, "zed", ""); err != nil {
		t.Fatal(err)
	}
	if id, _ := f.svc.Authenticate(adminTok); id.Can(apiv1.RoleOperator) {
		t.Error("a demoted admin's token still operates")
	}
	// Expiry and revocation.
	exp, err := f.svc.CreateToken(signInAgain(t, f), apiv1.NewToken{Name: "short", Scopes: []string{"read"}, ExpiresIn: apiv1.Duration(time.Hour)}, "")
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Add(time.Hour)
	if _, err := f.svc.Authenticate(exp.Secret); !errors.Is(err, ErrBadToken) {
		t.Errorf("expired token: %v", err)
	}
	if list := f.svc.Tokens("ann"); len(list) != 4 {
		t.Fatalf("ann's tokens %+v, want 4", list)
	}
	if err := f.svc.DeleteToken(vic, ids[readTok], ""); !errors.Is(err, ErrNoToken) {
		t.Fatalf("someone else revoked ann's token: %v", err)
	}
	if err := f.svc.DeleteToken(ann, ids[readTok], ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(readTok); !errors.Is(err, ErrBadToken) {
		t.Errorf("revoked token: %v", err)
	}
	for _, s := range []string{readTok, opTok, adminTok} {
		assertNotInDir(t, f, s)
	}
}

// signInAgain signs ann in again (her role changed) for a fresh identity.
func signInAgain(t *testing.T, f *fixture) Identity {
	id, _, err := f.signIn("ann", "ann-password", "")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestAuditLog(t *testing.T) {
	f := newFixture(t)
	f.add(t, "ann", apiv1.RoleAdmin)
	id, _, _ := f.signIn("ann", "ann-password", "10.0.0.1")
	f.signIn("ann", "nope", "10.0.0.2")
	f.svc.CreateToken(id, apiv1.NewToken{Name: "ci", Scopes: []string{"read"}}, "10.0.0.1")
	f.svc.UpdateUser("ann", apiv1.UserPatch{Role: new(apiv1.RoleViewer)}, "ann", "10.0.0.1") // refused: last admin
	f.svc.SignOut(id, "10.0.0.1")
	entries, err := f.svc.AuditLog(0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		action, target string
		ok             bool
	}{
		{"user.add", "ann", true},
		{"signin", "", true},
		{"signin", "", false},
		{"token.create", "ci", true},
		{"user.update", "ann", false},
		{"signout", "", true},
	}
	for _, tc := range tests {
		if !hasAudit(entries, tc.action, tc.target, tc.ok) {
			t.Errorf("no audit entry %s %s ok=%v in %+v", tc.action, tc.target, tc.ok, entries)
		}
	}
	if entries[0].Action != "signout" {
		t.Errorf("newest entry %+v, want the sign-out first", entries[0])
	}
	for _, e := range entries {
		if strings.Contains(e.Detail, "password") && strings.Contains(e.Detail, "ann-password") {
			t.Errorf("a password in the audit log: %+v", e)
		}
	}
}

// TestAuditBounded: past its bound the audit log loses its oldest entries.
func TestAuditBounded(t *testing.T) {
	f := newFixture(t)
	for i := range 30 {
		f.clk.Add(time.Second)
		f.svc.Audit(apiv1.AuditEntry{Actor: "x", Action: "signin", Detail: strconv.Itoa(i)})
	}
	if err := f.svc.pruneAudit(10); err != nil {
		t.Fatal(err)
	}
	es, err := f.svc.AuditLog(0)
	if err != nil || len(es) != 10 || es[0].Detail != "29" || es[9].Detail != "20" {
		t.Fatalf("after pruning to 10: %d entries (%v), newest %+v", len(es), err, es)
	}
}

func hasAudit(es []apiv1.AuditEntry, action, target string, ok bool) bool {
	for _, e := range es {
		if e.Action == action && (target == "" || e.Target == target) && e.OK == ok {
			return true
		}
	}
	return false
}

// assertNotInDir fails if secret appears in any file of the store's
// directory: the raw Badger files, as a thief with a backup would read
// them.
func assertNotInDir(t *testing.T, f *fixture, secret string) {
	t.Helper()
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(f.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret in clear", p)
		}
		return nil
	})
	db, err := store.Open(store.Options{Dir: f.dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.db = db
	f.open(t)
}

func TestPasswordHash(t *testing.T) {
	h, err := cheap.hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		p         Argon2
		hash, pw  string
		ok, stale bool
		err       error
	}{
		{"match", cheap, h, "correct horse", true, false, nil},
		{"mismatch", cheap, h, "correct horsE", false, false, nil},
		{"weaker than now: rehash", Argon2{Time: 2, Memory: 64, Threads: 1}, h, "correct horse", true, true, nil},
		{"not argon2id", cheap, "$2a$10$abcdefghijklmnopqrstuv", "x", false, false, ErrBadHash},
		{"absurd memory", cheap, strings.Replace(h, "m=64", "m=99999999", 1), "x", false, false, ErrBadHash},
		{"empty", cheap, "", "x", false, false, ErrBadHash},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, stale, err := tc.p.verify(tc.hash, tc.pw)
			if ok != tc.ok || stale != tc.stale || !errors.Is(err, tc.err) {
				t.Fatalf("verify = %v %v %v, want %v %v %v", ok, stale, err, tc.ok, tc.stale, tc.err)
			}
		})
	}
}

// TestDefaultCost checks that the default parameters are the ones written
// into a hash, and that a hash made with them verifies.
func TestDefaultCost(t *testing.T) {
	h, err := DefaultArgon2.hash("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("hash %s does not carry the default parameters", h)
	}
	if ok, stale, err := DefaultArgon2.verify(h, "a long enough password"); !ok || stale || err != nil {
		t.Fatalf("verify = %v %v %v", ok, stale, err)
	}
}

func TestSeal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SecretKeyFile)
	s, err := LoadSealer(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v, want mode 0600", fi, err)
	}
	again, err := LoadSealer(path)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := LoadSealer(filepath.Join(t.TempDir(), SecretKeyFile))
	const secret = "https://example.webhook.office.com/workflows/abc?sig=XYZ"
	sealed := s.Seal(secret)
	tampered := sealed[:len(sealed)-2] + "AA"
	tests := []struct {
		name string
		s    *Sealer
		in   string
		want string
		err  error
	}{
		{"opens with the same key", s, sealed, secret, nil},
		{"opens after a reload of the key", again, sealed, secret, nil},
		{"plain values pass through", s, "plain-password", "plain-password", nil},
		{"another data directory's key", other, sealed, "", ErrSealed},
		{"tampered", s, tampered, "", ErrSealed},
		{"not base64", s, SealPrefix + "!!!", "", ErrSealed},
		{"too short", s, SealPrefix + "AAAA", "", ErrSealed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.Open(tc.in)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Fatalf("Open = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
	if strings.Contains(sealed, "example") || sealed == s.Seal(secret) {
		t.Errorf("sealed %q shows the secret or is not randomised", sealed)
	}
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := LoadSealer(path); err == nil {
		t.Error("a damaged key file was accepted")
	}
}

// BenchmarkPasswordHash measures one argon2id hash at the default cost:
// what each sign-in costs the core, and each guess costs an attacker who
// stole the hashes.
func BenchmarkPasswordHash(b *testing.B) {
	for b.Loop() {
		if _, err := DefaultArgon2.hash("a long enough password"); err != nil {
			b.Fatal(err)
		}
	}
}
