package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// SealPrefix starts a sealed secret in the settings file. A value that
// starts with it is decrypted with the data directory's key; any other value
// is taken as it is, so a plain setting keeps working.
const SealPrefix = "enc:v1:"

// SecretKeyFile is the key that seals the secrets of the settings file (SMTP
// password, Teams and webhook URLs), in the data directory, mode 0600. The
// settings file can then be copied, backed up or shown to a colleague
// without giving the secrets away; only the data directory's owner can read
// them.
const SecretKeyFile = "secret.key"

// Sealer encrypts and decrypts secrets with AES-256-GCM.
type Sealer struct{ aead cipher.AEAD }

// LoadSealer reads the key in path, or creates it (32 random bytes, mode
// 0600) on first use.
func LoadSealer(path string) (*Sealer, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		rand.Read(key)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create secret key: %w", err)
		}
		_, err = f.Write(key)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("write secret key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key %s: want 32 bytes, have %d", path, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal returns plain encrypted, as SealPrefix + base64(nonce|ciphertext).
func (s *Sealer) Seal(plain string) string {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	out := s.aead.Seal(nonce, nonce, []byte(plain), []byte(SealPrefix))
	return SealPrefix + base64.RawURLEncoding.EncodeToString(out)
}

// ErrSealed is returned for a sealed value that this key cannot open: it was
// sealed with another data directory's key, or it was altered.
var ErrSealed = errors.New("sealed secret does not open with this data directory's key")

// Open returns v decrypted when it is sealed, and v itself when it is not.
func (s *Sealer) Open(v string) (string, error) {
	rest, ok := strings.CutPrefix(v, SealPrefix)
	if !ok {
		return v, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	n := s.aead.NonceSize()
	if err != nil || len(b) < n {
		return "", ErrSealed
	}
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(SealPrefix))
	if err != nil {
		return "", ErrSealed
	}
	return string(plain), nil
}
