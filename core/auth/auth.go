// Package auth knows who people are and what they may do: users with roles
// and argon2id password hashes, sign-in sessions with their CSRF tokens,
// personal API tokens with scopes, throttling and lockout of password
// guessing, and the audit log of every sign-in, failure and change. It
// keeps all of it in the store's KV, so a restart keeps people signed in,
// and it keeps only hashes of session ids and tokens, so a copy of the data
// directory signs nobody in.
//
// The HTTP side (cookies, headers, which route needs which role) lives in
// core/api; this package has no HTTP in it.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/apiv1"
	"esmon/core/store"
)

// KV namespaces of this package. They sit beside the store's own prefixes
// (core/store/store.go) and must not collide with them.
const (
	PrefixUsers    = 'U'
	PrefixSessions = 'S'
	PrefixTokens   = 'T'
	PrefixAudit    = 'L'
)

// BootstrapUser is the actor name of requests authorised by the admin.token
// file: the audit log and acknowledgements show it, so that work done with
// the shared bootstrap secret stands out from work done by a person.
const BootstrapUser = "admin.token"

// Defaults of Options.
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultIdleTimeout = 2 * time.Hour
	DefaultMaxFailures = 5
	DefaultLockout     = 15 * time.Minute
	// DefaultRemoteFailures is how many failed sign-ins one address may
	// make within the lockout period, over all user names, before it is
	// throttled: one guesser cannot walk through every account.
	DefaultRemoteFailures = 20
)

// maxSessions bounds the sessions kept; past it the oldest ends.
const maxSessions = 10_000

// maxTracked bounds the user names and addresses whose failures are
// remembered, so a flood of made-up names cannot grow memory.
const maxTracked = 10_000

// Options configure a Service. Zero values take the defaults noted.
type Options struct {
	// KV persists users, sessions, tokens and the audit log. Required.
	KV store.KV
	// BootstrapToken, when set, is accepted as a bearer token (and for a
	// sign-in without a user name) with the admin role: the admin.token
	// file, so a fresh core can be set up and scripts keep working.
	BootstrapToken string
	// Argon2 are the password hashing costs. Default DefaultArgon2.
	Argon2 Argon2
	// SessionTTL is how long a sign-in lasts at most. Default 12h.
	SessionTTL time.Duration
	// IdleTimeout ends a session not used for that long. Default 2h.
	IdleTimeout time.Duration
	// MaxFailures failed sign-ins in a row lock a user name for Lockout.
	// Defaults 5 and 15m.
	MaxFailures int
	Lockout     time.Duration
	// RemoteFailures failed sign-ins from one address within Lockout
	// throttle that address. Default 20.
	RemoteFailures int
	// Now is the clock; tests replace it. Default time.Now.
	Now func() time.Time
	// Registerer receives the sign-in counters; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives the service's logs. Default slog.Default().
	Logger *slog.Logger
}

// Errors of sign-in and of the changes people make. The API maps each to
// its status.
var (
	ErrBadCredentials = errors.New("wrong user name or password")
	ErrLocked         = errors.New("too many failed sign-ins: this account is locked for a while")
	ErrThrottled      = errors.New("too many failed sign-ins from this address: try again later")
	ErrDisabled       = errors.New("this account is disabled")
	ErrNoSession      = errors.New("no such session, or it has ended")
	ErrNoUser         = errors.New("no such user")
	ErrUserExists     = errors.New("a user of that name exists")
	ErrLastAdmin      = errors.New("that would leave no enabled admin")
	ErrSetupDone      = errors.New("the first admin exists already")
	ErrNoToken        = errors.New("no such token")
	ErrBadToken       = errors.New("that token is not valid")
)

// FieldError is bad input that names its field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Identity is who makes a request and how they were recognised.
type Identity struct {
	User string
	Role string
	// Via is "session", "token" or "bootstrap".
	Via string
	// Scopes bound a token's power; empty for sessions and bootstrap.
	Scopes []string
	// CSRF is the session's CSRF token; empty unless Via is "session".
	CSRF string
	// Expires is when the session or token ends; zero for never.
	Expires time.Time
	// session is the key of the session (its id's hash).
	session string
	// token is the key of the personal token (its hash).
	token string
}

// Ways an Identity was recognised.
const (
	ViaSession   = "session"
	ViaToken     = "token"
	ViaBootstrap = "bootstrap"
)

// Can reports whether the identity may do what needs the role need: its
// role must reach it and, for a token, one of its scopes too.
func (id Identity) Can(need string) bool {
	if id.User == "" || rank(apiv1.Roles, id.Role) < rank(apiv1.Roles, need) {
		return false
	}
	if id.Via != ViaToken {
		return true
	}
	best := 0
	for _, s := range id.Scopes {
		best = max(best, rank(apiv1.Scopes, s))
	}
	return best >= rank(apiv1.Roles, need)
}

