package webui_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"esmon/core/apiv1"
	"esmon/internal/browsertest"
	"esmon/webui"
)

// pageFS is the page the stand-in core serves: the embedded bundle, or
// the bundle in the directory ESMON_WEBUI_DIR names, so the speed tests
// can measure an older build against this one in the same session (see
// BENCHMARKS.md, "Web page").
func pageFS() fs.FS {
	if dir := os.Getenv("ESMON_WEBUI_DIR"); dir != "" {
		return os.DirFS(dir)
	}
	return webui.FS()
}

// TestAssetsAreLocal checks the embedded files: the page is there, and no
// asset loads anything from another origin (no CDN, no external font).
func TestAssetsAreLocal(t *testing.T) {
	fsys := webui.FS()
	for _, name := range []string{"index.html", "app.js", "style.css", "favicon.svg", "THIRD_PARTY_LICENSES.txt"} {
		if _, err := fs.Stat(fsys, name); err != nil {
			t.Errorf("asset %s: %v", name, err)
		}
	}
	// The SVG namespace is a name, not a fetch.
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		if m := external.FindString(text); m != "" {
			t.Errorf("%s refers to another origin: %q", path, m)
		}
		if strings.Contains(text, `src="/`) || strings.Contains(text, `href="/`) {
			t.Errorf("%s has a root-absolute URL; use relative URLs", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDashboard drives the page in real headless Chromium against a stand-in
// for the core's session endpoints and live feed.
func TestDashboard(t *testing.T) {
	browser := browsertest.New(t)
	core := newFakeCore(t)
	ctx, cancel := context.WithTimeout(browser, 25*time.Second)
	defer cancel()
	b := &browsertest.Page{T: t, Ctx: ctx}

	b.Do(chromedp.Navigate(core.srv.URL + "/"))
	b.Do(chromedp.WaitVisible(chromedp.ID("token")))
	b.WaitText("#conn", "signed out")

	// A wrong token shows the core's error and stays on sign-in.
	b.Do(chromedp.SendKeys(chromedp.ID("token"), "not-the-token"), chromedp.Click(chromedp.ID("signin-submit")))
	b.WaitJS(`document.getElementById("signin-error").textContent.includes("invalid token")`, "sign-in error shown")
	browsertest.Screenshot(t, ctx, "signin.png")
	if core.connections() != 0 {
		t.Fatal("live feed opened before sign-in")
	}

	// The right token opens the dashboard and the live feed.
	b.Do(chromedp.Clear(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), core.token+"\n"))
	b.Do(chromedp.WaitVisible(chromedp.CSS(`[data-host="h-web"]`)))
	conn := core.next(t)
	b.WaitText("#conn", "live")
	if got := b.Eval(`document.getElementById("signin-view").hidden`); got != true {
		t.Errorf("sign-in still visible after sign-in")
	}
	if got, want := b.EvalString(`[...document.querySelectorAll("[data-host]")].map(e => e.dataset.host).join(",")`),
		"h-app,h-db,h-mx,h-web"; got != want {
		t.Errorf("host order = %s, want %s (by name)", got, want)
	}
	b.WaitText(`[data-host="h-web"] [data-gauge="cpu"] .value`, "12")
	b.WaitText(`[data-host="h-web"] [data-gauge="memory"] .value`, "65")
	b.WaitText(`[data-host="h-app"] .badge`, "offline")
	b.WaitText(`[data-host="h-web"] .badge`, "online")
	b.WaitText(`[data-host="h-web"] .host-name`, "web-01")
	if got := b.EvalString(`document.querySelector('[data-host="h-mx"]').dataset.status`); got != "very_critical" {
		t.Errorf("h-mx status = %q, want very_critical", got)
	}
	b.Do(chromedp.WaitVisible(chromedp.CSS(`[data-alert="a-disk"]`)))
	b.WaitText(`[data-count="warning"] .n`, "1")
	b.WaitText(`[data-count="critical"] .n`, "0")
	if got := b.EvalString(`document.getElementById("hosts-empty").hidden ? "hidden" : "shown"`); got != "hidden" {
		t.Errorf("empty state shown with hosts")
	}

	// A host event moves the gauge without a reload.
	b.Do(chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`))
	web := core.host("h-web")
	web.Gauges.CPU = 87.4
	web.LastSeen = time.Now()
	core.setHost(web)
	conn.send(t, apiv1.Event{Type: apiv1.EventHost, Host: &web})
	b.WaitText(`[data-host="h-web"] [data-gauge="cpu"] .value`, "87")
	if b.Eval(`window.__sameDocument === true`) != true {
		t.Fatal("the page reloaded")
	}

	// So does the short form the core sends for nearly every host event
	// (apiv1.HostBrief), which keeps what it leaves out: the host's name
	// and platform, and its tags.
	// Its last_seen counts from the feed's epoch, which an epoch event
	// sets (or the snapshot).
	web.Gauges.CPU, web.Gauges.Memory = 55.2, 31.5
	web.LastSeen = time.Now().Truncate(time.Millisecond)
	core.setHost(web)
	epoch := web.LastSeen.Add(-time.Hour).Truncate(time.Hour).UnixMilli()
	conn.sendRaw(t, apiv1.EpochEvent(epoch))
	brief, _, err := apiv1.HostBrief(&web, 0, epoch) // with the host's id
	if err != nil {
		t.Fatal(err)
	}
	conn.sendRaw(t, brief)
	b.WaitText(`[data-host="h-web"] [data-gauge="cpu"] .value`, "55")
	b.WaitText(`[data-host="h-web"] [data-gauge="memory"] .value`, "32")
	if got, want := b.EvalString(`document.querySelector('[data-host="h-web"] .seen time').dateTime`), web.LastSeen.UTC().Format("2006-01-02T15:04:05.000Z"); got != want {
		t.Errorf("after a short host event the card was last seen %q, want %q", got, want)
	}
	b.WaitText(`[data-host="h-web"] .host-name`, "web-01")
	if got := b.EvalString(`document.querySelector('[data-host="h-web"] .host-os').textContent`); !strings.Contains(got, "ubuntu 24.04") {
		t.Errorf("after a short host event the card's platform is %q", got)
	}
	// In a batch the short form is the array alone, with the host's
	// number on the feed for its id, as the core sends it: the number
	// comes with the host's identity. A number the page never got (a
	// host removed before its snapshot) changes nothing.
	cards := b.EvalString(`String(document.querySelectorAll("[data-host]").length)`)
	withNumber, err := json.Marshal(map[string]any{"type": apiv1.EventHost, "host": apiv1.LiveHost{Host: web, Facts: &web.Facts, N: 5}})
	if err != nil {
		t.Fatal(err)
	}
	conn.sendRaw(t, withNumber)
	web.Gauges.CPU = 33.3
	core.setHost(web)
	if brief, _, err = apiv1.HostBrief(&web, 5, epoch); err != nil {
		t.Fatal(err)
	}
	row, _ := apiv1.HostBriefRow(brief)
	stranger, _, _ := apiv1.HostBrief(&apiv1.Host{ID: "gone", Online: true, LastSeen: time.Now(), Status: apiv1.StatusOK}, 99, epoch)
	strangerRow, _ := apiv1.HostBriefRow(stranger)
	conn.sendRaw(t, []byte(`{"type":"batch","events":[`+string(strangerRow)+`,`+string(row)+`]}`))
	b.WaitText(`[data-host="h-web"] [data-gauge="cpu"] .value`, "33")
	b.WaitText(`[data-host="h-web"] .host-name`, "web-01")
	if got := b.EvalString(`String(document.querySelectorAll("[data-host]").length)`); got != cards {
		t.Errorf("host cards: %s after a short event of an unknown number, want %s", got, cards)
	}

	// A firing transition adds the alert row and counts it.
	cpu := apiv1.Alert{
		ID: "a-cpu", RuleID: "r-cpu", RuleName: "High CPU", Host: "h-web",
		Metric: "cpu_usage_percent", Severity: apiv1.SeverityCritical, State: apiv1.StateFiring,
		Value: 87.4, Op: ">", Threshold: 85, Summary: "CPU above 85% for 1m",
		ActiveAt: time.Now().Add(-time.Minute), FiredAt: time.Now(),
	}
	// Alert events come as the core sends them (apiv1.LiveTransition:
	// the alert's state, its labels of only the host, the transition's
	// repeated value and threshold left out); the page fills them in.
	conn.sendRaw(t, liveTransition(t, cpu, apiv1.StatePending, apiv1.StateFiring, cpu.FiredAt, 87.4))
	b.Do(chromedp.WaitVisible(chromedp.CSS(`[data-alert="a-cpu"][data-state="firing"]`)))
	b.WaitText(`[data-count="critical"] .n`, "1")
	b.WaitJS(`document.querySelector('[data-alert="a-cpu"]').textContent.includes("web-01")`, "alert names its host")

	browsertest.Screenshot(t, ctx, "dashboard.png")
	b.ColorScheme("dark")
	browsertest.Screenshot(t, ctx, "dashboard-dark.png")
	// Tall enough for the whole page: a full-page capture of a narrow
	// page that scrolls loses the width of the scroll bar on the right.
	b.Do(chromedp.EmulateViewport(390, 1800, chromedp.EmulateScale(2)))
	browsertest.Screenshot(t, ctx, "dashboard-phone.png")
	b.Do(chromedp.EmulateViewport(1280, 800))
	b.ColorScheme("")

	// A resolved transition removes it.
	cpu.State, cpu.ResolvedAt = apiv1.StateResolved, time.Now()
	conn.sendRaw(t, liveTransition(t, cpu, apiv1.StateFiring, apiv1.StateResolved, cpu.ResolvedAt, 40))
	b.Do(chromedp.WaitNotPresent(chromedp.CSS(`[data-alert="a-cpu"]`)))
	b.WaitText(`[data-count="critical"] .n`, "0")

	// A fresh alert going pending comes in the short form with its fields
	// in an array (apiv1.AlertBrief) and shows; when it ends without
	// firing, the core sends the short form (here in a batch) and it goes.
	now := time.Now().Truncate(time.Millisecond)
	load := apiv1.Alert{ID: "a-load", RuleID: "r-load", RuleName: "Load", Host: "h-web", Metric: "load_average_1m",
		Labels: map[string]string{"host": "h-web"}, Severity: apiv1.SeverityWarning, State: apiv1.StatePending,
		Value: 9, Op: ">", Threshold: 8, Summary: "Load of web is 9", ActiveAt: now}
	up := apiv1.Transition{Alert: load, From: apiv1.StateInactive, To: apiv1.StatePending, At: now, Value: 9, Threshold: 8}
	upShort, ok, err := apiv1.AlertBrief(&up, nil, apiv1.BriefRefs{})
	if err != nil || !ok {
		t.Fatalf("AlertBrief of the pending: %v %v", ok, err)
	}
	conn.sendRaw(t, upShort)
	b.Do(chromedp.WaitVisible(chromedp.CSS(`[data-alert="a-load"][data-state="pending"]`)))
	b.WaitJS(`document.querySelector('[data-alert="a-load"]').textContent.includes("pending since")`, "pending alert says so")
	b.WaitText(`[data-alert="a-load"] .alert-title`, "Load")
	b.WaitJS(`document.querySelector('[data-alert="a-load"]').textContent.includes("9 > 8")`, "the pending alert's value and threshold")
	b.WaitText(`[data-alert="a-load"] .alert-summary`, "Load of web is 9")
	gone := apiv1.Transition{Alert: load, From: apiv1.StatePending, To: apiv1.StateInactive, At: time.Now(), Value: 3}
	short, ok, err := apiv1.AlertBrief(&gone, nil, apiv1.BriefRefs{})
	if err != nil || !ok {
		t.Fatalf("AlertBrief: %v %v", ok, err)
	}
	conn.sendRaw(t, []byte(`{"type":"batch","events":[`+string(short)+`]}`))
	b.Do(chromedp.WaitNotPresent(chromedp.CSS(`[data-alert="a-load"]`)))

	// Pending, then firing, both in the short form: the page makes the
	// alert it built from the short pending event firing, and counts it.
	load.ID = "a-load2"
	up.Alert = load
	if upShort, ok, err = apiv1.AlertBrief(&up, nil, apiv1.BriefRefs{}); err != nil || !ok {
		t.Fatalf("AlertBrief of the second pending: %v %v", ok, err)
	}
	conn.sendRaw(t, upShort)
	b.Do(chromedp.WaitVisible(chromedp.CSS(`[data-alert="a-load2"][data-state="pending"]`)))
	fired := load
	fired.State, fired.Value, fired.FiredAt = apiv1.StateFiring, 9.5, now.Add(time.Minute)
	fired.Summary, fired.NotifiedAt = "Load is 9.5 (> 9)", fired.FiredAt
	fired.Severity, fired.Threshold = apiv1.SeverityCritical, 9 // past the rule's critical level while pending
	fire := apiv1.Transition{Alert: fired, From: apiv1.StatePending, To: apiv1.StateFiring, At: fired.FiredAt, Value: 9.5, Threshold: 9}
	if short, ok, err = apiv1.AlertBrief(&fire, &load, apiv1.BriefRefs{}); err != nil || !ok {
		t.Fatalf("AlertBrief of the firing: %v %v", ok, err)
	}
	conn.sendRaw(t, short)
	b.Do(chromedp.WaitVisible(chromedp.CSS(`[data-alert="a-load2"][data-state="firing"]`)))
	b.WaitText(`[data-count="critical"] .n`, "1")
	b.WaitJS(`document.querySelector('[data-alert="a-load2"]').textContent.includes("9.5 > 9")`, "the firing value")
	b.WaitText(`[data-alert="a-load2"] .alert-summary`, "Load is 9.5 (> 9)")
	b.WaitText(`[data-alert="a-load2"] .alert-title`, "Load") // from the short pending event
	b.WaitJS(`document.querySelector('[data-alert="a-load2"] .host-ref').getAttribute("href") === "#/host/h-web"`, "the firing alert's host")
	fired.State, fired.ResolvedAt = apiv1.StateResolved, now.Add(time.Hour)
	conn.sendRaw(t, liveTransition(t, fired, apiv1.StateFiring, apiv1.StateResolved, fired.ResolvedAt, 2))
	b.Do(chromedp.WaitNotPresent(chromedp.CSS(`[data-alert="a-load2"]`)))
	b.WaitText(`[data-count="critical"] .n`, "0")

	// With its rule numbered (a rule event before it, in one batch) and its
	// host by number, a pending alert leaves out its plain summary, and so
	// does its firing: the page builds both as the core does, to the
	// digit (2.625 is "2.62" in Go, "2.63" from JavaScript's toFixed).
	rule, err := apiv1.RuleEvent(apiv1.LiveRule{N: 4, ID: "r-load", Name: "Load", Metric: "load_average_1m", Op: ">"})
	if err != nil {
		t.Fatal(err)
	}
	load3 := load
	load3.ID, load3.Value, load3.Threshold = "a-load3", 2.625, 2
	load3.Summary = apiv1.PlainSummary("Load", "h-web", "load_average_1m", 2.625, ">", 2)
	up = apiv1.Transition{Alert: load3, From: apiv1.StateInactive, To: apiv1.StatePending, At: now, Value: 2.625, Threshold: 2}
	if upShort, ok, err = apiv1.AlertBrief(&up, nil, apiv1.BriefRefs{Host: 5, Rule: 4}); err != nil || !ok || !bytes.HasSuffix(upShort, []byte(`,5,4,"warning",2,null]}`)) {
		t.Fatalf("AlertBrief of the numbered pending: %s %v %v", upShort, ok, err)
	}
	conn.sendRaw(t, []byte(`{"type":"batch","events":[`+string(rule)+`,`+string(upShort)+`]}`))
	b.Do(chromedp.WaitVisible(chromedp.CSS(`[data-alert="a-load3"][data-state="pending"]`)))
	b.WaitText(`[data-alert="a-load3"] .alert-summary`, "Load on h-web: load_average_1m is 2.62 (> 2)")
	b.WaitText(`[data-alert="a-load3"] .alert-title`, "Load")
	fired = load3
	fired.State, fired.Value, fired.FiredAt = apiv1.StateFiring, 1234565, now.Add(time.Minute)
	fired.Summary = apiv1.PlainSummary("Load", "h-web", "load_average_1m", 1234565, ">", 2)
	fire = apiv1.Transition{Alert: fired, From: apiv1.StatePending, To: apiv1.StateFiring, At: fired.FiredAt, Value: 1234565, Threshold: 2}
	if short, ok, err = apiv1.AlertBrief(&fire, &load3, apiv1.BriefRefs{}); err != nil || !ok || !bytes.Contains(short, []byte(`,null,`)) {
		t.Fatalf("AlertBrief of the numbered firing: %s %v %v", short, ok, err)
	}
	conn.sendRaw(t, short)
	b.Do(chromedp.WaitVisible(chromedp.CSS(`[data-alert="a-load3"][data-state="firing"]`)))
	b.WaitText(`[data-alert="a-load3"] .alert-summary`, "Load on h-web: load_average_1m is 1.23456e+06 (> 2)")
	fired.State, fired.ResolvedAt = apiv1.StateResolved, now.Add(time.Hour)
	conn.sendRaw(t, liveTransition(t, fired, apiv1.StateFiring, apiv1.StateResolved, fired.ResolvedAt, 1))
	b.Do(chromedp.WaitNotPresent(chromedp.CSS(`[data-alert="a-load3"]`)))

	// Everything the page loaded came from the core.
	if got := b.EvalString(`performance.getEntriesByType("resource").map(e => e.name)
		.filter(n => !n.startsWith(location.origin + "/")).join(" ")`); got != "" {
		t.Errorf("page loaded from elsewhere: %s", got)
	}

	// The core drops the feed: banner, then the page reconnects by itself.
	conn.close(t, websocket.CloseGoingAway)
	b.Do(chromedp.WaitVisible(chromedp.ID("banner")))
	b.WaitText("#conn", "disconnected")
	b.WaitJS(`document.getElementById("banner-text").textContent.startsWith("Disconnected")`, "banner text")
	browsertest.Screenshot(t, ctx, "reconnecting.png")
	conn = core.next(t)
	b.Do(chromedp.WaitNotVisible(chromedp.ID("banner")))
	b.WaitText("#conn", "live")
	b.WaitText(`[data-host="h-web"] [data-gauge="cpu"] .value`, "33")

	// Close code 4401 sends the page back to sign-in.
	core.dropSessions()
	conn.close(t, 4401)
	b.Do(chromedp.WaitVisible(chromedp.ID("token")))
	b.WaitJS(`document.getElementById("signin-error").textContent.includes("session has ended")`, "session ended message")
	b.Do(chromedp.WaitNotPresent(chromedp.CSS(`[data-host]`)))

	// Signed in again against a core with no hosts: the empty state says
	// how to start an agent.
	core.setSnapshot(nil, nil)
	b.Do(chromedp.SendKeys(chromedp.ID("token"), core.token+"\n"))
	conn = core.next(t)
	b.Do(chromedp.WaitVisible(chromedp.ID("hosts-empty")))
	b.WaitJS(`document.getElementById("agent-cmd").textContent.includes("esmon-agent install --join-code") &&
		document.querySelector("#hosts-empty a[href='#/agents']") !== null`, "how to add an agent")
	b.WaitText("#alerts-empty", "No active alerts. All quiet.")
	browsertest.Screenshot(t, ctx, "dashboard-empty.png")

	// Sign out ends the session and the feed.
	b.Do(chromedp.Click(chromedp.ID("signout")))
	b.Do(chromedp.WaitVisible(chromedp.ID("token")))
	conn.waitClosed(t)
	if core.sessionCount() != 0 {
		t.Error("sign out left the session on the core")
	}
}

// liveTransition is the message the core sends for a transition of a to
// state to at value v (apiv1.LiveTransition).
func liveTransition(t *testing.T, a apiv1.Alert, from, to string, at time.Time, v float64) []byte {
	t.Helper()
	a.State = to
	msg, err := apiv1.LiveTransition(&apiv1.Transition{Alert: a, From: from, To: to, At: at, Value: v, Threshold: a.Threshold})
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func transition(a apiv1.Alert, from, to string, v float64) apiv1.Event {
	return apiv1.Event{Type: apiv1.EventAlert, Transition: &apiv1.Transition{
		Alert: a, From: from, To: to, At: time.Now(), Value: v,
	}}
}

// fakeCore stands in for the core: the session endpoints and /ws/live.
type fakeCore struct {
	srv   *httptest.Server
	token string

	mu       sync.Mutex
	sessions map[string]bool
	hosts    []apiv1.Host
	alerts   []apiv1.Alert
	conns    chan *liveConn
	count    int

	pages pageData // what the host, alerts and rules pages read
}

const cookieName = "esmon_session"

func newFakeCore(t *testing.T) *fakeCore {
	now := time.Now()
	f := &fakeCore{
		token:    rand.Text(),
		sessions: map[string]bool{},
		conns:    make(chan *liveConn, 4),
		hosts: []apiv1.Host{
			{
				ID: "h-web", Online: true, LastSeen: now, Status: apiv1.SeverityWarning, AgentVersion: "0.1.0",
				Facts: apiv1.HostFacts{
					Hostname: "web-01", OS: "linux", Platform: "ubuntu", PlatformVersion: "24.04",
					Arch: "amd64", Cores: 8,
				},
				Gauges: apiv1.Gauges{CPU: 12.3, Memory: 64.8, Disk: 71.2},
			},
			{
				ID: "h-db", Online: true, LastSeen: now.Add(-3 * time.Second), Status: apiv1.StatusOK,
				Facts: apiv1.HostFacts{
					Hostname: "db-01", OS: "windows", Platform: "Microsoft Windows Server 2022 Datacenter",
					PlatformVersion: "10.0.20348", Arch: "amd64", Cores: 16,
				},
				Gauges: apiv1.Gauges{CPU: 35, Memory: 82.5, Disk: 48.9},
			},
			{
				ID: "h-app", Online: false, LastSeen: now.Add(-26 * time.Minute), Status: apiv1.StatusOffline,
				Facts: apiv1.HostFacts{
					Hostname: "app-03", OS: "linux", Platform: "rhel", PlatformVersion: "9.4", Arch: "amd64", Cores: 4,
				},
				Gauges: apiv1.Gauges{CPU: 4.1, Memory: 38.0, Disk: 55.5},
			},
			{
				ID: "h-mx", Online: true, LastSeen: now.Add(-1 * time.Second), Status: apiv1.SeverityVeryCritical,
				Facts: apiv1.HostFacts{
					Hostname: "maximo-01", OS: "windows", Platform: "Microsoft Windows Server 2019 Standard",
					PlatformVersion: "10.0.17763", Arch: "amd64", Cores: 8,
				},
				Gauges: apiv1.Gauges{CPU: 58.6, Memory: 93.4, Disk: 67},
			},
		},
		alerts: []apiv1.Alert{
			{
				ID: "a-disk", RuleID: "r-disk", RuleName: "Disk filling up", Host: "h-web",
				Metric: "disk_used_percent", Labels: map[string]string{"mount": "/var"},
				Severity: apiv1.SeverityWarning, State: apiv1.StateFiring, Value: 71.2, Op: ">", Threshold: 70,
				Summary: "/var above 70%", ActiveAt: now.Add(-14 * time.Minute), FiredAt: now.Add(-9 * time.Minute),
			},
			{
				ID: "a-heap", RuleID: "r-heap", RuleName: "JVM heap exhausted", Host: "h-mx",
				Metric: "jvm_heap_used_percent", Severity: apiv1.SeverityVeryCritical, State: apiv1.StateFiring,
				Value: 97.2, Op: ">", Threshold: 95, Summary: "MXServer heap above 95%",
				ActiveAt: now.Add(-6 * time.Minute), FiredAt: now.Add(-4 * time.Minute),
			},
			{
				ID: "a-swap", RuleID: "r-swap", RuleName: "Swap in use", Host: "h-db",
				Metric: "swap_used_percent", Severity: apiv1.SeverityInfo, State: apiv1.StatePending,
				Value: 22, Op: ">", Threshold: 20, ActiveAt: now.Add(-40 * time.Second),
			},
		},
	}

	mux := http.NewServeMux()
	mux.Handle("/", http.FileServerFS(pageFS()))
	mux.HandleFunc("POST /api/v1/session", f.signIn)
	mux.HandleFunc("GET /api/v1/session", func(w http.ResponseWriter, r *http.Request) {
		if !f.authed(r) {
			writeError(w, http.StatusUnauthorized, "not signed in", "unauthorized")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /api/v1/session", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(cookieName); err == nil {
			f.mu.Lock()
			delete(f.sessions, c.Value)
			f.mu.Unlock()
		}
		http.SetCookie(w, &http.Cookie{Name: cookieName, Path: "/", MaxAge: -1, HttpOnly: true})
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /ws/live", f.live)
	f.pageRoutes(mux)
	f.srv = httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(f.srv.Close)
	return f
}

func writeError(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(apiv1.Error{Error: msg, Code: code})
}

func (f *fakeCore) signIn(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON", "bad_request")
		return
	}
	if body.Token != f.token {
		writeError(w, http.StatusUnauthorized, "invalid token", "unauthorized")
		return
	}
	id := rand.Text()
	f.mu.Lock()
	f.sessions[id] = true
	f.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeCore) authed(r *http.Request) bool {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessions[c.Value]
}

func (f *fakeCore) dropSessions() {
	f.mu.Lock()
	clear(f.sessions)
	f.mu.Unlock()
}

func (f *fakeCore) sessionCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sessions)
}

func (f *fakeCore) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

func (f *fakeCore) setSnapshot(hosts []apiv1.Host, alerts []apiv1.Alert) {
	f.mu.Lock()
	f.hosts, f.alerts = hosts, alerts
	f.mu.Unlock()
}

// setHost replaces the host in the snapshot that the next connection gets.
func (f *fakeCore) setHost(h apiv1.Host) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.hosts {
		if f.hosts[i].ID == h.ID {
			f.hosts[i] = h
		}
	}
}

// host returns a copy of the host with the id from the snapshot, and keeps
// the caller's later changes out of it.
func (f *fakeCore) host(id string) apiv1.Host {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.hosts {
		if h.ID == id {
			return h
		}
	}
	panic("no host " + id)
}

var upgrader = websocket.Upgrader{} // same origin only, the default

func (f *fakeCore) live(w http.ResponseWriter, r *http.Request) {
	if !f.authed(r) {
		writeError(w, http.StatusUnauthorized, "not signed in", "unauthorized")
		return
	}
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	lc := &liveConn{c: c, closed: make(chan struct{})}
	go func() { // read so that close frames are seen
		defer close(lc.closed)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	f.mu.Lock()
	f.count++
	snap := apiv1.Event{Type: apiv1.EventSnapshot, Hosts: f.hosts, Alerts: f.alerts}
	f.mu.Unlock()
	if err := lc.write(snap); err != nil {
		c.Close()
		return
	}
	f.conns <- lc
}

// next waits for the page to open the live feed.
func (f *fakeCore) next(t *testing.T) *liveConn {
	t.Helper()
	select {
	case c := <-f.conns:
		t.Cleanup(func() { c.c.Close() })
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("the page did not open /ws/live")
		return nil
	}
}

// liveConn is one page's feed. Only the test goroutine writes to it.
type liveConn struct {
	c      *websocket.Conn
	closed chan struct{}
}

func (l *liveConn) write(ev apiv1.Event) error {
	l.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return l.c.WriteJSON(ev)
}

func (l *liveConn) send(t *testing.T, ev apiv1.Event) {
	t.Helper()
	if err := l.write(ev); err != nil {
		t.Fatalf("send %s: %v", ev.Type, err)
	}
}

// sendRaw sends a message as the core encoded it.
func (l *liveConn) sendRaw(t *testing.T, msg []byte) {
	t.Helper()
	l.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := l.c.WriteMessage(websocket.TextMessage, msg); err != nil {
		t.Fatalf("send %.40s: %v", msg, err)
	}
}

func (l *liveConn) close(t *testing.T, code int) {
	t.Helper()
	msg := websocket.FormatCloseMessage(code, "test closes the feed")
	if err := l.c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(5*time.Second)); err != nil {
		t.Fatalf("close feed: %v", err)
	}
	l.c.Close()
}

func (l *liveConn) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-l.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the page kept the live feed open")
	}
}
