package enrol

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"esmon/core/apiv1"
	"esmon/core/store"
	"esmon/core/wire"
)

const testPin = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

func openStore(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func secretOf(t *testing.T, c apiv1.CreatedJoinCode) string {
	t.Helper()
	j, err := wire.ParseJoinCode(c.Code)
	if err != nil {
		t.Fatalf("ParseJoinCode(%s): %v", c.Code, err)
	}
	if j.URL != "https://core.example:8470" || j.Pin != testPin || j.Expires != c.ExpiresAt.Unix() {
		t.Errorf("join code carries %+v", j)
	}
	return j.Secret
}

// TestJoinCodes runs join codes through their lives: each refusal has its
// reason and counter, and a good code gives a working credential.
func TestJoinCodes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db := openStore(t, dir)
	r, err := Open(db, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r.now = func() time.Time { return now }
	create := func(uses int, ttl int64) string {
		c, err := r.CreateJoinCode(apiv1.NewJoinCode{Uses: uses, TTLSeconds: ttl, Note: "test"}, "https://core.example:8470", testPin)
		if err != nil {
			t.Fatal(err)
		}
		return secretOf(t, c)
	}
	twoUses := create(2, 3600)
	expiring := create(5, 60)
	revoked := create(5, 3600)
	revokedID, _, _ := strings.Cut(revoked, ".")
	if ok, err := r.RevokeJoinCode(revokedID); !ok || err != nil {
		t.Fatalf("RevokeJoinCode: %v %v", ok, err)
	}
	wrongSecret, _, _ := strings.Cut(twoUses, ".")
	wrongSecret += ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

	var creds []wire.EnrolResponse
	tests := []struct {
		name    string
		secret  string
		advance time.Duration
		want    string // refusal code; "" for success
	}{
		{"first use", twoUses, 0, ""},
		{"no secret", "", 0, wire.EnrolRefusedUnknown},
		{"made-up secret", "0011223344556677.bm9wZQ", 0, wire.EnrolRefusedUnknown},
		{"right id, wrong secret", wrongSecret, 0, wire.EnrolRefusedUnknown},
		{"second use", twoUses, 0, ""},
		{"used up", twoUses, 0, wire.EnrolRefusedUsedUp},
		{"revoked code", revoked, 0, wire.EnrolRefusedRevoked},
		{"expired code", expiring, 61 * time.Second, wire.EnrolRefusedExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = now.Add(tt.advance)
			before := testutil.ToFloat64(r.enrolled.WithLabelValues(firstNonEmpty(tt.want, "ok")))
			resp, err := r.Enrol(wire.EnrolRequest{Secret: tt.secret, AgentVersion: "1.0", Host: wire.HostFacts{Hostname: "web-01", OS: "linux"}}, "192.0.2.1:5000")
			var ref *Refusal
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Enrol: %v", err)
			case tt.want != "" && (!errors.As(err, &ref) || ref.Code != tt.want):
				t.Fatalf("Enrol: %v, want refusal %s", err, tt.want)
			case tt.want == "":
				if !strings.HasPrefix(resp.Credential, CredentialPrefix) || resp.AgentID == "" {
					t.Fatalf("response %+v", resp)
				}
				creds = append(creds, resp)
			}
			if got := testutil.ToFloat64(r.enrolled.WithLabelValues(firstNonEmpty(tt.want, "ok"))); got != before+1 {
				t.Errorf("counter %s = %v, want %v", firstNonEmpty(tt.want, "ok"), got, before+1)
			}
		})
	}
	states := map[string]string{}
	for _, j := range r.JoinCodes() {
		states[j.ID] = j.State
	}
	twoID, _, _ := strings.Cut(twoUses, ".")
	expID, _, _ := strings.Cut(expiring, ".")
	if states[twoID] != apiv1.JoinUsedUp || states[expID] != apiv1.JoinExpired || states[revokedID] != apiv1.JoinRevoked {
		t.Errorf("states %v", states)
	}

	// Credentials work, are bound to their agent, and revocation sticks
	// across a restart.
	a, b := creds[0], creds[1]
	hello := func(id, tok string) *wire.Hello {
		return &wire.Hello{AgentID: id, Token: tok, AgentVersion: "1.1", Host: wire.HostFacts{Hostname: "web-01"}}
	}
	if err := r.Authenticate(hello(a.AgentID, a.Credential), "192.0.2.1:1"); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if ok, err := r.Revoke(b.AgentID); !ok || err != nil {
		t.Fatalf("Revoke: %v %v", ok, err)
	}
	db.Close()
	db = openStore(t, dir)
	defer db.Close()
	r, err = Open(db, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	auth := []struct {
		name string
		h    *wire.Hello
		want error
	}{
		{"kept across restart", hello(a.AgentID, a.Credential), nil},
		{"no credential", hello(a.AgentID, ""), ErrNoCredential},
		{"wrong credential", hello(a.AgentID, a.Credential+"x"), ErrBadCredential},
		{"another agent's id", hello(b.AgentID, a.Credential), ErrOtherAgent},
		{"revoked", hello(b.AgentID, b.Credential), ErrRevoked},
		{"revoked credential under another id", hello(a.AgentID, b.Credential), ErrBadCredential},
	}
	for _, tt := range auth {
		t.Run(tt.name, func(t *testing.T) {
			if err := r.Authenticate(tt.h, "x"); !errors.Is(err, tt.want) {
				t.Errorf("Authenticate: %v, want %v", err, tt.want)
			}
		})
	}
	for _, ag := range r.Agents() {
		if ag.ID == a.AgentID && (ag.Version != "1.1" || ag.LastContact.IsZero() || ag.Revoked) {
			t.Errorf("agent a: %+v", ag)
		}
		if ag.ID == b.AgentID && (!ag.Revoked || ag.RevokedAt.IsZero()) {
			t.Errorf("agent b: %+v", ag)
		}
	}
}

