package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"esmon/core/apiv1"
	"esmon/internal/browsertest"
)

// TestWebAcknowledge: a rule fires on the real agent's data; on the alerts
// page an operator acknowledges it (the core records who), silences it from
// its row, and sends a test notice to a channel.
func TestWebAcknowledge(t *testing.T) {
	c := startCore(t, "")
	browser := browsertest.New(t, c.pin)
	if code, _ := c.try("GET", "/api/v1/channels", nil, nil); code == 404 {
		t.Skip("this core has no alerting actions (acknowledge, silences, channels)")
	}
	startAgent(t, c)
	h := c.waitHost(t)
	var rule apiv1.Rule
	if code := c.do(t, "POST", "/api/v1/rules", apiv1.Rule{Name: "Always on", Kind: apiv1.RuleThreshold,
		Metric: "cpu_usage_percent", Op: ">=", Threshold: 0, Severity: apiv1.SeverityWarning,
		Match: map[string]string{"host": h.ID}, Enabled: true}, &rule); code != 201 {
		t.Fatalf("create rule: %d", code)
	}

	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	p := &browsertest.Page{T: t, Ctx: ctx}
	signIn(p, c)
	p.Do(chromedp.Click(chromedp.CSS(`[data-nav="alerts"]`)))
	row := `#av-active tr[data-state="firing"]`
	p.Do(chromedp.WaitVisible(chromedp.CSS(row + ` button[data-action="ack"]`)))
	id := p.EvalString(fmt.Sprintf(`[...document.querySelectorAll(%q)].find(r => r.textContent.includes("Always on")).dataset.alert`, row))
	sel := fmt.Sprintf(`#av-active tr[data-alert=%q]`, id)

	p.Do(chromedp.Click(chromedp.CSS(sel + ` button[data-action="ack"]`)))
	p.WaitJS(fmt.Sprintf(`document.querySelector(%q)?.dataset.acked === "true"`, sel), "acknowledged on the page")
	var a struct {
		Ack *struct{ By string } `json:"ack"`
	}
	c.do(t, "GET", "/api/v1/alerts/"+id, nil, &a)
	if a.Ack == nil || a.Ack.By == "" {
		t.Fatalf("the core did not record the acknowledgement: %+v", a)
	}
	p.WaitJS(fmt.Sprintf(`document.querySelector(%q).textContent.includes("Acknowledged by %s")`, sel, a.Ack.By), "who acknowledged")
	browsertest.Screenshot(t, ctx, "e2e-ack.png")

	// Silence it from its row.
	p.Do(chromedp.Click(chromedp.CSS(sel + ` a[href^="#/silences"]`)))
	p.Do(chromedp.WaitVisible(chromedp.ID("silence-form")))
	fill(p, "sv-comment", "known, being fixed")
	p.Do(chromedp.Click(chromedp.ID("sv-save")))
	p.Do(chromedp.WaitVisible(chromedp.CSS(`#sv-list tr[data-silence]`)))
	var sils []struct {
		Match   map[string]string `json:"match"`
		Comment string            `json:"comment"`
	}
	c.do(t, "GET", "/api/v1/silences", nil, &sils)
	if len(sils) != 1 || sils[0].Match["host"] != h.ID || sils[0].Comment != "known, being fixed" {
		t.Fatalf("silences on the core: %+v", sils)
	}
	browsertest.Screenshot(t, ctx, "e2e-silence.png")

	// Channels: the log channel is always there; a test notice goes.
	p.Do(chromedp.Click(chromedp.CSS(`[data-nav="channels"]`)))
	p.Do(chromedp.WaitVisible(chromedp.CSS(`#cv-list tr[data-channel] button`)))
	p.Do(chromedp.Click(chromedp.CSS(`#cv-list tr[data-channel] button`)))
	p.WaitJS(`document.querySelector("#cv-list .test-result").dataset.result !== ""`, "test result")
	browsertest.Screenshot(t, ctx, "e2e-channels.png")
}
