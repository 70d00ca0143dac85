package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"esmon/core/apiv1"
	"esmon/internal/browsertest"
)

// signInAs signs in on the page with a user name and password.
func signInAs(p *browsertest.Page, c *coreProc, name, password string) {
	p.T.Helper()
	p.Do(chromedp.Navigate(c.url + "/"))
	p.Do(chromedp.WaitVisible(chromedp.ID("signin-name")))
	fill(p, "signin-name", name)
	fill(p, "token", password+"\n")
	p.WaitText("#conn", "live")
	p.WaitJS(fmt.Sprintf(`document.getElementById("whoami").textContent.startsWith(%q)`, name), "who is signed in")
}

func signOut(p *browsertest.Page) {
	p.T.Helper()
	p.Do(chromedp.Click(chromedp.ID("signout")))
	p.Do(chromedp.WaitVisible(chromedp.ID("signin-name")))
}

// displayed is JavaScript that says whether the element sel is shown.
func displayed(sel string) string {
	return fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.getClientRects().length > 0; })()`, sel)
}

// TestWebRoles signs people with each role in to the real page of a real
// core in Chromium: a viewer sees the firing alert without an Acknowledge
// button, and the core refuses the acknowledgement even when the page is
// bypassed; an operator acknowledges it and the core records the name; an
// admin sees the refusal in the audit log. No page breaks the
// Content-Security-Policy.
func TestWebRoles(t *testing.T) {
	c := startCore(t, "")
	browser := browsertest.New(t, c.pin)
	startAgent(t, c)
	h := c.waitHost(t)
	var rule apiv1.Rule
	if code := c.do(t, "POST", "/api/v1/rules", apiv1.Rule{Name: "Always on", Kind: apiv1.RuleThreshold,
		Metric: "cpu_usage_percent", Op: ">=", Threshold: 0, Severity: apiv1.SeverityWarning,
		Match: map[string]string{"host": h.ID}, Enabled: true}, &rule); code != 201 {
		t.Fatalf("create rule: %d", code)
	}
	for _, u := range []apiv1.NewUser{
		{Name: "vera", Role: apiv1.RoleViewer, Password: "vera-password-1"},
		{Name: "otto", Role: apiv1.RoleOperator, Password: "otto-password-1"},
		{Name: "ada", Role: apiv1.RoleAdmin, Password: "ada-password-12"},
	} {
		if code := c.do(t, "POST", "/api/v1/users", u, nil); code != http.StatusCreated {
			t.Fatalf("add %s: %d", u.Name, code)
		}
	}

	// The page is served with a strict policy.
	resp, err := c.client.Get(c.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	ctx, cancel := context.WithTimeout(browser, 120*time.Second)
	defer cancel()
	p := &browsertest.Page{T: t, Ctx: ctx}
	row := `#av-active tr[data-state="firing"]`

	// A viewer: the alert shows, the actions do not.
	signInAs(p, c, "vera", "vera-password-1")
	if p.Eval(displayed(`[data-nav="users"]`)) == true || p.Eval(displayed(`[data-nav="audit"]`)) == true {
		t.Error("a viewer is offered the Users or Audit page")
	}
	p.Do(chromedp.Click(chromedp.CSS(`[data-nav="alerts"]`)))
	p.Do(chromedp.WaitVisible(chromedp.CSS(row)))
	id := p.EvalString(fmt.Sprintf(`[...document.querySelectorAll(%q)].find(r => r.textContent.includes("Always on")).dataset.alert`, row))
	sel := fmt.Sprintf(`#av-active tr[data-alert=%q]`, id)
	if p.Eval(displayed(sel+` button[data-action="ack"]`)) == true || p.Eval(displayed(sel+` a[href^="#/silences"]`)) == true {
		t.Error("a viewer is offered Acknowledge or Silence")
	}
	browsertest.Screenshot(t, ctx, "e2e-viewer-alerts.png")
	// Bypassing the page: the same request the button would send, with
	// the session's CSRF token, is refused by the core.
	status := awaitJS(p, fmt.Sprintf(`(async () => {
		const s = await (await fetch("api/v1/session")).json();
		const r = await fetch("api/v1/alerts/%s/ack", {method: "POST", headers: {"X-CSRF-Token": s.csrf, "Content-Type": "application/json"}, body: "{}"});
		return r.status; })()`, id))
	if status != float64(http.StatusForbidden) {
		t.Fatalf("the viewer's acknowledgement answered %v, want 403", status)
	}
	var a apiv1.Alert
	c.do(t, "GET", "/api/v1/alerts/"+id, nil, &a)
	if a.Ack != nil {
		t.Fatalf("a viewer acknowledged the alert: %+v", a.Ack)
	}
	// Without the CSRF token even a permitted change is refused.
	if st := awaitJS(p, `(async () => (await fetch("api/v1/session", {method: "DELETE"})).status)()`); st != float64(http.StatusForbidden) {
		t.Errorf("sign-out without the CSRF token answered %v, want 403", st)
	}
	signOut(p)

	// An operator acknowledges with the button.
	signInAs(p, c, "otto", "otto-password-1")
	p.Do(chromedp.Click(chromedp.CSS(`[data-nav="alerts"]`)))
	p.Do(chromedp.WaitVisible(chromedp.CSS(sel + ` button[data-action="ack"]`)))
	if p.Eval(displayed(`#rv-new`)) == true {
		t.Error("an operator is offered New rule")
	}
	p.Do(chromedp.Click(chromedp.CSS(sel + ` button[data-action="ack"]`)))
	p.WaitJS(fmt.Sprintf(`document.querySelector(%q)?.dataset.acked === "true"`, sel), "acknowledged on the page")
	c.do(t, "GET", "/api/v1/alerts/"+id, nil, &a)
	if a.Ack == nil || a.Ack.By != "otto" {
		t.Fatalf("acknowledgement %+v, want by otto", a.Ack)
	}
	p.WaitJS(fmt.Sprintf(`document.querySelector(%q).textContent.includes("Acknowledged by otto")`, sel), "who acknowledged")
	// The account page: a personal token, shown once.
	p.Do(chromedp.Click(chromedp.ID("whoami")))
	p.Do(chromedp.WaitVisible(chromedp.ID("tok-form")))
	fill(p, "tok-name", "grafana")
	p.Do(chromedp.Click(chromedp.ID("tok-create")))
	p.WaitJS(`document.getElementById("tok-secret").value.startsWith("esm_pat_")`, "the new token")
	secret := p.EvalString(`document.getElementById("tok-secret").value`)
	var hosts []apiv1.Host
	if code, _ := c.request("GET", "/api/v1/hosts", secret, nil, &hosts); code != 200 || len(hosts) == 0 {
		t.Errorf("the new token reads hosts: %d %d", code, len(hosts))
	}
	if code, _ := c.request("DELETE", "/api/v1/alerts/"+id+"/ack", secret, nil, nil); code != http.StatusForbidden {
		t.Errorf("a read token unacknowledged: %d, want 403", code)
	}
	signOut(p)

	// An admin reads the audit log, with the viewer's refusal in it.
	signInAs(p, c, "ada", "ada-password-12")
	p.Do(chromedp.Click(chromedp.CSS(`[data-nav="audit"]`)))
	p.WaitJS(`[...document.querySelectorAll("#audit-list tbody tr")].some(r => r.textContent.includes("vera") && r.textContent.includes("denied"))`,
		"the viewer's refused acknowledgement in the audit log")
	p.WaitJS(`[...document.querySelectorAll("#audit-list tbody tr")].some(r => r.textContent.includes("otto") && r.textContent.includes("/ack"))`,
		"the operator's acknowledgement in the audit log")
	browsertest.Screenshot(t, ctx, "e2e-audit.png")
	p.Do(chromedp.Click(chromedp.CSS(`[data-nav="users"]`)))
	p.Do(chromedp.WaitVisible(chromedp.CSS(`#users-list tr[data-user="vera"]`)))
	selectValueIn(p, `#users-list tr[data-user="vera"] select`, "operator")
	waitFor(t, 5*time.Second, "vera promoted", func() bool {
		var us []apiv1.User
		c.do(t, "GET", "/api/v1/users", nil, &us)
		for _, u := range us {
			if u.Name == "vera" {
				return u.Role == apiv1.RoleOperator
			}
		}
		return false
	})
	browsertest.Screenshot(t, ctx, "e2e-users.png")

	if v := p.Eval(`window.esmon.cspViolations.length`); v != float64(0) {
		t.Errorf("CSP violations on the page: %v", p.Eval(`window.esmon.cspViolations`))
	}
}

