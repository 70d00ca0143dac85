// Package api serves the core's HTTP surface: the REST API under /api/v1,
// /healthz, /metrics, the WebSocket endpoints (behind authentication where
// people use them) and the embedded web page.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"esmon/core/alert"
	"esmon/core/apiv1"
	"esmon/core/store"
)

// Hosts is the host registry as the API reads it.
type Hosts interface {
	List() []apiv1.Host
	Get(id string) (apiv1.Host, bool)
}

// Alerts is the alert engine as the API uses it. Rule changes go through the
// core, which publishes and routes the transitions they cause.
type Alerts interface {
	Active() []apiv1.Alert
	History(limit int) ([]apiv1.Transition, error)
	Rules() []apiv1.Rule
	Rule(id string) (apiv1.Rule, bool)
	PutRule(r apiv1.Rule, create bool) (apiv1.Rule, error)
	DeleteRule(id, by string) error
}

// Deps are the parts the API serves.
type Deps struct {
	Hosts    Hosts
	Alerts   Alerts
	Alerting Alerting // acks, silences, maintenance, channels; nil serves none
	Series   store.Series
	Auth     *Auth
	Live     http.Handler // /ws/live, authenticated here
	Agents   http.Handler // /ws/agent, authenticated by the agent's hello
	// Enrolment serves agents and join codes (agents.go); nil serves none.
	Enrolment Enrolment
	Web       fs.FS // the web page
	Gatherer  prometheus.Gatherer
	Reg       prometheus.Registerer
	Log       *slog.Logger
}

// maxBody bounds every request body.
const maxBody = 1 << 20

// maxPoints bounds the points one query series may return.
const maxPoints = 11_000

// roles register a route with the least role it needs: read (viewer),
// operate (operator: acknowledge, silence) and admin (rules, channels,
// users, agents). Changes made through operate and admin are written to the
// audit log; quiet registers a route that audits itself, or reads.
type roles struct {
	read, operate, admin func(pattern string, h http.HandlerFunc)
	quiet                func(need, pattern string, h http.HandlerFunc)
}

type server struct {
	Deps
	requests *prometheus.CounterVec
}

// New returns the core's HTTP handler.
func New(d Deps) http.Handler {
	s := &server{Deps: d, requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "esmon_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})}
	if d.Reg != nil {
		d.Reg.MustRegister(s.requests)
	}
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, s.count(pattern, h))
	}
	handle("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{}))
	mux.Handle("GET /ws/agent", d.Agents)
	mux.Handle("GET /ws/live", d.Auth.Require(apiv1.RoleViewer, d.Auth.Live(d.Live)))

	rt := roles{quiet: func(need, pattern string, h http.HandlerFunc) {
		handle(pattern, d.Auth.Require(need, h).ServeHTTP)
	}}
	rt.read = func(pattern string, h http.HandlerFunc) { rt.quiet(apiv1.RoleViewer, pattern, h) }
	rt.operate = func(pattern string, h http.HandlerFunc) {
		rt.quiet(apiv1.RoleOperator, pattern, d.Auth.audited(pattern, h))
	}
	rt.admin = func(pattern string, h http.HandlerFunc) {
		rt.quiet(apiv1.RoleAdmin, pattern, d.Auth.audited(pattern, h))
	}
	d.Auth.routes(handle, rt)
	rt.read("GET /api/v1/hosts", s.hosts)
	rt.read("GET /api/v1/hosts/{id}", s.host)
	rt.read("GET /api/v1/series", s.series)
	rt.read("GET /api/v1/query", s.query)
	rt.read("GET /api/v1/alerts", s.alerts)
	rt.read("GET /api/v1/alerts/history", s.history)
	rt.read("GET /api/v1/rules", s.rules)
	rt.admin("POST /api/v1/rules", s.createRule)
	rt.read("GET /api/v1/rules/{id}", s.rule)
	rt.admin("PUT /api/v1/rules/{id}", s.updateRule)
	rt.admin("DELETE /api/v1/rules/{id}", s.deleteRule)
	s.alerting(rt)
	s.agentRoutes(rt.admin, handle)
	handle("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such API endpoint: "+r.Method+" "+r.URL.Path)
	})
	if d.Web != nil {
		mux.Handle("/", webHandler(d.Web))
	}
	return securityHeaders(mux)
}

func (s *server) hosts(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Hosts.List())
}

