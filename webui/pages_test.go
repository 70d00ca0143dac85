package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"esmon/core/apiv1"
	"esmon/internal/browsertest"
)

// pageData is what the fake core answers on the endpoints of the host,
// alerts and rules pages.
type pageData struct {
	mu       sync.Mutex
	alerting bool // serve the alerting actions (ack, silences, ...)
	acks     []string
	silences []silence
	maint    []maintenance
	tests    []string
	queries  []url // every /api/v1/query the page sent
	rules    []apiv1.Rule
	puts     []apiv1.Rule
	history  []apiv1.Transition
}

type url struct {
	metric   string
	from, to time.Time
	step     time.Duration
	agg      string
}

// tierOf is the tier the core's store answers a step from: the coarsest
// whose resolution divides it.
func tierOf(step time.Duration) string {
	switch {
	case step%time.Hour == 0:
		return "1h"
	case step%time.Minute == 0:
		return "1m"
	}
	return "raw"
}

// aggregate is value over the step before t, as the core's agg= gives it.
func aggregate(s apiv1.Series, t time.Time, step time.Duration, agg string) float64 {
	switch agg {
	case "rate":
		return (value(s, t) - value(s, t.Add(-step))) / step.Seconds()
	case "min":
		return value(s, t) - 5
	case "max":
		return value(s, t) + 5
	}
	return value(s, t)
}

// fakeSeries are the series of host h-web: metric and labels (host aside).
var fakeSeries = func() []apiv1.Series {
	var out []apiv1.Series
	add := func(m string, kv ...string) {
		l := map[string]string{"host": "h-web"}
		for i := 0; i < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		out = append(out, apiv1.Series{Metric: m, Labels: l})
	}
	add("cpu_usage_percent")
	for c := range 8 {
		add("cpu_core_usage_percent", "core", strconv.Itoa(c))
	}
	add("load_average_1m")
	add("memory_used_percent")
	add("swap_used_percent")
	add("disk_used_percent", "mount", "/")
	add("disk_used_percent", "mount", "/var")
	add("disk_read_bytes_total", "device", "sda")
	add("disk_written_bytes_total", "device", "sda")
	add("network_received_bytes_total", "interface", "eth0")
	add("network_sent_bytes_total", "interface", "eth0")
	add("jvm_heap_used_percent", "jvm", "MXServer")
	add("jvm_gc_time_seconds_total", "jvm", "MXServer", "collector", "G1 Young Generation")
	return out
}()

// value is the fake history: smooth waves, counters that only grow.
func value(s apiv1.Series, t time.Time) float64 {
	x := float64(t.Unix())
	phase := float64(len(s.Labels["core"]+s.Labels["mount"]) + len(s.Metric))
	if s.Metric == "jvm_gc_time_seconds_total" {
		return x * 0.02 // 2% of the time in GC
	}
	if strings.HasSuffix(s.Metric, "_total") {
		return x * 1e5 * (1 + phase/10)
	}
	return 50 + 30*math.Sin(x/600+phase) + 10*math.Sin(x/37)
}

