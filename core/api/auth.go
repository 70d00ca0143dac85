package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/apiv1"
	"esmon/core/auth"
	"esmon/core/hub"
)

// SessionCookie is the name of the sign-in cookie.
const SessionCookie = "esmon_session"

// CSRFHeader carries the session's CSRF token on every request that a
// session cookie authorises and that changes something. A page on another
// site can make the browser send the cookie, but cannot read the token.
const CSRFHeader = "X-CSRF-Token"

// Auth is the HTTP face of core/auth: it finds who makes a request (bearer
// token or session cookie), checks their role for the route, checks CSRF on
// cookie-authorised changes, and serves the session, setup, user, token
// and audit endpoints.
type Auth struct {
	svc *auth.Service
	log *slog.Logger

	denied    prometheus.Counter // no or a bad credential
	forbidden prometheus.Counter // a role or scope too small
	csrf      prometheus.Counter // a missing or wrong CSRF token or origin
}

// NewAuth returns the HTTP side of svc.
func NewAuth(svc *auth.Service, reg prometheus.Registerer, log *slog.Logger) *Auth {
	a := &Auth{svc: svc, log: log,
		denied: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_auth_failures_total",
			Help: "Requests refused for a missing or wrong credential."}),
		forbidden: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_auth_forbidden_total",
			Help: "Requests refused because the role or token scope does not allow them."}),
		csrf: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_auth_csrf_refusals_total",
			Help: "Cookie-authorised changes refused for a missing or wrong CSRF token or a foreign origin."}),
	}
	if reg != nil {
		reg.MustRegister(a.denied, a.forbidden, a.csrf)
	}
	return a
}

// identityKey is the context key of the request's auth.Identity.
type identityKey struct{}

// identity finds who makes r. byCookie says the session cookie did.
func (a *Auth) identity(r *http.Request) (id auth.Identity, byCookie bool, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		t, found := strings.CutPrefix(h, "Bearer ")
		if !found {
			return auth.Identity{}, false, auth.ErrBadToken
		}
		id, err = a.svc.Authenticate(strings.TrimSpace(t))
		return id, false, err
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return auth.Identity{}, false, auth.ErrNoSession
	}
	id, err = a.svc.Session(c.Value)
	return id, true, err
}

// Require lets through only requests whose identity may do what needs the
// role need. A cookie-authorised change must carry the session's CSRF token
// and come from this origin. A WebSocket upgrade is checked the same way
// before it is upgraded, and refused from a foreign origin first of all.
func (a *Auth) Require(need string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) && !sameOrigin(r) {
			a.csrf.Inc()
			writeError(w, http.StatusForbidden, "csrf", "cross-origin WebSocket refused")
			return
		}
		id, byCookie, err := a.identity(r)
		if err != nil {
			a.denied.Inc()
			writeError(w, http.StatusUnauthorized, "unauthorized", "sign in, or send an API token as 'Authorization: Bearer <token>'")
			return
		}
		if byCookie && changes(r) && (!sameOrigin(r) || !auth.CheckCSRF(id, r.Header.Get(CSRFHeader))) {
			a.csrf.Inc()
			a.log.Warn("CSRF check refused a request", "user", id.User, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			writeError(w, http.StatusForbidden, "csrf", "missing or wrong "+CSRFHeader+" header, or a cross-origin request")
			return
		}
		if !id.Can(need) {
			a.deny(w, r, id, "your role ("+roleOf(id)+") may not do this; it needs "+need)
			return
		}
		ctx := context.WithValue(WithActor(r.Context(), id.User), identityKey{}, id)
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Live wraps the /ws/live handler (inside Require): the connection lasts
// only as long as the credential that opened it, so signing out, a
// disabled or demoted user or a revoked token ends it within a second.
func (a *Auth) Live(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := identityOf(r)
		valid := func() bool { return a.svc.Valid(id) }
		h.ServeHTTP(w, r.WithContext(hub.WithValidity(r.Context(), valid)))
	})
}

// deny answers 403 to id, counts it and writes it to the audit log: a
// person trying what their role does not allow is worth knowing about.
func (a *Auth) deny(w http.ResponseWriter, r *http.Request, id auth.Identity, msg string) {
	a.forbidden.Inc()
	a.svc.Audit(apiv1.AuditEntry{Actor: id.User, Action: "denied", Target: r.Method + " " + r.URL.Path, Remote: remoteHost(r), Detail: msg})
	writeError(w, http.StatusForbidden, "forbidden", msg)
}

// roleOf names what bounds id: its role, or its token's scopes.
func roleOf(id auth.Identity) string {
	if id.Via == auth.ViaToken {
		return id.Role + ", token scopes " + strings.Join(id.Scopes, ",")
	}
	return id.Role
}

// changes reports whether r may change something.
func changes(r *http.Request) bool {
	return r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
}

