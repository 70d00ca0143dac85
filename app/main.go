// Command esmon is the ops console: a desktop window and tray with the esmon
// core inside. `esmon serve` runs the same core without a GUI. A build with
// the tag headless has no GUI at all and needs no cgo.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"esmon/app/toast"
	"esmon/core"
	"esmon/core/apiv1"
	"esmon/webui"
)

// Version and Commit are stamped in by the build (-ldflags -X).
var (
	Version = "dev"
	Commit  = ""
)

// consoleUI is implemented by the GUI build (console.go).
type consoleUI interface {
	// Notify shows a desktop notification; the core calls it from any
	// goroutine for transitions routed to the desktop.
	Notify(t apiv1.Transition)
	// Run shows the window and tray on the main goroutine until the user
	// quits or ctx is done.
	Run(ctx context.Context, c *core.Core) error
	// Connect is Run attached to a remote core instead (esmon --connect).
	Connect(ctx context.Context, r remoteCore) error
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `esmon — the eSolutions Monitoring Platform console.

Usage:
  esmon [flags]          start the console (window and tray) with its core
  esmon serve [flags]    run the core headless: API, web page, agents
                         (--pprof 127.0.0.1:6060 adds Go's profiler on a
                         listener of its own: go tool pprof
                         http://127.0.0.1:6060/debug/pprof/heap or
                         .../profile?seconds=30 for CPU)
  esmon --connect URL    start the console attached to a core on a server
                         (with --token-file, and --pin or --ca)
  esmon [flags] --open esmon://alert/ID
                         open an alert in the running console, or start
                         the console on it (a clicked notification does this)
  esmon users add|list|passwd|delete   manage who signs in (core stopped)
  esmon secret seal      encrypt a secret for the settings file
  esmon --version

Flags:
`

// config is the settings file, with flags and ESMON_* environment
// variables over it.
type config struct {
	core.Options `yaml:",inline"`
	LogLevel     string `yaml:"log_level"`

	// openAlert is the alert of `--open esmon://alert/ID`, for the console
	// only; not in the file.
	openAlert string
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "users" || args[0] == "secret") {
		return runUsers(args[0], args[1:], os.Stdin, stdout, stderr)
	}
	serve := len(args) > 0 && args[0] == "serve"
	if serve {
		args = args[1:]
	}
	fs := flag.NewFlagSet("esmon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\nEnvironment: ESMON_CONFIG, ESMON_DATA, ESMON_LISTEN, ESMON_LOG_LEVEL override the file; flags override both.\n")
	}
	var (
		cfgPath  = fs.String("config", "", "settings file (YAML); env ESMON_CONFIG")
		dataDir  = fs.String("data", "", "data directory (default: esmon under the user's config directory); env ESMON_DATA")
		listen   = fs.String("listen", "", "address of the web page, API and agent endpoint (default "+core.DefaultListen+"); env ESMON_LISTEN")
		logLevel = fs.String("log-level", "", "debug, info, warn or error (default info); env ESMON_LOG_LEVEL")
		version  = fs.Bool("version", false, "print the version and exit")
		connect  = fs.String("connect", "", "console only: attach to the core at this https:// address instead of running one")
		tokFile  = fs.String("token-file", "", "with --connect: file holding an API token; env ESMON_TOKEN_FILE (or ESMON_TOKEN)")
		pin      = fs.String("pin", "", "with --connect: the core's certificate pin (SPKI SHA-256), as esmon serve prints it")
		caFile   = fs.String("ca", "", "with --connect: PEM file of the CAs that sign the core's certificate")
		insecure = fs.Bool("insecure-http", false, "serve plain HTTP instead of HTTPS (logs a warning; trusted test networks only); env ESMON_INSECURE_HTTP=1")
		open     = fs.String("open", "", "console only: open this esmon://alert/ID link in the running console, or start the console on it; must come last")
		pprofAt  = fs.String("pprof", "", "serve Go's profiler (net/http/pprof, /debug/pprof/) on this address, on a listener of its own; a bare port (6060 or :6060) listens on 127.0.0.1 only; off by default")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "esmon: unexpected argument %q (see esmon --help)\n", fs.Arg(0))
		return 2
	}
	if *version {
		fmt.Fprintf(stdout, "esmon %s %s\n", Version, Commit)
		return 0
	}
	var openAlert string
	if *open != "" {
		var err error
		if openAlert, args, err = openArgs(args, *open, serve); err != nil {
			fmt.Fprintf(stderr, "esmon: --open: %v\n", err)
			return 2
		}
	}

	var cfg config
	if p := firstOf(*cfgPath, os.Getenv("ESMON_CONFIG")); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(stderr, "esmon: %v\n", err)
			return 2
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintf(stderr, "esmon: settings file %s: %v\n", p, err)
			return 2
		}
	}
	cfg.DataDir = firstOf(*dataDir, os.Getenv("ESMON_DATA"), cfg.DataDir)
	cfg.Listen = firstOf(*listen, os.Getenv("ESMON_LISTEN"), cfg.Listen)
	cfg.InsecureHTTP = cfg.InsecureHTTP || *insecure || os.Getenv("ESMON_INSECURE_HTTP") == "1"
	cfg.LogLevel = firstOf(*logLevel, os.Getenv("ESMON_LOG_LEVEL"), cfg.LogLevel, "info")
	if cfg.DataDir == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			fmt.Fprintf(stderr, "esmon: no data directory given and no user config directory: %v\n", err)
			return 2
		}
		cfg.DataDir = filepath.Join(dir, "esmon")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		fmt.Fprintf(stderr, "esmon: log level %q: want debug, info, warn or error\n", cfg.LogLevel)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = log
	cfg.Version = Version
	cfg.Web = webui.FS()
	cfg.openAlert = openAlert

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *connect != "" && !serve {
		return runConnect(ctx, log, remoteCore{URL: *connect, TokenFile: *tokFile, Pin: *pin, CAFile: *caFile},
			cfg, firstOf(*cfgPath, os.Getenv("ESMON_CONFIG")), args)
	}
	var console consoleUI
	if !serve {
		var err error
		console, err = newConsole(log, cfg, firstOf(*cfgPath, os.Getenv("ESMON_CONFIG")), args)
		if errors.Is(err, errAlreadyRunning) {
			log.Info("esmon is already running; its window was brought forward")
			return 0
		}
		if err != nil {
			log.Error("cannot start the console; run `esmon serve` for the headless core", "err", err)
			return 1
		}
		cfg.Desktop = console.Notify
	}
	if *pprofAt != "" {
		// Before the core, so that its start (the store's index and log
		// replay, after a crash) can be profiled too.
		stopProfiler, err := serveProfiler(*pprofAt, log)
		if err != nil {
			log.Error("start profiler", "err", err)
			return 1
		}
		defer stopProfiler()
	}
	startMemory()
	c, err := core.New(cfg.Options)
	if err != nil {
		log.Error("start core", "err", err)
		return 1
	}
	// The limit follows the live heap from here on, until the core has
	// stopped. Not while the core starts: loading the store of a large
	// fleet grows the live heap far past the limit's floor within
	// seconds, and the collector would run without pause until the next
	// reading raised the limit (a third of the start's CPU with 600,000
	// series); startMemory's GOGC holds the start.
	defer governMemory(log)()
	if serve {
		fmt.Fprintf(stdout, "esmon core is running. Web dashboard: %s\nSign in with the token in %s\nCertificate pin (SPKI SHA-256): %s\nAdd agents with a join code: Agents page, or POST /api/v1/join-codes\n",
			c.WebURL(), c.AdminTokenPath(), c.Pin())
		if err := c.Run(ctx); err != nil {
			log.Error("core", "err", err)
			return 1
		}
		return 0
	}
	coreDone := make(chan error, 1)
	go func() { coreDone <- c.Run(ctx) }()
	uiErr := console.Run(ctx, c) // the GUI owns the main goroutine
	stop()
	select {
	case err = <-coreDone:
	case <-time.After(15 * time.Second):
		err = errors.New("core did not stop within 15s")
	}
	if err = errors.Join(uiErr, err); err != nil {
		log.Error("esmon", "err", err)
		return 1
	}
	return 0
}