func TestCreateJoinCodeLimits(t *testing.T) {
	db := openStore(t, t.TempDir())
	defer db.Close()
	r, err := Open(db, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  apiv1.NewJoinCode
		ok   bool
	}{
		{"defaults", apiv1.NewJoinCode{}, true},
		{"many uses", apiv1.NewJoinCode{Uses: MaxUses, TTLSeconds: 3600}, true},
		{"too many uses", apiv1.NewJoinCode{Uses: MaxUses + 1}, false},
		{"negative uses", apiv1.NewJoinCode{Uses: -1}, false},
		{"negative ttl", apiv1.NewJoinCode{TTLSeconds: -5}, false},
		{"ttl too long", apiv1.NewJoinCode{TTLSeconds: int64(MaxTTL.Seconds()) + 1}, false},
		{"note too long", apiv1.NewJoinCode{Note: strings.Repeat("x", 201)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := r.CreateJoinCode(tt.req, "https://core.example:8470", testPin)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("CreateJoinCode: %v, want ok=%v", err, tt.ok)
			}
			if err == nil && (c.Install.Linux == "" || !strings.Contains(c.Install.WindowsMSI, "JOIN_CODE="+c.Code)) {
				t.Errorf("install commands %+v", c.Install)
			}
		})
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// BenchmarkAuthenticate is the cost of one agent's hello on a real store:
// what thousands of agents reconnecting after a core restart pay each.
func BenchmarkAuthenticate(b *testing.B) {
	db, err := store.Open(store.Options{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	r, err := Open(db, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	h := enrolWeb01(b, r)
	for b.Loop() {
		if err := r.Authenticate(h, "192.0.2.1:1"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRevocationOutlivesStaleContact: a contact record written after a
// revocation (a hello's write racing with the revoke, outside the lock)
// cannot bring the agent back, now or after a restart.
func TestRevocationOutlivesStaleContact(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db := openStore(t, dir)
	r, err := Open(db, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h := enrolWeb01(t, r)
	if err := r.Authenticate(h, "192.0.2.1:1"); err != nil {
		t.Fatal(err)
	}
	// The record as the hello wrote it, before the revoke.
	stale, err := db.Get(metaKey(agentKey, h.AgentID))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := r.Revoke(h.AgentID); !ok || err != nil {
		t.Fatalf("Revoke: %v %v", ok, err)
	}
	// The hello's write lands last.
	if err := db.Put(metaKey(agentKey, h.AgentID), stale); err != nil {
		t.Fatal(err)
	}
	if err := r.Authenticate(h, "192.0.2.1:1"); !errors.Is(err, ErrRevoked) {
		t.Fatalf("hello after revoke: %v, want ErrRevoked", err)
	}
	r2, err := Open(db, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Revoked(h.AgentID) {
		t.Fatal("after a reopen the revoked agent is back")
	}
	if err := r2.Authenticate(h, "192.0.2.1:1"); !errors.Is(err, ErrRevoked) {
		t.Fatalf("hello after reopen: %v, want ErrRevoked", err)
	}
}

func TestMSIName(t *testing.T) {
	for _, tc := range []struct{ version, want string }{
		{"0.1.0", "esmon-agent_0.1.0_x64.msi"},
		{"v1.2.3", "esmon-agent_1.2.3_x64.msi"},
		{"dev", "esmon-agent.msi"},
		{"628c500-dirty", "esmon-agent.msi"},
		{"", "esmon-agent.msi"},
	} {
		if got := MSIName(tc.version); got != tc.want {
			t.Errorf("MSIName(%q) = %q, want %q", tc.version, got, tc.want)
		}
	}
	if got := Install("esmon1_x", MSIName("0.1.0")).WindowsMSI; got != "msiexec /i esmon-agent_0.1.0_x64.msi /qn JOIN_CODE=esmon1_x" {
		t.Errorf("msiexec command %q", got)
	}
}

// countingKV is the real store, with its writes counted.
type countingKV struct {
	store.KV
	puts atomic.Int64
}

func (c *countingKV) Put(k, v []byte) error {
	c.puts.Add(1)
	return c.KV.Put(k, v)
}

// TestHelloAfterRestartWritesNothing: an agent that comes back after a
// restart, unchanged, costs its hello no disk write however old its stored
// contact; FlushContacts writes the contact later, and a restart shows it.
func TestHelloAfterRestartWritesNothing(t *testing.T) {
	db := openStore(t, filepath.Join(t.TempDir(), "db"))
	r, err := Open(db, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h := enrolWeb01(t, r)
	if err := r.Authenticate(h, "192.0.2.1:1"); err != nil {
		t.Fatal(err)
	}

	kv := &countingKV{KV: db}
	r2, err := Open(kv, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	r2.now = func() time.Time { return later }
	if err := r2.Authenticate(h, "192.0.2.1:2"); err != nil {
		t.Fatal(err)
	}
	if n := kv.puts.Load(); n != 0 {
		t.Fatalf("an unchanged agent's hello after a restart wrote %d records, want none", n)
	}
	if n := r2.FlushContacts(false); n != 1 {
		t.Fatalf("FlushContacts wrote %d records, want the hour-old contact", n)
	}
	if n := r2.FlushContacts(true); n != 0 {
		t.Fatalf("a second FlushContacts wrote %d records, want none", n)
	}
	r3, err := Open(db, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range r3.Agents() {
		if a.ID == h.AgentID && !a.LastContact.Equal(later.UTC()) {
			t.Fatalf("contact after a reopen %v, want %v", a.LastContact, later.UTC())
		}
	}
	// A new agent version is written with the hello.
	h.AgentVersion = "1.1"
	if err := r2.Authenticate(h, "192.0.2.1:3"); err != nil {
		t.Fatal(err)
	}
	if n := kv.puts.Load(); n != 2 {
		t.Fatalf("writes after an upgrade's hello %d, want 2", n)
	}
}

// enrolWeb01 enrols agent web-01 with a one-use join code and returns the
// hello its agent then sends.
func enrolWeb01(tb testing.TB, r *Registry) *wire.Hello {
	tb.Helper()
	c, err := r.CreateJoinCode(apiv1.NewJoinCode{Uses: 1}, "https://core.example:8470", testPin)
	if err != nil {
		tb.Fatal(err)
	}
	j, _ := wire.ParseJoinCode(c.Code)
	resp, err := r.Enrol(wire.EnrolRequest{Secret: j.Secret, Host: wire.HostFacts{Hostname: "web-01"}}, "x")
	if err != nil {
		tb.Fatal(err)
	}
	return &wire.Hello{AgentID: resp.AgentID, Token: resp.Credential, Host: wire.HostFacts{Hostname: "web-01"}, AgentVersion: "1.0"}
}
