package auth

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"esmon/core/apiv1"
)

// nameRE is what a user name may be: lower case, so "Ann" and "ann" are
// one person, and nothing that needs escaping in logs or URLs.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

// checkName says what is wrong with a new user's name, or nil.
func checkName(name string) error {
	if !nameRE.MatchString(name) || name == BootstrapUser {
		return &FieldError{Field: "name", Msg: "must be 1 to 64 of a-z, 0-9, '.', '_', '@', '-', starting with a letter or digit"}
	}
	return nil
}

// NeedsSetup reports whether no user exists yet, so the first admin must be
// created.
func (s *Service) NeedsSetup() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users) == 0
}

// Setup creates the first admin; it fails with ErrSetupDone once any user
// exists, so the setup page cannot be used to add a second one.
func (s *Service) Setup(ctx context.Context, name, password, remote string) (apiv1.User, error) {
	u, err := s.addUser(ctx, apiv1.NewUser{Name: name, Role: apiv1.RoleAdmin, Password: password}, true)
	s.Audit(apiv1.AuditEntry{Actor: name, Action: "setup", Target: name, OK: err == nil, Remote: remote, Detail: errDetail(err)})
	return u, err
}

// AddUser creates a user; by is who does it, for the audit log.
func (s *Service) AddUser(ctx context.Context, nu apiv1.NewUser, by, remote string) (apiv1.User, error) {
	u, err := s.addUser(ctx, nu, false)
	s.Audit(apiv1.AuditEntry{Actor: by, Action: "user.add", Target: nu.Name, OK: err == nil, Remote: remote,
		Detail: joinDetail("role "+nu.Role, errDetail(err))})
	return u, err
}

func (s *Service) addUser(ctx context.Context, nu apiv1.NewUser, first bool) (apiv1.User, error) {
	nu.Name = strings.TrimSpace(nu.Name)
	if err := checkName(nu.Name); err != nil {
		return apiv1.User{}, err
	}
	if !ValidRole(nu.Role) {
		return apiv1.User{}, &FieldError{Field: "role", Msg: fmt.Sprintf("must be one of %v", apiv1.Roles)}
	}
	if err := checkPassword(nu.Password); err != nil {
		return apiv1.User{}, err
	}
	var h string
	var herr error
	if err := s.hashing(ctx, func() { h, herr = s.opts.Argon2.hash(nu.Password) }); err != nil {
		return apiv1.User{}, err
	}
	if herr != nil {
		return apiv1.User{}, herr
	}
	now := s.opts.Now().UTC()
	u := &user{User: apiv1.User{Name: nu.Name, Role: nu.Role, Created: now, Updated: now}, Hash: h}
	s.mu.Lock()
	defer s.mu.Unlock()
	if first && len(s.users) > 0 {
		return apiv1.User{}, ErrSetupDone
	}
	if _, ok := s.users[nu.Name]; ok {
		return apiv1.User{}, ErrUserExists
	}
	if err := s.put(PrefixUsers, u.Name, u); err != nil {
		return apiv1.User{}, fmt.Errorf("save user: %w", err)
	}
	s.users[u.Name] = u
	return u.User, nil
}

