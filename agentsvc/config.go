package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"esmon/agentsvc/collect"
	"esmon/agentsvc/jmx"
	"esmon/agentsvc/link"
	"esmon/core/wire"
)

// minInterval is the shortest collection interval; shorter ones would cost
// the monitored server more than they tell.
const minInterval = time.Second

// Config is the agent's settings after the file, environment and flags are
// merged.
type Config struct {
	File string // the config file read, if any; absolute
	Core string
	// Token is the agent's credential when given by hand (with AgentID);
	// normally enrolment keeps it in the state directory.
	Token string
	// JoinCode enrols the agent on its first start (see wire.JoinCode).
	JoinCode string
	// CAFile and Fingerprint say how the core's certificate is checked:
	// Fingerprint (a wire.SPKIPin) overrides the join code's pin; CAFile,
	// when there is no pin, replaces the system's CAs.
	CAFile      string
	Fingerprint string
	Interval    time.Duration
	AgentID     string
	StateDir    string
	LogLevel    slog.Level
	// LogFile, when set, gets a copy of the log.
	LogFile string
	// SpoolDir keeps the snapshots not yet acknowledged; by default the
	// spool directory in StateDir.
	SpoolDir      string
	SpoolMaxBytes int64
	// ProcessInterval is how often the processes are scanned, and the
	// temperatures read: both cost more than the rest together.
	ProcessInterval time.Duration
	// Services is the watch list of Windows services.
	Services []string
	// Checks are tcp://host:port and http(s):// URLs to probe every
	// CheckInterval.
	Checks        []string
	CheckInterval time.Duration
	CheckTimeout  time.Duration
	// JMX lists the JVMs read through the JMX bridge (jmx: in the file).
	JMX []jmx.Target
	// Tags are the host's tags, sent in the hello, for alert rules that
	// match "tag"; an admin may replace them on the core.
	Tags []string
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
		{key: "join_code", env: "ESMON_JOIN_CODE", usage: "join `code` from the core's Agents page; used once, to enrol (prefer the environment or the config file, as flags show in process lists)"},
		{key: "ca_file", env: "ESMON_CA_FILE", usage: "check the core's certificate against the CAs in `FILE` (PEM) instead of the system's, when there is no pin"},
		{key: "fingerprint", env: "ESMON_FINGERPRINT", usage: "pin the core's certificate to this SPKI SHA-256 `fingerprint` (base64), over the join code's"},
		{key: "token", env: "ESMON_TOKEN", usage: "agent credential `token`, with --agent-id, when not enrolled by join code; prefer --token-file or the environment"},
		{key: "token_file", env: "ESMON_TOKEN_FILE", usage: "read the agent token from `FILE`"},
		{key: "interval", env: "ESMON_INTERVAL", def: "5s", usage: "collection `interval`, at least 1s"},
		{key: "agent_id", env: "ESMON_AGENT_ID", usage: "agent `id`; by default a random id kept in the state directory"},
		{key: "state_dir", env: "ESMON_STATE_DIR", usage: "`DIR` for the agent's own state (default " + defaultStateDir() + ")"},
		{key: "log_level", env: "ESMON_LOG_LEVEL", def: "info", usage: "log `level`: debug, info, warn or error"},
		{key: "log_file", env: "ESMON_LOG_FILE", usage: "also write the log to `FILE`"},
		{key: "spool_dir", env: "ESMON_SPOOL_DIR", usage: "`DIR` of the store-and-forward spool (default: spool in the state directory)"},
		{key: "spool_max_mb", env: "ESMON_SPOOL_MAX_MB", def: "100", usage: "most `MB` the spool keeps while the core is away; then the oldest go"},
		{key: "process_interval", env: "ESMON_PROCESS_INTERVAL", def: "30s", usage: "`interval` of the process scan (count, top 10 by CPU and memory) and temperatures; 0 turns both off"},
		{key: "services", env: "ESMON_SERVICES", usage: "Windows services to watch, as a comma-separated `list`"},
		{key: "checks", env: "ESMON_CHECKS", usage: "checks: comma-separated `URLs`, tcp://host:port or http(s)://..."},
		{key: "check_interval", env: "ESMON_CHECK_INTERVAL", def: "30s", usage: "`interval` of the checks"},
		{key: "check_timeout", env: "ESMON_CHECK_TIMEOUT", def: "10s", usage: "`timeout` of one check"},
		{key: "tags", env: "ESMON_TAGS", usage: "the host's tags for alert rules, a comma-separated `list` such as prod,maximo"},
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
		if cfg.JMX, err = readJMXConfig(abs); err != nil {
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
	cfg.JoinCode = strings.TrimSpace(get("join_code").value)
	cfg.CAFile = strings.TrimSpace(get("ca_file").value)
	cfg.Fingerprint = strings.TrimSpace(get("fingerprint").value)
	if cfg.JoinCode != "" {
		if _, err := wire.ParseJoinCode(cfg.JoinCode); err != nil {
			return cfg, err
		}
	}
	if cfg.Fingerprint != "" && !wire.ValidPin(cfg.Fingerprint) {
		return cfg, fmt.Errorf("fingerprint %q: want the base64 SHA-256 of the core's public key (44 characters)", cfg.Fingerprint)
	}
	cfg.AgentID = strings.TrimSpace(get("agent_id").value)
	cfg.StateDir = get("state_dir").value
	cfg.LogFile = strings.TrimSpace(get("log_file").value)
	cfg.SpoolDir = strings.TrimSpace(get("spool_dir").value)
	cfg.Services = list(get("services").value)
	cfg.Checks = list(get("checks").value)
	cfg.Tags = list(get("tags").value)
	if len(cfg.Tags) > wire.MaxTags {
		return cfg, fmt.Errorf("tags: at most %d", wire.MaxTags)
	}
	for _, t := range cfg.Tags {
		if !wire.ValidTag(t) {
			return cfg, fmt.Errorf("tag %q: want 1 to 64 letters, digits, -, _ or .", t)
		}
	}

	var err error
	duration := func(key string, least time.Duration) time.Duration {
		if err != nil {
			return 0
		}
		s := get(key)
		d, perr := time.ParseDuration(strings.TrimSpace(s.value))
		switch {
		case perr != nil:
			err = fmt.Errorf("%s %q: want a duration such as 5s or 1m", strings.ReplaceAll(key, "_", " "), s.value)
		case d < least:
			err = fmt.Errorf("%s %s is too short: the minimum is %s", strings.ReplaceAll(key, "_", " "), d, least)
		}
		return d
	}
	cfg.Interval = duration("interval", minInterval)
	if cfg.ProcessInterval = duration("process_interval", 0); err == nil && cfg.ProcessInterval > 0 && cfg.ProcessInterval < minInterval {
		err = fmt.Errorf("process interval %s is too short: the minimum is %s (or 0 for off)", cfg.ProcessInterval, minInterval)
	}
	cfg.CheckInterval = duration("check_interval", minInterval)
	cfg.CheckTimeout = duration("check_timeout", 100*time.Millisecond)
	if err != nil {
		return cfg, err
	}
	mb, perr := strconv.ParseInt(strings.TrimSpace(get("spool_max_mb").value), 10, 64)
	if perr != nil || mb < 1 || mb > 1<<20 {
		return cfg, fmt.Errorf("spool max mb %q: want a whole number of megabytes, at least 1", get("spool_max_mb").value)
	}
	cfg.SpoolMaxBytes = mb << 20
	for _, c := range cfg.Checks {
		if _, err := collect.ParseCheck(c); err != nil {
			return cfg, err
		}
	}

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

// forRun checks what `run` needs beyond loadConfig: a core to reach (from
// the settings, the join code or an earlier enrolment) and a way to
// authenticate.
func (c Config) forRun() error {
	enrolled := hasEnrolment(c.stateDir())
	if c.Core == "" && c.JoinCode == "" && !enrolled {
		return errors.New("no core URL: set --join-code, --core, ESMON_CORE or core: in the config file")
	}
	if c.Core != "" {
		if _, err := link.CoreURL(c.Core); err != nil {
			return err
		}
	}
	if c.Token == "" && c.JoinCode == "" && !enrolled {
		return errors.New("no agent token and no join code: set --join-code (or ESMON_JOIN_CODE, join_code: in the config file) from the core's Agents page")
	}
	return nil
}

// stateDir is the state directory in use.
func (c Config) stateDir() string {
	if c.StateDir == "" {
		return defaultStateDir()
	}
	return c.StateDir
}

// list splits a comma-separated list, dropping empty items.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// readConfigFile reads the YAML file as key: value pairs, a list of values
// becoming a comma-separated one; unknown keys are errors, so a typo does
// not silently fall back to a default.
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
		if k == jmxKey {
			continue // readJMXConfig reads it
		}
		if !known[k] {
			return nil, fmt.Errorf("config %s: unknown setting %q", path, k)
		}
		switch v := v.(type) {
		case string:
			out[k] = v
		case int, float64, bool:
			out[k] = fmt.Sprint(v)
		case []any:
			items := make([]string, 0, len(v))
			for _, it := range v {
				switch it := it.(type) {
				case string, int, float64, bool:
					items = append(items, fmt.Sprint(it))
				default:
					return nil, fmt.Errorf("config %s: %s must be a list of single values", path, k)
				}
			}
			out[k] = strings.Join(items, ",")
		case nil:
		default:
			return nil, fmt.Errorf("config %s: %s must be a single value", path, k)
		}
	}
	return out, nil
}

// jmxKey is the config file's list of JVMs to read over JMX. Its entries
// are objects, so it has no flag or environment variable.
const jmxKey = "jmx"

// readJMXConfig reads the jmx: section of the config file at path.
func readJMXConfig(path string) ([]jmx.Target, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var doc struct {
		JMX yaml.Node `yaml:"jmx"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	ts, err := jmx.ParseConfig(&doc.JMX)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return ts, nil
}
