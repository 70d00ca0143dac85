package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"esmon/core/alert"
	"esmon/core/api"
	"esmon/core/apiv1"
	"esmon/core/auth"
	"esmon/core/notify"
	"esmon/core/notify/email"
	"esmon/core/notify/logfile"
	"esmon/core/notify/teams"
	"esmon/core/notify/webhook"
)

// Channels configure the notification channels beyond the log and the
// desktop, in the settings file under "channels". Each has a name (for
// per-rule routing, escalation and the API) and a least severity.
type Channels struct {
	// Email lists email channels, each with its own recipients.
	Email []email.Config `yaml:"email"`
	// Teams lists Microsoft Teams channels (Workflows webhooks).
	Teams []teams.Config `yaml:"teams"`
	// Webhooks lists generic JSON webhooks, signed with HMAC-SHA256.
	Webhooks []webhook.Config `yaml:"webhooks"`
	// LogFile, when set, writes every transition as a JSON line.
	LogFile *logfile.Config `yaml:"log_file"`
}

// DesktopChannel is the name of the console's desktop toasts.
const DesktopChannel = "desktop"

// routes builds the notification channels, explicitly and in one place,
// with the defaults of DESIGN.md: every severity to the log, critical and
// up to the desktop, very_critical to email (the smtp setting), Teams from
// warning when configured; each channel's own min_severity overrides.
// Every configuration error is reported, not just the first.
func (c *Core) routes() ([]notify.Route, error) {
	rs := []notify.Route{{Channel: notify.NewLog(c.log.With("channel", "log")), Always: true}}
	if c.opts.Desktop != nil {
		rs = append(rs, notify.Route{Channel: notify.Func(DesktopChannel, c.opts.Desktop), MinSeverity: apiv1.SeverityCritical})
	}
	var errs []error
	sealer, err := auth.LoadSealer(filepath.Join(c.opts.DataDir, auth.SecretKeyFile))
	if err != nil {
		return nil, err
	}
	// open decrypts a sealed setting in place; the field names it in the
	// error, never its value. A secret left in clear stops the start,
	// unless allow_clear_secrets says otherwise (then it works, with a
	// warning that says how to seal it).
	open := func(field string, v *string) {
		if *v != "" && !strings.HasPrefix(*v, auth.SealPrefix) {
			if !c.opts.AllowClearSecrets {
				errs = append(errs, fmt.Errorf("%s is a secret in clear text: replace it with the output of `esmon secret seal --data %s` (or set allow_clear_secrets: true)", field, c.opts.DataDir))
				return
			}
			c.log.Warn("a secret in the settings file is not sealed; replace it with the output of `esmon secret seal`", "setting", field)
		}
		var err error
		if *v, err = sealer.Open(*v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	mails := slices.Clone(c.opts.Channels.Email)
	if c.opts.SMTP != nil {
		mails = append([]email.Config{*c.opts.SMTP}, mails...)
	}
	for i, cfg := range mails {
		open(fmt.Sprintf("channels.email[%d].password", i), &cfg.Password)
		ch, err := email.New(cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("channels.email[%d]: %w", i, err))
			continue
		}
		rs = append(rs, notify.Route{Channel: redacted(ch, cfg.Password), MinSeverity: ch.MinSeverity()})
	}
	link := func() string {
		if c.opts.PublicURL != "" {
			return c.opts.PublicURL
		}
		if c.ln == nil {
			return ""
		}
		return c.WebURL()
	}
	for i, cfg := range c.opts.Channels.Teams {
		open(fmt.Sprintf("channels.teams[%d].url", i), &cfg.URL)
		ch, err := teams.New(cfg, link)
		if err != nil {
			errs = append(errs, fmt.Errorf("channels.teams[%d]: %w", i, err))
			continue
		}
		rs = append(rs, notify.Route{Channel: redacted(ch, cfg.URL), MinSeverity: ch.MinSeverity()})
	}
	for i, cfg := range c.opts.Channels.Webhooks {
		open(fmt.Sprintf("channels.webhooks[%d].url", i), &cfg.URL)
		open(fmt.Sprintf("channels.webhooks[%d].secret", i), &cfg.Secret)
		ch, err := webhook.New(cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("channels.webhooks[%d]: %w", i, err))
			continue
		}
		rs = append(rs, notify.Route{Channel: redacted(ch, cfg.URL, cfg.Secret), MinSeverity: ch.MinSeverity()})
	}
	if cfg := c.opts.Channels.LogFile; cfg != nil {
		ch, err := logfile.New(*cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("channels.log_file: %w", err))
		} else {
			rs = append(rs, notify.Route{Channel: ch, MinSeverity: ch.MinSeverity()})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("notification channels: %w", err)
	}
	return rs, nil
}

