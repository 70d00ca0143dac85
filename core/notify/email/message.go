package email

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	mail "github.com/wneessen/go-mail"

	"esmon/core/apiv1"
	"esmon/core/notify"
)

// Subject is the mail's subject for t: "[FIRING very_critical] High CPU on
// host-a" when an alert starts firing, "[RESOLVED] High CPU on host-a" when
// it ends.
func Subject(t apiv1.Transition) string {
	var tag string
	switch t.To {
	case apiv1.StateFiring:
		tag = "[FIRING " + t.Alert.Severity + "]"
	case apiv1.StateResolved:
		tag = "[RESOLVED]"
	default:
		tag = "[" + strings.ToUpper(t.To) + "]"
	}
	return oneLine(tag + " " + title(t.Alert))
}

// title names the alert: its summary, or its rule, and its host.
func title(a apiv1.Alert) string {
	s := a.Summary
	if s == "" {
		s = a.RuleName
	}
	if s == "" {
		s = a.Metric
	}
	if a.Host != "" && !strings.Contains(s, a.Host) {
		s += " on " + a.Host
	}
	return s
}

// oneLine keeps a header value on one line whatever the alert's text holds.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// view is what the body templates show.
type view struct {
	Title      string
	Status     string // FIRING, RESOLVED
	Firing     bool
	Severity   string
	Host       string
	Rule       string
	Metric     string
	Labels     []label
	Value      string
	Op         string
	Threshold  string
	From, To   string
	At         string
	ActiveAt   string
	FiredAt    string
	ResolvedAt string
	AlertID    string
}

type label struct{ Name, Value string }

func newView(t apiv1.Transition) view {
	a := t.Alert
	v := view{
		Title:      title(a),
		Status:     strings.ToUpper(t.To),
		Firing:     t.To == apiv1.StateFiring,
		Severity:   a.Severity,
		Host:       a.Host,
		Rule:       a.RuleName,
		Metric:     a.Metric,
		Value:      formatValue(t.Value),
		Op:         a.Op,
		From:       t.From,
		To:         t.To,
		At:         formatTime(t.At),
		ActiveAt:   formatTime(a.ActiveAt),
		FiredAt:    formatTime(a.FiredAt),
		ResolvedAt: formatTime(a.ResolvedAt),
		AlertID:    a.ID,
	}
	if a.Op != "" {
		v.Threshold = formatValue(a.Threshold)
	}
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		v.Labels = append(v.Labels, label{k, a.Labels[k]})
	}
	return v
}