// Users lists every user by name.
func (s *Service) Users() []apiv1.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]apiv1.User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, s.shown(u))
	}
	slices.SortFunc(out, func(a, b apiv1.User) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// User returns one user.
func (s *Service) User(name string) (apiv1.User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[name]
	if !ok {
		return apiv1.User{}, false
	}
	return s.shown(u), true
}

// shown is u as the API shows it, with its lockout. s.mu is held.
func (s *Service) shown(u *user) apiv1.User {
	out := u.User
	if f := s.failures["user:"+u.Name]; f != nil && s.opts.Now().Before(f.until) {
		out.LockedUntil = f.until.UTC()
	}
	return out
}

// UpdateUser changes a user's role or disables them. It refuses to leave
// no enabled admin. Disabling or demoting ends none of the user's sessions:
// they are checked against the user on every request.
func (s *Service) UpdateUser(name string, p apiv1.UserPatch, by, remote string) (apiv1.User, error) {
	var detail []string
	out, err := func() (apiv1.User, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		u, ok := s.users[name]
		if !ok {
			return apiv1.User{}, ErrNoUser
		}
		next := *u
		if p.Role != nil {
			if !ValidRole(*p.Role) {
				return apiv1.User{}, &FieldError{Field: "role", Msg: fmt.Sprintf("must be one of %v", apiv1.Roles)}
			}
			next.Role = *p.Role
			detail = append(detail, "role "+next.Role)
		}
		if p.Disabled != nil {
			next.Disabled = *p.Disabled
			detail = append(detail, fmt.Sprintf("disabled %t", next.Disabled))
		}
		if s.lastAdminLost(u, &next) {
			return apiv1.User{}, ErrLastAdmin
		}
		next.Updated = s.opts.Now().UTC()
		if err := s.put(PrefixUsers, name, &next); err != nil {
			return apiv1.User{}, fmt.Errorf("save user: %w", err)
		}
		*u = next
		if u.Disabled {
			delete(s.failures, "user:"+name)
		}
		return s.shown(u), nil
	}()
	s.Audit(apiv1.AuditEntry{Actor: by, Action: "user.update", Target: name, OK: err == nil, Remote: remote,
		Detail: joinDetail(strings.Join(detail, ", "), errDetail(err))})
	return out, err
}

// lastAdminLost reports whether changing from into to (nil: deleting it)
// leaves no enabled admin. s.mu is held.
func (s *Service) lastAdminLost(from, to *user) bool {
	wasAdmin := from.Role == apiv1.RoleAdmin && !from.Disabled
	if !wasAdmin || (to != nil && to.Role == apiv1.RoleAdmin && !to.Disabled) {
		return false
	}
	for _, u := range s.users {
		if u != from && u.Role == apiv1.RoleAdmin && !u.Disabled {
			return false
		}
	}
	return true
}

// DeleteUser removes a user with their sessions and tokens.
func (s *Service) DeleteUser(name, by, remote string) error {
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		u, ok := s.users[name]
		if !ok {
			return ErrNoUser
		}
		if s.lastAdminLost(u, nil) {
			return ErrLastAdmin
		}
		if err := s.del(PrefixUsers, name); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		delete(s.users, name)
		delete(s.failures, "user:"+name)
		return s.endUserLocked(name, "", true)
	}()
	s.Audit(apiv1.AuditEntry{Actor: by, Action: "user.delete", Target: name, OK: err == nil, Remote: remote, Detail: errDetail(err)})
	return err
}

// SetPassword changes name's password. When current is not nil it must
// match the present password (people changing their own). Every session of
// the user ends but the one that made the change, so a password changed
// because it leaked also throws out whoever used it.
func (s *Service) SetPassword(ctx context.Context, name string, current *string, password string, by Identity, remote string) error {
	err := s.setPassword(ctx, name, current, password, by.session)
	s.Audit(apiv1.AuditEntry{Actor: by.User, Action: "user.password", Target: name, OK: err == nil, Remote: remote, Detail: errDetail(err)})
	return err
}

