package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"esmon/agentsvc/collect"
	"esmon/agentsvc/jmx"
	"esmon/agentsvc/link"
	"esmon/agentsvc/spool"
	"esmon/core/wire"
)

// agent collects a snapshot every interval and hands it to the link, which
// sends it when it can. Collection goes on while the core is away.
type agent struct {
	base     Config // the local settings: file, environment, flags
	cfg      Config // base with the config the core pushed over it
	stateDir string
	log      *slog.Logger
	set      *collect.Set // the built-in collectors for cfg; Run replaces it
	extra    *collect.Set // collectors of other packages (JMX), kept across pushed configs
	spool    *spool.Disk
	link     *link.Client

	pushed        chan *wire.Config // capacity 1: the newest config from the core
	configVersion atomic.Uint64     // of the pushed config run now; 0 for none
	snapshots     uint64            // taken so far; only Run's goroutine touches it
}

// newAgent prepares everything that can fail before the agent starts: the
// agent id, the host facts and the link.
func newAgent(cfg Config, log *slog.Logger) (*agent, error) {
	stateDir := cfg.stateDir()
	spoolDir := cfg.SpoolDir
	if spoolDir == "" {
		spoolDir = filepath.Join(stateDir, "spool")
	}
	var extra []collect.Collector
	if len(cfg.JMX) > 0 {
		j, err := jmx.New(jmx.Options{Targets: cfg.JMX, StateDir: stateDir, Logger: log})
		if err != nil {
			return nil, err
		}
		extra = append(extra, j)
	}
	base := cfg
	pushed, err := loadPushed(stateDir)
	if err != nil {
		log.Warn("ignoring the kept config from the core", "err", err)
	}
	if cfg, err = withPushed(base, pushed); err != nil {
		log.Warn("ignoring the kept config from the core", "err", err)
		pushed = nil
	}
	set, err := collectors(cfg, log)
	if err != nil {
		return nil, err
	}
	a := &agent{base: base, cfg: cfg, stateDir: stateDir, log: log, set: set,
		extra: collect.NewSet(extra...), pushed: make(chan *wire.Config, 1)}
	if pushed != nil {
		a.configVersion.Store(pushed.Version)
	}
	sp, err := spool.Open(spoolDir, spool.Options{
		MaxBytes: cfg.SpoolMaxBytes,
		Logger:   log,
		// A new spool numbers snapshots from the start time in
		// milliseconds, so numbers keep growing even when the spool
		// directory is wiped (at most one snapshot a millisecond).
		FirstSeq: uint64(time.Now().UnixMilli()),
	})
	if err != nil {
		return nil, fmt.Errorf("%w (set --spool-dir or --state-dir)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	facts, err := collect.Facts(ctx, collect.System{})
	if err != nil {
		log.Warn("some host facts are missing", "err", err)
	}
	who, err := resolveIdentity(cfg, facts, log)
	if err != nil {
		sp.Close()
		return nil, err
	}
	id := who.AgentID
	l, err := link.New(link.Options{
		URL:          who.Core,
		Token:        who.Token,
		TLSConfig:    who.TLS,
		AgentID:      id,
		AgentVersion: Version,
		Host:         facts,
		Tags:         cfg.Tags,
		Interval:     cfg.Interval,
		Logger:       log,
		Queue:        sp,

		ConfigVersion: a.configVersion.Load,
		OnConfig:      a.onPushed,
	})
	if err != nil {
		sp.Close()
		return nil, err
	}
	st := sp.Stats()
	log.Info("esmon-agent starting", "version", Version, "agent_id", id, "host", facts.Hostname,
		"interval", cfg.Interval, "config", cfg.File, "pushed_config_version", a.configVersion.Load(),
		"spool", spoolDir, "spool_pending", st.Pending)
	a.spool, a.link = sp, l
	return a, nil
}

// collectors returns the collectors cfg asks for, and extra ones (the JMX
// bridge's); log receives what they say once (a figure this system cannot
// give).
func collectors(cfg Config, log *slog.Logger, extra ...collect.Collector) (*collect.Set, error) {
	o := collect.Options{
		Logger:          log,
		ProcessInterval: cfg.ProcessInterval,
		Services:        cfg.Services,
		CheckInterval:   cfg.CheckInterval,
		CheckTimeout:    cfg.CheckTimeout,
	}
	for _, c := range cfg.Checks {
		ch, err := collect.ParseCheck(c)
		if err != nil {
			return nil, err
		}
		o.Checks = append(o.Checks, ch)
	}
	o.Extra = extra
	return collect.New(collect.System{}, o), nil
}

// Run collects and sends until ctx is cancelled, then returns once the link
// and the collectors' background work have stopped and the spool is closed.
func (a *agent) Run(ctx context.Context) error {
	defer func() {
		if err := a.spool.Close(); err != nil {
			a.log.Warn("close spool", "err", err)
		}
	}()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var revoked atomic.Bool
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if err := a.link.Run(ctx); errors.Is(err, link.ErrRevoked) {
			revoked.Store(true)
			if err := markRevoked(a.stateDir); err != nil {
				a.log.Warn("cannot record the revocation", "err", err)
			}
			stop()
		}
	})
	defer a.extra.Start(ctx)()

	var lastErr string
	for {
		setCtx, stopSet := context.WithCancel(ctx)
		waitSet := a.set.Start(setCtx)
		p := a.loop(ctx, &lastErr)
		stopSet()
		waitSet()
		if p == nil {
			if revoked.Load() {
				return errors.New("the core revoked this agent: it will not connect again until enrolled with a new join code")
			}
			a.log.Info("esmon-agent stopping")
			return nil
		}
		if err := a.applyPushed(p); err != nil {
			a.log.Error("cannot run the config the core pushed; going on with the one before", "version", p.Version, "err", err)
			continue
		}
		a.log.Info("running the config the core pushed", "version", p.Version, "interval", a.cfg.Interval,
			"process_interval", a.cfg.ProcessInterval, "services", a.cfg.Services, "checks", a.cfg.Checks)
	}
}

