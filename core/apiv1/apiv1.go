// Package apiv1 holds the JSON shapes of the core's REST API under /api/v1 and
// of its live feed on /ws/live. The API handlers, the web page, the console's
// client and the tests all speak these types, so the contract has one
// definition.
package apiv1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
)

// Severity of an alert, from least to most urgent.
const (
	SeverityInfo         = "info"
	SeverityWarning      = "warning"
	SeverityCritical     = "critical"
	SeverityVeryCritical = "very_critical"
)

// Severities lists every severity in rising order.
var Severities = []string{SeverityInfo, SeverityWarning, SeverityCritical, SeverityVeryCritical}

// SeverityRank orders severities: 0 for none or unknown, then 1 to 4.
func SeverityRank(s string) int {
	for i, v := range Severities {
		if v == s {
			return i + 1
		}
	}
	return 0
}

// Alert states.
const (
	StateInactive = "inactive"
	StatePending  = "pending"
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// Host status values besides a severity: the host reports and nothing fires,
// or the host stopped reporting.
const (
	StatusOK      = "ok"
	StatusOffline = "offline"
)

// HostFacts mirror the agent's hello.
type HostFacts struct {
	Hostname        string    `json:"hostname"`
	OS              string    `json:"os"`
	Platform        string    `json:"platform,omitempty"`
	PlatformVersion string    `json:"platform_version,omitempty"`
	KernelVersion   string    `json:"kernel_version,omitempty"`
	Arch            string    `json:"arch,omitempty"`
	CPUModel        string    `json:"cpu_model,omitempty"`
	Cores           int       `json:"cores,omitempty"`
	MemoryBytes     uint64    `json:"memory_bytes,omitempty"`
	BootTime        time.Time `json:"boot_time,omitzero"`
}

// Gauges are the three figures every host card shows, in percent. Disk is the
// fullest mount.
type Gauges struct {
	CPU    float64 `json:"cpu"`
	Memory float64 `json:"memory"`
	Disk   float64 `json:"disk"`
}

// Host is one monitored machine as the overview shows it.
type Host struct {
	ID           string    `json:"id"`
	Facts        HostFacts `json:"facts"`
	AgentVersion string    `json:"agent_version,omitempty"`
	Online       bool      `json:"online"`
	LastSeen     time.Time `json:"last_seen,omitzero"`
	// Status is "ok", "offline", or the worst severity firing on the host.
	Status string `json:"status"`
	Gauges Gauges `json:"gauges"`
	// Latest maps a series key (metric{label="value",...}) to its last value.
	Latest map[string]float64 `json:"latest,omitempty"`
	// Tags are the host's tags in force, which rules match with "tag":
	// the admin's set when one was made (PUT /api/v1/hosts/{id}/tags),
	// otherwise the agent's. AgentTags are what the agent's settings say;
	// TagsByAdmin tells which of the two is in force.
	Tags        []string `json:"tags,omitempty"`
	AgentTags   []string `json:"agent_tags,omitempty"`
	TagsByAdmin bool     `json:"tags_by_admin,omitempty"`
}

// HostTags is the body of PUT /api/v1/hosts/{id}/tags: the admin's set of
// tags, which replaces the agent's. DELETE on the same path returns the
// host to its agent's tags.
type HostTags struct {
	Tags []string `json:"tags"`
}

// Alert is one alert instance: a rule applied to one series.
type Alert struct {
	ID         string            `json:"id"`
	RuleID     string            `json:"rule_id"`
	RuleName   string            `json:"rule_name"`
	Host       string            `json:"host"`
	Metric     string            `json:"metric,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Severity   string            `json:"severity"`
	State      string            `json:"state"`
	Value      float64           `json:"value"`
	Op         string            `json:"op,omitempty"`
	Threshold  float64           `json:"threshold"`
	Summary    string            `json:"summary"`
	ActiveAt   time.Time         `json:"active_at,omitzero"`
	FiredAt    time.Time         `json:"fired_at,omitzero"`
	ResolvedAt time.Time         `json:"resolved_at,omitzero"`
	// Channels, when set, are the only channels (besides the log) that
	// hear of this alert: its rule's routing.
	Channels []string `json:"channels,omitempty"`
	// Ack is who acknowledged the alert; nil while nobody has.
	Ack *Ack `json:"ack,omitempty"`
	// Silenced names the silence or maintenance window that mutes the
	// alert's notifications just now.
	Silenced string `json:"silenced,omitempty"`
	// Flapping is set while the alert flips too often to be notified on
	// each flip; it then stays firing until it has been calm for a while.
	Flapping bool `json:"flapping,omitempty"`
	// NotifiedAt is when channels last heard of the alert; Escalated names
	// the channel it was escalated to.
	NotifiedAt time.Time `json:"notified_at,omitzero"`
	Escalated  string    `json:"escalated,omitempty"`
	// EscalationStep counts the escalation steps already taken.
	EscalationStep int `json:"escalation_step,omitempty"`
}

// Transition is one entry of the alert history: an alert moved from one state
// to another at a time, with the value that moved it.
type Transition struct {
	Alert Alert     `json:"alert"`
	From  string    `json:"from"`
	To    string    `json:"to"`
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
	// Threshold is the threshold in force when the alert moved.
	Threshold float64 `json:"threshold"`
	// Reason says why a firing alert is notified again without a change
	// of state: "severity", "repeat", "escalation", "acknowledged".
	Reason string `json:"reason,omitempty"`
	// Escalated names the one channel an escalation goes to.
	Escalated string `json:"escalated,omitempty"`
	// EscalateTo are the channels an escalation step goes to (the step's
	// channels; Escalated is the first of them).
	EscalateTo []string `json:"escalate_to,omitempty"`
	// NotificationID identifies the notification of this transition on
	// every channel, and stays the same when it is sent again after a
	// crash: the email's Message-ID, the webhook's and Teams' id, so that
	// a receiver can drop a second copy. The Router sets it.
	NotificationID string `json:"notification_id,omitempty"`
	// Redelivery is set when the notification may have reached the channel
	// before: the core stopped between the channel taking it and the
	// core recording that.
	Redelivery bool `json:"redelivery,omitempty"`
	// Muted is set when a silence or maintenance window keeps the
	// transition from every channel; it is still recorded and published.
	Muted bool `json:"muted,omitempty"`
}

// Rule is an alert rule. Kind "threshold" compares Metric's samples that match
// Match with Threshold; kind "agent_offline" fires for a host that sent
// nothing for For.
//
// Threshold fires at Severity; Warning, when set, is a second, milder
// threshold that fires at "warning" (so one rule says "warning above 85,
// critical above 95"). Clear, when set, is the hysteresis: a firing alert
// resolves only once the value is past Clear, not merely back under the
// threshold. KeepFiringFor holds a firing alert that long after its
// condition clears. Channels route the rule's alerts to those channels only;
// RepeatInterval renotifies a firing alert nobody acknowledged;
// EscalateAfter sends a critical (or worse) alert nobody acknowledged to
// EscalateTo.
type Rule struct {
	ID             string            `json:"id" yaml:"id,omitempty"`
	Name           string            `json:"name" yaml:"name"`
	Kind           string            `json:"kind" yaml:"kind"`
	Metric         string            `json:"metric,omitempty" yaml:"metric,omitempty"`
	Match          map[string]string `json:"match,omitempty" yaml:"match,omitempty"`
	Op             string            `json:"op,omitempty" yaml:"op,omitempty"`
	Threshold      float64           `json:"threshold" yaml:"threshold"`
	Warning        *float64          `json:"warning,omitempty" yaml:"warning,omitempty"`
	Clear          *float64          `json:"clear,omitempty" yaml:"clear,omitempty"`
	For            Duration          `json:"for" yaml:"for"`
	KeepFiringFor  Duration          `json:"keep_firing_for,omitzero" yaml:"keep_firing_for,omitempty"`
	Severity       string            `json:"severity" yaml:"severity"`
	Summary        string            `json:"summary,omitempty" yaml:"summary,omitempty"`
	Channels       []string          `json:"channels,omitempty" yaml:"channels,omitempty"`
	RepeatInterval Duration          `json:"repeat_interval,omitzero" yaml:"repeat_interval,omitempty"`
	EscalateAfter  Duration          `json:"escalate_after,omitzero" yaml:"escalate_after,omitempty"`
	EscalateTo     string            `json:"escalate_to,omitempty" yaml:"escalate_to,omitempty"`
	// Escalation is a chain of steps: a critical (or worse) alert nobody
	// acknowledged After its firing goes to each step's Channels in turn;
	// an acknowledgement stops the chain. Empty takes the core's default
	// chain; EscalateAfter/EscalateTo is a chain of one step.
	Escalation []EscalationStep `json:"escalation,omitempty" yaml:"escalation,omitempty"`
	// FlapCount and FlapWindow override the core's flap damping for this
	// rule: more than FlapCount starts and ends within FlapWindow hold the
	// alert firing, marked flapping. 0 takes the core's; FlapCount -1 turns
	// damping off for the rule.
	FlapCount  int      `json:"flap_count,omitempty" yaml:"flap_count,omitempty"`
	FlapWindow Duration `json:"flap_window,omitzero" yaml:"flap_window,omitempty"`
	// NoData says what a series that stops reporting does to its alert:
	// "keep" (default), "resolve", or "alert" (fire); after NoDataAfter
	// (default 5m).
	NoData      string   `json:"no_data,omitempty" yaml:"no_data,omitempty"`
	NoDataAfter Duration `json:"no_data_after,omitzero" yaml:"no_data_after,omitempty"`
	Enabled     bool     `json:"enabled" yaml:"enabled"`
	// UpdatedBy and UpdatedAt say who last changed the rule, and when; the
	// server sets them.
	UpdatedBy string    `json:"updated_by,omitempty" yaml:"-"`
	UpdatedAt time.Time `json:"updated_at,omitzero" yaml:"-"`
}

// EscalationStep is one step of an escalation chain: After the alert
// fired, unacknowledged, it goes to Channels.
type EscalationStep struct {
	After    Duration `json:"after" yaml:"after"`
	Channels []string `json:"channels" yaml:"channels"`
}

// Rule kinds. A check_failed rule fires when a synthetic check's
// check_success series is 0; a service_stopped rule when a Windows service's
// service_running series is 0. Both take the usual matchers.
const (
	RuleThreshold      = "threshold"
	RuleAgentOffline   = "agent_offline"
	RuleCheckFailed    = "check_failed"
	RuleServiceStopped = "service_stopped"
)

// Point is one sample of a query answer: T in Unix milliseconds.
type Point struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}

// Series is one answered series of a range query.
type Series struct {
	Metric string            `json:"metric"`
	Labels map[string]string `json:"labels"`
	Points []Point           `json:"points"`
}

// QueryResult answers GET /api/v1/query.
type QueryResult struct {
	// Tier is the storage tier that answered: raw, 1m or 1h (the
	// coarsest whose resolution divides the step).
	Tier string `json:"tier"`
	// Agg is the aggregation applied per step: avg, min, max, last, sum
	// or rate.
	Agg    string   `json:"agg"`
	Series []Series `json:"series"`
}

// Error is the body of every error answer.
type Error struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Live event types on /ws/live.
const (
	EventSnapshot = "snapshot" // Hosts and Alerts: the whole picture, sent first
	EventHost     = "host"     // Host: one host changed (new values, online state)
	EventAlert    = "alert"    // Transition: an alert changed state
	EventBatch    = "batch"    // Events: host and alert events, in order (/ws/live only)
	// EventHostBrief is a host event in its short form, on /ws/live only:
	// {"type":"h","h":[host, state, seen, cpu, memory, disk]} with host
	// the host's number on this feed (LiveHost.N) or its id, state the
	// host's status and online state in one number (BriefState), and seen
	// its last_seen in milliseconds since the feed's epoch (null: never).
	// LiveDecoder turns it into an EventHost.
	EventHostBrief = "h"
	// EventEpoch, on /ws/live only, sets the feed's epoch, the time in
	// Unix milliseconds that short host events count their last_seen
	// from: {"type":"epoch","epoch":1795867200000}. The snapshot carries
	// the epoch in force after it; the core sends a new one, before the
	// short event that needs it, when the offsets would pass
	// LiveEpochSpan. LiveDecoder keeps it and returns no event for it.
	EventEpoch = "epoch"
	// EventAlertBrief is an alert event in its short form, on /ws/live
	// only, for a fresh alert going pending, and for a pending alert that
	// ends without firing or that fires (see AlertBrief): {"type":"a","a":
	// [id, at, value]} with at in Unix milliseconds, and for one that
	// fires also its summary, notified (1: notified_at is at), severity
	// and threshold; for one going pending the whole alert follows the
	// value: host (its number on the feed, or its id), rule
	// (its number on the feed: LiveRule, EventRule), severity, threshold,
	// summary; or, when its rule has no number, host, rule_id, rule_name,
	// metric, severity, op, threshold, summary (its labels are {host}, its
	// active_at is at). The number of fields tells the transition: 3
	// pending to inactive, 7 pending to firing, 8 or 11 inactive to
	// pending. A summary that is null is the alert's plain one
	// (PlainSummary), which the reader builds. For
	// the other two the subscriber knows the alert (it was pending: in the
	// snapshot or an earlier event). LiveDecoder turns it into an
	// EventAlert with the alert it knew, in its new state with the value
	// (and, when it fires, fired_at at the transition's time, the summary,
	// severity and threshold, and notified_at when notified).
	EventAlertBrief = "a"
	// EventRule, on /ws/live only, numbers a rule for the short form of
	// alerts going pending: {"type":"r","r":[n, rule_id, rule_name,
	// metric, op]} (LiveRule). The snapshot carries the rules numbered
	// before it in "rules"; the core sends a rule event before the first
	// alert event that names the rule by a new number. LiveDecoder keeps
	// it and returns no event for it.
	EventRule = "r"
)

// Event is one live event: what Live.Subscribe hands an in-process
// subscriber (the console), and one message on /ws/live.
//
// The /ws/live protocol, as the core sends it:
//
//   - The first message is a snapshot: every host (as LiveHost with its
//     identity, without Latest), every active alert, and the feed's epoch
//     (absent until the feed has one).
//   - Every later message is one host or alert event, or a batch: type
//     "batch" with Events, the events that piled up since the last message,
//     oldest first. A subscriber's writer sends whatever is queued as one
//     message when it gets to write, so a busy feed costs one message per
//     write, not one per event, and a quiet feed still delivers at once.
//   - A host event carries a LiveHost: id, online, last_seen, status,
//     gauges and tags always; the host's identity (facts, agent_version,
//     agent_tags, tags_by_admin, and the tags in force) only when it is new
//     to the feed or changed since the host's last event (the key "facts"
//     is then present); its Latest values only to a subscriber that watches
//     the host. A reader keeps the identity it has when "facts" is absent
//     (LiveDecoder does that for Go readers).
//   - A host event whose identity did not change, sent to a subscriber
//     that does not watch the host, comes in the short form
//     EventHostBrief: the host's number on the feed, online, last_seen,
//     status and gauges (in whole percent, as cards and the console show
//     them) in an array, about a quarter of the bytes (a
//     thousand pages each get every host's update: the bytes are most of
//     the core's cost of the feed). The number (LiveHost.N) comes with the
//     host's identity, in the snapshot and in each event with "facts",
//     before any short event of the host; a reader drops a short event of
//     a number it never got. The status and online state are one number,
//     last_seen is milliseconds since the feed's epoch (EventEpoch: in
//     the snapshot, and in an epoch event before the first short event
//     that counts from a new one). In a batch it is the array alone: an
//     element of Events that is an array is a short host event. A reader
//     keeps the identity and tags it has.
//   - A transition of a pending alert to inactive (a condition that
//     cleared before its "for" ran out: most of the transitions of a
//     large fleet's rules), and one to firing that changed nothing else in
//     the alert (AlertBrief), come in the short form EventAlertBrief,
//     about a seventh of the bytes: the subscriber has the alert from when
//     it went pending. So does a fresh alert going pending, with the
//     alert's fields in the array instead of keyed, its host and rule by
//     their numbers on the feed and its summary left out when it is the
//     plain one: about a quarter of the bytes. Rules get their numbers
//     like hosts: in the snapshot ("rules", those numbered before it) and
//     in an EventRule before the first alert that uses a new one. A
//     reader builds the transition from it (LiveDecoder does that for Go
//     readers).
//   - Any other alert event comes whole, less what repeats another field
//     of the same message (LiveTransition): the alert's state when it is
//     the transition's To; its labels when they are only its host
//     ({"host": host}; an alert without labels then carries "labels":{});
//     the transition's value and threshold when they are the alert's; its
//     time when it goes to pending at the alert's active_at. Nearly all of
//     a large fleet's alert events are alerts going pending, a third of
//     the feed's bytes before; this leaves out about a quarter of each.
//     A reader fills them back in (LiveDecoder does that for Go readers).
//   - A subscriber says which hosts it watches with a text message
//     LiveWatch, e.g. {"watch":["web-01"]}; each one replaces the last, and
//     {"watch":[]} watches none. At most MaxWatch hosts; anything else is
//     refused with close code 1007 and counted in
//     esmon_live_bad_messages_total.
//   - A subscriber too far behind (its unsent events overran the core's
//     bounded queue) is closed with 4008 and reconnects for a fresh
//     snapshot; 4401 ends a feed whose credential ended; 1001 is the core
//     shutting down.
type Event struct {
	Type       string      `json:"type"`
	Hosts      []Host      `json:"hosts,omitempty"`
	Alerts     []Alert     `json:"alerts,omitempty"`
	Host       *Host       `json:"host,omitempty"`
	Transition *Transition `json:"transition,omitempty"`
	// Events are the events of a batch, on /ws/live only.
	Events []Event `json:"events,omitempty"`
}

// LiveHost is a host as /ws/live sends it, in snapshots and host events:
// Host's JSON, with Facts a pointer so that a host event can leave the
// identity out (see Event). When Facts is nil, AgentVersion, AgentTags
// and TagsByAdmin are left out too and mean "unchanged". N is the host's
// number on this feed, which short host events carry in place of the id:
// given with the identity (in the snapshot, and in every event that has
// "facts"), the same for the feed's life.
type LiveHost struct {
	Host
	Facts *HostFacts `json:"facts,omitempty"`
	N     uint32     `json:"n,omitempty"`
}

// LiveWatch is the one message a /ws/live subscriber sends: the hosts whose
// Latest values it wants in their host events (the web page's host page).
type LiveWatch struct {
	Watch []string `json:"watch"`
}

// MaxWatch bounds the hosts one /ws/live subscriber may watch.
const MaxWatch = 64

// LiveEpochSpan is how far, in milliseconds, the core lets a short host
// event's last_seen run past the feed's epoch before it sends a new
// epoch: 2.8 hours, so that an offset has at most seven digits where a
// Unix time in milliseconds has thirteen (the core's new epoch is the
// hour the event's time is in).
const LiveEpochSpan = 10_000_000

// briefStatuses are the host statuses a short host event can carry, by
// their number in BriefState.
var briefStatuses = [...]string{StatusOK, StatusOffline, SeverityInfo, SeverityWarning, SeverityCritical, SeverityVeryCritical}

// BriefState is a host's status and online state as one number, the way a
// short host event carries them: twice the status' place in ok, offline,
// info, warning, critical, very_critical, plus 1 when the host is online
// (1 is an online host with nothing firing). ok is false for a status
// outside that list, which a short event cannot carry.
func BriefState(status string, online bool) (state int, ok bool) {
	for i, s := range briefStatuses {
		if s == status {
			state = 2 * i
			if online {
				state++
			}
			return state, true
		}
	}
	return 0, false
}

// briefStatus reads a BriefState.
func briefStatus(state int) (status string, online bool, err error) {
	if state < 0 || state >= 2*len(briefStatuses) {
		return "", false, fmt.Errorf("short host event: state %d is none of 0 to %d", state, 2*len(briefStatuses)-1)
	}
	return briefStatuses[state/2], state%2 == 1, nil
}

// liveMessage is Event as it arrives on /ws/live, with hosts as LiveHost.
type liveMessage struct {
	Type       string              `json:"type"`
	Epoch      int64               `json:"epoch,omitempty"`
	Hosts      []LiveHost          `json:"hosts,omitempty"`
	Alerts     []Alert             `json:"alerts,omitempty"`
	Host       *LiveHost           `json:"host,omitempty"`
	Brief      *liveBrief          `json:"h,omitempty"`
	AlertBrief *alertBrief         `json:"a,omitempty"`
	Rule       *LiveRule           `json:"r,omitempty"`
	Rules      []LiveRule          `json:"rules,omitempty"`
	Transition *liveTransitionJSON `json:"transition,omitempty"`
	Events     []liveMessage       `json:"events,omitempty"`
}

// HostBrief encodes h as an EventHostBrief message, as the core sends it:
// with n, the host's number on the feed (LiveHost.N), in place of its id
// (the id when n is 0), its last_seen counted from the feed's epoch, and
// its gauges in whole percent, which is what a host card and the
// console's gauges show (the agent's two decimals took a third of the
// row); a watched host's events, the snapshot and the REST API carry them
// exact. ok is false when h's status cannot go in the short form
// (BriefState).
func HostBrief(h *Host, n uint32, epoch int64) (b []byte, ok bool, err error) {
	state, ok := BriefState(h.Status, h.Online)
	if !ok {
		return nil, false, nil
	}
	// Appended as encoding/json writes the array [host, state, seen, cpu,
	// memory, disk] (TestHostBriefMatchesJSON): marshalling six boxed
	// values made it 7 % of what the core allocated at 10,000 agents.
	b = make([]byte, 0, len(hostBriefOpen)+48+len(h.ID))
	b = append(b, hostBriefOpen...)
	b = append(b, '[')
	if n != 0 {
		b = strconv.AppendUint(b, uint64(n), 10)
	} else {
		id, err := json.Marshal(h.ID)
		if err != nil {
			return nil, false, err
		}
		b = append(b, id...)
	}
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(state), 10)
	if h.LastSeen.IsZero() {
		b = append(b, ",null"...) // never seen
	} else {
		b = append(b, ',')
		b = strconv.AppendInt(b, h.LastSeen.UnixMilli()-epoch, 10)
	}
	for _, v := range [3]float64{h.Gauges.CPU, h.Gauges.Memory, h.Gauges.Disk} {
		b = append(b, ',')
		// A whole number under 1e21 is what encoding/json writes with
		// 'f'; anything else (NaN and infinities are its errors) goes
		// through it.
		if v = wholePercent(v); math.Abs(v) < 1e21 {
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
			continue
		}
		j, err := json.Marshal(v)
		if err != nil {
			return nil, false, err
		}
		b = append(b, j...)
	}
	return append(b, "]}"...), true, nil
}

// wholePercent is a gauge rounded to a whole percent (never -0).
func wholePercent(v float64) float64 {
	if r := math.Round(v); r != 0 {
		return r
	}
	return 0
}

// EpochEvent encodes an EventEpoch message.
func EpochEvent(epoch int64) []byte {
	return fmt.Appendf(nil, `{"type":%q,"epoch":%d}`, EventEpoch, epoch)
}

// hostBriefOpen is how an EventHostBrief message begins.
const hostBriefOpen = `{"type":"h","h":`

// HostBriefRow returns the array of a short host event message (what
// HostBrief makes), as a batch carries it, and whether msg is one.
func HostBriefRow(msg []byte) ([]byte, bool) {
	if len(msg) <= len(hostBriefOpen) || string(msg[:len(hostBriefOpen)]) != hostBriefOpen {
		return msg, false
	}
	return msg[len(hostBriefOpen) : len(msg)-1], true
}

// UnmarshalJSON reads a live message, or an element of a batch's events,
// which is either an object or the array of a short host event.
func (m *liveMessage) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '[' {
		*m = liveMessage{Type: EventHostBrief, Brief: new(liveBrief)}
		return m.Brief.UnmarshalJSON(data)
	}
	type plain liveMessage // without this method
	return json.Unmarshal(data, (*plain)(m))
}

// liveBrief is the array of an EventHostBrief: the host with its id, or
// with its number on the feed in n; its last_seen is seen (since the
// feed's epoch, which the decoder adds) when hasSeen.
type liveBrief struct {
	host    Host
	n       uint32
	seen    int64
	hasSeen bool
}

func (b *liveBrief) UnmarshalJSON(data []byte) error {
	var a []json.RawMessage
	if err := json.Unmarshal(data, &a); err != nil {
		return err
	}
	var state int
	var seen *int64
	h := &b.host
	var id any = &h.ID
	if len(a) > 0 && len(a[0]) > 0 && a[0][0] != '"' {
		id = &b.n
	}
	dsts := []any{id, &state, &seen, &h.Gauges.CPU, &h.Gauges.Memory, &h.Gauges.Disk}
	if len(a) != len(dsts) {
		return fmt.Errorf("short host event: %d fields, want %d", len(a), len(dsts))
	}
	for i, dst := range dsts {
		if string(a[i]) == "null" {
			continue
		}
		if err := json.Unmarshal(a[i], dst); err != nil {
			return fmt.Errorf("short host event, field %d: %w", i, err)
		}
	}
	var err error
	if h.Status, h.Online, err = briefStatus(state); err != nil {
		return err
	}
	if seen != nil {
		b.seen, b.hasSeen = *seen, true
	}
	return nil
}

// BriefRefs are the numbers on the feed of an alert's host (LiveHost.N)
// and rule (LiveRule.N), which the short form of an alert going pending
// carries in place of the host's id and the rule's fields; 0 is none
// (the host then goes by its id, and without the rule's number the event
// carries the rule's fields).
type BriefRefs struct {
	Host, Rule uint32
}

// AlertBrief encodes t as an EventAlertBrief message when it may go in
// the short form, and ok is false when it may not. known is the alert as
// the feed sent it last, nil when it did not; refs are the numbers of
// its host and rule, for an alert going pending. A fresh alert going
// pending goes short with the alert's fields (pendingBrief). A pending
// alert that ends without firing goes short: [id, at, value].
// So does one that fires, when its alert is known and firing changed
// nothing in it but its state, value, summary (which tells the value),
// fired_at (the transition's time), notified_at (the transition's time,
// or as it was), severity and threshold (a rule with a warning level
// moves both while the alert is pending), and the transition carries
// nothing a reader shows (a reason, an escalation, a mute): [id, at,
// value, summary, notified, severity, threshold] with notified 1
// when notified_at is the transition's time, and summary null when it is
// the alert's plain summary (PlainSummary of its rule name, host, metric,
// new value, op and new threshold), which the reader builds. The short
// form carries no notification id, and its times are to the millisecond;
// its number of fields says the transition (no two forms have the same).
func AlertBrief(t *Transition, known *Alert, refs BriefRefs) (msg []byte, ok bool, err error) {
	if t.Reason != "" || t.Alert.ID == "" {
		return nil, false, nil
	}
	if t.From == StateInactive && t.To == StatePending {
		return pendingBrief(t, refs)
	}
	if t.From != StatePending {
		return nil, false, nil
	}
	var b []byte
	switch t.To {
	case StateInactive:
		b, err = json.Marshal([3]any{t.Alert.ID, t.At.UnixMilli(), t.Value})
	case StateFiring:
		if known == nil || t.Escalated != "" || len(t.EscalateTo) > 0 || t.Redelivery || t.Muted ||
			t.Value != t.Alert.Value || t.Threshold != t.Alert.Threshold || t.Alert.State != StateFiring ||
			!t.Alert.FiredAt.Equal(t.At) {
			return nil, false, nil
		}
		k := *known
		k.State, k.Value, k.FiredAt, k.Summary = t.Alert.State, t.Alert.Value, t.Alert.FiredAt, t.Alert.Summary
		k.Severity, k.Threshold = t.Alert.Severity, t.Alert.Threshold
		notified := 0
		if t.Alert.NotifiedAt.Equal(t.At) {
			k.NotifiedAt, notified = t.Alert.NotifiedAt, 1
		}
		if !reflect.DeepEqual(k, t.Alert) {
			return nil, false, nil
		}
		b, err = marshalNoEscape([7]any{t.Alert.ID, t.At.UnixMilli(), t.Value, briefSummary(&t.Alert),
			notified, t.Alert.Severity, t.Alert.Threshold})
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return append(append([]byte(`{"type":"a","a":`), b...), '}'), true, nil
}

// briefSummary is a's summary as a short alert event carries it: nil
// (null) when it is a's plain summary, which the reader builds.
func briefSummary(a *Alert) any {
	if a.Summary == plainSummaryOf(a, a.Value, a.Threshold) {
		return nil
	}
	return a.Summary
}

// pendingBrief is AlertBrief for an alert going pending: short when it is
// a fresh alert with nothing but what a rule's condition gives it, at
// being active_at and the labels only {host}: [id, at, value, host,
// rule, severity, threshold, summary] with host the host's number
// on the feed (its id when refs.Host is 0), rule the rule's (LiveRule),
// and summary null when it is the alert's plain summary; without the
// rule's number [id, at, value, host, rule_id, rule_name, metric,
// severity, op, threshold, summary] with the host's id. An alert
// with anything else (an acknowledgement, a silence, channels, flapping,
// other labels, a notification) goes whole, and so does a transition
// with a notification id, an escalation or a mute.
func pendingBrief(t *Transition, refs BriefRefs) ([]byte, bool, error) {
	a := &t.Alert
	if t.Escalated != "" || len(t.EscalateTo) > 0 || t.Redelivery || t.Muted || t.NotificationID != "" ||
		a.Host == "" || len(a.Labels) != 1 || a.Labels["host"] != a.Host ||
		!t.At.Equal(a.ActiveAt) || t.Value != a.Value || t.Threshold != a.Threshold {
		return nil, false, nil
	}
	bare := Alert{ID: a.ID, RuleID: a.RuleID, RuleName: a.RuleName, Host: a.Host, Metric: a.Metric, Labels: a.Labels,
		Severity: a.Severity, State: StatePending, Value: a.Value, Op: a.Op, Threshold: a.Threshold, Summary: a.Summary,
		ActiveAt: a.ActiveAt}
	if !reflect.DeepEqual(bare, *a) {
		return nil, false, nil
	}
	var b []byte
	var err error
	if refs.Rule != 0 {
		var host any = a.Host
		if refs.Host != 0 {
			host = refs.Host
		}
		b, err = marshalNoEscape([8]any{a.ID, t.At.UnixMilli(), t.Value, host, refs.Rule, a.Severity, a.Threshold,
			briefSummary(a)})
	} else {
		b, err = marshalNoEscape([11]any{a.ID, t.At.UnixMilli(), t.Value, a.Host, a.RuleID, a.RuleName,
			a.Metric, a.Severity, a.Op, a.Threshold, a.Summary})
	}
	if err != nil {
		return nil, false, err
	}
	return append(append([]byte(`{"type":"a","a":`), b...), '}'), true, nil
}

// marshalNoEscape is json.Marshal without HTML escapes: what the feed
// sends is read as JSON, never as HTML, and the escapes of a rule's ">"
// took six bytes for one.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// liveAlertJSON and liveTransitionJSON are an alert event's transition as
// LiveTransition writes it, and as LiveDecoder reads it: the fields here
// take the place of Alert's and Transition's fields of the same names,
// and one left out is nil.
type liveAlertJSON struct {
	Alert
	State  *string            `json:"state,omitempty"`
	Labels *map[string]string `json:"labels,omitempty"`
}

type liveTransitionJSON struct {
	Transition
	Alert     liveAlertJSON `json:"alert"`
	At        *time.Time    `json:"at,omitempty"`
	Value     *float64      `json:"value,omitempty"`
	Threshold *float64      `json:"threshold,omitempty"`
}

// LiveTransition encodes t as an EventAlert message for /ws/live, without
// the fields that repeat another field of the message (see Event): what
// transition fills back in. HTML is not escaped (marshalNoEscape).
func LiveTransition(t *Transition) ([]byte, error) {
	lt := liveTransitionJSON{Transition: *t, Alert: liveAlertJSON{Alert: t.Alert}}
	a := &lt.Alert
	if a.Alert.State != t.To {
		a.State = &a.Alert.State
	}
	switch {
	case len(a.Alert.Labels) == 1 && a.Alert.Host != "" && a.Alert.Labels["host"] == a.Alert.Host:
		// left out: the reader makes {"host": host}
	case len(a.Alert.Labels) == 0 && a.Alert.Host != "":
		a.Labels = &map[string]string{} // "labels":{}
	case len(a.Alert.Labels) > 0:
		a.Labels = &a.Alert.Labels
	}
	if t.To != StatePending || !t.At.Equal(t.Alert.ActiveAt) {
		lt.At = &lt.Transition.At
	}
	if t.Value != t.Alert.Value {
		lt.Value = &lt.Transition.Value
	}
	if t.Threshold != t.Alert.Threshold {
		lt.Threshold = &lt.Transition.Threshold
	}
	b, err := marshalNoEscape(&lt)
	if err != nil {
		return nil, err
	}
	return append(append([]byte(`{"type":"alert","transition":`), b...), '}'), nil
}

// transition is the whole transition, with what LiveTransition left out
// filled back in.
func (lt *liveTransitionJSON) transition() *Transition {
	t := lt.Transition
	t.Alert = lt.Alert.Alert
	a := &t.Alert
	a.State = t.To
	if lt.Alert.State != nil {
		a.State = *lt.Alert.State
	}
	switch {
	case lt.Alert.Labels != nil:
		a.Labels = *lt.Alert.Labels
	case a.Host != "":
		a.Labels = map[string]string{"host": a.Host}
	}
	switch {
	case lt.At != nil:
		t.At = *lt.At
	case t.To == StatePending:
		t.At = a.ActiveAt
	}
	t.Value, t.Threshold = a.Value, a.Threshold
	if lt.Value != nil {
		t.Value = *lt.Value
	}
	if lt.Threshold != nil {
		t.Threshold = *lt.Threshold
	}
	return &t
}

// alertBrief is the array of an EventAlertBrief.
type alertBrief struct {
	id, from, to string
	at           time.Time
	value        float64
	// fired is set for the short form of an alert that fires (7 fields),
	// which also has summary, notified, severity and threshold.
	fired    bool
	severity string
	notified bool
	// summary nil is the alert's plain summary (null on the wire).
	summary   *string
	threshold float64
	// fresh is set for the short form of an alert going pending (8 or 11
	// fields), which carries the whole alert: host, rule, severity,
	// threshold, summary. With 8 fields the host may be its number on
	// the feed (hostN) and the rule is its number (ruleN); with 11 the
	// rule's fields are here.
	fresh                          bool
	host, ruleID, ruleName, metric string
	op                             string
	hostN, ruleN                   uint32
}

func (b *alertBrief) UnmarshalJSON(data []byte) error {
	var a []json.RawMessage
	if err := json.Unmarshal(data, &a); err != nil {
		return err
	}
	var at int64
	var notified int
	var host json.RawMessage
	var dsts []any
	// The form, told by the number of fields, says the transition.
	switch len(a) {
	case 3:
		b.from, b.to = StatePending, StateInactive
		dsts = []any{&b.id, &at, &b.value}
	case 7:
		b.from, b.to = StatePending, StateFiring
		dsts = []any{&b.id, &at, &b.value, &b.summary, &notified, &b.severity, &b.threshold}
	case 8:
		b.from, b.to = StateInactive, StatePending
		dsts = []any{&b.id, &at, &b.value, &host, &b.ruleN, &b.severity, &b.threshold, &b.summary}
	case 11:
		b.from, b.to = StateInactive, StatePending
		dsts = []any{&b.id, &at, &b.value, &b.host, &b.ruleID, &b.ruleName, &b.metric, &b.severity, &b.op, &b.threshold,
			&b.summary}
	default:
		return fmt.Errorf("short alert event: %d fields, want 3, 7, 8 or 11", len(a))
	}
	for i := range a {
		if err := json.Unmarshal(a[i], dsts[i]); err != nil {
			return fmt.Errorf("short alert event, field %d: %w", i, err)
		}
	}
	if b.id == "" {
		return errors.New("short alert event without an alert id")
	}
	if len(a) == 8 {
		if err := json.Unmarshal(host, &b.hostN); err != nil || b.hostN == 0 {
			b.hostN = 0
			if err := json.Unmarshal(host, &b.host); err != nil {
				return fmt.Errorf("short alert event, field 3: want the host's number on the feed or its id: %w", err)
			}
		}
		if b.ruleN == 0 {
			return errors.New("short alert event of 8 fields without a rule number")
		}
	}
	b.at = time.UnixMilli(at).UTC()
	b.fired, b.notified, b.fresh = len(a) == 7, notified == 1, len(a) == 8 || len(a) == 11
	if b.fresh && b.host == "" && b.hostN == 0 {
		return fmt.Errorf("short alert event of %d fields without a host: only an alert going pending on a host comes so", len(a))
	}
	if len(a) == 11 && b.summary == nil {
		return errors.New("short alert event of 11 fields without a summary")
	}
	return nil
}

// hostIdentity is what a host event may leave out.
type hostIdentity struct {
	facts        HostFacts
	agentVersion string
	agentTags    []string
	tagsByAdmin  bool
	tags         []string
}

// LiveDecoder turns /ws/live messages into Events as Live.Subscribe gives
// them: batches unpacked, and each host event's identity filled in from the
// last one the feed sent. Use one per connection; not safe for concurrent
// use.
type LiveDecoder struct {
	epoch  int64 // the feed's epoch, for short host events' last_seen
	hosts  map[string]hostIdentity
	nums   map[uint32]string // host numbers on the feed, for short host and alert events
	rules  map[uint32]LiveRule
	alerts map[string]Alert // pending and firing, for short alert events
}

// Decode reads one /ws/live message and returns its events in order.
func (d *LiveDecoder) Decode(msg []byte) ([]Event, error) {
	var m liveMessage
	if err := json.Unmarshal(msg, &m); err != nil {
		return nil, fmt.Errorf("read live message: %w", err)
	}
	if d.hosts == nil {
		d.hosts, d.nums, d.rules, d.alerts = map[string]hostIdentity{}, map[uint32]string{}, map[uint32]LiveRule{}, map[string]Alert{}
	}
	if m.Type == EventBatch {
		out := make([]Event, 0, len(m.Events))
		for i := range m.Events {
			if ev, ok := d.event(&m.Events[i]); ok {
				out = append(out, ev)
			}
		}
		return out, nil
	}
	if ev, ok := d.event(&m); ok {
		return []Event{ev}, nil
	}
	return nil, nil
}

// event turns m into an Event; ok is false for an epoch event, which only
// sets the decoder's epoch, and a rule event, which only numbers a rule;
// and for a short host event of a host number the feed never gave (a
// host removed before this reader's snapshot), which is dropped, as is
// a short alert event with a host or rule number the feed never gave
// (the core sends each before any event that uses it).
func (d *LiveDecoder) event(m *liveMessage) (ev Event, ok bool) {
	switch {
	case m.Type == EventEpoch:
		d.epoch = m.Epoch
		return Event{}, false
	case m.Type == EventRule && m.Rule != nil:
		d.rules[m.Rule.N] = *m.Rule
		return Event{}, false
	}
	ev = Event{Type: m.Type, Alerts: m.Alerts}
	if m.Transition != nil {
		ev.Transition = m.Transition.transition()
	}
	if m.Type == EventSnapshot {
		d.epoch = m.Epoch
		clear(d.hosts)
		clear(d.nums)
		clear(d.rules)
		for _, r := range m.Rules {
			d.rules[r.N] = r
		}
		ev.Hosts = make([]Host, 0, len(m.Hosts))
		for i := range m.Hosts {
			ev.Hosts = append(ev.Hosts, d.host(&m.Hosts[i]))
		}
		clear(d.alerts)
		for _, a := range m.Alerts {
			if a.State == StatePending || a.State == StateFiring {
				d.alerts[a.ID] = a
			}
		}
	}
	if t := ev.Transition; t != nil {
		if t.To == StatePending || t.To == StateFiring {
			d.alerts[t.Alert.ID] = t.Alert
		} else {
			delete(d.alerts, t.Alert.ID)
		}
	}
	if b := m.AlertBrief; m.Type == EventAlertBrief && b != nil {
		a, ok := d.alerts[b.id]
		switch {
		case b.fresh: // the whole alert is in the event, its host and rule perhaps by number
			if b.hostN != 0 {
				if b.host, ok = d.nums[b.hostN]; !ok {
					return ev, false
				}
			}
			if b.ruleN != 0 {
				r, ok := d.rules[b.ruleN]
				if !ok {
					return ev, false
				}
				b.ruleID, b.ruleName, b.metric, b.op = r.ID, r.Name, r.Metric, r.Op
			}
			a = Alert{ID: b.id, RuleID: b.ruleID, RuleName: b.ruleName, Host: b.host, Metric: b.metric,
				Labels: map[string]string{"host": b.host}, Severity: b.severity, Op: b.op, Threshold: b.threshold,
				ActiveAt: b.at}
		case !ok:
			a = Alert{ID: b.id}
		}
		a.State, a.Value = b.to, b.value
		if b.to == StateFiring {
			a.FiredAt = b.at
		}
		if b.fired {
			a.Severity, a.Threshold = b.severity, b.threshold
			if b.notified {
				a.NotifiedAt = b.at
			}
		}
		if b.fresh || b.fired {
			a.Summary = plainSummaryOf(&a, a.Value, a.Threshold)
			if b.summary != nil {
				a.Summary = *b.summary
			}
		}
		if b.to == StatePending || b.to == StateFiring {
			d.alerts[b.id] = a
		} else {
			delete(d.alerts, b.id)
		}
		ev.Type, ev.Transition = EventAlert, &Transition{Alert: a, From: b.from, To: b.to, At: b.at, Value: b.value, Threshold: a.Threshold}
	}
	if m.Host != nil {
		h := d.host(m.Host)
		ev.Host = &h
	}
	if m.Type == EventHostBrief && m.Brief != nil {
		h := m.Brief.host
		if n := m.Brief.n; n != 0 {
			if h.ID, ok = d.nums[n]; !ok {
				return ev, false
			}
		}
		if m.Brief.hasSeen {
			h.LastSeen = time.UnixMilli(d.epoch + m.Brief.seen).UTC()
		}
		if id, ok := d.hosts[h.ID]; ok {
			h.Facts, h.AgentVersion, h.AgentTags, h.TagsByAdmin, h.Tags = id.facts, id.agentVersion, id.agentTags, id.tagsByAdmin, id.tags
		}
		ev.Type, ev.Host = EventHost, &h
	}
	return ev, true
}

// host fills in lh's identity, or remembers it when lh carries one.
func (d *LiveDecoder) host(lh *LiveHost) Host {
	h := lh.Host
	if lh.N != 0 {
		d.nums[lh.N] = h.ID
	}
	if lh.Facts != nil {
		h.Facts = *lh.Facts
		d.hosts[h.ID] = hostIdentity{facts: h.Facts, agentVersion: h.AgentVersion, agentTags: h.AgentTags, tagsByAdmin: h.TagsByAdmin, tags: h.Tags}
		return h
	}
	if id, ok := d.hosts[h.ID]; ok {
		h.Facts, h.AgentVersion, h.AgentTags, h.TagsByAdmin = id.facts, id.agentVersion, id.agentTags, id.tagsByAdmin
		id.tags = h.Tags
		d.hosts[h.ID] = id
	}
	return h
}
