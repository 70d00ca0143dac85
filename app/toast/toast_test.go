package toast

import (
	"encoding/xml"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAlertURL(t *testing.T) {
	for _, id := range []string{"9f3c01d2e4b5a697", "a1", "rule_1.host-2"} {
		got, err := ParseAlertURL(AlertURL(id))
		if err != nil || got != id {
			t.Errorf("ParseAlertURL(AlertURL(%q)) = %q, %v", id, got, err)
		}
	}
	if got := AlertURL("9f3c01d2e4b5a697"); got != "esmon://alert/9f3c01d2e4b5a697" {
		t.Errorf("AlertURL = %q", got)
	}
}

func TestParseAlertURL(t *testing.T) {
	for _, tc := range []struct {
		name, link, want string
	}{
		{"plain", "esmon://alert/9f3c01d2e4b5a697", "9f3c01d2e4b5a697"},
		{"trailing slash Windows adds", "esmon://alert/a1/", "a1"},
		{"scheme and host in capitals", "ESMON://Alert/a1", "a1"},
		{"escaped letters", "esmon://alert/%61%31", "a1"},
	} {
		got, err := ParseAlertURL(tc.link)
		if err != nil || got != tc.want {
			t.Errorf("%s: ParseAlertURL(%q) = %q, %v; want %q", tc.name, tc.link, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ name, link string }{
		{"empty", ""},
		{"other scheme", "https://alert/a1"},
		{"other host", "esmon://host/a1"},
		{"no ID", "esmon://alert/"},
		{"two segments", "esmon://alert/a1/b2"},
		{"query", "esmon://alert/a1?x=1"},
		{"fragment", "esmon://alert/a1#x"},
		{"user", "esmon://me@alert/a1"},
		{"opaque", "esmon:alert/a1"},
		{"quote smuggling flags", `esmon://alert/a1" --connect "https://attacker.example`},
		{"escaped slash", "esmon://alert/a1%2Fb"},
		{"space", "esmon://alert/a%201"},
		{"too long", "esmon://alert/" + strings.Repeat("a", maxAlertID+1)},
		{"not a URL", "esmon://alert/%zz"},
	} {
		got, err := ParseAlertURL(tc.link)
		if !errors.Is(err, ErrBadLink) {
			t.Errorf("%s: ParseAlertURL(%q) = %q, %v; want ErrBadLink", tc.name, tc.link, got, err)
		}
	}
}

// parsed is a toast document read back as Windows' XmlDocument would see
// it, by element and attribute.
type parsed struct {
	XMLName        xml.Name `xml:"toast"`
	Launch         string   `xml:"launch,attr"`
	ActivationType string   `xml:"activationType,attr"`
	Scenario       string   `xml:"scenario,attr"`
	Binding        struct {
		Template string   `xml:"template,attr"`
		Text     []string `xml:"text"`
		Image    []struct {
			Placement string `xml:"placement,attr"`
			Src       string `xml:"src,attr"`
		} `xml:"image"`
	} `xml:"visual>binding"`
	Actions []struct {
		Content        string `xml:"content,attr"`
		Arguments      string `xml:"arguments,attr"`
		ActivationType string `xml:"activationType,attr"`
	} `xml:"actions>action"`
}

func parse(t *testing.T, doc []byte) parsed {
	t.Helper()
	var p parsed
	dec := xml.NewDecoder(strings.NewReader(string(doc)))
	dec.Strict = true
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("toast XML does not parse: %v\n%s", err, doc)
	}
	return p
}

func TestToastXML(t *testing.T) {
	link := AlertURL("9f3c01d2e4b5a697")
	hostile := `High <CPU> & "load" </text><text>injected`
	doc, err := Toast{
		Title:  "FIRING critical: " + hostile,
		Lines:  []string{"web-01: 97.2% (threshold > 90%)", "CPU above 90% for 5 minutes\x00\x1b", "a fourth line"},
		Launch: link, Urgent: true, Image: `C:\Users\Op Erator\AppData\Roaming\esmon\icons\toast-critical.png`,
	}.XML()
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, doc)
	if p.Launch != link || p.ActivationType != "protocol" {
		t.Errorf("toast launch %q activationType %q, want %q protocol", p.Launch, p.ActivationType, link)
	}
	if p.Binding.Template != "ToastGeneric" {
		t.Errorf("binding template %q", p.Binding.Template)
	}
	want := []string{"FIRING critical: " + hostile, "web-01: 97.2% (threshold > 90%)", "CPU above 90% for 5 minutes\uFFFD\uFFFD"}
	if !slices.Equal(p.Binding.Text, want) {
		t.Errorf("texts %q, want %q (the title whole, at most two lines, no control characters)", p.Binding.Text, want)
	}
	if len(p.Binding.Image) != 1 || p.Binding.Image[0].Placement != "appLogoOverride" ||
		p.Binding.Image[0].Src != "file:///C:/Users/Op%20Erator/AppData/Roaming/esmon/icons/toast-critical.png" {
		t.Errorf("image %+v", p.Binding.Image)
	}
	// Urgent: a reminder, which Windows keeps on screen only with buttons.
	if p.Scenario != "reminder" || len(p.Actions) != 2 ||
		p.Actions[0].ActivationType != "protocol" || p.Actions[0].Arguments != link ||
		p.Actions[1].ActivationType != "system" || p.Actions[1].Arguments != "dismiss" {
		t.Errorf("urgent toast: scenario %q, actions %+v", p.Scenario, p.Actions)
	}

	doc, err = Toast{Title: "RESOLVED: High CPU", Lines: []string{"web-01: now 40%"}, Launch: link}.XML()
	if err != nil {
		t.Fatal(err)
	}
	p = parse(t, doc)
	if p.Scenario != "" || len(p.Actions) != 0 || len(p.Binding.Image) != 0 || p.Launch != link || p.ActivationType != "protocol" {
		t.Errorf("plain toast: %s", doc)
	}
}

func TestToastXMLRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    Toast
	}{
		{"no title", Toast{Lines: []string{"x"}, Launch: AlertURL("a1")}},
		{"no link", Toast{Title: "x"}},
		{"foreign link", Toast{Title: "x", Launch: "https://example.com/"}},
	} {
		if doc, err := tc.t.XML(); err == nil {
			t.Errorf("%s: made %s", tc.name, doc)
		}
	}
}

func TestCut(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	got := cut(long, 51)
	if !utf8.ValidString(got) || len(got) > 51 || !strings.HasSuffix(got, "…") {
		t.Errorf("cut = %q (%d bytes)", got, len(got))
	}
	if got := cut("short", 51); got != "short" {
		t.Errorf("cut of a short text = %q", got)
	}
}