func (s *Service) setPassword(ctx context.Context, name string, current *string, password, keep string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	s.mu.Lock()
	u, ok := s.users[name]
	var old string
	if ok {
		old = u.Hash
	}
	s.mu.Unlock()
	if !ok {
		return ErrNoUser
	}
	var h string
	var herr error
	match := true
	err := s.hashing(ctx, func() {
		if current != nil {
			match, _, herr = s.opts.Argon2.verify(old, *current)
			if herr != nil || !match {
				return
			}
		}
		h, herr = s.opts.Argon2.hash(password)
	})
	if err != nil {
		return err
	}
	if herr != nil {
		return herr
	}
	if !match {
		return &FieldError{Field: "current", Msg: "is not the present password"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok = s.users[name]; !ok {
		return ErrNoUser
	}
	next := *u
	next.Hash, next.Updated = h, s.opts.Now().UTC()
	if err := s.put(PrefixUsers, name, &next); err != nil {
		return fmt.Errorf("save user: %w", err)
	}
	*u = next
	delete(s.failures, "user:"+name)
	if keep == keepAll {
		return nil
	}
	return s.endUserLocked(name, keep, false)
}

// keepAll tells setPassword to end no session: a rehash at sign-in.
const keepAll = "\x00all"

// SignIn checks a user name and password (or, with name empty, an API
// token in password) and starts a session. It counts failures per name and
// per address: MaxFailures in a row lock the name for Lockout, and
// RemoteFailures from one address throttle it. The returned string is the
// session id for the cookie.
func (s *Service) SignIn(ctx context.Context, name, password, remote string) (Identity, string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return s.signInToken(password, remote)
	}
	now := s.opts.Now()
	if err := s.blocked(name, remote, now); err != nil {
		s.signinFailures.Inc()
		s.Audit(apiv1.AuditEntry{Actor: name, Action: "signin", OK: false, Remote: remote, Detail: err.Error()})
		return Identity{}, "", err
	}
	s.mu.Lock()
	u, ok := s.users[name]
	hash := s.dummy
	if ok {
		hash = u.Hash
	}
	s.mu.Unlock()
	var match, stale bool
	var verr error
	if err := s.hashing(ctx, func() { match, stale, verr = s.opts.Argon2.verify(hash, password) }); err != nil {
		return Identity{}, "", err
	}
	if verr != nil {
		s.log.Error("verify password", "user", name, "err", verr)
	}
	switch {
	case !ok || !match:
		return Identity{}, "", s.failed(name, remote, ErrBadCredentials)
	case u.Disabled:
		return Identity{}, "", s.failed(name, remote, ErrDisabled)
	}
	s.mu.Lock()
	delete(s.failures, "user:"+name)
	s.mu.Unlock()
	if stale {
		if err := s.setPassword(ctx, name, nil, password, keepAll); err != nil {
			s.log.Warn("rehash password", "user", name, "err", err)
		}
	}
	id, sid, err := s.newSession(name, ViaSession)
	if err != nil {
		return Identity{}, "", err
	}
	s.Audit(apiv1.AuditEntry{Actor: name, Action: "signin", OK: true, Remote: remote})
	return id, sid, nil
}

// signInToken starts a session for the bootstrap token (the page's
// sign-in without a user name, for a core that has no users yet or whose
// admins are locked out). Personal tokens are for scripts and do not sign
// in to the page.
func (s *Service) signInToken(t, remote string) (Identity, string, error) {
	now := s.opts.Now()
	if err := s.blocked("", remote, now); err != nil {
		s.signinFailures.Inc()
		s.Audit(apiv1.AuditEntry{Action: "signin", OK: false, Remote: remote, Detail: err.Error()})
		return Identity{}, "", err
	}
	if !s.isBootstrap(t) {
		return Identity{}, "", s.failed("", remote, ErrBadToken)
	}
	id, sid, err := s.newSession(BootstrapUser, ViaBootstrap)
	if err != nil {
		return Identity{}, "", err
	}
	s.Audit(apiv1.AuditEntry{Actor: BootstrapUser, Action: "signin", OK: true, Remote: remote, Detail: "with the bootstrap token"})
	return id, sid, nil
}

// blocked says whether name or remote may not try now.
func (s *Service) blocked(name, remote string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.failures["addr:"+remote]; remote != "" && f != nil && now.Before(f.until) {
		return ErrThrottled
	}
	if f := s.failures["user:"+name]; name != "" && f != nil && now.Before(f.until) {
		return ErrLocked
	}
	return nil
}

// failed counts a failed sign-in, locks the name or throttles the address
// when they reach their limits, writes the audit entry and returns err.
func (s *Service) failed(name, remote string, err error) error {
	s.signinFailures.Inc()
	now := s.opts.Now()
	var locked []string
	s.mu.Lock()
	if name != "" && s.bump("user:"+name, s.opts.MaxFailures, now) {
		locked = append(locked, "user "+name)
	}
	if remote != "" && s.bump("addr:"+remote, s.opts.RemoteFailures, now) {
		locked = append(locked, "address "+remote)
	}
	s.mu.Unlock()
	s.Audit(apiv1.AuditEntry{Actor: name, Action: "signin", OK: false, Remote: remote, Detail: err.Error()})
	for _, what := range locked {
		s.lockouts.Inc()
		s.log.Warn("sign-in locked after repeated failures", "who", what, "for", s.opts.Lockout)
		s.Audit(apiv1.AuditEntry{Actor: name, Action: "lockout", Target: what, OK: true, Remote: remote,
			Detail: "locked for " + s.opts.Lockout.String()})
	}
	return err
}

// bump counts one failure of key; failures older than Lockout are
// forgotten. It reports whether key just got locked. s.mu is held.
func (s *Service) bump(key string, limit int, now time.Time) bool {
	f := s.failures[key]
	if f == nil || now.Sub(f.last) > s.opts.Lockout {
		if len(s.failures) >= maxTracked {
			s.pruneFailures(now)
		}
		f = &failure{}
		s.failures[key] = f
	}
	f.count++
	f.last = now
	if f.count >= limit {
		f.count = 0
		f.until = now.Add(s.opts.Lockout)
		return true
	}
	return false
}

// pruneFailures forgets failures that no longer count; if that frees
// nothing it forgets an arbitrary half, since tracking is best effort
// against a flood of names. s.mu is held.
func (s *Service) pruneFailures(now time.Time) {
	for k, f := range s.failures {
		if now.Sub(f.last) > s.opts.Lockout && !now.Before(f.until) {
			delete(s.failures, k)
		}
	}
	for k := range s.failures {
		if len(s.failures) < maxTracked/2 {
			break
		}
		delete(s.failures, k)
	}
}

func errDetail(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func joinDetail(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ": " + b
}
