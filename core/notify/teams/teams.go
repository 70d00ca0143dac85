// Package teams is the Microsoft Teams notification channel: an Adaptive
// Card posted to a Teams Workflows webhook ("Post to a channel when a
// webhook request is received"). Alerts that fire together go out as one
// card that lists them.
package teams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"esmon/core/apiv1"
	"esmon/core/notify"
)

// DefaultTimeout bounds one post.
const DefaultTimeout = 15 * time.Second

// maxListed bounds the alerts one card lists; the rest are counted. Teams
// refuses payloads over about 28 KB.
const maxListed = 40

// Config is one Teams channel.
type Config struct {
	// Name names the channel in routes and the API. Default "teams".
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// URL is the Workflows webhook's address. It is a secret: whoever has
	// it can post to the channel, so it is never logged.
	URL string `yaml:"url" json:"-"`
	// MinSeverity is the least severity sent here. Default "warning".
	MinSeverity string `yaml:"min_severity,omitempty" json:"min_severity,omitempty"`
	// Timeout bounds one post. Default 15s.
	Timeout apiv1.Duration `yaml:"timeout,omitempty" json:"timeout,omitzero"`
}

// WithDefaults fills in the name, severity and timeout.
func (c Config) WithDefaults() Config {
	if c.Name == "" {
		c.Name = "teams"
	}
	if c.MinSeverity == "" {
		c.MinSeverity = apiv1.SeverityWarning
	}
	if c.Timeout <= 0 {
		c.Timeout = apiv1.Duration(DefaultTimeout)
	}
	return c
}

// Validate reports every problem with c, each naming its field.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("url: want the http(s) address of a Teams Workflows webhook"))
	}
	if c.MinSeverity != "" && apiv1.SeverityRank(c.MinSeverity) == 0 {
		errs = append(errs, fmt.Errorf("min_severity: %q is not one of %v", c.MinSeverity, apiv1.Severities))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("timeout: must not be negative"))
	}
	return errors.Join(errs...)
}

// Channel posts cards to one Teams webhook. It is safe for concurrent use.
type Channel struct {
	cfg    Config
	link   func() string
	client *http.Client
}

var _ notify.Notifier = (*Channel)(nil)

// New checks cfg. link returns the web page's address for the card's
// button, asked at each send (the core knows its address only once it
// listens); nil or "" leaves the button out.
func New(cfg Config, link func() string) (*Channel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("teams config: %w", err)
	}
	cfg = cfg.WithDefaults()
	return &Channel{cfg: cfg, link: link, client: &http.Client{Timeout: time.Duration(cfg.Timeout)}}, nil
}

// Name returns the channel's name.
func (c *Channel) Name() string { return c.cfg.Name }

// MinSeverity returns the least severity routed here.
func (c *Channel) MinSeverity() string { return c.cfg.MinSeverity }

// Notify posts one card for all of ts. A 429 or 503 with Retry-After comes
// back as a *notify.RetryAfterError, so the wait asked for is honoured.
func (c *Channel) Notify(ctx context.Context, ts ...apiv1.Transition) (retry bool, err error) {
	if len(ts) == 0 {
		return false, nil
	}
	link := ""
	if c.link != nil {
		link = c.link()
	}
	body, err := json.Marshal(Message(ts, link))
	if err != nil {
		return false, fmt.Errorf("teams: encode card: %w", err)
	}
	var h http.Header
	if id := notify.MessageID(ts...); id != "" {
		// Teams ignores it; a relay in between may drop a repeat by it.
		h = http.Header{notify.IDHeader: {id}}
	}
	retry, err = notify.PostJSON(ctx, c.client, c.cfg.URL, body, h)
	if err != nil {
		// The URL is a secret: the error names the channel, not the address.
		return retry, fmt.Errorf("teams %s: %w", c.cfg.Name, redact(err, c.cfg.URL))
	}
	return false, nil
}

