package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"esmon/core/wire"
	"esmon/internal/browsertest"
)

// TestWebAgents walks the Agents page in a real Chromium that trusts the
// core by its certificate pin: the empty overview says how to add an
// agent, a join code made on the page enrols a real agent, the page lists
// it as connected with its version, and revoking it (after a confirm)
// stops it.
func TestWebAgents(t *testing.T) {
	c := startCore(t, "")
	browser := browsertest.New(t, c.pin)
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	p := &browsertest.Page{T: t, Ctx: ctx}

	p.Do(chromedp.Navigate(c.url + "/"))
	p.Do(chromedp.WaitVisible(chromedp.ID("token")))
	p.Do(chromedp.SendKeys(chromedp.ID("token"), c.adminToken+"\n"))
	p.Do(chromedp.WaitVisible(chromedp.ID("hosts-empty")))
	p.WaitJS(`document.getElementById("agent-cmd").textContent.includes("--join-code")`, "the install command in the empty state")
	browsertest.Screenshot(t, ctx, "e2e-no-agents.png")

	// Make a join code for two agents on the page, as an operator would.
	p.Do(chromedp.Click(chromedp.CSS(`#hosts-empty a[href="#/agents"]`)))
	p.Do(chromedp.WaitVisible(chromedp.ID("agents-view")))
	p.Do(chromedp.WaitVisible(chromedp.ID("ag-empty")))
	p.Do(chromedp.WaitVisible(chromedp.ID("jc-empty")))
	for _, id := range []string{"ag-empty", "jc-empty"} {
		if got := p.EvalString(fmt.Sprintf(`document.getElementById(%q).textContent`, id)); !strings.Contains(got, "install command") {
			t.Errorf("empty state #%s %q does not say what to do next", id, got)
		}
	}
	p.Do(chromedp.SetValue(chromedp.ID("jc-uses"), "2"))
	p.Do(chromedp.SendKeys(chromedp.ID("jc-note"), "e2e web"))
	p.Do(chromedp.Click(chromedp.ID("jc-create")))
	p.Do(chromedp.WaitVisible(chromedp.ID("jc-new")))
	code := p.EvalString(`document.getElementById("jc-code").value`)
	jc, err := wire.ParseJoinCode(code)
	if err != nil {
		t.Fatalf("the page shows %q: %v", code, err)
	}
	if jc.Pin != c.pin || jc.URL != c.url {
		t.Errorf("join code names %s with pin %s, want %s with %s", jc.URL, jc.Pin, c.url, c.pin)
	}
	for id, want := range map[string]string{
		"jc-msi":   "msiexec /i esmon-agent.msi /qn JOIN_CODE=" + code,
		"jc-ps":    "JOIN_CODE=" + code,
		"jc-linux": "esmon-agent install --join-code '" + code + "'",
	} {
		if got := p.EvalString(fmt.Sprintf(`document.getElementById(%q).value`, id)); !strings.Contains(got, want) {
			t.Errorf("#%s = %q, want it to contain %q", id, got, want)
		}
	}
	p.WaitJS(`[...document.querySelectorAll("#jc-list [data-join-code]")].some(r => r.textContent.includes("e2e web") && r.textContent.includes("2 of 2"))`, "the new code listed with 2 uses left")
	p.Do(chromedp.Click(chromedp.CSS(`#jc-new [data-copy="jc-code"]`)))
	p.WaitJS(`document.getElementById("jc-copied").textContent !== ""`, "the copy button saying what it did")
	browsertest.Screenshot(t, ctx, "e2e-join-code.png")

	// A real agent enrols with the code from the page.
	agent := startWithEnv(t, "esmon-agent (web code)", []string{"ESMON_JOIN_CODE=" + code},
		bins.agent, "run", "--interval", "1s", "--state-dir", t.TempDir())
	h := c.waitHost(t)
	row := `#ag-list tr[data-agent]`
	p.WaitJS(`[...document.querySelectorAll("#ag-list tr[data-agent] td[data-state='connected']")].length === 1`, "the agent listed as connected (the page follows the live feed)")
	if txt := p.EvalString(`document.querySelector("` + row + `").textContent`); !strings.Contains(txt, h.Facts.Hostname) || !strings.Contains(txt, "dev") {
		t.Errorf("agent row %q lacks the host name %s or version dev", txt, h.Facts.Hostname)
	}
	browsertest.Screenshot(t, ctx, "e2e-agents.png")

	// Revoke it from the page, answering the confirmation with OK; the
	// page must have asked.
	p.Do(chromedp.Evaluate[chromedp.Void](`window.confirm = (m) => { window.__asked = m; return true; }`))
	p.Do(chromedp.Click(chromedp.CSS(row + ` button`)))
	p.WaitJS(`(window.__asked || "").includes("cannot connect again")`, "a confirmation before revoking")
	p.WaitJS(`document.querySelector("#ag-list tr[data-agent] td[data-state='revoked']") !== null`, "the agent shown as revoked")
	select {
	case <-agent.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("the agent revoked on the page kept running:\n%s", agent.out.String())
	}
	browsertest.Screenshot(t, ctx, "e2e-agent-revoked.png")
}
