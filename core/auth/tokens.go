package auth

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"esmon/core/apiv1"
)

// TokenPrefix starts every personal API token, so a leaked one is easy to
// recognise (and to search for in a repository).
const TokenPrefix = "esm_pat_"

// maxTokensPerUser bounds the tokens one person may hold.
const maxTokensPerUser = 50

// token is a stored personal API token; the secret itself is not kept.
type token struct {
	apiv1.Token
	saved time.Time
}

// CreateToken makes a personal API token for id's user with scopes, and
// returns it with its secret (shown once). A token cannot be made by a
// token, and no scope may exceed the owner's role.
func (s *Service) CreateToken(id Identity, nt apiv1.NewToken, remote string) (apiv1.CreatedToken, error) {
	out, err := s.createToken(id, nt)
	s.Audit(apiv1.AuditEntry{Actor: id.User, Action: "token.create", Target: nt.Name, OK: err == nil, Remote: remote,
		Detail: joinDetail("scopes "+strings.Join(nt.Scopes, ","), errDetail(err))})
	return out, err
}

func (s *Service) createToken(id Identity, nt apiv1.NewToken) (apiv1.CreatedToken, error) {
	switch {
	case id.Via != ViaSession:
		return apiv1.CreatedToken{}, &FieldError{Field: "user", Msg: "sign in as a person to make a personal token"}
	case strings.TrimSpace(nt.Name) == "" || len(nt.Name) > 100:
		return apiv1.CreatedToken{}, &FieldError{Field: "name", Msg: "must be 1 to 100 characters"}
	case len(nt.Scopes) == 0:
		return apiv1.CreatedToken{}, &FieldError{Field: "scopes", Msg: fmt.Sprintf("name at least one of %v", apiv1.Scopes)}
	case nt.ExpiresIn < 0:
		return apiv1.CreatedToken{}, &FieldError{Field: "expires_in", Msg: "must not be negative"}
	}
	scopes := slices.Clone(nt.Scopes)
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	for _, sc := range scopes {
		r := rank(apiv1.Scopes, sc)
		if r == 0 {
			return apiv1.CreatedToken{}, &FieldError{Field: "scopes", Msg: fmt.Sprintf("%q is not one of %v", sc, apiv1.Scopes)}
		}
		if r > rank(apiv1.Roles, id.Role) {
			return apiv1.CreatedToken{}, &FieldError{Field: "scopes", Msg: fmt.Sprintf("%q is more than the role %s allows", sc, id.Role)}
		}
	}
	sec := secret(TokenPrefix)
	key := digest(sec)
	now := s.opts.Now().UTC()
	t := &token{Token: apiv1.Token{ID: key[:16], Name: strings.TrimSpace(nt.Name), User: id.User, Scopes: scopes, Created: now}}
	if nt.ExpiresIn > 0 {
		t.Expires = now.Add(time.Duration(nt.ExpiresIn))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, o := range s.tokens {
		if o.User == id.User {
			n++
		}
	}
	if n >= maxTokensPerUser {
		return apiv1.CreatedToken{}, &FieldError{Field: "name", Msg: fmt.Sprintf("you hold %d tokens already; delete some first", n)}
	}
	if err := s.put(PrefixTokens, key, t); err != nil {
		return apiv1.CreatedToken{}, fmt.Errorf("save token: %w", err)
	}
	s.tokens[key] = t
	return apiv1.CreatedToken{Token: t.Token, Secret: sec}, nil
}

// Tokens lists user's tokens, or everyone's when user is "".
func (s *Service) Tokens(user string) []apiv1.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []apiv1.Token{}
	for _, t := range s.tokens {
		if user == "" || t.User == user {
			out = append(out, t.Token)
		}
	}
	slices.SortFunc(out, func(a, b apiv1.Token) int { return a.Created.Compare(b.Created) })
	return out
}

// DeleteToken revokes the token with tokenID. Only its owner or an admin
// may; anyone else is told it does not exist.
func (s *Service) DeleteToken(by Identity, tokenID, remote string) error {
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for k, t := range s.tokens {
			if t.ID != tokenID || (t.User != by.User && !by.Can(apiv1.RoleAdmin)) {
				continue
			}
			if err := s.del(PrefixTokens, k); err != nil {
				return fmt.Errorf("delete token: %w", err)
			}
			delete(s.tokens, k)
			return nil
		}
		return ErrNoToken
	}()
	s.Audit(apiv1.AuditEntry{Actor: by.User, Action: "token.delete", Target: tokenID, OK: err == nil, Remote: remote, Detail: errDetail(err)})
	return err
}

// tokenIdentity is who a personal token belongs to, with its scopes.
func (s *Service) tokenIdentity(sec string) (Identity, error) {
	if !strings.HasPrefix(sec, TokenPrefix) || len(sec) > 256 {
		return Identity{}, ErrBadToken
	}
	key := digest(sec)
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[key]
	if !ok || (!t.Expires.IsZero() && !now.Before(t.Expires)) {
		return Identity{}, ErrBadToken
	}
	u, ok := s.users[t.User]
	if !ok || u.Disabled {
		return Identity{}, ErrBadToken
	}
	t.LastUsed = now.UTC()
	s.touchLocked(PrefixTokens, key, t, &t.saved, now)
	return Identity{User: t.User, Role: u.Role, Via: ViaToken, Scopes: t.Scopes, Expires: t.Expires, token: key}, nil
}
