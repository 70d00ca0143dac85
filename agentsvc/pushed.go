package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"esmon/agentsvc/collect"
	"esmon/core/wire"
)

// pushedConfigFile keeps, in the state directory, the last config the core
// pushed, so the agent runs it again after a restart before it reaches the
// core.
const pushedConfigFile = "pushed-config.json"

// withPushed returns base with the settings of p over it; a zero field of p
// keeps base's. It fails, changing nothing, when p asks for something base
// could not run.
func withPushed(base Config, p *wire.Config) (Config, error) {
	if p == nil {
		return base, nil
	}
	c := base
	c.Services = append([]string(nil), base.Services...)
	c.Checks = append([]string(nil), base.Checks...)
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	if p.IntervalMS > 0 {
		if ms(p.IntervalMS) < minInterval {
			return base, fmt.Errorf("pushed interval %s is below the minimum %s", ms(p.IntervalMS), minInterval)
		}
		c.Interval = ms(p.IntervalMS)
	}
	switch {
	case p.ProcessIntervalMS < 0:
		c.ProcessInterval = 0
	case p.ProcessIntervalMS > 0:
		if ms(p.ProcessIntervalMS) < minInterval {
			return base, fmt.Errorf("pushed process interval %s is below the minimum %s", ms(p.ProcessIntervalMS), minInterval)
		}
		c.ProcessInterval = ms(p.ProcessIntervalMS)
	}
	if p.CheckIntervalMS > 0 {
		if ms(p.CheckIntervalMS) < minInterval {
			return base, fmt.Errorf("pushed check interval %s is below the minimum %s", ms(p.CheckIntervalMS), minInterval)
		}
		c.CheckInterval = ms(p.CheckIntervalMS)
	}
	if len(p.Services) > 0 {
		c.Services = append([]string(nil), p.Services...)
	}
	if len(p.Checks) > 0 {
		for _, ch := range p.Checks {
			if _, err := collect.ParseCheck(ch); err != nil {
				return base, fmt.Errorf("pushed %w", err)
			}
		}
		c.Checks = append([]string(nil), p.Checks...)
	}
	return c, nil
}

// loadPushed reads the pushed config kept in dir; nil when there is none.
func loadPushed(dir string) (*wire.Config, error) {
	b, err := os.ReadFile(filepath.Join(dir, pushedConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pushed config: %w", err)
	}
	var p wire.Config
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("read pushed config %s: %w", filepath.Join(dir, pushedConfigFile), err)
	}
	if err := wire.Validate(&p); err != nil {
		return nil, fmt.Errorf("pushed config %s: %w", filepath.Join(dir, pushedConfigFile), err)
	}
	return &p, nil
}

// savePushed keeps p in dir, replacing the file in one step.
func savePushed(dir string, p *wire.Config) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save pushed config: %w", err)
	}
	tmp := filepath.Join(dir, pushedConfigFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save pushed config: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, pushedConfigFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save pushed config: %w", err)
	}
	return nil
}

// onPushed is the link's OnConfig: it hands the config to Run, the newest
// one winning, without blocking the connection's reader.
func (a *agent) onPushed(p *wire.Config) {
	if p.Version == a.configVersion.Load() {
		return
	}
	for {
		select {
		case a.pushed <- p:
			return
		default:
		}
		select {
		case <-a.pushed: // drop the older one not yet applied
		default:
		}
	}
}

// applyPushed checks p, keeps it and rebuilds the collectors for it. On an
// error the agent goes on with what it ran.
func (a *agent) applyPushed(p *wire.Config) error {
	eff, err := withPushed(a.base, p)
	if err != nil {
		return err
	}
	set, err := collectors(eff, a.log)
	if err != nil {
		return err
	}
	if err := savePushed(a.stateDir, p); err != nil {
		return err
	}
	a.cfg, a.set = eff, set
	a.configVersion.Store(p.Version)
	a.link.SetInterval(eff.Interval)
	return nil
}
