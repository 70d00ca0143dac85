package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/kardianos/service"
)

// serviceName is the name of the Windows service and the systemd unit.
const serviceName = "esmon-agent"

// stopTimeout is how long Stop waits for the agent to close its connection.
const stopTimeout = 5 * time.Second

// serviceConfig is the service's definition. On Windows, delayed automatic
// start and a restart on failure are set after the service is made
// (afterInstall), each on its own, because a service manager that lacks one
// (Wine's) refuses a service that asks for it when it is made.
func serviceConfig(args []string) *service.Config {
	return &service.Config{
		Name:        serviceName,
		DisplayName: "esmon agent",
		Description: "Collects this server's metrics and sends them to the esmon core.",
		Arguments:   args,
		Option:      service.KeyValue{"Restart": "always"}, // systemd
	}
}

// program is the agent as kardianos/service sees it: Start returns at once
// and runs the agent in a goroutine; Stop cancels it and waits a few
// seconds for it to finish.
type program struct {
	agent  *agent
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{} // closed when the agent's goroutine returns
}

// Start implements service.Interface.
func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		if err := p.agent.Run(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("agent stopped", "err", err)
			os.Exit(exitFailed) // let the service manager restart it
		}
	}()
	return nil
}

// Stop implements service.Interface.
func (p *program) Stop(service.Service) error {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.log.Warn("agent did not stop in time", "timeout", stopTimeout)
	}
	return nil
}

// runService runs the agent in the foreground or, when started by the
// service manager (asService, or as kardianos/service detects it), as the
// service.
func runService(cfg Config, asService bool, stderr io.Writer) int {
	prg := &program{}
	s, err := service.New(prg, serviceConfig(nil))
	if err != nil {
		fmt.Fprintf(stderr, "esmon-agent: %v\n", err)
		return exitFailed
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			fmt.Fprintf(stderr, "esmon-agent: open log file: %v\n", err)
			return exitFailed
		}
		defer f.Close()
		h = slog.NewMultiHandler(h, slog.NewTextHandler(f, opts))
	}
	if asService || !service.Interactive() {
		// A Windows service has no console: warnings and errors go to the
		// event log too (under systemd, stderr goes to the journal already).
		if sl, err := s.SystemLogger(nil); err == nil {
			h = &systemLogHandler{Handler: h, sys: sl}
		}
	}
	log := slog.New(h)
	a, err := newAgent(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailed
	}
	prg.agent, prg.log = a, log
	if asService {
		err = runAsService(prg)
	} else {
		err = s.Run()
	}
	if err != nil {
		log.Error("service run failed", "err", err)
		return exitFailed
	}
	return exitOK
}