// identityOf returns the identity Require found for r.
func identityOf(r *http.Request) auth.Identity {
	id, _ := r.Context().Value(identityKey{}).(auth.Identity)
	return id
}

// audited wraps a change handler so that the audit log records who made
// it, to what, and whether it went through: rule, silence, maintenance,
// alert and agent changes. User and token changes are recorded by
// core/auth itself, with more detail.
func (a *Auth) audited(pattern string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		if !changes(r) {
			return
		}
		a.svc.Audit(apiv1.AuditEntry{Actor: Actor(r.Context()), Action: pattern, Target: r.URL.Path,
			OK: sw.code < 400, Remote: remoteHost(r), Detail: http.StatusText(sw.code)})
	}
}

// remoteHost is the client's address without the port: what throttling
// counts by. Forwarding headers are ignored, since anyone can set them.
func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// fromLoopback reports whether r comes straight from this machine (not
// through a proxy that says whom it forwards).
func fromLoopback(r *http.Request) bool {
	ip := net.ParseIP(remoteHost(r))
	return ip != nil && ip.IsLoopback() && r.Header.Get("X-Forwarded-For") == "" && r.Header.Get("Forwarded") == ""
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

func (a *Auth) setCookie(w http.ResponseWriter, r *http.Request, sid string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sid, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: int(time.Until(expires).Seconds())})
}

func sessionOf(id auth.Identity) apiv1.Session {
	return apiv1.Session{User: id.User, Role: id.Role, CSRF: id.CSRF, Expires: id.Expires, Via: id.Via}
}

// signIn answers POST /api/v1/session: a user name and password (or the
// bootstrap token with no name) for a session cookie and the CSRF token.
func (a *Auth) signIn(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		a.csrf.Inc()
		writeError(w, http.StatusForbidden, "csrf", "cross-origin sign-in refused")
		return
	}
	var body apiv1.SignIn
	if !readJSON(w, r, &body) {
		return
	}
	if body.Name == "" && body.Password == "" {
		body.Password = body.Token
	}
	id, sid, err := a.svc.SignIn(r.Context(), body.Name, body.Password, remoteHost(r))
	switch {
	case errors.Is(err, auth.ErrLocked), errors.Is(err, auth.ErrThrottled):
		a.denied.Inc()
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusTooManyRequests, "locked", err.Error())
	case errors.Is(err, auth.ErrBadCredentials), errors.Is(err, auth.ErrDisabled), errors.Is(err, auth.ErrBadToken):
		a.denied.Inc()
		// A disabled account answers like a wrong password: the answer
		// tells a guesser nothing about which names exist.
		writeError(w, http.StatusUnauthorized, "bad_credentials", auth.ErrBadCredentials.Error())
	case err != nil:
		a.internal(w, "sign in", err)
	default:
		a.setCookie(w, r, sid, id.Expires)
		writeJSON(w, http.StatusOK, sessionOf(id))
	}
}

func (a *Auth) session(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, sessionOf(identityOf(r)))
}

func (a *Auth) signOut(w http.ResponseWriter, r *http.Request) {
	a.svc.SignOut(identityOf(r), remoteHost(r))
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		MaxAge: -1, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

// setupState answers GET /api/v1/setup, open to all: the page shows the
// first-run screen instead of sign-in while no user exists.
func (a *Auth) setupState(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, apiv1.Setup{Needed: a.svc.NeedsSetup()})
}

// setup answers POST /api/v1/setup: it creates the first admin while no
// user exists, and signs them in. Whoever reaches a fresh core first would
// own it, so setup is allowed only from this machine (loopback, not
// through a proxy) or with the bootstrap token, which only the data
// directory's owner can read.
func (a *Auth) setup(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		a.csrf.Inc()
		writeError(w, http.StatusForbidden, "csrf", "cross-origin setup refused")
		return
	}
	if !fromLoopback(r) {
		id, err := a.svc.Authenticate(strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")))
		if err != nil || id.Via != auth.ViaBootstrap {
			a.denied.Inc()
			writeError(w, http.StatusForbidden, "setup_refused", "create the first admin from the core's own machine, "+
				"or send the admin.token as 'Authorization: Bearer <token>', or run 'esmon users add'")
			return
		}
	}
	var nu apiv1.NewUser
	if !readJSON(w, r, &nu) {
		return
	}
	if _, err := a.svc.Setup(r.Context(), nu.Name, nu.Password, remoteHost(r)); err != nil {
		a.userError(w, "set up", err)
		return
	}
	id, sid, err := a.svc.SignIn(r.Context(), nu.Name, nu.Password, remoteHost(r))
	if err != nil {
		a.internal(w, "sign in", err)
		return
	}
	a.setCookie(w, r, sid, id.Expires)
	writeJSON(w, http.StatusCreated, sessionOf(id))
}