// redacted wraps a channel so that its errors, which the router logs and
// the test endpoint answers with, never carry the channel's secrets (an
// HTTP client's error quotes the URL, and a Teams or webhook URL is a
// credential).
func redacted(n notify.Notifier, secrets ...string) notify.Notifier {
	secrets = slices.DeleteFunc(secrets, func(s string) bool { return s == "" })
	if len(secrets) == 0 {
		return n
	}
	return redactor{n, secrets}
}

type redactor struct {
	notify.Notifier
	secrets []string
}

func (r redactor) Notify(ctx context.Context, ts ...apiv1.Transition) (bool, error) {
	retry, err := r.Notifier.Notify(ctx, ts...)
	if err == nil {
		return retry, nil
	}
	msg := err.Error()
	for _, s := range r.secrets {
		msg = strings.ReplaceAll(msg, s, "<secret>")
	}
	if msg == err.Error() {
		return retry, err
	}
	return retry, &redactedError{msg: msg, err: err}
}

// redactedError shows a redacted message and keeps the error it stands
// for, so the router still finds a *PartialError or *RetryAfterError in it.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// AlertSettings tune alerting, in the settings file under "alerting".
type AlertSettings struct {
	// FlapCount and FlapWindow: an alert that starts or ends more than
	// FlapCount times within FlapWindow stays firing, marked flapping,
	// until it has been clear for a whole window. Defaults 6 and 10m;
	// a negative FlapCount turns damping off.
	FlapCount  int           `yaml:"flap_count"`
	FlapWindow time.Duration `yaml:"flap_window"`
	// GroupWait is how long each channel waits after the first
	// notification of a burst, so that alerts firing together go out as
	// one message. Default 200ms.
	GroupWait time.Duration `yaml:"group_wait"`
	// RedeliverUnknown sends again, after a crash, the notifications a
	// channel had in hand when the core stopped before hearing its answer,
	// marked as redeliveries with their notification ids: a possible
	// duplicate rather than a possible loss. Default false: they are not
	// sent again and are listed as unknown under GET /api/v1/channels.
	RedeliverUnknown bool `yaml:"redeliver_unknown"`
	// Escalation is the default escalation chain of rules without their
	// own: a critical (or worse) alert nobody acknowledged goes, After its
	// firing, to each step's channels in turn. Empty: no escalation.
	Escalation []apiv1.EscalationStep `yaml:"escalation"`
}

// configureAlerts tells the alert engine the channel names rules may
// route to, the flap damping and the default escalation chain.
func (c *Core) configureAlerts(rs []notify.Route) error {
	c.alerts.SetChannels(channelNames(rs))
	c.loadHostTags()
	if err := c.alerts.SetDefaultEscalation(c.opts.Alerting.Escalation); err != nil {
		return fmt.Errorf("alerting: %w", err)
	}
	s := c.opts.Alerting
	count, window := s.FlapCount, s.FlapWindow
	switch {
	case count < 0:
		count = 0
	case count == 0:
		count = alert.DefaultFlapCount
	}
	if window <= 0 {
		window = alert.DefaultFlapWindow
	}
	c.alerts.SetFlapDamping(count, window)
	return nil
}

