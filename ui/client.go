// Package ui is the esmon desktop console: the Fyne window with the host
// overview, host charts, alerts, rules, channels and settings; the system
// tray that shows the worst firing severity; and desktop notifications.
//
// It talks to the core only through Client, so the same console runs with the
// core embedded in the process or attached to a remote core over REST and
// /ws/live (package ui/remote).
package ui

import (
	"context"

	"esmon/core/apiv1"
	"esmon/ui/remote"
)

// Client is what the console needs from a core. The in-process client of
// app/ and the remote client of ui/remote implement it; the console never
// sees which one it has.
//
// The live feed is how the console learns of hosts and alerts; the other
// methods are the operator's reads and actions, each bounded by ctx and
// answering the API's errors (see *remote.Error) unchanged.
type Client interface {
	// Subscribe returns live events (a snapshot first) and a cancel func.
	// The channel closes when the feed ends; the console subscribes again.
	Subscribe() (<-chan apiv1.Event, func())
	// WebURL is the web dashboard's address, for the browser.
	WebURL() string

	// Query answers a range query for the host charts.
	Query(ctx context.Context, q Query) (apiv1.QueryResult, error)
	// History lists the latest alert transitions, newest first.
	History(ctx context.Context, limit int) ([]apiv1.Transition, error)
	// Ack acknowledges a firing alert with a comment.
	Ack(ctx context.Context, alertID, comment string) (apiv1.Alert, error)
	// AddSilence mutes the notifications of matching alerts for a while.
	AddSilence(ctx context.Context, s apiv1.Silence) (apiv1.Silence, error)
	// Rules lists the alert rules.
	Rules(ctx context.Context) ([]apiv1.Rule, error)
	// SaveRule creates (create true) or replaces a rule.
	SaveRule(ctx context.Context, r apiv1.Rule, create bool) (apiv1.Rule, error)
	// DeleteRule removes a rule.
	DeleteRule(ctx context.Context, id string) error
	// Channels lists the notification channels.
	Channels(ctx context.Context) ([]apiv1.Channel, error)
	// TestChannel sends a test notification through one channel.
	TestChannel(ctx context.Context, name string) error

	// Agents lists the enrolled agents.
	Agents(ctx context.Context) ([]apiv1.Agent, error)
	// RevokeAgent revokes an agent's credential; it cannot connect again.
	RevokeAgent(ctx context.Context, id string) error
	// JoinCodes lists the join codes, without their secrets.
	JoinCodes(ctx context.Context) ([]apiv1.JoinCode, error)
	// CreateJoinCode makes a join code and the commands that install an
	// agent with it; the only time the code is shown.
	CreateJoinCode(ctx context.Context, req apiv1.NewJoinCode) (apiv1.CreatedJoinCode, error)

	// Users lists the people who sign in.
	Users(ctx context.Context) ([]apiv1.User, error)
	// AddUser creates a user with a role and a first password.
	AddUser(ctx context.Context, u apiv1.NewUser) (apiv1.User, error)
	// SetupNeeded reports whether the core has no user yet, so the console
	// shows its first-run screen instead of leaving the web page locked.
	SetupNeeded(ctx context.Context) (bool, error)
	// Setup creates the first admin; the core refuses once any user
	// exists, so it cannot be used to add a second one.
	Setup(ctx context.Context, name, password string) error
	// UpdateUser changes a user's role or disables the account.
	UpdateUser(ctx context.Context, name string, p apiv1.UserPatch) (apiv1.User, error)
	// DeleteUser removes a user.
	DeleteUser(ctx context.Context, name string) error
}

// Query is one range query: a metric of a host over [From, To]. It is
// declared beside the remote client, which has no Fyne in it.
type Query = remote.Query
