package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"esmon/core/apiv1"
)

// newSession starts a session for user and returns it with its id (the
// cookie's value). Only the id's hash is kept.
func (s *Service) newSession(user, via string) (Identity, string, error) {
	now := s.opts.Now()
	sid := secret("")
	se := &session{User: user, Via: via, CSRF: secret(""), Created: now.UTC(), Expires: now.Add(s.opts.SessionTTL).UTC(),
		LastSeen: now.UTC(), saved: now}
	key := digest(sid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) >= maxSessions {
		s.evictLocked(now)
	}
	if err := s.put(PrefixSessions, key, se); err != nil {
		return Identity{}, "", fmt.Errorf("save session: %w", err)
	}
	s.sessions[key] = se
	id, err := s.identityLocked(key, se)
	return id, sid, err
}

// evictLocked ends expired sessions, and the oldest one if none had.
func (s *Service) evictLocked(now time.Time) {
	var oldest string
	for k, se := range s.sessions {
		if !now.Before(se.Expires) {
			s.dropSessionLocked(k)
		} else if oldest == "" || se.Created.Before(s.sessions[oldest].Created) {
			oldest = k
		}
	}
	if len(s.sessions) >= maxSessions && oldest != "" {
		s.dropSessionLocked(oldest)
	}
}

func (s *Service) dropSessionLocked(key string) {
	delete(s.sessions, key)
	if err := s.del(PrefixSessions, key); err != nil {
		s.log.Error("delete session", "err", err)
	}
}

// identityLocked is who session se belongs to, checked against the user as
// they are now: a deleted or disabled user has no session, and a role
// change applies at once.
func (s *Service) identityLocked(key string, se *session) (Identity, error) {
	id := Identity{User: se.User, Via: se.Via, CSRF: se.CSRF, Expires: se.Expires, session: key}
	if se.Via == ViaBootstrap {
		id.Role = apiv1.RoleAdmin
		return id, nil
	}
	u, ok := s.users[se.User]
	if !ok || u.Disabled {
		return Identity{}, ErrNoSession
	}
	id.Role = u.Role
	return id, nil
}

// Session returns who holds the session with id sid. An unknown, expired
// or idle session, or one whose user is gone or disabled, is ErrNoSession;
// so is any forged value, since only the hash of a real id matches.
func (s *Service) Session(sid string) (Identity, error) {
	if sid == "" || len(sid) > 256 {
		return Identity{}, ErrNoSession
	}
	key := digest(sid)
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.sessions[key]
	if !ok {
		return Identity{}, ErrNoSession
	}
	if !now.Before(se.Expires) || now.Sub(se.LastSeen) > s.opts.IdleTimeout {
		s.dropSessionLocked(key)
		return Identity{}, ErrNoSession
	}
	id, err := s.identityLocked(key, se)
	if err != nil {
		return Identity{}, err
	}
	se.LastSeen = now.UTC()
	s.touchLocked(PrefixSessions, key, se, &se.saved, now)
	return id, nil
}

// touchLocked writes v, whose last-use time changed, at most once a
// minute: the time stays close enough without a write per request.
func (s *Service) touchLocked(prefix byte, key string, v any, saved *time.Time, now time.Time) {
	if now.Sub(*saved) <= time.Minute {
		return
	}
	*saved = now
	if err := s.put(prefix, key, v); err != nil {
		s.log.Warn("save last use", "err", err)
	}
}

// Valid reports whether id still stands: its session or token was not
// ended, revoked or expired, and its user was not deleted, disabled or
// given a lower role. Connections that outlive a request (the live feed)
// ask it, so that signing out or disabling someone ends them too. It has
// no side effects: it does not count as use.
func (s *Service) Valid(id Identity) bool {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch id.Via {
	case ViaBootstrap:
		return true
	case ViaSession:
		se, ok := s.sessions[id.session]
		if !ok || !now.Before(se.Expires) {
			return false
		}
		cur, err := s.identityLocked(id.session, se)
		return err == nil && rank(apiv1.Roles, cur.Role) >= rank(apiv1.Roles, id.Role)
	case ViaToken:
		t, ok := s.tokens[id.token]
		if !ok || (!t.Expires.IsZero() && !now.Before(t.Expires)) {
			return false
		}
		u, ok := s.users[t.User]
		return ok && !u.Disabled && rank(apiv1.Roles, u.Role) >= rank(apiv1.Roles, id.Role)
	}
	return false
}

// CheckCSRF reports whether token is the CSRF token of id's session.
func CheckCSRF(id Identity, token string) bool {
	return id.CSRF != "" && subtle.ConstantTimeCompare([]byte(id.CSRF), []byte(token)) == 1
}

// SignOut ends the session of id.
func (s *Service) SignOut(id Identity, remote string) {
	if id.session == "" {
		return
	}
	s.mu.Lock()
	s.dropSessionLocked(id.session)
	s.mu.Unlock()
	s.Audit(apiv1.AuditEntry{Actor: id.User, Action: "signout", OK: true, Remote: remote})
}

// endUserLocked ends every session of user but keep, and with tokens
// (the user is deleted) every token of theirs too. s.mu is held.
func (s *Service) endUserLocked(user, keep string, tokens bool) error {
	var errs []error
	for k, se := range s.sessions {
		if se.User == user && se.Via == ViaSession && k != keep {
			delete(s.sessions, k)
			errs = append(errs, s.del(PrefixSessions, k))
		}
	}
	if tokens {
		for k, t := range s.tokens {
			if t.User == user {
				delete(s.tokens, k)
				errs = append(errs, s.del(PrefixTokens, k))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return nil
}