func (f *fakeCore) pageRoutes(mux *http.ServeMux) {
	f.pages.rules = []apiv1.Rule{
		{ID: "r-cpu", Name: "High CPU", Kind: apiv1.RuleThreshold, Metric: "cpu_usage_percent", Op: ">", Threshold: 85,
			For: apiv1.Duration(time.Minute), Severity: apiv1.SeverityCritical, Enabled: true},
		{ID: "r-disk", Name: "Disk filling up", Kind: apiv1.RuleThreshold, Metric: "disk_used_percent", Op: ">", Threshold: 70,
			For: apiv1.Duration(5 * time.Minute), Severity: apiv1.SeverityWarning, Enabled: true, Match: map[string]string{"mount": "/var"}},
		{ID: "r-off", Name: "Agent offline", Kind: apiv1.RuleAgentOffline, For: apiv1.Duration(time.Minute),
			Severity: apiv1.SeverityCritical, Enabled: false},
	}
	now := time.Now()
	for i, a := range f.alerts {
		tr := func(from, to string, at time.Time) apiv1.Transition {
			return apiv1.Transition{Alert: a, From: from, To: to, At: at, Value: a.Value}
		}
		// Older episodes that resolved, then the current one.
		base := now.Add(-time.Duration(20-i*5) * time.Hour)
		f.pages.history = append(f.pages.history,
			tr("inactive", "pending", base), tr("pending", "firing", base.Add(2*time.Minute)),
			tr("firing", "resolved", base.Add(90*time.Minute)),
			tr("inactive", "pending", a.ActiveAt))
		if a.State == apiv1.StateFiring {
			f.pages.history = append(f.pages.history, tr("pending", "firing", a.FiredAt))
		}
	}
	slices.SortFunc(f.pages.history, func(a, b apiv1.Transition) int { return b.At.Compare(a.At) })

	guard := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !f.authed(r) {
				writeError(w, http.StatusUnauthorized, "not signed in", "unauthorized")
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/v1/series", guard(func(w http.ResponseWriter, r *http.Request) {
		out := []apiv1.Series{}
		for _, s := range fakeSeries {
			if h := r.URL.Query().Get("host"); h == "" || h == s.Labels["host"] {
				out = append(out, s)
			}
		}
		writeJSONBody(w, out)
	}))
	mux.HandleFunc("GET /api/v1/query", guard(f.query))
	mux.HandleFunc("GET /api/v1/alerts/history", guard(func(w http.ResponseWriter, r *http.Request) {
		f.pages.mu.Lock()
		defer f.pages.mu.Unlock()
		writeJSONBody(w, f.pages.history)
	}))
	mux.HandleFunc("GET /api/v1/rules", guard(func(w http.ResponseWriter, r *http.Request) {
		f.pages.mu.Lock()
		defer f.pages.mu.Unlock()
		writeJSONBody(w, f.pages.rules)
	}))
	mux.HandleFunc("GET /api/v1/rules/{id}", guard(func(w http.ResponseWriter, r *http.Request) {
		f.pages.mu.Lock()
		defer f.pages.mu.Unlock()
		for _, ru := range f.pages.rules {
			if ru.ID == r.PathValue("id") {
				writeJSONBody(w, ru)
				return
			}
		}
		writeError(w, http.StatusNotFound, "no such rule", "not_found")
	}))
	save := func(w http.ResponseWriter, r *http.Request) {
		var ru apiv1.Rule
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ru); err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), "bad_json")
			return
		}
		// The core checks that the metric exists in its naming rules; the
		// fake refuses one name to show the page handles a field error.
		if ru.Metric == "no_such_metric" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "metric: is not a known metric", "code": "invalid_rule", "field": "metric"})
			return
		}
		f.pages.mu.Lock()
		defer f.pages.mu.Unlock()
		if id := r.PathValue("id"); id != "" {
			ru.ID = id
			f.pages.puts = append(f.pages.puts, ru)
			for i := range f.pages.rules {
				if f.pages.rules[i].ID == id {
					f.pages.rules[i] = ru
				}
			}
		} else {
			ru.ID = fmt.Sprintf("r-%d", len(f.pages.rules)+1)
			f.pages.rules = append(f.pages.rules, ru)
			w.WriteHeader(http.StatusCreated)
		}
		json.NewEncoder(w).Encode(ru)
	}
	f.actionRoutes(mux, guard)
	mux.HandleFunc("POST /api/v1/rules", guard(save))
	mux.HandleFunc("PUT /api/v1/rules/{id}", guard(save))
}