func (s *server) host(w http.ResponseWriter, r *http.Request) {
	h, ok := s.Hosts.Get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such host")
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (s *server) series(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	match := map[string]string{}
	if h := q.Get("host"); h != "" {
		match["host"] = h
	}
	infos, err := s.Series.List(r.Context(), q.Get("metric"), match)
	if err != nil {
		s.internal(w, "list series", err)
		return
	}
	out := make([]apiv1.Series, 0, len(infos))
	for _, si := range infos {
		out = append(out, apiv1.Series{Metric: si.Metric, Labels: si.Labels.Map()})
	}
	writeJSON(w, http.StatusOK, out)
}

// query answers /api/v1/query?host=&metric=&from=&to=&step=&agg= with
// optional further label matchers as match[name]=value.
func (s *server) query(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := time.Now()
	metric := q.Get("metric")
	if metric == "" {
		writeError(w, http.StatusBadRequest, "bad_query", "metric is required")
		return
	}
	to, err := parseTime(q.Get("to"), now, now)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_query", "to: "+err.Error())
		return
	}
	from, err := parseTime(q.Get("from"), now, to.Add(-time.Hour))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_query", "from: "+err.Error())
		return
	}
	if from.After(to) {
		writeError(w, http.StatusBadRequest, "bad_query", "from is after to")
		return
	}
	var step time.Duration
	if v := q.Get("step"); v != "" {
		if step, err = parseDuration(v); err != nil || step <= 0 {
			writeError(w, http.StatusBadRequest, "bad_query", "step: must be a positive duration like 30s")
			return
		}
	}
	if step == 0 && to.Sub(from) > maxPoints*time.Second {
		// Without a step, a long range is averaged down to maxPoints
		// rather than answered with every raw sample, in whole minutes or
		// hours once that long, so a rollup tier can serve it.
		step = (to.Sub(from)/maxPoints + time.Second).Truncate(time.Second)
		switch {
		case step > time.Hour:
			step = step.Truncate(time.Hour) + time.Hour
		case step > time.Minute:
			step = step.Truncate(time.Minute) + time.Minute
		}
	}
	agg := q.Get("agg")
	if agg == "" {
		agg = store.AggAvg
	}
	if !store.ValidAgg(agg) {
		writeError(w, http.StatusBadRequest, "bad_query", "agg: must be one of avg, min, max, last, sum, rate")
		return
	}
	if step > 0 && to.Sub(from)/step > maxPoints {
		writeError(w, http.StatusBadRequest, "bad_query", fmt.Sprintf("range/step asks for more than %d points; use a larger step", maxPoints))
		return
	}
	match := map[string]string{}
	for k, v := range q {
		if name, ok := strings.CutPrefix(k, "match["); ok && strings.HasSuffix(name, "]") {
			match[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	if h := q.Get("host"); h != "" {
		match["host"] = h
	}
	sel, err := s.Series.Select(r.Context(), store.Query{Metric: metric, Match: match, From: from.UnixMilli(), To: to.UnixMilli(), Step: step.Milliseconds(), Agg: agg})
	if err != nil {
		s.internal(w, "query", err)
		return
	}
	out := apiv1.QueryResult{Tier: sel.Tier, Agg: agg, Series: make([]apiv1.Series, 0, len(sel.Series))}
	for _, rs := range sel.Series {
		pts := make([]apiv1.Point, len(rs.Points))
		for i, p := range rs.Points {
			pts[i] = apiv1.Point{T: p.T, V: p.V}
		}
		out.Series = append(out.Series, apiv1.Series{Metric: rs.Metric, Labels: rs.Labels.Map(), Points: pts})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) alerts(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Alerts.Active())
}

func (s *server) history(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r)
	if !ok {
		return
	}
	h, err := s.Alerts.History(limit)
	if err != nil {
		s.internal(w, "alert history", err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

// queryLimit reads ?limit= (1 to 10000, default 200); on a bad value it
// answers 400 and returns false.
func queryLimit(w http.ResponseWriter, r *http.Request) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 200, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10_000 {
		writeError(w, http.StatusBadRequest, "bad_request", "limit: must be 1 to 10000")
		return 0, false
	}
	return n, true
}

func (s *server) rules(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Alerts.Rules())
}

func (s *server) rule(w http.ResponseWriter, r *http.Request) {
	ru, ok := s.Alerts.Rule(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such rule")
		return
	}
	writeJSON(w, http.StatusOK, ru)
}

func (s *server) createRule(w http.ResponseWriter, r *http.Request) {
	var ru apiv1.Rule
	ru.Enabled = true
	if !readJSON(w, r, &ru) {
		return
	}
	ru.UpdatedBy = Actor(r.Context())
	s.saveRule(w, ru, true)
}

// updateRule replaces a rule with the body, as PUT does: a field left out
// takes its default.
func (s *server) updateRule(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.Alerts.Rule(r.PathValue("id")); !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such rule")
		return
	}
	ru := apiv1.Rule{Enabled: true}
	if !readJSON(w, r, &ru) {
		return
	}
	ru.ID = r.PathValue("id")
	ru.UpdatedBy = Actor(r.Context())
	s.saveRule(w, ru, false)
}

func (s *server) saveRule(w http.ResponseWriter, ru apiv1.Rule, create bool) {
	saved, err := s.Alerts.PutRule(ru, create)
	var fe *alert.FieldError
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, struct {
			apiv1.Error
			Field string `json:"field"`
		}{apiv1.Error{Error: err.Error(), Code: "invalid_rule"}, fe.Field})
	case errors.Is(err, alert.ErrNoRule):
		writeError(w, http.StatusNotFound, "not_found", "no such rule")
	case err != nil:
		s.internal(w, "save rule", err)
	case create:
		writeJSON(w, http.StatusCreated, saved)
	default:
		writeJSON(w, http.StatusOK, saved)
	}
}