func formatValue(f float64) string {
	if math.Abs(f) < 1e15 {
		f = math.Round(f*100) / 100
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 MST")
}

var textBody = texttemplate.Must(texttemplate.New("text").Parse(
	`{{.Status}}{{if .Firing}} {{.Severity}}{{end}}: {{.Title}}

Host:       {{.Host}}
{{- if .Rule}}
Rule:       {{.Rule}}{{end}}
{{- if .Metric}}
Metric:     {{.Metric}}{{end}}
{{- if .Labels}}
Labels:     {{range $i, $l := .Labels}}{{if $i}}, {{end}}{{$l.Name}}={{$l.Value}}{{end}}{{end}}
Value:      {{.Value}}{{if .Threshold}} (threshold {{.Op}} {{.Threshold}}){{end}}
Severity:   {{.Severity}}
State:      {{.From}} -> {{.To}} at {{.At}}
{{- if .ActiveAt}}
Active at:  {{.ActiveAt}}{{end}}
{{- if .FiredAt}}
Fired at:   {{.FiredAt}}{{end}}
{{- if .ResolvedAt}}
Resolved at: {{.ResolvedAt}}{{end}}
Alert:      {{.AlertID}}

-- 
esmon
`))

var htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Status}}: {{.Title}}</title></head>
<body style="font-family: sans-serif">
<h2 style="color: {{if .Firing}}#b00020{{else}}#1b7f3a{{end}}">{{.Status}}{{if .Firing}} {{.Severity}}{{end}}: {{.Title}}</h2>
<table cellpadding="4" style="border-collapse: collapse">
<tr><th align="left">Host</th><td>{{.Host}}</td></tr>
{{- if .Rule}}
<tr><th align="left">Rule</th><td>{{.Rule}}</td></tr>{{end}}
{{- if .Metric}}
<tr><th align="left">Metric</th><td>{{.Metric}}</td></tr>{{end}}
{{- if .Labels}}
<tr><th align="left">Labels</th><td>{{range $i, $l := .Labels}}{{if $i}}, {{end}}{{$l.Name}}={{$l.Value}}{{end}}</td></tr>{{end}}
<tr><th align="left">Value</th><td>{{.Value}}{{if .Threshold}} (threshold {{.Op}} {{.Threshold}}){{end}}</td></tr>
<tr><th align="left">Severity</th><td>{{.Severity}}</td></tr>
<tr><th align="left">State</th><td>{{.From}} &rarr; {{.To}} at {{.At}}</td></tr>
{{- if .ActiveAt}}
<tr><th align="left">Active at</th><td>{{.ActiveAt}}</td></tr>{{end}}
{{- if .FiredAt}}
<tr><th align="left">Fired at</th><td>{{.FiredAt}}</td></tr>{{end}}
{{- if .ResolvedAt}}
<tr><th align="left">Resolved at</th><td>{{.ResolvedAt}}</td></tr>{{end}}
<tr><th align="left">Alert</th><td>{{.AlertID}}</td></tr>
</table>
<p style="color: #666">esmon</p>
</body></html>
`))

// render returns the text and HTML bodies for t.
func render(t apiv1.Transition) (text, html string, err error) {
	v := newView(t)
	var tb, hb bytes.Buffer
	if err := textBody.Execute(&tb, v); err != nil {
		return "", "", err
	}
	if err := htmlBody.Execute(&hb, v); err != nil {
		return "", "", err
	}
	return tb.String(), hb.String(), nil
}

// message builds the mail for t.
func (c *Channel) message(t apiv1.Transition) (*mail.Msg, error) {
	text, html, err := render(t)
	if err != nil {
		return nil, err
	}
	m := mail.NewMsg()
	if err := m.From(c.cfg.From); err != nil {
		return nil, err
	}
	if err := m.To(c.cfg.To...); err != nil {
		return nil, err
	}
	m.Subject(Subject(t))
	m.SetDate()
	setMessageID(m, t)
	m.SetUserAgent("esmon")
	m.SetGenHeader("X-Esmon-Alert", oneLine(t.Alert.ID))
	if t.To == apiv1.StateFiring && apiv1.SeverityRank(t.Alert.Severity) >= apiv1.SeverityRank(apiv1.SeverityCritical) {
		m.SetImportance(mail.ImportanceHigh)
	}
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, html)
	return m, nil
}

// DigestSubject is the subject of one mail for many transitions:
// "[FIRING critical] 50 alerts: Agent offline on host-01, …".
func DigestSubject(ts []apiv1.Transition) string {
	firing, worst := 0, ""
	for _, t := range ts {
		if t.To == apiv1.StateFiring {
			firing++
			if apiv1.SeverityRank(t.Alert.Severity) > apiv1.SeverityRank(worst) {
				worst = t.Alert.Severity
			}
		}
	}
	tag := "[RESOLVED]"
	if firing > 0 {
		tag = "[FIRING " + worst + "]"
	}
	s := fmt.Sprintf("%s %d alerts (%d firing, %d resolved): %s", tag, len(ts), firing, len(ts)-firing, title(ts[0].Alert))
	if len(ts) > 1 {
		s += ", …"
	}
	return oneLine(s)
}

var digestText = texttemplate.Must(texttemplate.New("digest").Parse(
	`{{len .}} alerts changed together:
{{range .}}
{{.Status}}{{if .Firing}} {{.Severity}}{{end}}: {{.Title}}
  Host: {{.Host}}  Value: {{.Value}}{{if .Threshold}} (threshold {{.Op}} {{.Threshold}}){{end}}  At: {{.At}}  Alert: {{.AlertID}}
{{end}}
-- 
esmon
`))

var digestHTML = htmltemplate.Must(htmltemplate.New("digest").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{len .}} alerts</title></head>
<body style="font-family: sans-serif">
<h2>{{len .}} alerts changed together</h2>
<table cellpadding="4" style="border-collapse: collapse">
<tr><th align="left">State</th><th align="left">Severity</th><th align="left">Host</th><th align="left">Alert</th><th align="left">Value</th><th align="left">At</th></tr>
{{- range .}}
<tr><td style="color: {{if .Firing}}#b00020{{else}}#1b7f3a{{end}}">{{.Status}}</td><td>{{.Severity}}</td><td>{{.Host}}</td><td>{{.Title}}</td><td>{{.Value}}{{if .Threshold}} ({{.Op}} {{.Threshold}}){{end}}</td><td>{{.At}}</td></tr>
{{- end}}
</table>
<p style="color: #666">esmon</p>
</body></html>
`))

// digest builds one mail that lists every transition of ts.
func (c *Channel) digest(ts []apiv1.Transition) (*mail.Msg, error) {
	vs := make([]view, len(ts))
	critical := false
	for i, t := range ts {
		vs[i] = newView(t)
		critical = critical || t.To == apiv1.StateFiring && apiv1.SeverityRank(t.Alert.Severity) >= apiv1.SeverityRank(apiv1.SeverityCritical)
	}
	var tb, hb bytes.Buffer
	if err := digestText.Execute(&tb, vs); err != nil {
		return nil, err
	}
	if err := digestHTML.Execute(&hb, vs); err != nil {
		return nil, err
	}
	m := mail.NewMsg()
	if err := m.From(c.cfg.From); err != nil {
		return nil, err
	}
	if err := m.To(c.cfg.To...); err != nil {
		return nil, err
	}
	m.Subject(DigestSubject(ts))
	m.SetDate()
	setMessageID(m, ts...)
	m.SetUserAgent("esmon")
	if critical {
		m.SetImportance(mail.ImportanceHigh)
	}
	m.SetBodyString(mail.TypeTextPlain, tb.String())
	m.AddAlternativeString(mail.TypeTextHTML, hb.String())
	return m, nil
}

// setMessageID gives a mail the stable Message-ID of its transitions, so
// that a mail sent again after a crash is recognisably the same mail; a
// test notification, which has no id, gets a random one.
func setMessageID(m *mail.Msg, ts ...apiv1.Transition) {
	if id := notify.MessageID(ts...); id != "" {
		m.SetMessageIDWithValue(id + "@esmon")
		return
	}
	m.SetMessageID()
}