func writeJSONBody(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// query answers like the core: every matching series, one point per step,
// and no more than 11,000 points.
func (f *fakeCore) query(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err1 := time.Parse(time.RFC3339Nano, q.Get("from"))
	to, err2 := time.Parse(time.RFC3339Nano, q.Get("to"))
	step, err3 := time.ParseDuration(q.Get("step"))
	if err1 != nil || err2 != nil || err3 != nil || step <= 0 || !to.After(from) {
		writeError(w, http.StatusBadRequest, "bad query", "bad_query")
		return
	}
	if to.Sub(from)/step > 11_000 {
		writeError(w, http.StatusBadRequest, "range/step asks for more than 11000 points", "bad_query")
		return
	}
	agg := q.Get("agg")
	if agg == "" {
		agg = "avg"
	}
	if !slices.Contains([]string{"avg", "min", "max", "last", "sum", "rate"}, agg) {
		writeError(w, http.StatusBadRequest, "agg: must be one of avg, min, max, last, sum, rate", "bad_query")
		return
	}
	f.pages.mu.Lock()
	f.pages.queries = append(f.pages.queries, url{metric: q.Get("metric"), from: from, to: to, step: step, agg: agg})
	f.pages.mu.Unlock()
	out := apiv1.QueryResult{Tier: tierOf(step), Agg: agg, Series: []apiv1.Series{}}
	for _, s := range fakeSeries {
		if s.Metric != q.Get("metric") || (q.Get("host") != "" && q.Get("host") != s.Labels["host"]) {
			continue
		}
		ok := true
		for k, v := range q {
			if name, found := strings.CutPrefix(k, "match["); found && s.Labels[strings.TrimSuffix(name, "]")] != v[0] {
				ok = false
			}
		}
		if !ok {
			continue
		}
		s.Points = nil
		for t := from.Truncate(step); !t.After(to); t = t.Add(step) {
			if t.Before(from) {
				continue
			}
			s.Points = append(s.Points, apiv1.Point{T: t.UnixMilli(), V: aggregate(s, t, step, agg)})
		}
		out.Series = append(out.Series, s)
	}
	writeJSONBody(w, out)
}

func (f *fakeCore) lastQueries(metric string) []url {
	f.pages.mu.Lock()
	defer f.pages.mu.Unlock()
	var out []url
	for _, q := range f.pages.queries {
		if q.metric == metric {
			out = append(out, q)
		}
	}
	return out
}

// checkDownsampling asserts what one range's load asked and showed: a
// step of about a pixel of the chart's plot, whole minutes or hours once
// past a minute (so a rollup tier answers), rates of counters from the
// core and min/max bands on gauges at rollup steps, and the tier named
// on the page.
func checkDownsampling(t *testing.T, b *browsertest.Page, core *fakeCore, name string, before int) {
	t.Helper()
	b.WaitJS(`document.getElementById("hv-charts").getAttribute("aria-busy") === null`, name+" drawn")
	q := core.lastQueries("cpu_usage_percent")[before]
	waitCond(t, name+" queries", func() bool { return len(core.lastQueries("network_received_bytes_total")) > 0 })
	// The plot of a chart: its canvas, less nothing (uPlot's over layer).
	px := b.Eval(`document.querySelector('[data-chart="cpu"] .u-over').getBoundingClientRect().width`).(float64)
	if n := float64(q.to.Sub(q.from) / q.step); n > px*1.1 || (q.step > time.Second && n < px/3) {
		t.Errorf("%s: step %v gives %.0f points for a %.0f px plot", name, q.step, n, px)
	}
	coarse := q.step >= time.Minute
	if coarse && q.step%time.Minute != 0 {
		t.Errorf("%s: step %v is not whole minutes, so no rollup can answer", name, q.step)
	}
	var aggs []string
	for _, x := range core.lastQueries("cpu_usage_percent")[before:] {
		aggs = append(aggs, x.agg)
	}
	slices.Sort(aggs)
	aggs = slices.Compact(aggs)
	wantAggs := []string{"avg"}
	if coarse {
		wantAggs = []string{"avg", "max", "min"}
	}
	if !slices.Equal(aggs, wantAggs) {
		t.Errorf("%s: CPU asked with agg %v, want %v", name, aggs, wantAggs)
	}
	nets := core.lastQueries("network_received_bytes_total")
	if got, want := nets[len(nets)-1].agg, map[bool]string{true: "rate", false: "avg"}[coarse]; got != want {
		t.Errorf("%s: network counter asked with agg %s, want %s", name, got, want)
	}
	tier := tierOf(q.step)
	b.WaitJS(fmt.Sprintf(`document.getElementById("hv-res").dataset.tier === %q`, tier), name+" tier shown")
	res := b.EvalString(`document.getElementById("hv-res").textContent`)
	wantText := map[string]string{"raw": "raw samples", "1m": "1-minute rollup", "1h": "1-hour rollup"}[tier]
	if !strings.Contains(res, wantText) {
		t.Errorf("%s: resolution note %q does not name %q", name, res, wantText)
	}
	t.Logf("%s: step %v, %q", name, q.step, res)
	if name == "7d" {
		browsertest.Screenshot(t, b.Ctx, "host-7d.png")
	}
	legend := b.EvalString(`document.querySelector('[data-chart="cpu"] .u-legend').textContent`)
	if hasBand := strings.Contains(legend, "min") && strings.Contains(legend, "max"); hasBand != coarse {
		t.Errorf("%s: CPU legend %q: min/max band shown = %v, want %v", name, legend, hasBand, coarse)
	}
	if coarse {
		// The core's rate of eth0's counter, 1e5 × (1 + 28/10) bytes/s,
		// drawn as it came (not turned into a rate a second time).
		b.WaitJS(`document.querySelector('[data-chart="net"] .u-legend').textContent.includes("371 KiB/s")`, name+" network rate")
	}
}

func signIn(b *browsertest.Page, core *fakeCore) {
	b.T.Helper()
	b.Do(chromedp.Navigate(core.srv.URL + "/"))
	b.Do(chromedp.WaitVisible(chromedp.ID("token")))
	b.Do(chromedp.SendKeys(chromedp.ID("token"), core.token+"\n"))
	b.WaitText("#conn", "live")
}

// TestHostPage opens a host from its card, checks every chart family, each
// range button's query, the custom range, zoom by drag, the crosshair, and
// the live tail.
func TestHostPage(t *testing.T) {
	browser := browsertest.New(t)
	core := newFakeCore(t)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	b := &browsertest.Page{T: t, Ctx: ctx}
	signIn(b, core)
	conn := core.next(t)

	b.Do(chromedp.Click(chromedp.CSS(`[data-host="h-web"] .host-link`)))
	b.Do(chromedp.WaitVisible(chromedp.ID("host-view")))
	b.WaitText("#hv-name", "web-01")
	b.WaitJS(`location.hash === "#/host/h-web"`, "host address")
	for _, id := range []string{"cpu", "cpu-cores", "load", "memory", "swap", "disk", "disk-io", "net", "jvm-heap-pct", "jvm-gc-time"} {
		b.Do(chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-chart=%q] canvas`, id))))
	}
	b.WaitJS(`document.getElementById("hv-charts").dataset.loaded === "1"`, "charts loaded")
	if n := b.Eval(`document.querySelectorAll('[data-chart="cpu-cores"] .u-legend .u-series').length`); n != float64(9) {
		t.Errorf("per-core chart legend rows = %v, want 9 (time and 8 cores)", n)
	}
	if got := b.EvalString(`document.querySelector('[data-chart="disk"] .u-legend').textContent`); !strings.Contains(got, "/var") {
		t.Errorf("disk chart legend %q lacks the /var mount", got)
	}
	if got := b.EvalString(`document.querySelector('[data-chart="net"] .u-legend').textContent`); !strings.Contains(got, "eth0 in") || !strings.Contains(got, "eth0 out") {
		t.Errorf("network legend %q lacks eth0 in/out", got)
	}
	b.WaitJS(`document.querySelector('[data-chart="jvm-gc-time"] .u-legend').textContent.includes("MXServer G1 Young Generation2 %")`,
		"GC time as a percentage of time")
	if got := b.EvalString(`document.querySelector('[data-host-facts], #hv-facts').textContent`); !strings.Contains(got, "ubuntu 24.04") {
		t.Errorf("facts %q lack the platform", got)
	}

	// Each range asks for about 1,500 points or fewer, at 1 s or coarser.
	for _, r := range []struct {
		name string
		span time.Duration
	}{{"15m", 15 * time.Minute}, {"6h", 6 * time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}, {"1h", time.Hour}} {
		before := len(core.lastQueries("cpu_usage_percent"))
		b.Do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-range=%q]`, r.name))))
		b.WaitJS(fmt.Sprintf(`document.querySelector('[data-range=%q]').getAttribute("aria-pressed") === "true"`, r.name), "range pressed")
		waitCond(t, "query for "+r.name, func() bool { return len(core.lastQueries("cpu_usage_percent")) > before })
		q := core.lastQueries("cpu_usage_percent")[before]
		if got := q.to.Sub(q.from); got < r.span-time.Minute || got > r.span+time.Minute {
			t.Errorf("%s: asked for %v", r.name, got)
		}
		if n := int(q.to.Sub(q.from) / q.step); q.step < time.Second || n > 1600 {
			t.Errorf("%s: step %v gives %d points", r.name, q.step, n)
		}
		checkDownsampling(t, b, core, r.name, before)
	}
	b.WaitJS(`location.hash === "#/host/h-web"`, "1 h is the default range, not in the address")
	b.WaitJS(`document.getElementById("hv-charts").getAttribute("aria-busy") === null`, "charts drawn")

	// Crosshair: the legend shows the values under the pointer.
	xy := b.Eval(`(() => { const o = document.querySelector('[data-chart="memory"] .u-over');
		o.scrollIntoView({block: "center"}); const r = o.getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2]; })()`).([]any)
	b.Do(chromedp.MouseEvent("mouseMoved", xy[0].(float64), xy[1].(float64)))
	b.WaitJS(`/\d %$/.test(document.querySelector('[data-chart="memory"] .u-series:nth-child(2) .u-value').textContent)`, "crosshair value")
	b.WaitJS(`/\d %$/.test(document.querySelector('[data-chart="cpu"] .u-series:nth-child(2) .u-value').textContent)`, "synced crosshair on the CPU chart")
	browsertest.Screenshot(t, ctx, "host.png")

	// The live tail: a host event's latest values extend the charts.
	web := core.host("h-web")
	web.LastSeen = time.Now().Add(time.Second).Truncate(time.Millisecond)
	web.Latest = map[string]float64{"cpu_usage_percent": 42.5, "memory_used_percent": 61}
	for _, s := range fakeSeries {
		if k := seriesKey(s); web.Latest[k] == 0 {
			web.Latest[k] = value(s, web.LastSeen)
		}
	}
	conn.send(t, apiv1.Event{Type: apiv1.EventHost, Host: &web})
	b.WaitJS(fmt.Sprintf(`document.getElementById("hv-charts").dataset.tail === "%d"`, web.LastSeen.UnixMilli()), "tail applied")

	// Zoom by drag: the page moves to that custom range.
	box := b.Eval(`(() => { const o = document.querySelector('[data-chart="cpu"] .u-over');
		o.scrollIntoView({block: "center"}); const r = o.getBoundingClientRect();
		return [r.left, r.top, r.width, r.height]; })()`).([]any)
	l, tp, w, h := box[0].(float64), box[1].(float64), box[2].(float64), box[3].(float64)
	before := len(core.lastQueries("cpu_usage_percent"))
	loads := b.EvalString(`document.getElementById("hv-charts").dataset.loaded`)
	b.Do(
		chromedp.MouseEvent("mouseMoved", l+w*0.25, tp+h/2),
		chromedp.MouseEvent("mousePressed", l+w*0.25, tp+h/2, chromedp.ButtonLeft),
		chromedp.MouseEvent("mouseMoved", l+w*0.40, tp+h/2, chromedp.ButtonLeft),
		chromedp.MouseEvent("mouseMoved", l+w*0.50, tp+h/2, chromedp.ButtonLeft),
		chromedp.MouseEvent("mouseReleased", l+w*0.50, tp+h/2, chromedp.ButtonLeft),
	)
	b.WaitJS(`location.hash.includes("from=")`, "zoomed")
	waitCond(t, "query for the zoomed range", func() bool { return len(core.lastQueries("cpu_usage_percent")) > before })
	if q := core.lastQueries("cpu_usage_percent")[before]; q.to.Sub(q.from) > 20*time.Minute || q.to.Sub(q.from) < 10*time.Minute {
		t.Errorf("zoom to a quarter of 1 h asked for %v", q.to.Sub(q.from))
	}
	b.WaitText("#hv-tail", "Custom range: not following live")
	// The zoomed range drawn: a reload puts each chart's element back in
	// place, and a double-click across that is two clicks to the browser.
	b.WaitJS(fmt.Sprintf(`(c => c.dataset.loaded !== %q && !c.hasAttribute("aria-busy"))(document.getElementById("hv-charts"))`, loads), "the zoomed range drawn")

	// Double-click goes back to the range before the zoom.
	b.Do(chromedp.MouseClickXY(l+w/2, tp+h/2, chromedp.ClickCount(2)))
	b.WaitJS(`location.hash === "#/host/h-web"`, "back to 1 h")

	// A custom range typed in the form.
	b.Do(chromedp.Evaluate[chromedp.Void](`(() => {
		const to = new Date(Date.now() - 2 * 86400e3), from = new Date(to.getTime() - 3 * 3600e3);
		const f = d => new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 19);
		document.getElementById("hv-from").value = f(from);
		document.getElementById("hv-to").value = f(to);
	})()`))
	before = len(core.lastQueries("cpu_usage_percent"))
	b.Do(chromedp.Click(chromedp.ID("hv-apply")))
	// The 1 h range's own queries may still be arriving: look for the
	// custom range's among everything asked since the click.
	waitCond(t, "query for the custom range", func() bool {
		for _, q := range core.lastQueries("cpu_usage_percent")[before:] {
			if q.to.Sub(q.from) == 3*time.Hour {
				return true
			}
		}
		return false
	})
	for _, q := range core.lastQueries("cpu_usage_percent")[before:] {
		if q.to.Sub(q.from) == 3*time.Hour && time.Since(q.to) < 47*time.Hour {
			t.Errorf("custom range asked for %v to %v, want it to end two days ago", q.from, q.to)
		}
	}

	if got := b.EvalString(`window.esmon.cspViolations.join("; ")`); got != "" {
		t.Errorf("CSP violations: %s", got)
	}

	b.ColorScheme("dark")
	b.Do(chromedp.Click(chromedp.CSS(`[data-range="6h"]`)))
	b.WaitJS(`document.getElementById("hv-charts").getAttribute("aria-busy") === null && document.querySelector('[data-range="6h"]').getAttribute("aria-pressed") === "true"`, "6 h drawn")
	browsertest.Screenshot(t, ctx, "host-dark.png")
	// The charts are redrawn in the dark palette: the first series' dark
	// blue (#60a5fa) is on a canvas, the light one (#1d4ed8) on none.
	const hasPixel = `((r, g, b) => [...document.querySelectorAll("#hv-charts canvas")].some((c) => {
		const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		for (let i = 0; i < d.length; i += 4) if (d[i] === r && d[i + 1] === g && d[i + 2] === b && d[i + 3] === 255) return true;
		return false;
	}))`
	if got := b.EvalString(hasPixel + `(96, 165, 250) + "/" + ` + hasPixel + `(29, 78, 216)`); got != "true/false" {
		t.Errorf("dark charts: dark series colour drawn / light series colour drawn = %s, want true/false", got)
	}
	b.Do(chromedp.EmulateViewport(390, 2600, chromedp.EmulateScale(2)))
	browsertest.Screenshot(t, ctx, "host-phone.png")
	b.Do(chromedp.EmulateViewport(1280, 800))
	b.ColorScheme("")
}

