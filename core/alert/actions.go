package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"esmon/core/apiv1"
	"esmon/core/store"
)

// Errors of people's actions.
var (
	ErrNoAlert       = errors.New("no such active alert")
	ErrNotFiring     = errors.New("alert is not firing")
	ErrNoSilence     = errors.New("no such silence")
	ErrNoMaintenance = errors.New("no such maintenance window")
)

// maxComment bounds the comment of an acknowledgement or a silence.
const maxComment = 1000

// Ack records that by took charge of the firing alert id: repeats and
// escalation stop, and every view shows who and when. The returned
// transition (firing → firing, reason "acknowledged") is recorded in the
// history and published, not sent to channels.
func (e *Engine) Ack(id, by, comment string, now time.Time) (apiv1.Transition, error) {
	if len(comment) > maxComment {
		return apiv1.Transition{}, &FieldError{"comment", fmt.Sprintf("must be at most %d characters", maxComment)}
	}
	e.mu.Lock()
	in := e.byID(id)
	if in == nil {
		e.mu.Unlock()
		return apiv1.Transition{}, ErrNoAlert
	}
	if in.Alert.State != apiv1.StateFiring {
		e.mu.Unlock()
		return apiv1.Transition{}, ErrNotFiring
	}
	in.Alert.Ack = &apiv1.Ack{By: by, At: now, Comment: comment}
	t := e.move(in, e.ruleOf(in), Firing, Firing, in.Alert.Value, now, ReasonAcknowledged)
	e.mu.Unlock()
	// The person is told only once the acknowledgement is on disk.
	if err := e.w.flush(); err != nil {
		return apiv1.Transition{}, fmt.Errorf("save acknowledgement: %w", err)
	}
	return t, nil
}

// Unack takes an acknowledgement back: repeats and escalation resume.
func (e *Engine) Unack(id, by string, now time.Time) (apiv1.Transition, error) {
	e.mu.Lock()
	in := e.byID(id)
	if in == nil {
		e.mu.Unlock()
		return apiv1.Transition{}, ErrNoAlert
	}
	if in.Alert.Ack == nil {
		e.mu.Unlock()
		return apiv1.Transition{}, &FieldError{"ack", "the alert is not acknowledged"}
	}
	in.Alert.Ack = nil
	// A fresh start for repeats: the next is one interval from now.
	in.Alert.NotifiedAt = now
	t := e.move(in, e.ruleOf(in), Firing, Firing, in.Alert.Value, now, ReasonUnacknowledged)
	e.mu.Unlock()
	if err := e.w.flush(); err != nil {
		return apiv1.Transition{}, fmt.Errorf("save acknowledgement: %w", err)
	}
	e.log.Info("alert unacknowledged", "alert", id, "by", by)
	return t, nil
}

// ruleOf returns the rule of an active alert, or a stand-in built from the
// alert when the rule is gone. The caller holds the lock.
func (e *Engine) ruleOf(in *instance) *apiv1.Rule {
	if r, ok := e.rules[in.Alert.RuleID]; ok {
		return r
	}
	a := in.Alert
	return &apiv1.Rule{ID: a.RuleID, Name: a.RuleName, Op: a.Op, Threshold: a.Threshold, Severity: a.Severity, Channels: a.Channels}
}

// maxSilence bounds how long one silence lasts.
const maxSilence = 366 * 24 * time.Hour

// AddSilence validates and stores a silence; CreatedBy is by.
func (e *Engine) AddSilence(s apiv1.Silence, by string, now time.Time) (apiv1.Silence, error) {
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	switch {
	case len(s.Match) == 0:
		return apiv1.Silence{}, &FieldError{"match", "at least one matcher, e.g. {\"host\": \"web-1\"}"}
	case !s.EndsAt.After(s.StartsAt):
		return apiv1.Silence{}, &FieldError{"ends_at", "must be after starts_at"}
	case !s.EndsAt.After(now):
		return apiv1.Silence{}, &FieldError{"ends_at", "must be in the future"}
	case s.EndsAt.Sub(s.StartsAt) > maxSilence:
		return apiv1.Silence{}, &FieldError{"ends_at", "a silence lasts at most 366 days"}
	case len(s.Comment) > maxComment:
		return apiv1.Silence{}, &FieldError{"comment", fmt.Sprintf("must be at most %d characters", maxComment)}
	}
	if err := validMatch("match", s.Match); err != nil {
		return apiv1.Silence{}, err
	}
	s.ID, s.CreatedBy, s.CreatedAt = newID(), by, now
	b, err := json.Marshal(s)
	if err != nil {
		return apiv1.Silence{}, fmt.Errorf("encode silence: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.kv.Put(append([]byte{store.PrefixSilences}, s.ID...), b); err != nil {
		return apiv1.Silence{}, fmt.Errorf("save silence: %w", err)
	}
	e.silences[s.ID] = s
	e.log.Info("silence added", "silence", s.ID, "by", by, "match", s.Match, "ends", s.EndsAt)
	return s, nil
}

// DeleteSilence ends a silence at once.
func (e *Engine) DeleteSilence(id, by string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.silences[id]; !ok {
		return ErrNoSilence
	}
	if err := e.kv.Delete(append([]byte{store.PrefixSilences}, id...)); err != nil {
		return fmt.Errorf("delete silence: %w", err)
	}
	delete(e.silences, id)
	e.log.Info("silence removed", "silence", id, "by", by)
	return nil
}

// Silences lists the silences that have not ended, soonest end first.
func (e *Engine) Silences(now time.Time) []apiv1.Silence {
	e.mu.Lock()
	out := make([]apiv1.Silence, 0, len(e.silences))
	for _, s := range e.silences {
		if s.EndsAt.After(now) {
			s.Match = maps.Clone(s.Match)
			out = append(out, s)
		}
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].EndsAt.Before(out[j].EndsAt) })
	return out
}

