// Package toast makes the console's Windows notifications open their alert
// when clicked. Fyne's Windows notifications (a PowerShell script that
// shows a WinRT toast) have no click; esmon's toasts carry a link in its own
// URL scheme, esmon://alert/<id>, with activationType="protocol", so that
// Windows starts `esmon --open esmon://alert/<id>` on a click. That second
// process hands the link to the running console through its single-instance
// socket, and the console opens the alert.
//
// The links and the toast XML are built and parsed on every platform, so
// they are tested anywhere; registering the scheme and the app's identity
// (HKCU, no admin) and showing a toast are Windows only.
package toast

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Scheme is esmon's URL scheme: esmon://alert/<id> opens an alert.
const Scheme = "esmon"

// maxAlertID bounds an alert ID in a link; the core's IDs are 16 hex
// digits.
const maxAlertID = 128

// AlertURL is the link that opens alert id in the console.
func AlertURL(id string) string {
	return Scheme + "://alert/" + url.PathEscape(id)
}

// ErrBadLink says a link is not an esmon alert link.
var ErrBadLink = errors.New("not an esmon alert link (want esmon://alert/ID)")

// ParseAlertURL returns the alert ID of a link made by AlertURL. Links come
// from outside (any program can start esmon:// links), so only the exact
// shape is accepted, and the ID only of letters, digits, '.', '_' and '-'.
// Windows may append a slash to a link it starts; it is ignored.
func ParseAlertURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadLink, raw, err)
	}
	if !strings.EqualFold(u.Scheme, Scheme) || !strings.EqualFold(u.Host, "alert") || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%w: %q", ErrBadLink, raw)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/"), "/")
	if id == "" || len(id) > maxAlertID || strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) {
		return "", fmt.Errorf("%w: %q: alert ID must be 1 to %d letters, digits, '.', '_' or '-'", ErrBadLink, raw, maxAlertID)
	}
	return id, nil
}

// Toast is one notification: a title, up to two more lines, the link a
// click opens, and an image shown as its logo.
type Toast struct {
	Title string
	Lines []string // the body; Windows shows at most two
	// Launch is the link a click on the toast, or on its Open button,
	// starts (activationType="protocol").
	Launch string
	// Urgent toasts (critical and worse, firing) stay on screen until the
	// operator opens or dismisses them: scenario="reminder", which Windows
	// honours only with a button, so they have Open and Dismiss.
	Urgent bool
	// Image is a file path of a PNG shown as the toast's logo; empty for
	// none.
	Image string
}

// The toast schema (Windows.UI.Notifications, ToastGeneric), as much of
// it as esmon uses.
type (
	toastXML struct {
		XMLName        xml.Name    `xml:"toast"`
		Launch         string      `xml:"launch,attr"`
		ActivationType string      `xml:"activationType,attr"`
		Scenario       string      `xml:"scenario,attr,omitempty"`
		Visual         visualXML   `xml:"visual"`
		Actions        *actionsXML `xml:"actions"`
	}
	visualXML struct {
		Binding bindingXML `xml:"binding"`
	}
	bindingXML struct {
		Template string    `xml:"template,attr"`
		Text     []string  `xml:"text"`
		Image    *imageXML `xml:"image"`
	}
	imageXML struct {
		Placement string `xml:"placement,attr"`
		Src       string `xml:"src,attr"`
	}
	actionsXML struct {
		Action []actionXML `xml:"action"`
	}
	actionXML struct {
		Content        string `xml:"content,attr"`
		Arguments      string `xml:"arguments,attr"`
		ActivationType string `xml:"activationType,attr"`
	}
)

// Limits of the text Windows shows; longer text is cut with an ellipsis.
const (
	maxTitle = 128
	maxLine  = 512
)

// XML is the toast's XML document, for Windows.Data.Xml.Dom.XmlDocument's
// LoadXml. Text is escaped, and characters XML cannot hold are replaced,
// so no alert text can break the document.
func (t Toast) XML() ([]byte, error) {
	if _, err := ParseAlertURL(t.Launch); err != nil {
		return nil, fmt.Errorf("toast launch: %w", err)
	}
	if strings.TrimSpace(t.Title) == "" {
		return nil, errors.New("toast has no title")
	}
	doc := toastXML{Launch: t.Launch, ActivationType: "protocol",
		Visual: visualXML{Binding: bindingXML{Template: "ToastGeneric", Text: []string{cut(t.Title, maxTitle)}}}}
	for _, l := range t.Lines {
		if l = strings.TrimSpace(l); l != "" && len(doc.Visual.Binding.Text) < 3 {
			doc.Visual.Binding.Text = append(doc.Visual.Binding.Text, cut(l, maxLine))
		}
	}
	if t.Image != "" {
		u := url.URL{Scheme: "file", Path: "/" + strings.ReplaceAll(strings.TrimPrefix(t.Image, "/"), `\`, "/")}
		doc.Visual.Binding.Image = &imageXML{Placement: "appLogoOverride", Src: u.String()}
	}
	if t.Urgent {
		doc.Scenario = "reminder"
		doc.Actions = &actionsXML{Action: []actionXML{
			{Content: "Open in esmon", Arguments: t.Launch, ActivationType: "protocol"},
			{Content: "Dismiss", Arguments: "dismiss", ActivationType: "system"},
		}}
	}
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode toast: %w", err)
	}
	return b.Bytes(), nil
}

// cut shortens s to at most n bytes on a rune boundary, with an ellipsis.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
