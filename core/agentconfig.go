package core

import (
	"errors"
	"time"

	"esmon/core/hub"
	"esmon/core/wire"
)

// AgentConfig is settings the core pushes to every agent, over the agent's
// own (agent_config: in the core's config file). Raise Version with every
// change: an agent that runs this version already is not sent it again, and
// each agent reports the version it runs as esmon_agent_config_version.
// Zero fields leave the agent's own settings alone.
type AgentConfig struct {
	Version         uint64        `yaml:"version"`
	Interval        time.Duration `yaml:"interval"`
	ProcessInterval time.Duration `yaml:"process_interval"` // negative turns the process scan off
	Services        []string      `yaml:"services"`
	Checks          []string      `yaml:"checks"`
	CheckInterval   time.Duration `yaml:"check_interval"`
}

var _ hub.AgentConfigs = (*Core)(nil)

// AgentConfig implements hub.AgentConfigs: the same config for every host.
func (c *Core) AgentConfig(string) *wire.Config {
	ac := c.opts.AgentConfig
	if ac == nil {
		return nil
	}
	return &wire.Config{
		Version:           ac.Version,
		IntervalMS:        ac.Interval.Milliseconds(),
		ProcessIntervalMS: ac.ProcessInterval.Milliseconds(),
		Services:          ac.Services,
		Checks:            ac.Checks,
		CheckIntervalMS:   ac.CheckInterval.Milliseconds(),
	}
}

// validate checks an agent_config section.
func (ac *AgentConfig) validate() error {
	if ac == nil {
		return nil
	}
	cfg := &wire.Config{Version: ac.Version, IntervalMS: ac.Interval.Milliseconds(), CheckIntervalMS: ac.CheckInterval.Milliseconds(),
		Services: ac.Services, Checks: ac.Checks}
	if err := wire.Validate(cfg); err != nil {
		return errors.New("agent_config: " + err.Error() + " (version must be 1 or more)")
	}
	if ac.Interval != 0 && ac.Interval < time.Second || ac.CheckInterval != 0 && ac.CheckInterval < time.Second {
		return errors.New("agent_config: intervals must be at least 1s")
	}
	return nil
}
