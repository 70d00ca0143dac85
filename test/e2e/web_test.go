package e2e

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"esmon/core/apiv1"
	"esmon/internal/browsertest"
)

// TestWebPage opens the real core's page in headless Chromium with a real
// agent reporting every second: sign-in with the admin token, the host card
// appears, and its CPU gauge follows each new batch without a reload.
func TestWebPage(t *testing.T) {
	c := startCore(t, "")
	browser := browsertest.New(t, c.pin)
	startAgent(t, c)
	h := c.waitHost(t)
	feed := c.subscribe(t)

	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	p := &browsertest.Page{T: t, Ctx: ctx}
	card := fmt.Sprintf(`[data-host=%q]`, h.ID)

	p.Do(chromedp.Navigate(c.url + "/"))
	p.Do(chromedp.WaitVisible(chromedp.ID("token")))
	p.Do(chromedp.SendKeys(chromedp.ID("token"), c.adminToken+"\n"))
	p.Do(chromedp.WaitVisible(chromedp.CSS(card)))
	p.WaitText("#conn", "live")
	p.WaitText(card+" .badge", "online")
	p.WaitText(card+" .host-name", h.Facts.Hostname)
	p.Do(chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`))

	// Follow host events as the core publishes them and check the page
	// shows each one's CPU value; record how long after the event it did.
	var delays []time.Duration
	seen := 0
	for len(delays) < 5 {
		ev, at := feed.nextHostEvent(t, h.ID, &seen)
		want := strconv.FormatFloat(ev.Gauges.CPU, 'f', -1, 64)
		sel := card + ` [data-gauge="cpu"]`
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := p.EvalString(fmt.Sprintf(`document.querySelector(%q).dataset.value`, sel))
			if got == want {
				delays = append(delays, time.Since(at))
				break
			}
			if newer := feed.hostEventsAfter(h.ID, seen); newer {
				break // a newer batch overtook this one; measure that one instead
			}
			if time.Now().After(deadline) {
				t.Fatalf("CPU gauge shows %q, want %q from the batch at %v", got, want, at)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if p.Eval(`window.__sameDocument === true`) != true {
		t.Fatal("the page reloaded")
	}
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	t.Logf("live event to page: median %v, max %v over %d batches", delays[len(delays)/2], delays[len(delays)-1], len(delays))
	browsertest.Screenshot(t, ctx, "e2e-dashboard.png")
}

// nextHostEvent waits for the next host event of host after index *seen
// and returns it with the time the test's subscriber received it.
func (l *live) nextHostEvent(t *testing.T, host string, seen *int) (apiv1.Host, time.Time) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for ; *seen < len(l.events); *seen++ {
			ev := l.events[*seen]
			if ev.Type == apiv1.EventHost && ev.Host.ID == host {
				at := l.times[*seen]
				*seen++
				l.mu.Unlock()
				return *ev.Host, at
			}
		}
		l.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no host event for 10 s")
	return apiv1.Host{}, time.Time{}
}

// hostEventsAfter reports whether a host event of host came after index seen.
func (l *live) hostEventsAfter(host string, seen int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.events[seen:] {
		if ev.Type == apiv1.EventHost && ev.Host.ID == host {
			return true
		}
	}
	return false
}
