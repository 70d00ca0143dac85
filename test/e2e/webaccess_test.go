package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"esmon/core/apiv1"
	"esmon/internal/browsertest"
)

// TestWebAccessible checks the pages added with people and agents (agents
// and join codes, users, account and tokens, audit, the overview with
// tags, the host page) on a real core in Chromium, the way a keyboard
// and screen-reader user, a viewer in another time zone, a dark-theme
// user and a phone user meet them: every control is named, no text is
// under AA contrast, nothing is wider than a phone, Tab reaches the
// page's controls in order with a visible focus ring, times read in the
// viewer's zone, and empty lists say what to do next.
func TestWebAccessible(t *testing.T) {
	c := startCore(t, "")
	browser := browsertest.New(t, c.pin)
	startAgent(t, c)
	h := c.waitHost(t)
	if code := c.do(t, "POST", "/api/v1/users", apiv1.NewUser{Name: "ada", Role: apiv1.RoleAdmin, Password: "ada-password-12"}, nil); code != http.StatusCreated {
		t.Fatalf("add ada: %d", code)
	}
	ctx, cancel := context.WithTimeout(browser, 150*time.Second)
	defer cancel()
	p := &browsertest.Page{T: t, Ctx: ctx}

	// Chatham is 13 h 45 min ahead of UTC: a time shown in UTC, or in
	// the core's zone, cannot match its minutes by chance.
	const zone = "Pacific/Chatham"
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Skipf("no zone data for %s: %v", zone, err)
	}
	p.TimeZone(zone)
	signInAs(p, c, "ada", "ada-password-12")

	// Empty states, before anything is made: each says what to do next.
	// (TestWebAgents checks the Agents page's, before any join code.)
	for _, e := range []struct{ route, id, next string }{
		{"#/account", "tok-empty", "create it"},
	} {
		p.Do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %q`, e.route)))
		p.WaitJS(displayed("#"+e.id), e.route+" empty state")
		if got := p.EvalString(fmt.Sprintf(`document.getElementById(%q).textContent`, e.id)); !strings.Contains(got, e.next) {
			t.Errorf("%s: empty state %q does not say what to do next (%q)", e.route, got, e.next)
		}
	}

	pages := []struct {
		route, view string
		tabs        int // Tab presses from the top of the page
	}{
		{"#/", "#dash-view", 20},
		{"#/host/" + h.ID, "#host-view", 20},
		{"#/agents", "#agents-view", 20},
		{"#/users", "#users-view", 20},
		{"#/account", "#account-view", 20},
		{"#/audit", "#audit-view", 20},
	}
	for _, layout := range []struct {
		name   string
		scheme string
		width  int64
	}{
		{"light", "light", 1280},
		{"dark", "dark", 1280},
		{"phone", "light", 390},
	} {
		p.ColorScheme(layout.scheme)
		p.Do(chromedp.EmulateViewport(layout.width, 800))
		for _, pg := range pages {
			t.Run(layout.name+" "+pg.route, func(t *testing.T) {
				p := &browsertest.Page{T: t, Ctx: ctx}
				p.Do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %q`, pg.route)))
				p.WaitJS(displayed(pg.view), pg.view)
				p.WaitJS(`!document.querySelector("[aria-busy=true]")`, "the page loaded")
				for _, problem := range p.Audit("body") {
					t.Error(problem)
				}
				if layout.name != "light" {
					return
				}
				// From the skip link at the top: Tab must go through the
				// nav to the page's own controls, each with a ring the eye
				// can follow.
				p.Do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0); document.querySelector(".skip").focus()`))
				walk := p.Tab(pg.tabs, pg.view)
				if bad := browsertest.Unseen(walk); len(bad) > 0 {
					t.Errorf("focus not visible at %q", bad)
				}
				if !slices.ContainsFunc(walk, func(f browsertest.Focus) bool { return f.Inside }) {
					t.Errorf("%d Tab presses from the top did not reach the page's own controls: %+v", pg.tabs, walk)
				}
			})
		}
	}

	// Times in the viewer's zone: every time on the audit page (sign-ins
	// happened minutes ago) reads as the clock in Chatham does.
	p.Do(chromedp.Evaluate[chromedp.Void](`location.hash = "#/audit"`))
	p.WaitJS(displayed(`#audit-list tbody tr time`), "times on the audit page")
	type shown struct{ At, Text, Title string }
	var times []shown
	times, err = chromedp.Run(ctx, chromedp.Evaluate[[]shown](`[...document.querySelectorAll("#audit-list time[datetime]")].slice(0, 10)
		.map(e => ({At: e.dateTime, Text: e.textContent, Title: e.title}))`))
	if err != nil || len(times) == 0 {
		t.Fatalf("audit times: %v %v", times, err)
	}
	for _, tm := range times {
		at, err := time.Parse(time.RFC3339Nano, tm.At)
		if err != nil {
			t.Errorf("datetime %q: %v", tm.At, err)
			continue
		}
		local := at.In(loc)
		clock := local.Format("3:04")
		if !strings.Contains(tm.Text, clock) && !strings.Contains(tm.Text, local.Format("15:04")) {
			t.Errorf("time %s shows %q, want the Chatham clock %s", tm.At, tm.Text, clock)
		}
		if !strings.Contains(tm.Title, clock) && !strings.Contains(tm.Title, local.Format("15:04")) {
			t.Errorf("time %s has title %q, want the Chatham clock %s", tm.At, tm.Title, clock)
		}
	}
	if v := p.Eval(`window.esmon.cspViolations.length`); v != float64(0) {
		t.Errorf("CSP violations on the page: %v", p.Eval(`window.esmon.cspViolations`))
	}
}
