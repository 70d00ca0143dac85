package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"esmon/core/wire"
)

// agentIDFile is the file in the state directory that keeps the agent id.
const agentIDFile = "agent-id"

// agentID returns the id in dir/agent-id, making a random one the first
// time. A random id, unlike a machine id, stays distinct when a VM image is
// cloned, and stays the same when the agent is reinstalled.
func agentID(dir string) (string, error) {
	path := filepath.Join(dir, agentIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if id == "" || len(id) > wire.MaxNameLen {
			return "", fmt.Errorf("agent id in %s is empty or too long", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read agent id: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("make state directory (set --agent-id or --state-dir): %w", err)
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(r[:])
	tmp, err := os.CreateTemp(dir, agentIDFile+".*")
	if err != nil {
		return "", fmt.Errorf("save agent id (set --agent-id or --state-dir): %w", err)
	}
	_, werr := tmp.WriteString(id + "\n")
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("save agent id: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("save agent id: %w", err)
	}
	return id, nil
}

func absPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("config path: %w", err)
	}
	return abs, nil
}
