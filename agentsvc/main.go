// Command esmon-agent collects the metrics of the server it runs on and
// sends them to the esmon core over a WebSocket. It runs in the foreground
// (run), as a Windows service or systemd unit (install, start, ...), or
// once, to print one snapshot for diagnosis.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"esmon/agentsvc/collect"
	"esmon/agentsvc/jmx"
	"esmon/core/wire"
)

// Version and Commit are stamped in at build time with
// -ldflags "-X main.Version=1.2.3 -X main.Commit=abc123".
var (
	Version = "dev"
	Commit  = ""
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `esmon-agent collects this server's metrics and sends them to the esmon core.

Usage:
  esmon-agent run       [flags]   run in the foreground (Ctrl-C stops)
  esmon-agent once      [flags]   collect one snapshot and print it as JSON
  esmon-agent install   --config FILE
                                  install the service, which runs "run --config FILE"
  esmon-agent uninstall           remove the service
  esmon-agent start | stop        start or stop the service
  esmon-agent status              print the service's state
  esmon-agent simulate --agents N --core URL
                                  run N virtual agents, for demos and load tests
  esmon-agent setup --config FILE [--join-code CODE] [--core URL]
                                  write FILE unless it exists (installers run it)
  esmon-agent --version           print the version

"esmon-agent COMMAND --help" lists the flags of a command. Settings come from the
YAML config file (--config or ESMON_CONFIG; keys: core, join_code, ca_file,
fingerprint, token, token_file,
interval, agent_id, state_dir, log_level, log_file, spool_dir, spool_max_mb,
process_interval, services, checks, check_interval, check_timeout, jmx), over
which ESMON_* environment variables and then flags take precedence. Lists
(services, checks) are YAML lists in the file and comma-separated elsewhere.
`

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitStopped = 3 // status: installed but not running (as LSB init scripts)
	exitMissing = 4 // status: not installed
)

// run is the whole program, minus os.Exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "-version", "--version", "version":
		fmt.Fprintf(stdout, "esmon-agent %s %s(protocol %d)\n", Version, commitText(), wire.Version)
		return exitOK
	case "run", "once":
		fs := newFlagSet(cmd, stderr, map[string]string{
			"run":  "esmon-agent run [flags]\n\nRuns the agent in the foreground until interrupted.",
			"once": "esmon-agent once [flags]\n\nCollects one snapshot and prints it as JSON on standard output.",
		}[cmd])
		configPath, ss := configFlags(fs)
		var asService *bool
		if cmd == "run" {
			asService = fs.Bool("as-service", false, "run under the service manager (the installed Windows service passes it)")
		}
		if code, ok := parse(fs, rest); !ok {
			return code
		}
		cfg, err := loadConfig(*configPath, ss, os.Getenv)
		if err != nil {
			fmt.Fprintf(stderr, "esmon-agent: %v\n", err)
			return exitUsage
		}
		if cmd == "once" {
			return once(cfg, stdout, stderr)
		}
		if err := cfg.forRun(); err != nil {
			fmt.Fprintf(stderr, "esmon-agent: %v\n", err)
			return exitUsage
		}
		return runService(cfg, *asService, stderr)
	case "install", "uninstall", "start", "stop", "status":
		return control(cmd, rest, stdout, stderr)
	case "simulate":
		return simulate(rest, stdout, stderr)
	case "setup":
		return setup(rest, stdout, stderr)
	}
	fmt.Fprintf(stderr, "esmon-agent: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

func newFlagSet(name string, stderr io.Writer, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\nFlags:\n", about)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args; when it returns false the command is over with code.
func parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	case err != nil:
		return exitUsage, false
	case fs.NArg() > 0:
		fmt.Fprintf(fs.Output(), "esmon-agent %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return exitOK, true
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// onceOutput is what `once` prints.
type onceOutput struct {
	Time    time.Time      `json:"time"`
	Host    wire.HostFacts `json:"host"`
	Metrics []onceMetric   `json:"metrics"`
}

type onceMetric struct {
	Metric string            `json:"metric"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

// once collects one snapshot and prints it, the JVMs of jmx: among it.
// Parts that cannot be read are logged as warnings; it fails only when
// nothing could be read.
func once(cfg Config, stdout, stderr io.Writer) int {
	log := newLogger(stderr, cfg.LogLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	facts, err := collect.Facts(ctx, collect.System{})
	if err != nil {
		log.Warn("some host facts are missing", "err", err)
	}
	// The JVMs of jmx: are read once too, each through its own bridge
	// started for this snapshot alone.
	var extra []collect.Collector
	if len(cfg.JMX) > 0 {
		j, err := jmx.New(jmx.Options{Targets: cfg.JMX, StateDir: cfg.stateDir(), Logger: log})
		if err != nil {
			fmt.Fprintf(stderr, "esmon-agent: %v\n", err)
			return exitFailed
		}
		extra = append(extra, j.OneShot())
	}
	set, err := collectors(cfg, log, extra...)
	if err != nil {
		fmt.Fprintf(stderr, "esmon-agent: %v\n", err)
		return exitUsage
	}
	snap, err := set.Collect(ctx)
	if err != nil {
		log.Warn("some metrics are missing", "err", err)
	}
	if len(snap.Samples) == 0 {
		fmt.Fprintln(stderr, "esmon-agent: no metrics could be read")
		return exitFailed
	}
	collect.SortSamples(snap.Samples)
	out := onceOutput{Time: snap.Time.UTC(), Host: facts, Metrics: make([]onceMetric, len(snap.Samples))}
	for i, s := range snap.Samples {
		m := onceMetric{Metric: s.Metric, Value: s.Value}
		if len(s.Labels) > 0 {
			m.Labels = make(map[string]string, len(s.Labels))
			for _, l := range s.Labels {
				m.Labels[l.Name] = l.Value
			}
		}
		out.Metrics[i] = m
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "esmon-agent: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func commitText() string {
	if Commit == "" {
		return ""
	}
	return Commit + " "
}
