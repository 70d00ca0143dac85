package e2e

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"esmon/core/apiv1"
	"esmon/internal/browsertest"
)

// TestWebHostPage signs in to the real core with a real agent reporting
// every second, opens the host's page from its card, checks the charts
// drew the agent's history, changes the range, and sees the live tail move.
func TestWebHostPage(t *testing.T) {
	c := startCore(t, "")
	browser := browsertest.New(t, c.pin)
	startAgent(t, c)
	h := c.waitHost(t)

	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	p := &browsertest.Page{T: t, Ctx: ctx}
	signIn(p, c)

	card := fmt.Sprintf(`[data-host=%q]`, h.ID)
	p.Do(chromedp.WaitVisible(chromedp.CSS(card)))
	p.Do(chromedp.Click(chromedp.CSS(card + " .host-link")))
	p.Do(chromedp.WaitVisible(chromedp.ID("host-view")))
	p.WaitText("#hv-name", h.Facts.Hostname)
	p.WaitJS(`location.hash.startsWith("#/host/")`, "the host's address")

	// Every chart family the agent reports draws from the stored history.
	for _, id := range []string{"cpu", "cpu-cores", "memory", "disk", "net"} {
		p.Do(chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-chart=%q] canvas`, id))))
	}
	p.WaitJS(`Number(document.getElementById("hv-charts").dataset.loaded) >= 1`, "charts loaded")
	p.WaitText(`[data-range="1h"][aria-pressed="true"]`, "1 h")
	p.WaitText("#hv-tail", "Following live")

	// The live tail: new batches arrive over /ws/live and extend the chart.
	tail0 := p.EvalString(`document.getElementById("hv-charts").dataset.tail || ""`)
	p.WaitJS(fmt.Sprintf(`(document.getElementById("hv-charts").dataset.tail || "") !== %q`, tail0), "the live tail moves")

	// The crosshair: hovering a chart shows the values under it.
	box := p.Eval(`(() => { const r = document.querySelector('[data-chart="cpu"] .u-over').getBoundingClientRect();
		return [r.left + r.width * 0.9, r.top + r.height / 2]; })()`).([]any)
	x, y := box[0].(float64), box[1].(float64)
	p.Do(chromedp.MouseEvent("mouseMoved", x, y))
	p.WaitJS(`/\d/.test(document.querySelector('[data-chart="cpu"] .u-series:nth-child(2) .u-value').textContent)`, "crosshair value")
	browsertest.Screenshot(t, ctx, "e2e-host.png")

	// A wider range asks the core again and marks its button.
	loads := p.EvalString(`document.getElementById("hv-charts").dataset.loaded`)
	p.Do(chromedp.Click(chromedp.CSS(`[data-range="24h"]`)))
	p.WaitJS(`location.hash.includes("range=24h")`, "range in the address")
	p.WaitText(`[data-range="24h"][aria-pressed="true"]`, "24 h")
	p.WaitJS(fmt.Sprintf(`document.getElementById("hv-charts").dataset.loaded !== %q`, loads), "charts reloaded")

	// Zoom by drag on the CPU chart: the page switches to that custom range
	// and stops following live.
	box = p.Eval(`(() => { const r = document.querySelector('[data-chart="cpu"] .u-over').getBoundingClientRect();
		return [r.left, r.top, r.width, r.height]; })()`).([]any)
	left, top, w, hh := box[0].(float64), box[1].(float64), box[2].(float64), box[3].(float64)
	p.Do(
		chromedp.MouseEvent("mouseMoved", left+w*0.90, top+hh/2),
		chromedp.MouseEvent("mousePressed", left+w*0.90, top+hh/2, chromedp.ButtonLeft),
		chromedp.MouseEvent("mouseMoved", left+w*0.95, top+hh/2, chromedp.ButtonLeft),
		chromedp.MouseEvent("mouseMoved", left+w*0.99, top+hh/2, chromedp.ButtonLeft),
		chromedp.MouseEvent("mouseReleased", left+w*0.99, top+hh/2, chromedp.ButtonLeft),
	)
	p.WaitJS(`location.hash.includes("from=") && location.hash.includes("to=")`, "zoomed range in the address")
	p.WaitText("#hv-tail", "Custom range: not following live")
	p.WaitJS(`document.getElementById("hv-custom").dataset.active === "true"`, "custom range marked")
	browsertest.Screenshot(t, ctx, "e2e-host-zoomed.png")

	// Under the core's own Content-Security-Policy header nothing was refused
	// (uPlot sizes its elements through the CSSOM, which style-src allows).
	if got := p.EvalString(`window.esmon.cspViolations.join("; ")`); got != "" {
		t.Errorf("CSP violations: %s", got)
	}

	// Back to the overview by the breadcrumb.
	p.Do(chromedp.Click(chromedp.CSS(`.crumbs a[href="#/"]`)))
	p.Do(chromedp.WaitVisible(chromedp.CSS(card)))
}

// TestWebRuleFires creates a rule in the page's form against the real core,
// sees the preview mark where it would fire on the agent's data, saves it,
// and watches the alert it raises arrive on the alerts page and in the
// top bar's counts, live.
func TestWebRuleFires(t *testing.T) {
	c := startCore(t, "")
	browser := browsertest.New(t, c.pin)
	startAgent(t, c)
	h := c.waitHost(t)
	// The preview asks for the last hour in 5 s steps, stamped with each
	// step's start; a 2 s hold shows only once the agent's data spans two
	// steps. Wait for that rather than for a time that may fall inside one.
	waitFor(t, 20*time.Second, "cpu_usage_percent in two 5 s steps", func() bool {
		var res apiv1.QueryResult
		now := time.Now().UTC()
		q := url.Values{"metric": {"cpu_usage_percent"}, "host": {h.ID}, "step": {"5s"},
			"from": {now.Add(-time.Hour).Format(time.RFC3339)}, "to": {now.Format(time.RFC3339)}}
		c.do(t, "GET", "/api/v1/query?"+q.Encode(), nil, &res)
		return len(res.Series) == 1 && len(res.Series[0].Points) >= 2
	})

	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	p := &browsertest.Page{T: t, Ctx: ctx}
	signIn(p, c)

	p.Do(chromedp.Click(chromedp.CSS(`[data-nav="rules"]`)))
	p.Do(chromedp.WaitVisible(chromedp.ID("rules-view")))
	p.Do(chromedp.WaitVisible(chromedp.CSS(`[data-rule="high-cpu"]`)))
	browsertest.Screenshot(t, ctx, "e2e-rules.png")
	p.Do(chromedp.Click(chromedp.ID("rv-new")))
	p.Do(chromedp.WaitVisible(chromedp.ID("rule-form")))

	// Validation: an empty name and a bad duration are marked, nothing is sent.
	fill(p, "re-for", "soon")
	p.Do(chromedp.Click(chromedp.ID("re-save")))
	p.WaitJS(`document.getElementById("re-name").getAttribute("aria-invalid") === "true"`, "name marked")
	p.WaitJS(`document.getElementById("re-for-err").textContent.includes("duration")`, "duration error")
	p.WaitJS(`document.activeElement.id === "re-name"`, "focus on the first wrong field")
	browsertest.Screenshot(t, ctx, "e2e-rule-invalid.png")

	fill(p, "re-name", "CPU in use")
	p.WaitJS(`document.getElementById("re-name").getAttribute("aria-invalid") !== "true"`, "error cleared by typing")
	fill(p, "re-metric", "cpu_usage_percent")
	fill(p, "re-threshold", "0")
	fill(p, "re-for", "2s")
	fill(p, "re-summary", "Any CPU use at all")
	selectValue(p, "re-op", ">=")
	selectValue(p, "re-severity", "critical")
	selectValue(p, "re-host", h.ID)
	// The preview queries the last hour and shades where it would fire.
	p.WaitJS(`Number(document.getElementById("re-preview").dataset.bands) >= 1`, "preview bands")
	p.WaitJS(`document.getElementById("re-preview-text").textContent.startsWith("Would have fired on 1 of 1 series")`, "preview text")
	browsertest.Screenshot(t, ctx, "e2e-rule-preview.png")

	p.Do(chromedp.Click(chromedp.ID("re-save")))
	p.Do(chromedp.WaitVisible(chromedp.ID("rules-view")))
	p.WaitJS(`[...document.querySelectorAll("#rv-list [data-rule] a.strong")].some(a => a.textContent === "CPU in use")`, "the new rule listed")

	// The alert fires within seconds and shows without a reload.
	p.Do(chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`))
	p.Do(chromedp.Click(chromedp.CSS(`[data-nav="alerts"]`)))
	p.WaitJS(`[...document.querySelectorAll("#av-active tr[data-state=firing]")].some(r => r.textContent.includes("CPU in use"))`, "the alert firing on the alerts page")
	p.WaitJS(`Number(document.querySelector('[data-count="critical"] .n').textContent) >= 1`, "critical count")
	p.WaitJS(`[...document.querySelectorAll("#av-history tr[data-to=firing]")].some(r => r.textContent.includes("CPU in use"))`, "the firing in the history")
	p.WaitJS(`Number(document.getElementById("av-timeline").dataset.rows) >= 1`, "timeline row")
	if p.Eval(`window.__sameDocument === true`) != true {
		t.Fatal("the page reloaded")
	}
	browsertest.Screenshot(t, ctx, "e2e-alerts.png")

	// Disabling the rule in the list resolves its alert.
	p.Do(chromedp.Click(chromedp.CSS(`[data-nav="rules"]`)))
	id := p.EvalString(`[...document.querySelectorAll("#rv-list [data-rule]")].find(r => r.textContent.includes("CPU in use")).dataset.rule`)
	p.Do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-rule=%q] input.switch`, id))))
	p.WaitJS(fmt.Sprintf(`document.querySelector('[data-rule=%q]').dataset.enabled === "false"`, id), "rule disabled")
	var rule struct{ Enabled bool }
	c.do(t, "GET", "/api/v1/rules/"+id, nil, &rule)
	if rule.Enabled {
		t.Fatal("the core still has the rule enabled")
	}
	p.Do(chromedp.Click(chromedp.CSS(`[data-nav="alerts"]`)))
	p.WaitJS(`![...document.querySelectorAll("#av-active tr")].some(r => r.textContent.includes("CPU in use"))`, "the alert gone from the active list")
}

func signIn(p *browsertest.Page, c *coreProc) {
	p.T.Helper()
	p.Do(chromedp.Navigate(c.url + "/"))
	p.Do(chromedp.WaitVisible(chromedp.ID("token")))
	p.Do(chromedp.SendKeys(chromedp.ID("token"), c.adminToken+"\n"))
	p.WaitText("#conn", "live")
}

// fill types text into an emptied input, key by key.
func fill(p *browsertest.Page, id, text string) {
	p.T.Helper()
	p.Do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).value = ""`, id)))
	p.Do(chromedp.SendKeys(chromedp.ID(id), text))
}

// selectValue picks an option of a <select> as a person would: the value
// changes and the change event fires.
func selectValue(p *browsertest.Page, id, value string) {
	p.T.Helper()
	js := fmt.Sprintf(`(() => { const s = document.getElementById(%q); s.value = %q;
		s.dispatchEvent(new Event("change", {bubbles: true})); return s.value; })()`, id, value)
	if got := p.EvalString(js); got != value {
		p.T.Fatalf("select %s: value %q, want %q", id, got, value)
	}
}
