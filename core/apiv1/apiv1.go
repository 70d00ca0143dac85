// Package apiv1 holds the JSON shapes of the core's REST API under /api/v1 and
// of its live feed on /ws/live. The API handlers, the web page, the console's
// client and the tests all speak these types, so the contract has one
// definition.
package apiv1

import "time"

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
}

// Transition is one entry of the alert history: an alert moved from one state
// to another at a time, with the value that moved it.
type Transition struct {
	Alert Alert     `json:"alert"`
	From  string    `json:"from"`
	To    string    `json:"to"`
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
}

// Rule is an alert rule. Kind "threshold" compares Metric's samples that match
// Match with Threshold; kind "agent_offline" fires for a host that sent
// nothing for For.
type Rule struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Kind      string            `json:"kind"`
	Metric    string            `json:"metric,omitempty"`
	Match     map[string]string `json:"match,omitempty"`
	Op        string            `json:"op,omitempty"`
	Threshold float64           `json:"threshold"`
	For       Duration          `json:"for"`
	Severity  string            `json:"severity"`
	Summary   string            `json:"summary,omitempty"`
	Enabled   bool              `json:"enabled"`
}

// Rule kinds.
const (
	RuleThreshold    = "threshold"
	RuleAgentOffline = "agent_offline"
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
)

// Event is one message on /ws/live.
type Event struct {
	Type       string      `json:"type"`
	Hosts      []Host      `json:"hosts,omitempty"`
	Alerts     []Alert     `json:"alerts,omitempty"`
	Host       *Host       `json:"host,omitempty"`
	Transition *Transition `json:"transition,omitempty"`
}