func seriesKey(s apiv1.Series) string {
	var names []string
	for k := range s.Labels {
		if k != "host" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return s.Metric
	}
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s=%q", k, s.Labels[k])
	}
	return s.Metric + "{" + strings.Join(parts, ",") + "}"
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAlertsPage shows the active alerts, the history with its filters and
// timeline, and a transition arriving live.
func TestAlertsPage(t *testing.T) {
	browser := browsertest.New(t)
	core := newFakeCore(t)
	ctx, cancel := context.WithTimeout(browser, 45*time.Second)
	defer cancel()
	b := &browsertest.Page{T: t, Ctx: ctx}
	signIn(b, core)
	conn := core.next(t)

	b.Do(chromedp.Click(chromedp.CSS(`[data-nav="alerts"]`)))
	b.Do(chromedp.WaitVisible(chromedp.ID("alerts-view")))
	b.WaitJS(`document.querySelector('[data-nav="alerts"]').getAttribute("aria-current") === "page"`, "nav marks the page")
	b.WaitText("#av-active-total", "3")
	if got := b.EvalString(`[...document.querySelectorAll("#av-active tbody tr")].map(r => r.dataset.alert).join(",")`); got != "a-heap,a-disk,a-swap" {
		t.Errorf("active order = %s, want worst first", got)
	}
	b.WaitJS(`document.querySelectorAll("#av-history tbody tr").length === 14`, "14 history rows")
	b.WaitJS(`document.getElementById("av-timeline").dataset.rows === "3"`, "3 timeline rows")
	browsertest.Screenshot(t, ctx, "alerts.png")

	// Filters narrow the history and stay in the address.
	b.Do(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById("av-severity");
		s.value = "very_critical"; s.dispatchEvent(new Event("change")); })()`))
	b.WaitJS(`document.querySelectorAll("#av-history tbody tr").length === 5`, "filtered to one alert")
	b.WaitJS(`location.hash === "#/alerts?severity=very_critical"`, "filter in the address")
	b.Do(chromedp.SendKeys(chromedp.ID("av-q"), "nothing-matches-this"))
	b.Do(chromedp.WaitVisible(chromedp.ID("av-history-empty")))
	b.WaitJS(`document.getElementById("av-history-empty").textContent.includes("Clear a filter")`, "empty filter note")
	b.Do(chromedp.Evaluate[chromedp.Void](`(() => { const q = document.getElementById("av-q"); q.value = "";
		q.dispatchEvent(new Event("input")); const s = document.getElementById("av-severity");
		s.value = ""; s.dispatchEvent(new Event("change")); })()`))

	// A transition arrives: it joins the history and the active list.
	cpu := apiv1.Alert{ID: "a-cpu", RuleID: "r-cpu", RuleName: "High CPU", Host: "h-web", Metric: "cpu_usage_percent",
		Severity: apiv1.SeverityCritical, State: apiv1.StateFiring, Value: 91, Op: ">", Threshold: 85,
		ActiveAt: time.Now().Add(-time.Minute), FiredAt: time.Now()}
	// As the core sends it (apiv1.LiveTransition), the transition's value
	// left out as the alert's; the page's history row shows it.
	conn.sendRaw(t, liveTransition(t, cpu, apiv1.StatePending, apiv1.StateFiring, cpu.FiredAt, 91))
	b.Do(chromedp.WaitVisible(chromedp.CSS(`#av-active tr[data-alert="a-cpu"]`)))
	b.WaitJS(`document.querySelectorAll("#av-history tbody tr").length === 15`, "history grew live")
	b.WaitJS(`document.getElementById("av-timeline").dataset.rows === "4"`, "timeline grew")
	b.WaitText(`[data-count="critical"] .n`, "1")
	b.WaitJS(`(() => { const r = document.querySelector('#av-history tbody tr[data-transition^="a-cpu@"]');
		return r !== null && r.lastElementChild.textContent === "91%"; })()`, "the live transition's value")
	// An alert going pending at its active_at comes without its time and
	// value; the history row has both.
	mem := apiv1.Alert{ID: "a-mem", RuleID: "r-mem", RuleName: "Memory", Host: "h-web", Metric: "mem_used_percent",
		Labels: map[string]string{"host": "h-web"}, Severity: apiv1.SeverityWarning, Value: 77.25, Op: ">", Threshold: 75,
		ActiveAt: time.Now().Truncate(time.Millisecond)}
	conn.sendRaw(t, liveTransition(t, mem, apiv1.StateInactive, apiv1.StatePending, mem.ActiveAt, 77.25))
	b.WaitJS(`(() => { const r = document.querySelector('#av-history tbody tr[data-transition^="a-mem@"]');
		return r !== null && !r.dataset.transition.endsWith("undefined") && r.lastElementChild.textContent === "77.25%"; })()`,
		"the pending transition's time and value")

	// The top bar's count links to the alerts of that severity.
	b.Do(chromedp.Click(chromedp.CSS(`[data-count="critical"]`)))
	b.WaitJS(`document.getElementById("av-severity").value === "critical"`, "severity from the count")

	// The theme button: light, dark, then the system's again; it sticks.
	b.Do(chromedp.Click(chromedp.ID("theme")))
	b.WaitJS(`document.documentElement.dataset.theme === "light"`, "light theme")
	b.Do(chromedp.Click(chromedp.ID("theme")))
	b.WaitJS(`document.documentElement.dataset.theme === "dark" &&
		getComputedStyle(document.body).backgroundColor === "rgb(14, 19, 26)"`, "dark theme")
	browsertest.Screenshot(t, ctx, "alerts-dark.png")
	b.Do(chromedp.Reload())
	b.WaitJS(`document.documentElement.dataset.theme === "dark"`, "theme kept over a reload")
	core.next(t)
	b.Do(chromedp.WaitVisible(chromedp.CSS(`#av-active tr[data-alert="a-heap"]`)))
	b.Do(chromedp.Click(chromedp.ID("theme")))
	b.WaitJS(`document.documentElement.dataset.theme === undefined`, "back to the system's theme")
}

