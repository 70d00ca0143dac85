package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"esmon/agentsvc/link"
)

// Files that `install --core` writes into the state directory.
const (
	serviceConfigFile = "agent.yaml"
	serviceTokenFile  = "agent.token"
)

// writeServiceConfig writes dir/agent.token and dir/agent.yaml, which names
// the core, the token file and dir as the state directory, both readable by
// the service account alone, and returns the config file's path. The token
// is the core's agent token today; with enrolment it will be the agent's own
// credential.
func writeServiceConfig(dir, core, token string) (string, error) {
	if _, err := link.CoreURL(core); err != nil {
		return "", err
	}
	if token == "" {
		return "", errors.New("no agent token: give --token-file FILE (or --token)")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("make state directory: %w", err)
	}
	if err := restrictToService(dir); err != nil {
		return "", err
	}
	tokPath := filepath.Join(dir, serviceTokenFile)
	if err := writePrivate(tokPath, []byte(token+"\n")); err != nil {
		return "", err
	}
	cfg, err := yaml.Marshal(map[string]string{"core": core, "token_file": tokPath, "state_dir": dir})
	if err != nil {
		return "", err
	}
	cfgPath := filepath.Join(dir, serviceConfigFile)
	if err := writePrivate(cfgPath, cfg); err != nil {
		return "", err
	}
	return cfgPath, nil
}

// writePrivate replaces path with data, readable by the service account
// alone.
func writePrivate(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := restrictToService(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