// awaitJS evaluates an expression that yields a promise, and its value.
func awaitJS(p *browsertest.Page, expr string) any {
	p.T.Helper()
	v, err := chromedp.Run(p.Ctx, chromedp.Evaluate[any](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.T.Fatalf("%s: %v", expr, err)
	}
	return v
}

// selectValueIn picks an option of the <select> at sel and fires change.
func selectValueIn(p *browsertest.Page, sel, value string) {
	p.T.Helper()
	js := fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q;
		s.dispatchEvent(new Event("change", {bubbles: true})); return s.value; })()`, sel, value)
	if got := p.EvalString(js); got != value {
		p.T.Fatalf("select %s: value %q, want %q", sel, got, value)
	}
}

// TestWebFirstAdmin: a fresh core offers to create its first admin on the
// sign-in card; the page (on the core's own machine) creates it and is
// signed in as that admin; afterwards the offer is gone.
func TestWebFirstAdmin(t *testing.T) {
	c := startCore(t, "")
	browser := browsertest.New(t, c.pin)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	p := &browsertest.Page{T: t, Ctx: ctx}
	p.Do(chromedp.Navigate(c.url + "/"))
	p.Do(chromedp.WaitVisible(chromedp.ID("to-setup")))
	p.Do(chromedp.Click(chromedp.ID("to-setup")))
	p.Do(chromedp.WaitVisible(chromedp.ID("setup-name")))
	fill(p, "setup-name", "root")
	fill(p, "setup-password", "root-password-1")
	fill(p, "setup-confirm", "root-password-2")
	p.Do(chromedp.Click(chromedp.ID("setup-submit")))
	p.WaitJS(`document.getElementById("setup-error").textContent.includes("differ")`, "the passwords differ")
	fill(p, "setup-confirm", "root-password-1")
	p.Do(chromedp.Click(chromedp.ID("setup-submit")))
	p.WaitText("#conn", "live")
	p.WaitJS(`document.getElementById("whoami").textContent === "root (admin)"`, "signed in as root")
	browsertest.Screenshot(t, ctx, "e2e-first-admin.png")
	var us []apiv1.User
	if c.do(t, "GET", "/api/v1/users", nil, &us); len(us) != 1 || us[0].Name != "root" || us[0].Role != apiv1.RoleAdmin {
		t.Fatalf("users %+v, want root the admin", us)
	}
	signOut(p)
	p.WaitJS(`document.getElementById("signin-setup").hidden`, "no setup offer once an admin exists")
	if v := p.Eval(`window.esmon.cspViolations.length`); v != float64(0) {
		t.Errorf("CSP violations on the page: %v", p.Eval(`window.esmon.cspViolations`))
	}
}