// userError answers the errors of user and token changes.
func (a *Auth) userError(w http.ResponseWriter, what string, err error) {
	var fe *auth.FieldError
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, fieldError{apiv1.Error{Error: err.Error(), Code: "invalid"}, fe.Field})
	case errors.Is(err, auth.ErrNoUser), errors.Is(err, auth.ErrNoToken):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, auth.ErrUserExists), errors.Is(err, auth.ErrLastAdmin), errors.Is(err, auth.ErrSetupDone):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	default:
		a.internal(w, what, err)
	}
}

func (a *Auth) internal(w http.ResponseWriter, what string, err error) {
	a.log.Error(what, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", what+" failed")
}

func (a *Auth) users(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.svc.Users())
}

func (a *Auth) addUser(w http.ResponseWriter, r *http.Request) {
	var nu apiv1.NewUser
	if !readJSON(w, r, &nu) {
		return
	}
	u, err := a.svc.AddUser(r.Context(), nu, Actor(r.Context()), remoteHost(r))
	if err != nil {
		a.userError(w, "add user", err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (a *Auth) updateUser(w http.ResponseWriter, r *http.Request) {
	var p apiv1.UserPatch
	if !readJSON(w, r, &p) {
		return
	}
	u, err := a.svc.UpdateUser(r.PathValue("name"), p, Actor(r.Context()), remoteHost(r))
	if err != nil {
		a.userError(w, "update user", err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (a *Auth) deleteUser(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.DeleteUser(r.PathValue("name"), Actor(r.Context()), remoteHost(r)); err != nil {
		a.userError(w, "delete user", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// password answers POST /api/v1/users/{name}/password: people change their
// own (giving the current one), an admin resets anyone's.
func (a *Auth) password(w http.ResponseWriter, r *http.Request) {
	id, name := identityOf(r), r.PathValue("name")
	var pc apiv1.PasswordChange
	if !readJSON(w, r, &pc) {
		return
	}
	var current *string
	switch {
	case id.User == name && id.Via == auth.ViaSession:
		current = &pc.Current
	case id.Can(apiv1.RoleAdmin):
	default:
		a.deny(w, r, id, "only an admin may change someone else's password")
		return
	}
	if err := a.svc.SetPassword(r.Context(), name, current, pc.Password, id, remoteHost(r)); err != nil {
		a.userError(w, "change password", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// tokens answers GET /api/v1/tokens: your own, or with ?all=1 (admins)
// everyone's.
func (a *Auth) tokens(w http.ResponseWriter, r *http.Request) {
	id, user := identityOf(r), identityOf(r).User
	if r.URL.Query().Get("all") != "" {
		if !id.Can(apiv1.RoleAdmin) {
			a.deny(w, r, id, "only an admin may list everyone's tokens")
			return
		}
		user = ""
	}
	writeJSON(w, http.StatusOK, a.svc.Tokens(user))
}

func (a *Auth) createToken(w http.ResponseWriter, r *http.Request) {
	var nt apiv1.NewToken
	if !readJSON(w, r, &nt) {
		return
	}
	t, err := a.svc.CreateToken(identityOf(r), nt, remoteHost(r))
	if err != nil {
		a.userError(w, "create token", err)
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

func (a *Auth) deleteToken(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.DeleteToken(identityOf(r), r.PathValue("id"), remoteHost(r)); err != nil {
		a.userError(w, "delete token", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Auth) audit(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r)
	if !ok {
		return
	}
	es, err := a.svc.AuditLog(limit)
	if err != nil {
		a.internal(w, "audit log", err)
		return
	}
	writeJSON(w, http.StatusOK, es)
}

// routes registers the endpoints of people: session, setup, users, tokens
// and the audit log. core/auth audits these changes itself.
func (a *Auth) routes(open func(string, http.HandlerFunc), rt roles) {
	open("POST /api/v1/session", a.signIn)
	open("GET /api/v1/setup", a.setupState)
	open("POST /api/v1/setup", a.setup)
	viewer, admin := apiv1.RoleViewer, apiv1.RoleAdmin
	rt.quiet(viewer, "GET /api/v1/session", a.session)
	rt.quiet(viewer, "DELETE /api/v1/session", a.signOut)
	rt.quiet(viewer, "POST /api/v1/users/{name}/password", a.password)
	rt.quiet(viewer, "GET /api/v1/tokens", a.tokens)
	rt.quiet(viewer, "POST /api/v1/tokens", a.createToken)
	rt.quiet(viewer, "DELETE /api/v1/tokens/{id}", a.deleteToken)
	rt.quiet(admin, "GET /api/v1/users", a.users)
	rt.quiet(admin, "POST /api/v1/users", a.addUser)
	rt.quiet(admin, "PATCH /api/v1/users/{name}", a.updateUser)
	rt.quiet(admin, "DELETE /api/v1/users/{name}", a.deleteUser)
	rt.quiet(admin, "GET /api/v1/audit", a.audit)
}
