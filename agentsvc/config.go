package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"esmon/agentsvc/link"
)

// minInterval is the shortest collection interval; shorter ones would cost
// the monitored server more than they tell.
const minInterval = time.Second

// Config is the agent's settings after the file, environment and flags are
// merged.
type Config struct {
	File     string // the config file read, if any; absolute
	Core     string
	Token    string
	Interval time.Duration
	AgentID  string
	StateDir string
	LogLevel slog.Level
}

// setting is one configurable value and where it can be given. Sources
// are applied in order of precedence: default, file, environment, flag.
type setting struct {
	key   string // in the YAML file, and the flag name with _ as -
	env   string
	def   string
	usage string
	value string
	level int // where value came from: 0 default, 1 file, 2 env, 3 flag
}

func (s *setting) flagName() string { return strings.ReplaceAll(s.key, "_", "-") }

// settings returns the settings that `run` and `once` accept.
func settings() []*setting {
	return []*setting{
		{key: "core", env: "ESMON_CORE", usage: "core `URL`: http://, https://, ws:// or wss://; the agent path is added"},
		{key: "token", env: "ESMON_TOKEN", usage: "agent `token`; prefer --token-file or the environment, as flags show in process lists"},
		{key: "token_file", env: "ESMON_TOKEN_FILE", usage: "read the agent token from `FILE`"},
		{key: "interval", env: "ESMON_INTERVAL", def: "5s", usage: "collection `interval`, at least 1s"},
		{key: "agent_id", env: "ESMON_AGENT_ID", usage: "agent `id`; by default a random id kept in the state directory"},
		{key: "state_dir", env: "ESMON_STATE_DIR", usage: "`DIR` for the agent's own state (default " + defaultStateDir() + ")"},
		{key: "log_level", env: "ESMON_LOG_LEVEL", def: "info", usage: "log `level`: debug, info, warn or error"},
	}
}

// configFlags registers --config and every setting on fs.
func configFlags(fs *flag.FlagSet) (configPath *string, ss []*setting) {
	configPath = fs.String("config", "", "YAML config `FILE` (also ESMON_CONFIG)")
	ss = settings()
	for _, s := range ss {
		usage := s.usage
		if s.def != "" {
			usage += " (default " + s.def + ")"
		}
		fs.Func(s.flagName(), usage+" (env "+s.env+")", func(v string) error {
			s.value, s.level = v, 3
			return nil
		})
	}
	return configPath, ss
}

// loadConfig merges defaults, the YAML file (flag --config or ESMON_CONFIG),
// environment variables and flags already parsed into ss.
func loadConfig(configPath string, ss []*setting, getenv func(string) string) (Config, error) {
	var cfg Config
	for _, s := range ss {
		if s.level == 0 {
			s.value = s.def
		}
	}
	if configPath == "" {
		configPath = getenv("ESMON_CONFIG")
	}
	if configPath != "" {
		abs, err := absPath(configPath)
		if err != nil {
			return cfg, err
		}
		cfg.File = abs
		file, err := readConfigFile(abs)
		if err != nil {
			return cfg, err
		}
		for _, s := range ss {
			if v, ok := file[s.key]; ok && s.level < 1 {
				s.value, s.level = v, 1
			}
		}
	}
	for _, s := range ss {
		if v := getenv(s.env); v != "" && s.level < 2 {
			s.value, s.level = v, 2
		}
	}
	get := func(key string) *setting {
		for _, s := range ss {
			if s.key == key {
				return s
			}
		}
		panic("no setting " + key)
	}

	cfg.Core = strings.TrimSpace(get("core").value)
	cfg.AgentID = strings.TrimSpace(get("agent_id").value)
	cfg.StateDir = get("state_dir").value

	iv := get("interval")
	d, err := time.ParseDuration(strings.TrimSpace(iv.value))
	if err != nil {
		return cfg, fmt.Errorf("interval %q: want a duration such as 5s or 1m", iv.value)
	}
	if d < minInterval {
		return cfg, fmt.Errorf("interval %s is too short: the minimum is %s", d, minInterval)
	}
	cfg.Interval = d

	lv := get("log_level")
	if err := cfg.LogLevel.UnmarshalText([]byte(strings.TrimSpace(lv.value))); err != nil {
		return cfg, fmt.Errorf("log level %q: want debug, info, warn or error", lv.value)
	}

	// The token comes from whichever of token and token_file was given at
	// the higher precedence; both at the same level is a mistake.
	tok, tokFile := get("token"), get("token_file")
	switch {
	case tokFile.value != "" && tokFile.level == tok.level && tok.value != "":
		return cfg, errors.New("both token and token_file are set in the same place: keep one")
	case tokFile.value != "" && tokFile.level > tok.level || tokFile.value != "" && tok.value == "":
		b, err := os.ReadFile(tokFile.value)
		if err != nil {
			return cfg, fmt.Errorf("read token file: %w", err)
		}
		cfg.Token = strings.TrimSpace(string(b))
		if cfg.Token == "" {
			return cfg, fmt.Errorf("token file %s is empty", tokFile.value)
		}
	default:
		cfg.Token = strings.TrimSpace(tok.value)
	}
	return cfg, nil
}

// forRun checks what `run` needs beyond loadConfig.
func (c Config) forRun() error {
	if c.Core == "" {
		return errors.New("no core URL: set --core, ESMON_CORE or core: in the config file")
	}
	if _, err := link.CoreURL(c.Core); err != nil {
		return err
	}
	if c.Token == "" {
		return errors.New("no agent token: set --token-file, ESMON_TOKEN or token: in the config file")
	}
	return nil
}

// readConfigFile reads the YAML file as key: value pairs; unknown keys
// are errors, so a typo does not silently fall back to a default.
func readConfigFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	raw := map[string]any{}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	known := map[string]bool{}
	for _, s := range settings() {
		known[s.key] = true
	}
	out := map[string]string{}
	for k, v := range raw {
		if !known[k] {
			return nil, fmt.Errorf("config %s: unknown setting %q", path, k)
		}
		switch v := v.(type) {
		case string:
			out[k] = v
		case int, float64, bool:
			out[k] = fmt.Sprint(v)
		case nil:
		default:
			return nil, fmt.Errorf("config %s: %s must be a single value", path, k)
		}
	}
	return out, nil
}