// rank is 1 + the position of v in order, or 0.
func rank(order []string, v string) int { return slices.Index(order, v) + 1 }

// ValidRole reports whether r is a role.
func ValidRole(r string) bool { return rank(apiv1.Roles, r) > 0 }

// Service holds users, sessions and tokens. Its methods are safe for
// concurrent use.
type Service struct {
	opts    Options
	log     *slog.Logger
	hashSem chan struct{}
	dummy   string // a hash to verify against for unknown names

	signinFailures prometheus.Counter
	lockouts       prometheus.Counter

	mu       sync.Mutex // guards the maps below and auditSeq
	users    map[string]*user
	sessions map[string]*session // by hash of the session id
	tokens   map[string]*token   // by hash of the secret
	failures map[string]*failure // by "user:"+name and "addr:"+address
	auditSeq uint64
}

// user is a stored user: apiv1.User plus the password hash.
type user struct {
	apiv1.User
	Hash string `json:"hash"`
}

type session struct {
	User     string    `json:"user"`
	Via      string    `json:"via"`
	CSRF     string    `json:"csrf"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	LastSeen time.Time `json:"last_seen"`
	// saved is when LastSeen was last written; it is written at most
	// once a minute.
	saved time.Time
}

type failure struct {
	count int
	last  time.Time
	until time.Time
}

// Open loads users, sessions and tokens from opts.KV.
func Open(opts Options) (*Service, error) {
	if opts.KV == nil {
		return nil, errors.New("auth: a KV is required")
	}
	if opts.Argon2 == (Argon2{}) {
		opts.Argon2 = DefaultArgon2
	}
	opts.SessionTTL = positive(opts.SessionTTL, DefaultSessionTTL)
	opts.IdleTimeout = positive(opts.IdleTimeout, DefaultIdleTimeout)
	opts.Lockout = positive(opts.Lockout, DefaultLockout)
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = DefaultMaxFailures
	}
	if opts.RemoteFailures <= 0 {
		opts.RemoteFailures = DefaultRemoteFailures
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Service{opts: opts, log: opts.Logger, hashSem: make(chan struct{}, maxHashing),
		users: map[string]*user{}, sessions: map[string]*session{}, tokens: map[string]*token{}, failures: map[string]*failure{},
		signinFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_auth_signin_failures_total",
			Help: "Sign-ins refused: wrong name or password, locked, throttled or disabled."}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_auth_lockouts_total",
			Help: "User names locked and addresses throttled after too many failed sign-ins."}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.signinFailures, s.lockouts)
	}
	var err error
	if s.dummy, err = opts.Argon2.hash(rand.Text()); err != nil {
		return nil, err
	}
	now := opts.Now()
	var errs []error
	load := func(prefix byte, fn func(k, v []byte) error) {
		err := opts.KV.Scan([]byte{prefix}, func(k, v []byte) bool {
			if err := fn(k[1:], v); err != nil {
				errs = append(errs, err)
			}
			return true
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	load(PrefixUsers, func(k, v []byte) error {
		var u user
		if err := json.Unmarshal(v, &u); err != nil {
			return fmt.Errorf("read user %q: %w", k, err)
		}
		s.users[u.Name] = &u
		return nil
	})
	var stale [][]byte
	load(PrefixSessions, func(k, v []byte) error {
		var se session
		if err := json.Unmarshal(v, &se); err != nil || !now.Before(se.Expires) {
			stale = append(stale, append([]byte{PrefixSessions}, k...))
			return nil
		}
		se.saved = se.LastSeen
		s.sessions[string(k)] = &se
		return nil
	})
	load(PrefixTokens, func(k, v []byte) error {
		var t token
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("read token %x: %w", k, err)
		}
		t.saved = t.LastUsed
		s.tokens[string(k)] = &t
		return nil
	})
	for _, k := range stale {
		errs = append(errs, opts.KV.Delete(k))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("open auth: %w", err)
	}
	return s, nil
}

func positive(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// put writes v as JSON under prefix+key.
func (s *Service) put(prefix byte, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.opts.KV.Put(append([]byte{prefix}, key...), b)
}

func (s *Service) del(prefix byte, key string) error {
	return s.opts.KV.Delete(append([]byte{prefix}, key...))
}

// secret returns a fresh random secret with prefix.
func secret(prefix string) string {
	var b [32]byte
	rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// digest is the key a session id or token is stored under.
func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// isBootstrap reports whether t is the admin.token secret.
func (s *Service) isBootstrap(t string) bool {
	return s.opts.BootstrapToken != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.opts.BootstrapToken)) == 1
}

// Authenticate recognises a bearer token: the bootstrap token or a
// personal API token.
func (s *Service) Authenticate(bearer string) (Identity, error) {
	if s.isBootstrap(bearer) {
		return Identity{User: BootstrapUser, Role: apiv1.RoleAdmin, Via: ViaBootstrap}, nil
	}
	return s.tokenIdentity(bearer)
}
