// Package webhook is the generic webhook notification channel: the alert
// transitions as one JSON document posted to a URL, signed with HMAC-SHA256
// so the receiver can tell it came from this core.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"esmon/core/apiv1"
	"esmon/core/notify"
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body,
// keyed with the channel's secret. TimestampHeader carries the Unix time of
// the post; it is part of the body too, so a replayed body shows its age.
const (
	SignatureHeader = "X-Esmon-Signature"
	TimestampHeader = "X-Esmon-Timestamp"
)

// DefaultTimeout bounds one post.
const DefaultTimeout = 15 * time.Second

// Config is one webhook channel.
type Config struct {
	// Name names the channel in routes and the API. Required.
	Name string `yaml:"name" json:"name"`
	// URL receives the posts.
	URL string `yaml:"url" json:"url"`
	// Secret keys the signature; without one the posts are not signed.
	Secret string `yaml:"secret,omitempty" json:"-"`
	// MinSeverity is the least severity sent here; "" sends every one.
	MinSeverity string `yaml:"min_severity,omitempty" json:"min_severity,omitempty"`
	// Timeout bounds one post. Default 15s.
	Timeout apiv1.Duration `yaml:"timeout,omitempty" json:"timeout,omitzero"`
}

// Validate reports every problem with c, each naming its field.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: required"))
	}
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("url: want an http(s) address"))
	}
	if c.MinSeverity != "" && apiv1.SeverityRank(c.MinSeverity) == 0 {
		errs = append(errs, fmt.Errorf("min_severity: %q is not one of %v", c.MinSeverity, apiv1.Severities))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("timeout: must not be negative"))
	}
	return errors.Join(errs...)
}

// Payload is the JSON document posted.
type Payload struct {
	Version     int                `json:"version"`
	Channel     string             `json:"channel"`
	SentAt      time.Time          `json:"sent_at"`
	Firing      int                `json:"firing"`
	Resolved    int                `json:"resolved"`
	Transitions []apiv1.Transition `json:"transitions"`
}

// Channel posts to one webhook. It is safe for concurrent use.
type Channel struct {
	cfg    Config
	client *http.Client
	now    func() time.Time
}

var _ notify.Notifier = (*Channel)(nil)

// New checks cfg.
func New(cfg Config) (*Channel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("webhook config: %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = apiv1.Duration(DefaultTimeout)
	}
	return &Channel{cfg: cfg, client: &http.Client{Timeout: time.Duration(cfg.Timeout)}, now: time.Now}, nil
}

// Name returns the channel's name.
func (c *Channel) Name() string { return c.cfg.Name }

// MinSeverity returns the least severity routed here.
func (c *Channel) MinSeverity() string { return c.cfg.MinSeverity }

// Sign returns the signature header's value for body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is the signature of body under secret, in
// constant time; receivers written in Go can use it.
func Verify(secret string, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(sig))
}

// Notify posts one Payload with all of ts.
func (c *Channel) Notify(ctx context.Context, ts ...apiv1.Transition) (retry bool, err error) {
	if len(ts) == 0 {
		return false, nil
	}
	p := Payload{Version: 1, Channel: c.cfg.Name, SentAt: c.now().UTC(), Transitions: ts}
	for _, t := range ts {
		if t.To == apiv1.StateResolved {
			p.Resolved++
		} else {
			p.Firing++
		}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("webhook %s: encode: %w", c.cfg.Name, err)
	}
	h := http.Header{TimestampHeader: {strconv.FormatInt(p.SentAt.Unix(), 10)}, "User-Agent": {"esmon"}}
	if c.cfg.Secret != "" {
		h.Set(SignatureHeader, Sign(c.cfg.Secret, body))
	}
	if id := notify.MessageID(ts...); id != "" {
		// The same after a crash and restart: receivers drop a repeat.
		h.Set(notify.IDHeader, id)
	}
	if retry, err := notify.PostJSON(ctx, c.client, c.cfg.URL, body, h); err != nil {
		return retry, fmt.Errorf("webhook %s: %w", c.cfg.Name, err)
	}
	return false, nil
}
