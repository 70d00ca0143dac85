package apiv1

import "time"

// Roles of people, from least to most power. A viewer reads; an operator
// also acknowledges alerts and manages silences and maintenance windows; an
// admin also changes rules, channels, users and agents.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// Roles lists every role in rising order of power.
var Roles = []string{RoleViewer, RoleOperator, RoleAdmin}

// Token scopes bound what a personal API token may do, whatever its owner's
// role: "read" reads, "operate" also acts on alerts, "admin" may do what an
// admin does. A token never does more than its owner's role allows.
const (
	ScopeRead    = "read"
	ScopeOperate = "operate"
	ScopeAdmin   = "admin"
)

// Scopes lists every token scope in rising order of power.
var Scopes = []string{ScopeRead, ScopeOperate, ScopeAdmin}

// User is a person who signs in, as the API shows it; the password hash
// never leaves the core.
type User struct {
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	Disabled bool      `json:"disabled,omitempty"`
	Created  time.Time `json:"created,omitzero"`
	Updated  time.Time `json:"updated,omitzero"`
	// LockedUntil is set while sign-in is refused after too many failures.
	LockedUntil time.Time `json:"locked_until,omitzero"`
}

// NewUser is the body of POST /api/v1/users and POST /api/v1/setup.
type NewUser struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

// UserPatch is the body of PATCH /api/v1/users/{name}: only the fields
// given change.
type UserPatch struct {
	Role     *string `json:"role,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// PasswordChange is the body of POST /api/v1/users/{name}/password. Current
// is required when people change their own password, so that a session
// left open cannot be used to take the account over; an admin resetting
// someone else's password leaves it out.
type PasswordChange struct {
	Current  string `json:"current,omitempty"`
	Password string `json:"password"`
}

// SignIn is the body of POST /api/v1/session: a user name and password, or
// (with Name empty) the bootstrap admin token in Password, or in Token as
// scripts written before users existed send it.
type SignIn struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Token    string `json:"token,omitempty"`
}

// Session answers GET and POST /api/v1/session: who is signed in, with
// which role, and the CSRF token the page must send as the X-CSRF-Token
// header on every request that changes something.
type Session struct {
	User    string    `json:"user"`
	Role    string    `json:"role"`
	CSRF    string    `json:"csrf,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	// Via says what authorised the request: "session", "token" or
	// "bootstrap" (the admin.token file).
	Via string `json:"via"`
}

// Setup answers GET /api/v1/setup: whether the first admin still has to be
// created.
type Setup struct {
	Needed bool `json:"needed"`
}

// NewToken is the body of POST /api/v1/tokens.
type NewToken struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	// ExpiresIn, when set, ends the token after that long.
	ExpiresIn Duration `json:"expires_in,omitzero"`
}

// Token is a personal API token as listed; the secret is shown once, in
// CreatedToken, and only its hash is kept.
type Token struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	User     string    `json:"user"`
	Scopes   []string  `json:"scopes"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires,omitzero"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// CreatedToken answers POST /api/v1/tokens with the secret, shown once.
type CreatedToken struct {
	Token
	Secret string `json:"secret"`
}

// AuditEntry is one line of the audit log: a sign-in, a failure, or a
// change to users, tokens, rules, silences or alerts.
type AuditEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
	OK     bool      `json:"ok"`
	Remote string    `json:"remote,omitempty"`
	Detail string    `json:"detail,omitempty"`
}
