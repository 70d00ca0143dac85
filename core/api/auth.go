package api

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// CloseUnauthorized closes a /ws/live connection that presented no valid
// session; the page goes back to its sign-in form.
const CloseUnauthorized = 4401

// SessionCookie is the name of the sign-in cookie.
const SessionCookie = "esmon_session"

// sessionTTL is how long a sign-in lasts.
const sessionTTL = 12 * time.Hour

// maxSessions bounds the session table; past it the oldest session ends.
const maxSessions = 10_000

// Auth checks the admin token (as a bearer token, or exchanged for a session
// cookie by the sign-in form). Users and roles come later; the seam is here.
type Auth struct {
	token    string
	log      *slog.Logger
	failures prometheus.Counter

	mu       sync.Mutex // guards sessions
	sessions map[string]time.Time
}

// NewAuth returns an Auth for the admin token.
func NewAuth(adminToken string, reg prometheus.Registerer, log *slog.Logger) *Auth {
	a := &Auth{token: adminToken, log: log, sessions: make(map[string]time.Time),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_auth_failures_total",
			Help: "Requests and sign-ins refused for a missing or wrong credential."})}
	if reg != nil {
		reg.MustRegister(a.failures)
	}
	return a
}

func (a *Auth) validToken(t string) bool {
	return t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(a.token)) == 1
}

// authorized reports whether r carries the bearer token or a live session,
// and whether the session cookie is what authorised it.
func (a *Auth) authorized(r *http.Request) (ok, byCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		t, found := strings.CutPrefix(h, "Bearer ")
		return found && a.validToken(strings.TrimSpace(t)), false
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return false, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, found := a.sessions[c.Value]
	if !found || time.Now().After(exp) {
		delete(a.sessions, c.Value)
		return false, false
	}
	return true, true
}

// Require lets only authorised requests through. A request authorised by
// cookie that changes state must come from this origin (CSRF). A WebSocket
// upgrade without authorisation is upgraded and closed with
// CloseUnauthorized, since a browser cannot read the HTTP status of a failed
// upgrade.
func (a *Auth) Require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, byCookie := a.authorized(r)
		if !ok {
			a.failures.Inc()
			if websocket.IsWebSocketUpgrade(r) {
				a.closeUnauthorized(w, r)
				return
			}
			writeError(w, http.StatusUnauthorized, "unauthorized", "sign in, or send the API token as 'Authorization: Bearer <token>'")
			return
		}
		if byCookie && r.Method != http.MethodGet && r.Method != http.MethodHead && !sameOrigin(r) {
			a.failures.Inc()
			writeError(w, http.StatusForbidden, "csrf", "cross-origin request refused")
			return
		}
		// The admin token and its sessions are the only identity so far.
		h.ServeHTTP(w, r.WithContext(WithActor(r.Context(), "admin")))
	})
}

func (a *Auth) requireFunc(h http.HandlerFunc) http.HandlerFunc { return a.Require(h).ServeHTTP }

func (a *Auth) closeUnauthorized(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{} // default CheckOrigin: same host only
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseUnauthorized, "sign in first"), time.Now().Add(time.Second))
	ws.Close()
}

func (a *Auth) signIn(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		a.failures.Inc()
		writeError(w, http.StatusForbidden, "csrf", "cross-origin sign-in refused")
		return
	}
	var body struct {
		Token string `json:"token"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if !a.validToken(body.Token) {
		a.failures.Inc()
		a.log.Warn("sign-in refused", "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "bad_token", "that token is not valid")
		return
	}
	var b [32]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	a.mu.Lock()
	now := time.Now()
	var oldest string
	for k, exp := range a.sessions {
		if now.After(exp) {
			delete(a.sessions, k)
		} else if oldest == "" || exp.Before(a.sessions[oldest]) {
			oldest = k
		}
	}
	if len(a.sessions) >= maxSessions {
		delete(a.sessions, oldest)
	}
	a.sessions[id] = now.Add(sessionTTL)
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL.Seconds())})
	a.log.Info("signed in", "remote", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
}

func (a *Auth) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, MaxAge: -1, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

// sameOrigin reports whether the request's Origin (if any) names this host.
// Browsers send Origin on every cross-origin and every unsafe request.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}
