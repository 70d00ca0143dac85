package apiv1

import "time"

// Ack records that a person took charge of a firing alert: it stops repeat
// notices and escalation, and every view shows who and when.
type Ack struct {
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
}

// AckRequest is the body of POST /api/v1/alerts/{id}/ack.
type AckRequest struct {
	Comment string `json:"comment,omitempty"`
}

// Silence mutes the notifications of alerts whose labels include every one
// of Match ("host", "rule" and "severity" match the alert's own fields)
// between StartsAt and EndsAt. Muted alerts are still evaluated, recorded
// and shown.
type Silence struct {
	ID        string            `json:"id"`
	Match     map[string]string `json:"match"`
	StartsAt  time.Time         `json:"starts_at"`
	EndsAt    time.Time         `json:"ends_at"`
	Comment   string            `json:"comment,omitempty"`
	CreatedBy string            `json:"created_by,omitempty"`
	CreatedAt time.Time         `json:"created_at,omitzero"`
}

// Maintenance is a recurring window: from each time Schedule (a five-field
// cron expression, in the core's local time zone) names, for Duration, the
// alerts matching Match are muted like by a silence.
type Maintenance struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Schedule  string            `json:"schedule"`
	Duration  Duration          `json:"duration"`
	Match     map[string]string `json:"match"`
	CreatedBy string            `json:"created_by,omitempty"`
	CreatedAt time.Time         `json:"created_at,omitzero"`
	// Active is true while a window is open; Next is when the next opens.
	Active bool      `json:"active"`
	Next   time.Time `json:"next,omitzero"`
}

// Channel is one configured notification channel as GET /api/v1/channels
// lists it.
type Channel struct {
	Name string `json:"name"`
	// MinSeverity is the least severity routed to the channel; "" takes
	// every severity.
	MinSeverity string `json:"min_severity,omitempty"`
	// Always is set for a channel that hears of every alert, whatever its
	// rule's routing (the log).
	Always bool `json:"always,omitempty"`
	// Queued counts notifications waiting to be sent.
	Queued int `json:"queued"`
	// Unknown lists the notifications whose delivery is unknown, oldest
	// first (the last 100 are kept): the core stopped while the channel had
	// them in hand, before it heard the answer, and did not send them again
	// (at most once; alerting.redeliver_unknown sends them again instead).
	Unknown []Transition `json:"unknown,omitempty"`
}

// RuleChange is one entry of the rules' audit trail.
type RuleChange struct {
	RuleID string    `json:"rule_id"`
	Action string    `json:"action"` // created, updated, deleted, imported
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Rule   *Rule     `json:"rule,omitempty"`
}