// control runs install, uninstall, start, stop and status.
func control(cmd string, args []string, stdout, stderr io.Writer) int {
	about := map[string]string{
		"install": "esmon-agent install --config FILE\n       esmon-agent install --join-code CODE [--state-dir DIR]\n       esmon-agent install --core URL --token-file FILE [--state-dir DIR]\n\n" +
			"Installs the service, which runs \"esmon-agent run --config FILE\". Put every\n" +
			"setting in FILE: the service sees no flags and none of your shell's variables.\n" +
			"The second form writes that file, and the agent token beside it, into the state\n" +
			"directory, readable by the service account alone (root, or SYSTEM and\n" +
			"Administrators on Windows).",
		"uninstall": "esmon-agent uninstall\n\nRemoves the service (stop it first).",
		"start":     "esmon-agent start\n\nStarts the installed service.",
		"stop":      "esmon-agent stop\n\nStops the service and waits until its process has exited.",
		"status":    "esmon-agent status\n\nPrints running, stopped or not installed (exit code 0, 3 or 4).",
	}[cmd]
	fs := newFlagSet(cmd, stderr, about)
	var configPath, core, token, tokenFile, stateDir, joinCode *string
	if cmd == "install" {
		configPath = fs.String("config", "", "YAML config `FILE` the service reads")
		core = fs.String("core", "", "core `URL`, to write a config file (instead of --config)")
		joinCode = fs.String("join-code", "", "join `code` from the core's Agents page, to write a config file (instead of --config); the agent enrols with it when it first starts")
		token = fs.String("token", "", "agent `token`, with --core (prefer --token-file)")
		tokenFile = fs.String("token-file", "", "read the agent token from `FILE`, with --core")
		stateDir = fs.String("state-dir", defaultStateDir(), "`DIR` for the written config, token and the agent's state, with --core")
	}
	if code, ok := parse(fs, args); !ok {
		return code
	}
	var svcArgs []string
	if cmd == "install" {
		if *core != "" || *joinCode != "" {
			if *configPath != "" {
				fmt.Fprintln(stderr, "esmon-agent install: give --config or --core, not both")
				return exitUsage
			}
			tok := *token
			if *tokenFile != "" {
				b, err := os.ReadFile(*tokenFile)
				if err != nil {
					fmt.Fprintf(stderr, "esmon-agent install: %v\n", err)
					return exitUsage
				}
				tok = strings.TrimSpace(string(b))
			}
			p, err := writeServiceConfig(*stateDir, *core, tok, *joinCode)
			if err != nil {
				fmt.Fprintf(stderr, "esmon-agent install: %v\n", err)
				return exitUsage
			}
			fmt.Fprintf(stdout, "esmon-agent: wrote %s\n", p)
			*configPath = p
		}
		if *configPath == "" {
			fmt.Fprintln(stderr, "esmon-agent install: --config FILE, --join-code CODE or --core URL is required")
			return exitUsage
		}
		abs, err := absPath(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "esmon-agent: %v\n", err)
			return exitUsage
		}
		// Check the file now rather than when the service first starts.
		cfg, err := loadConfig(abs, settings(), func(string) string { return "" })
		if err == nil {
			err = cfg.forRun()
		}
		if err != nil {
			fmt.Fprintf(stderr, "esmon-agent install: %s: %v\n", abs, err)
			return exitUsage
		}
		svcArgs = append([]string{"run", "--config", abs}, serviceFlagArgs...)
	}
	s, err := service.New(&program{}, serviceConfig(svcArgs))
	if err != nil {
		fmt.Fprintf(stderr, "esmon-agent: %v\n", err)
		return exitFailed
	}
	if cmd == "status" {
		st, err := s.Status()
		switch {
		case errors.Is(err, service.ErrNotInstalled):
			fmt.Fprintln(stdout, "not installed")
			return exitMissing
		case err != nil:
			fmt.Fprintf(stderr, "esmon-agent status: %v\n", err)
			return exitFailed
		case st == service.StatusRunning:
			fmt.Fprintln(stdout, "running")
			return exitOK
		case st == service.StatusStopped:
			fmt.Fprintln(stdout, "stopped")
			return exitStopped
		}
		fmt.Fprintln(stdout, "unknown")
		return exitFailed
	}
	ctl := func() error { return service.Control(s, cmd) }
	if cmd == "stop" {
		ctl = func() error { return stopService(s) }
	}
	if err := ctl(); err != nil {
		fmt.Fprintf(stderr, "esmon-agent %s: %v\n", cmd, err)
		return exitFailed
	}
	if cmd == "install" {
		for _, w := range afterInstall() {
			fmt.Fprintf(stderr, "esmon-agent install: %s\n", w)
		}
	}
	fmt.Fprintf(stdout, "esmon-agent: %s done (%s)\n", cmd, s.Platform())
	return exitOK
}

// systemLogHandler copies warnings and errors to the system log.
type systemLogHandler struct {
	slog.Handler
	sys service.Logger
}

func (h *systemLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		msg := r.Message
		r.Attrs(func(a slog.Attr) bool {
			msg += " " + a.String()
			return true
		})
		if r.Level >= slog.LevelError {
			_ = h.sys.Error(msg)
		} else {
			_ = h.sys.Warning(msg)
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *systemLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &systemLogHandler{Handler: h.Handler.WithAttrs(as), sys: h.sys}
}

func (h *systemLogHandler) WithGroup(name string) slog.Handler {
	return &systemLogHandler{Handler: h.Handler.WithGroup(name), sys: h.sys}
}