// maintenance is a stored window with its parsed schedule.
type maintenance struct {
	apiv1.Maintenance
	sched cron.Schedule
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func compileMaintenance(m apiv1.Maintenance) (*maintenance, error) {
	sched, err := cronParser.Parse(m.Schedule)
	if err != nil {
		return nil, &FieldError{"schedule", "not a cron schedule like \"0 2 * * SUN\": " + err.Error()}
	}
	return &maintenance{Maintenance: m, sched: sched}, nil
}

// open reports whether the window is open at now: a scheduled start lies
// in (now-duration, now].
func (m *maintenance) open(now time.Time) bool {
	d := time.Duration(m.Duration)
	return !m.sched.Next(now.Add(-d)).After(now)
}

// AddMaintenance validates and stores a maintenance window.
func (e *Engine) AddMaintenance(m apiv1.Maintenance, by string, now time.Time) (apiv1.Maintenance, error) {
	switch {
	case m.Name == "" || len(m.Name) > 200:
		return apiv1.Maintenance{}, &FieldError{"name", "must be 1 to 200 characters"}
	case m.Duration <= 0 || time.Duration(m.Duration) > 7*24*time.Hour:
		return apiv1.Maintenance{}, &FieldError{"duration", "must be between 1s and 168h"}
	case len(m.Match) == 0:
		return apiv1.Maintenance{}, &FieldError{"match", "at least one matcher, e.g. {\"host\": \"db-*\"}"}
	}
	if err := validMatch("match", m.Match); err != nil {
		return apiv1.Maintenance{}, err
	}
	m.ID, m.CreatedBy, m.CreatedAt, m.Active, m.Next = newID(), by, now, false, time.Time{}
	mw, err := compileMaintenance(m)
	if err != nil {
		return apiv1.Maintenance{}, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return apiv1.Maintenance{}, fmt.Errorf("encode maintenance window: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.kv.Put(append([]byte{store.PrefixMaintenance}, m.ID...), b); err != nil {
		return apiv1.Maintenance{}, fmt.Errorf("save maintenance window: %w", err)
	}
	e.maint[m.ID] = mw
	e.log.Info("maintenance window added", "window", m.ID, "name", m.Name, "by", by, "schedule", m.Schedule, "duration", time.Duration(m.Duration))
	return mw.at(now), nil
}

// at is the window as of now, with Active and Next filled in.
func (m *maintenance) at(now time.Time) apiv1.Maintenance {
	v := m.Maintenance
	v.Match = maps.Clone(v.Match)
	v.Active = m.open(now)
	v.Next = m.sched.Next(now)
	return v
}

// DeleteMaintenance removes a maintenance window.
func (e *Engine) DeleteMaintenance(id, by string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.maint[id]; !ok {
		return ErrNoMaintenance
	}
	if err := e.kv.Delete(append([]byte{store.PrefixMaintenance}, id...)); err != nil {
		return fmt.Errorf("delete maintenance window: %w", err)
	}
	delete(e.maint, id)
	e.log.Info("maintenance window removed", "window", id, "by", by)
	return nil
}

// Maintenance lists the maintenance windows by name.
func (e *Engine) Maintenance(now time.Time) []apiv1.Maintenance {
	e.mu.Lock()
	out := make([]apiv1.Maintenance, 0, len(e.maint))
	for _, m := range e.maint {
		out = append(out, m.at(now))
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || out[i].Name == out[j].Name && out[i].ID < out[j].ID
	})
	return out
}

// mutedBy names what mutes alert a at now: "silence:<id>" or
// "maintenance:<name>", or "". The caller holds the lock.
func (e *Engine) mutedBy(a *apiv1.Alert, now time.Time) string {
	if len(e.silences) == 0 && len(e.maint) == 0 {
		return ""
	}
	for _, id := range slices.Sorted(maps.Keys(e.silences)) {
		s := e.silences[id]
		if !now.Before(s.StartsAt) && now.Before(s.EndsAt) && e.alertMatches(a, s.Match) {
			return "silence:" + s.ID
		}
	}
	for _, id := range slices.Sorted(maps.Keys(e.maint)) {
		m := e.maint[id]
		if e.alertMatches(a, m.Match) && m.open(now) {
			return "maintenance:" + m.Name
		}
	}
	return ""
}

// chain is the escalation chain of rule r: its own steps, its one-step
// escalate_after/escalate_to, or the core's default. The caller holds the
// lock.
func (e *Engine) chain(r *apiv1.Rule) []apiv1.EscalationStep {
	switch {
	case len(r.Escalation) > 0:
		return r.Escalation
	case r.EscalateTo != "":
		return []apiv1.EscalationStep{{After: r.EscalateAfter, Channels: []string{r.EscalateTo}}}
	}
	return e.escalation
}

// alertMatches matches an alert against silence matchers: "rule" matches
// the rule's id or name, "severity" and "host" the alert's own fields,
// "tag" the host's tags, any other name a label. The caller holds the
// lock.
func (e *Engine) alertMatches(a *apiv1.Alert, match map[string]string) bool {
	for k, v := range match {
		var ok bool
		switch k {
		case TagMatcher:
			ok = hasTag(e.tags[a.Host], v)
		case "rule":
			ok = matchValue(v, a.RuleID) || matchValue(v, a.RuleName)
		case "severity":
			ok = matchValue(v, a.Severity)
		case "host":
			ok = matchValue(v, a.Host)
		default:
			ok = matchValue(v, a.Labels[k])
		}
		if !ok {
			return false
		}
	}
	return true
}

// Tick does what time alone does to alerts, as of now: it resolves
// alerts held by keep_firing_for or flap damping once their hold is over,
// applies no-data handling, repeats unacknowledged firing alerts whose rule
// asks for it, escalates critical ones nobody acknowledged, and forgets
// flap histories that have gone quiet and silences that ended a day ago. The core calls it every few seconds.
func (e *Engine) Tick(now time.Time) []apiv1.Transition {
	defer e.w.room()
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []apiv1.Transition
	for _, key := range slices.Sorted(maps.Keys(e.active)) {
		in := e.active[key]
		r, ok := e.rules[in.Alert.RuleID]
		if !ok {
			continue
		}
		a := &in.Alert
		if a.State == apiv1.StateFiring && !in.ClearedAt.IsZero() {
			n := len(out)
			out = e.clearing(out, in, r, a.Value, now)
			if len(out) > n {
				continue
			}
		}
		if r.Kind != apiv1.RuleAgentOffline && r.NoData == NoDataResolve && !in.LastSample.IsZero() &&
			now.Sub(in.LastSample) >= noDataAfter(r) {
			from := stateOf(a.State)
			end := Resolved
			if from == Pending {
				end = Inactive
			}
			out = append(out, e.move(in, r, from, end, a.Value, now, ReasonNoData))
			continue
		}
		if a.State != apiv1.StateFiring || a.Ack != nil || e.mutedBy(a, now) != "" {
			continue
		}
		if steps := e.chain(r); a.EscalationStep < len(steps) && apiv1.SeverityRank(a.Severity) >= apiv1.SeverityRank(apiv1.SeverityCritical) &&
			now.Sub(a.FiredAt) >= time.Duration(steps[a.EscalationStep].After) {
			st := steps[a.EscalationStep]
			a.EscalationStep++
			a.Escalated = strings.Join(st.Channels, ",")
			out = append(out, e.move(in, r, Firing, Firing, a.Value, now, ReasonEscalation))
			continue
		}
		if r.RepeatInterval > 0 && !a.NotifiedAt.IsZero() && now.Sub(a.NotifiedAt) >= time.Duration(r.RepeatInterval) {
			out = append(out, e.move(in, r, Firing, Firing, a.Value, now, ReasonRepeat))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(e.seen)) {
		ss := e.seen[key]
		r, ok := e.rules[ss.rule]
		if !ok || !r.Enabled || r.NoData != NoDataAlert {
			delete(e.seen, key)
			continue
		}
		if now.Sub(ss.last) < noDataAfter(r) {
			continue
		}
		delete(e.seen, key)
		if e.active[key] != nil {
			continue
		}
		in := e.newInstance(r, key, ss.metric, ss.labels, now)
		in.LastSample = ss.last
		in.Alert.Threshold = noDataAfter(r).Seconds()
		out = append(out, e.fire(in, r, Inactive, now.Sub(ss.last).Seconds(), now, ReasonNoData))
	}
	for key, fs := range e.flaps {
		if len(fs) == 0 || now.Sub(fs[len(fs)-1]) > e.maxFlapWindow {
			delete(e.flaps, key)
		}
	}
	for id, s := range e.silences {
		if now.Sub(s.EndsAt) > 24*time.Hour {
			if err := e.kv.Delete(append([]byte{store.PrefixSilences}, id...)); err == nil {
				delete(e.silences, id)
			}
		}
	}
	return out
}

func noDataAfter(r *apiv1.Rule) time.Duration {
	if r.NoDataAfter > 0 {
		return time.Duration(r.NoDataAfter)
	}
	return DefaultNoDataAfter
}
