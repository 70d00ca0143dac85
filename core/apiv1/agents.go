package apiv1

import "time"

// Agent is one enrolled agent as GET /api/v1/agents lists it: who it is,
// when it was last heard from, and whether it may still connect.
type Agent struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	Version  string `json:"version"`
	OS       string `json:"os"`
	// LastContact is the last hello or batch from the agent; zero before
	// its first connection.
	LastContact time.Time `json:"last_contact,omitzero"`
	// Connected says whether the agent has a live connection now.
	Connected  bool      `json:"connected"`
	Revoked    bool      `json:"revoked"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	EnrolledAt time.Time `json:"enrolled_at"`
	// RemoteAddr is where the agent connected from last.
	RemoteAddr string `json:"remote_addr"`
	// JoinCodeID names the join code the agent enrolled with.
	JoinCodeID string `json:"join_code_id,omitempty"`
}

// JoinCode is a join code as GET /api/v1/join-codes lists it: never with its
// secret, which the core does not keep.
type JoinCode struct {
	ID        string    `json:"id"`
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Uses is how many agents the code may enrol; UsesLeft how many more.
	Uses     int  `json:"uses"`
	UsesLeft int  `json:"uses_left"`
	Revoked  bool `json:"revoked"`
	// State is "active", "expired", "used_up" or "revoked".
	State string `json:"state"`
}

// Join code states.
const (
	JoinActive  = "active"
	JoinExpired = "expired"
	JoinUsedUp  = "used_up"
	JoinRevoked = "revoked"
)

// NewJoinCode is the body of POST /api/v1/join-codes. Zero values take the
// defaults: one use, one day.
type NewJoinCode struct {
	Uses       int    `json:"uses"`
	TTLSeconds int64  `json:"ttl_seconds"`
	Note       string `json:"note"`
}

// CreatedJoinCode is the answer to POST /api/v1/join-codes: the only time
// the code itself is shown.
type CreatedJoinCode struct {
	ID        string    `json:"id"`
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
	UsesLeft  int       `json:"uses_left"`
	Install   Install   `json:"install"`
}

// Install holds ready-to-paste commands that install an agent with a join
// code, one per way of installing.
type Install struct {
	WindowsMSI        string `json:"windows_msi"`
	WindowsPowerShell string `json:"windows_powershell"`
	Linux             string `json:"linux"`
}
