package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"esmon/agentsvc/link"
	"esmon/core/wire"
)

// Files that `install --core` writes into the state directory.
const (
	serviceConfigFile = "agent.yaml"
	serviceTokenFile  = "agent.token"
)

// writeServiceConfig writes dir/agent.yaml, which names the core, the join
// code or the token file (dir/agent.token, written with token), and dir as
// the state directory, all readable by the service account alone, and
// returns the config file's path. The join code is used once, at the first
// start; the token is an agent credential given by hand.
func writeServiceConfig(dir, core, token, joinCode string) (string, error) {
	if core != "" {
		if _, err := link.CoreURL(core); err != nil {
			return "", err
		}
	}
	if joinCode != "" {
		if _, err := wire.ParseJoinCode(joinCode); err != nil {
			return "", err
		}
	} else if token == "" {
		return "", errors.New("no join code and no agent token: give --join-code CODE (or --token-file FILE)")
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
	doc := map[string]string{"state_dir": dir}
	if core != "" {
		doc["core"] = core
	}
	if joinCode != "" {
		doc["join_code"] = joinCode
	} else {
		tokPath := filepath.Join(dir, serviceTokenFile)
		if err := writePrivate(tokPath, []byte(token+"\n")); err != nil {
			return "", err
		}
		doc["token_file"] = tokPath
	}
	cfg, err := yaml.Marshal(doc)
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
