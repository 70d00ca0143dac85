package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2 holds argon2id's cost parameters. They are written into every
// hash, so raising them later leaves old hashes verifiable and rehashes
// each on its owner's next sign-in.
type Argon2 struct {
	Time    uint32 // passes over memory
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultArgon2 follows RFC 9106's second recommended option (t=3,
// m=64 MiB) with two lanes for a 2-core machine: about 0.1 s per hash here,
// slow enough to make guessing a stolen hash expensive and fast enough for
// a person signing in. At most maxHashing hashes run at once, so a flood of
// sign-ins costs bounded memory.
var DefaultArgon2 = Argon2{Time: 3, Memory: 64 * 1024, Threads: 2}

// Password bounds: a short password is refused; a huge one would only cost
// hashing time.
const (
	MinPassword = 10
	MaxPassword = 1024
)

const saltLen, keyLen = 16, 32

// ErrBadHash is returned for a stored hash that cannot be read.
var ErrBadHash = errors.New("stored password hash is not an argon2id hash")

// hash returns the PHC string of pw: $argon2id$v=19$m=..,t=..,p=..$salt$key.
func (p Argon2) hash(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// verify reports whether pw matches the PHC string h, and whether h was
// made with weaker parameters than p (so it should be rehashed).
func (p Argon2) verify(h, pw string) (ok, stale bool, err error) {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, false, ErrBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, false, ErrBadHash
	}
	var q Argon2
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &q.Memory, &q.Time, &q.Threads); err != nil ||
		q.Time == 0 || q.Threads == 0 || q.Memory > 4<<20 || q.Time > 100 {
		return false, false, ErrBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 || len(key) > 128 {
		return false, false, ErrBadHash
	}
	got := argon2.IDKey([]byte(pw), salt, q.Time, q.Memory, q.Threads, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	return ok, q != p, nil
}

// maxHashing bounds the argon2 hashes computed at once (each holds
// Argon2.Memory of RAM).
const maxHashing = 2

// hashing runs f while holding one of the maxHashing slots, or gives up
// when ctx ends first.
func (s *Service) hashing(ctx context.Context, f func()) error {
	select {
	case s.hashSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashSem }()
	f()
	return nil
}

// checkPassword says what is wrong with a new password, or nil.
func checkPassword(pw string) error {
	switch n := len([]rune(pw)); {
	case n < MinPassword:
		return &FieldError{Field: "password", Msg: fmt.Sprintf("must be at least %d characters", MinPassword)}
	case len(pw) > MaxPassword:
		return &FieldError{Field: "password", Msg: fmt.Sprintf("must be at most %d bytes", MaxPassword)}
	}
	return nil
}