// redact removes the webhook's address from errors of net/http, which
// quote it.
func redact(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	var ra *notify.RetryAfterError
	msg := errors.New(strings.ReplaceAll(err.Error(), secret, "<webhook url>"))
	if errors.As(err, &ra) {
		return &notify.RetryAfterError{After: ra.After, Err: msg}
	}
	return msg
}

// Message is the Workflows webhook payload: one Adaptive Card listing ts.
func Message(ts []apiv1.Transition, link string) map[string]any {
	var body []any
	firing := 0
	worst := ""
	for _, t := range ts {
		if t.To == apiv1.StateFiring {
			firing++
			if apiv1.SeverityRank(t.Alert.Severity) > apiv1.SeverityRank(worst) {
				worst = t.Alert.Severity
			}
		}
	}
	title := headline(ts[0])
	if len(ts) > 1 {
		title = fmt.Sprintf("%d alerts: %d firing, %d resolved", len(ts), firing, len(ts)-firing)
	}
	style := "good"
	if firing > 0 {
		style = containerStyle(worst)
	}
	body = append(body, map[string]any{
		"type": "Container", "style": style, "bleed": true,
		"items": []any{map[string]any{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": true}},
	})
	for i, t := range ts {
		if i == maxListed {
			body = append(body, map[string]any{"type": "TextBlock", "text": fmt.Sprintf("… and %d more", len(ts)-maxListed), "isSubtle": true})
			break
		}
		items := []any{}
		if len(ts) > 1 {
			items = append(items, map[string]any{"type": "TextBlock", "text": headline(t), "weight": "Bolder", "wrap": true, "color": textColor(t)})
		}
		items = append(items, map[string]any{"type": "FactSet", "facts": facts(t)})
		body = append(body, map[string]any{"type": "Container", "separator": i > 0, "items": items})
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"msteams": map[string]any{"width": "Full"},
		"body":    body,
	}
	if link != "" {
		card["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "Open in esmon", "url": link}}
	}
	return map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}

func headline(t apiv1.Transition) string {
	a := t.Alert
	s := a.Summary
	if s == "" {
		s = a.RuleName + " on " + a.Host
	}
	switch {
	case t.To == apiv1.StateResolved:
		return "RESOLVED: " + s
	case t.Reason == "repeat":
		return "STILL FIRING " + a.Severity + ": " + s
	case t.Reason == "escalation":
		return "ESCALATED " + a.Severity + ": " + s
	}
	return "FIRING " + a.Severity + ": " + s
}

func facts(t apiv1.Transition) []any {
	a := t.Alert
	f := func(k, v string) any { return map[string]any{"title": k, "value": v} }
	out := []any{f("Host", a.Host), f("Severity", a.Severity)}
	if a.Metric != "" {
		out = append(out, f("Metric", a.Metric))
	}
	out = append(out, f("Value", num(t.Value)))
	if a.Op != "" {
		out = append(out, f("Threshold", a.Op+" "+num(a.Threshold)))
	}
	since := a.FiredAt
	if since.IsZero() {
		since = a.ActiveAt
	}
	if !since.IsZero() {
		out = append(out, f("Since", since.UTC().Format("2006-01-02 15:04:05 UTC")))
	}
	if a.Ack != nil {
		out = append(out, f("Acknowledged", a.Ack.By+" at "+a.Ack.At.UTC().Format("15:04 UTC")))
	}
	return out
}

func num(v float64) string {
	if math.Abs(v) < 1e15 {
		v = math.Round(v*100) / 100
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// containerStyle is the card's colour for a severity.
func containerStyle(sev string) string {
	switch sev {
	case apiv1.SeverityCritical, apiv1.SeverityVeryCritical:
		return "attention"
	case apiv1.SeverityWarning:
		return "warning"
	}
	return "accent"
}

func textColor(t apiv1.Transition) string {
	if t.To == apiv1.StateResolved {
		return "Good"
	}
	switch t.Alert.Severity {
	case apiv1.SeverityCritical, apiv1.SeverityVeryCritical:
		return "Attention"
	case apiv1.SeverityWarning:
		return "Warning"
	}
	return "Accent"
}