// openArgs checks the --open of a launch and returns its alert ID and the
// other arguments. Windows starts `esmon [args] --open "%1"` with the link
// of a clicked notification put in for %1 as it is, so a crafted link with
// quotes could add arguments after it: --open must therefore be the last
// flag, given once, with a well-formed link.
func openArgs(args []string, link string, serve bool) (alertID string, rest []string, err error) {
	if serve {
		return "", nil, errors.New("opens an alert in the console, not with esmon serve")
	}
	id, err := toast.ParseAlertURL(link)
	if err != nil {
		return "", nil, err
	}
	n := 0
	for _, a := range args {
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && name == "open" {
			n++
		}
	}
	switch last := len(args) - 1; {
	case n == 1 && last >= 1 && (args[last-1] == "--open" || args[last-1] == "-open") && args[last] == link:
		return id, args[:last-1], nil
	case n == 1 && (args[last] == "--open="+link || args[last] == "-open="+link):
		return id, args[:last], nil
	}
	return "", nil, errors.New("must be the last flag, given once")
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// serveProfiler serves net/http/pprof on addr, on a listener of its own so
// that the core's API never exposes it. An address without a host (6060 or
// :6060) listens on 127.0.0.1 only; any other host must be given
// explicitly, and is warned about: a profile shows the core's memory.
func serveProfiler(addr string, log *slog.Logger) (stop func(), err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.Contains(addr, ":") {
			return nil, fmt.Errorf("--pprof %q: want a port or host:port", addr)
		}
		host, port = "", addr
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		log.Warn("the profiler listens beyond loopback: whoever reaches it can read the core's memory", "addr", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info("profiler listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { srv.Close() }, nil
}