// loop collects every interval until ctx is cancelled (it returns nil) or
// the core pushes a config (it returns it).
func (a *agent) loop(ctx context.Context, lastErr *string) *wire.Config {
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		a.collectOnce(ctx, lastErr)
		select {
		case <-ctx.Done():
			return nil
		case p := <-a.pushed:
			return p
		case <-t.C:
		case <-a.set.Changed():
			a.log.Debug("a collector saw a change: collecting now")
		case <-a.extra.Changed():
		}
	}
}

// collectOnce takes one snapshot. A failure that repeats is logged once at
// warning level and then at debug level, so a missing part of the system
// does not fill the log every interval.
func (a *agent) collectOnce(ctx context.Context, lastErr *string) {
	cctx, cancel := context.WithTimeout(ctx, a.cfg.Interval)
	defer cancel()
	snap, err := a.set.Collect(cctx)
	if more, xerr := a.extra.Collect(cctx); len(more.Samples) > 0 || xerr != nil {
		snap.Samples = append(snap.Samples, more.Samples...)
		err = errors.Join(err, xerr)
	}
	switch {
	case err == nil:
		if *lastErr != "" {
			a.log.Info("collection works again")
		}
		*lastErr = ""
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return
	case err.Error() != *lastErr:
		a.log.Warn("collection incomplete", "err", err)
		*lastErr = err.Error()
	default:
		a.log.Debug("collection incomplete", "err", err)
	}
	if len(snap.Samples) > 0 {
		st := a.spool.Stats()
		snap.Samples = append(snap.Samples,
			collect.Sample{Metric: wire.AgentSpoolDroppedTotal, Value: float64(st.Dropped)},
			collect.Sample{Metric: wire.AgentSpoolPending, Value: float64(st.Pending)},
			collect.Sample{Metric: wire.AgentSpoolBytes, Value: float64(st.Bytes)},
			collect.Sample{Metric: wire.AgentConfigVersion, Value: float64(a.configVersion.Load())})
		a.snapshots++
		snap.Samples = append(snap.Samples, collect.Sample{Metric: wire.AgentSnapshotsTotal, Value: float64(a.snapshots)})
		a.link.Enqueue(snap)
	}
}