// notifyQueue and notifyBatch size the channels' queues and messages for
// an estate of 10,000 hosts: when all go offline at once (a network cut),
// every alert is kept and a channel gets 20 messages, not 10,000.
const (
	notifyQueue = 50_000
	notifyBatch = 500
)

// notifyOptions make delivery durable: the outbox in the store, retries
// until the channel comes back, and a short wait that groups alerts firing
// together into one message per channel (a burst: one per notifyBatch).
func (c *Core) notifyOptions() notify.Options {
	return notify.Options{
		QueueSize:        notifyQueue,
		BatchSize:        notifyBatch,
		Logger:           c.log.With("component", "notify"),
		Outbox:           c.db,
		MaxAttempts:      -1,
		MaxBackoff:       time.Minute,
		GroupWait:        cmp.Or(c.opts.Alerting.GroupWait, 200*time.Millisecond),
		RedeliverUnknown: c.opts.Alerting.RedeliverUnknown,
	}
}

// alerting adapts the alert engine and the router to the API's actions:
// transitions they cause are published and routed like any other.
type alerting struct{ c *Core }

var _ api.Alerting = alerting{}

func (a alerting) Alert(id string) (apiv1.Alert, bool) { return a.c.alerts.Alert(id) }

func (a alerting) Ack(id, by, comment string) (apiv1.Transition, error) {
	t, err := a.c.alerts.Ack(id, by, comment, time.Now())
	if err == nil {
		a.c.transitions([]apiv1.Transition{t})
	}
	return t, err
}

func (a alerting) Unack(id, by string) (apiv1.Transition, error) {
	t, err := a.c.alerts.Unack(id, by, time.Now())
	if err == nil {
		a.c.transitions([]apiv1.Transition{t})
	}
	return t, err
}

func (a alerting) SetRuleEnabled(id string, enabled bool, by string) (apiv1.Rule, error) {
	r, ts, err := a.c.alerts.SetEnabled(id, enabled, by)
	a.c.transitions(ts)
	return r, err
}

func (a alerting) ExportRules() ([]byte, error) { return a.c.alerts.Export() }

func (a alerting) ImportRules(doc []byte, by string) (int, int, error) {
	created, updated, ts, err := a.c.alerts.Import(doc, by)
	a.c.transitions(ts)
	return created, updated, err
}

func (a alerting) RuleChanges(limit int) ([]apiv1.RuleChange, error) {
	return a.c.alerts.RuleChanges(limit)
}

func (a alerting) Silences() []apiv1.Silence { return a.c.alerts.Silences(time.Now()) }

func (a alerting) AddSilence(s apiv1.Silence, by string) (apiv1.Silence, error) {
	return a.c.alerts.AddSilence(s, by, time.Now())
}

func (a alerting) DeleteSilence(id, by string) error { return a.c.alerts.DeleteSilence(id, by) }

func (a alerting) Maintenance() []apiv1.Maintenance { return a.c.alerts.Maintenance(time.Now()) }

func (a alerting) AddMaintenance(m apiv1.Maintenance, by string) (apiv1.Maintenance, error) {
	return a.c.alerts.AddMaintenance(m, by, time.Now())
}

func (a alerting) DeleteMaintenance(id, by string) error {
	return a.c.alerts.DeleteMaintenance(id, by)
}

func (a alerting) Channels() []apiv1.Channel {
	chs := a.c.router.Channels()
	for i := range chs {
		chs[i].Unknown = a.c.router.Unknown(chs[i].Name)
	}
	return chs
}

func (a alerting) TestChannel(ctx context.Context, name, by string) error {
	return a.c.router.Test(ctx, name, by)
}

// tick runs what time alone does to alerts: holds ending, no-data,
// repeats and escalations.
func (c *Core) tick() { c.transitions(c.alerts.Tick(time.Now())) }

// channelNames are the names rules may route and escalate to.
func channelNames(rs []notify.Route) []string {
	names := make([]string, 0, len(rs))
	for _, r := range rs {
		names = append(names, r.Channel.Name())
	}
	return names
}
