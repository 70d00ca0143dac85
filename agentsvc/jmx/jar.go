package jmx

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// dist holds the bridge jar that make builds before go build; dist/README.md
// keeps the pattern valid in a checkout where it has not been built.
//
//go:embed dist
var dist embed.FS

// jarFile is the bridge jar's name in dist.
const jarFile = "esmon-jmx.jar"

// ErrNoBridge means this agent was built without the bridge jar.
var ErrNoBridge = errors.New("this esmon-agent was built without the JMX bridge: build it with make, which compiles the bridge (javac) before go build")

// writeJar writes the embedded bridge jar into dir/jmx and returns its path.
// The file name carries a hash of the content, so an upgraded agent never
// runs an older bridge, and a running bridge's jar is never rewritten under
// it; jars of other versions are removed.
func writeJar(dir string) (string, error) {
	b, err := fs.ReadFile(dist, "dist/"+jarFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", ErrNoBridge
	}
	if err != nil {
		return "", fmt.Errorf("read embedded bridge: %w", err)
	}
	sum := sha256.Sum256(b)
	jdir := filepath.Join(dir, "jmx")
	if err := os.MkdirAll(jdir, 0o700); err != nil {
		return "", fmt.Errorf("make bridge directory: %w", err)
	}
	name := "esmon-jmx-" + hex.EncodeToString(sum[:8]) + ".jar"
	path := filepath.Join(jdir, name)
	if old, err := os.ReadFile(path); err != nil || sha256.Sum256(old) != sum {
		tmp, err := os.CreateTemp(jdir, name+".*")
		if err != nil {
			return "", fmt.Errorf("write bridge: %w", err)
		}
		_, werr := tmp.Write(b)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(tmp.Name())
			return "", fmt.Errorf("write bridge: %w", err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			os.Remove(tmp.Name())
			return "", fmt.Errorf("write bridge: %w", err)
		}
	}
	entries, _ := os.ReadDir(jdir)
	for _, e := range entries {
		if n := e.Name(); n != name && strings.HasPrefix(n, "esmon-jmx-") && strings.HasSuffix(n, ".jar") {
			os.Remove(filepath.Join(jdir, n))
		}
	}
	return path, nil
}
