package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"esmon/core/apiv1"
	"esmon/internal/browsertest"
)

// TestWebTagsAndAcks: an agent started with --tags reports its host's tags;
// the overview shows them on the host's card, and a click on one filters
// the overview to the hosts that have it ("tag:prod" in the search, which
// a person may also type). An acknowledgement made elsewhere shows who,
// when and why on the overview's alert and in the alerts page's history.
func TestWebTagsAndAcks(t *testing.T) {
	c := startCore(t, "")
	browser := browsertest.New(t, c.pin)
	startAgent(t, c, "--tags", "prod,maximo")
	h := c.waitHost(t)
	if !slices.Equal(h.Tags, []string{"maximo", "prod"}) {
		t.Fatalf("host tags from the agent: %q", h.Tags)
	}
	var rule apiv1.Rule
	if code := c.do(t, "POST", "/api/v1/rules", apiv1.Rule{Name: "Tagged always on", Metric: "cpu_usage_percent", Op: ">=",
		Threshold: 0, Severity: apiv1.SeverityWarning, Match: map[string]string{"tag": "prod"}, Enabled: true}, &rule); code != 201 {
		t.Fatalf("create rule: %d", code)
	}
	var alerts []apiv1.Alert
	waitFor(t, 20*time.Second, "the tag rule firing on the host", func() bool {
		c.do(t, "GET", "/api/v1/alerts", nil, &alerts)
		for _, a := range alerts {
			if a.RuleID == rule.ID && a.State == apiv1.StateFiring {
				if code := c.do(t, "POST", "/api/v1/alerts/"+a.ID+"/ack", apiv1.AckRequest{Comment: "disk swap planned"}, nil); code != 200 {
					t.Fatalf("ack: HTTP %d", code)
				}
				return true
			}
		}
		return false
	})

	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	p := &browsertest.Page{T: t, Ctx: ctx}
	signIn(p, c)
	card := fmt.Sprintf(`#hosts .host[data-host=%q]`, h.ID)
	p.Do(chromedp.WaitVisible(chromedp.CSS(card + ` button[data-tag="prod"]`)))
	steps := []struct {
		name  string
		act   func()
		shown bool
	}{
		{"a click on a tag filters by it", func() { p.Do(chromedp.Click(chromedp.CSS(card + ` button[data-tag="prod"]`))) }, true},
		{"another tag hides the host", func() { fill(p, "host-q", "tag:dev") }, false},
		{"a tag is also a search word", func() { fill(p, "host-q", "maxi") }, true},
	}
	for _, st := range steps {
		st.act()
		p.WaitJS(fmt.Sprintf(`!!document.querySelector(%q) === %v`, card, st.shown), st.name)
	}
	if q := p.EvalString(`document.getElementById("host-q").value`); q != "maxi" {
		t.Errorf("search box %q", q)
	}
	p.WaitJS(`[...document.querySelectorAll("#alerts .alert .acked")].some(e => e.textContent.includes("disk swap planned") && e.querySelector("time"))`,
		"who, when and why on the overview's alert")
	browsertest.Screenshot(t, ctx, "e2e-tags.png")

	p.Do(chromedp.Click(chromedp.CSS(`[data-nav="alerts"]`)))
	p.WaitJS(`[...document.querySelectorAll("#av-history tr[data-to]")].some(r => r.textContent.includes("Acknowledged") && r.textContent.includes("disk swap planned"))`,
		"the acknowledgement and its comment in the history")
}