// TestRulesPage lists the rules, disables one in place, refuses a bad form
// with messages at the fields, shows the core's own field error, creates a
// rule with a preview, and edits one without losing fields.
func TestRulesPage(t *testing.T) {
	browser := browsertest.New(t)
	core := newFakeCore(t)
	ctx, cancel := context.WithTimeout(browser, 40*time.Second)
	defer cancel()
	b := &browsertest.Page{T: t, Ctx: ctx}
	signIn(b, core)

	b.Do(chromedp.Click(chromedp.CSS(`[data-nav="rules"]`)))
	b.Do(chromedp.WaitVisible(chromedp.CSS(`[data-rule="r-cpu"]`)))
	b.WaitText("#rv-total", "3")
	b.WaitText(`[data-rule="r-disk"] td.mono`, "disk_used_percent > 70 (mount=/var)")
	browsertest.Screenshot(t, ctx, "rules.png")

	// Disable in place: the whole rule goes back, enabled false.
	b.Do(chromedp.Click(chromedp.CSS(`[data-rule="r-cpu"] input.switch`)))
	b.WaitJS(`document.querySelector('[data-rule="r-cpu"]').dataset.enabled === "false"`, "disabled")
	core.pages.mu.Lock()
	put := core.pages.puts[len(core.pages.puts)-1]
	core.pages.mu.Unlock()
	if put.ID != "r-cpu" || put.Enabled || put.Metric != "cpu_usage_percent" || put.Threshold != 85 || time.Duration(put.For) != time.Minute {
		t.Errorf("disable sent %+v", put)
	}

	// A new rule: client-side validation first.
	b.Do(chromedp.Click(chromedp.ID("rv-new")))
	b.Do(chromedp.WaitVisible(chromedp.ID("rule-form")))
	b.Do(chromedp.Evaluate[chromedp.Void](`document.getElementById("re-for").value = "five minutes"`))
	b.Do(chromedp.Click(chromedp.ID("re-save")))
	b.WaitJS(`document.getElementById("re-error").textContent === "4 fields need a fix."`, "form error summary")
	for _, f := range []string{"name", "metric", "threshold", "for"} {
		if got := b.EvalString(fmt.Sprintf(`document.getElementById("re-%s").getAttribute("aria-invalid")`, f)); got != "true" {
			t.Errorf("field %s not marked invalid", f)
		}
	}
	browsertest.Screenshot(t, ctx, "rule-invalid.png")

	// The core's own refusal lands on the field it names.
	b.Do(chromedp.Evaluate[chromedp.Void](`document.getElementById("re-for").value = ""`))
	b.Do(
		chromedp.SendKeys(chromedp.ID("re-name"), "Heap nearly full"),
		chromedp.SendKeys(chromedp.ID("re-metric"), "no_such_metric"),
		chromedp.SendKeys(chromedp.ID("re-threshold"), "60"),
		chromedp.SendKeys(chromedp.ID("re-for"), "2m"),
	)
	b.Do(chromedp.Click(chromedp.ID("re-save")))
	b.WaitJS(`document.getElementById("re-metric-err").textContent === "is not a known metric"`, "field error from the core")
	b.WaitJS(`document.activeElement.id === "re-metric"`, "focus on the refused field")

	// The preview shades where the rule would have fired in the last hour.
	b.Do(chromedp.Evaluate[chromedp.Void](`document.getElementById("re-metric").value = ""`))
	b.Do(chromedp.SendKeys(chromedp.ID("re-metric"), "jvm_heap_used_percent"))
	b.WaitJS(`Number(document.getElementById("re-preview").dataset.bands) >= 1`, "preview bands")
	b.WaitJS(`document.getElementById("re-preview-text").textContent.startsWith("Would have fired on 1 of 1 series")`, "preview text")
	browsertest.Screenshot(t, ctx, "rule-preview.png")
	b.Do(chromedp.Evaluate[chromedp.Void](`document.getElementById("re-threshold").value = "500"; document.getElementById("re-threshold").dispatchEvent(new Event("input"))`))
	b.WaitJS(`document.getElementById("re-preview-text").textContent.startsWith("Would not have fired")`, "preview without firing")

	b.Do(chromedp.Click(chromedp.ID("re-save")))
	b.Do(chromedp.WaitVisible(chromedp.ID("rules-view")))
	b.WaitText("#rv-total", "4")
	core.pages.mu.Lock()
	created := core.pages.rules[3]
	core.pages.mu.Unlock()
	if created.Name != "Heap nearly full" || created.Metric != "jvm_heap_used_percent" || created.Threshold != 500 ||
		time.Duration(created.For) != 2*time.Minute || created.Severity != "warning" || !created.Enabled {
		t.Errorf("created %+v", created)
	}

	// Edit keeps what the form does not show and changes what it does.
	b.Do(chromedp.Click(chromedp.CSS(`[data-rule="r-disk"] a.strong`)))
	b.Do(chromedp.WaitVisible(chromedp.ID("rule-form")))
	b.WaitJS(`document.getElementById("re-match").value === "mount=/var"`, "matchers filled")
	b.WaitJS(`document.getElementById("re-for").value === "5m"`, "duration filled")
	b.Do(chromedp.Evaluate[chromedp.Void](`document.getElementById("re-threshold").value = "75"`))
	b.Do(chromedp.Click(chromedp.ID("re-save")))
	b.Do(chromedp.WaitVisible(chromedp.ID("rules-view")))
	b.WaitText(`[data-rule="r-disk"] td.mono`, "disk_used_percent > 75 (mount=/var)")
}