func (s *server) deleteRule(w http.ResponseWriter, r *http.Request) {
	err := s.Alerts.DeleteRule(r.PathValue("id"), Actor(r.Context()))
	switch {
	case errors.Is(err, alert.ErrNoRule):
		writeError(w, http.StatusNotFound, "not_found", "no such rule")
	case err != nil:
		s.internal(w, "delete rule", err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *server) internal(w http.ResponseWriter, what string, err error) {
	s.Log.Error(what, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", what+" failed")
}

// count records each request by route pattern and status, and bounds
// every request body (bodyLimit).
func (s *server) count(route string, h http.Handler) http.Handler {
	limit := bodyLimit(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Bounded on the server's own ResponseWriter, which statusWriter
		// would hide: only it closes the connection after a 413, so that a
		// client cannot go on sending the rest of a huge body.
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		s.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
	})
}

// bodyLimit is the largest request body route takes: maxBody, or more for
// a rule import.
func bodyLimit(route string) int64 {
	if route == importRoute {
		return maxImportBody
	}
	return maxBody
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, short, msg string) {
	writeJSON(w, code, apiv1.Error{Error: msg, Code: short})
}

// readJSON decodes a bounded body strictly; on failure it answers 400 and
// returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", maxBody))
			return false
		}
		writeError(w, http.StatusBadRequest, "bad_json", "request body: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_json", "request body: more than one JSON value")
		return false
	}
	return true
}

// parseTime reads RFC 3339, Unix seconds, or a duration before now ("-1h",
// "1h"); empty gives def.
func parseTime(v string, now, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	// Unix seconds beyond ±2^53 overflow UnixMilli (and NaN and Inf fail
	// the comparison): they are refused, not wrapped into some other time.
	if f, err := strconv.ParseFloat(v, 64); err == nil && math.Abs(f) < 1<<53 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(v, "-")); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not RFC 3339, Unix seconds or a duration like -1h", v)
}

func parseDuration(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		// Converting an out-of-range float to an integer is
		// implementation-defined in Go; refuse it (NaN fails too).
		ns := f * float64(time.Second)
		if !(math.Abs(ns) < math.MaxInt64) {
			return 0, fmt.Errorf("%q is out of range", v)
		}
		return time.Duration(ns), nil
	}
	return time.ParseDuration(v)
}

// webHandler serves the embedded page; unknown paths get index.html so the
// page's own routes survive a reload.
func webHandler(web fs.FS) http.Handler {
	files := http.FileServerFS(web)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here")
			return
		}
		p := strings.TrimPrefix(r.URL.Path, "/")
		if p != "" {
			if _, err := fs.Stat(web, p); err != nil {
				r.URL.Path = "/"
			}
		}
		files.ServeHTTP(w, r)
	})
}

// ContentSecurityPolicy is sent with every answer. It allows nothing
// inline (no 'unsafe-inline' for scripts or styles: the page sets styles
// through the CSSOM, which the policy does not govern), nothing from
// another origin, and no framing, so an injected string can neither run
// nor load anything, and no other site can frame the page to trick a
// click.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers that harden every answer: the CSP, no
// MIME sniffing, no framing, no referrer, and HSTS when served over TLS.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}
