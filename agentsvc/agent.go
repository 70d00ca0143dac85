package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"esmon/agentsvc/collect"
	"esmon/agentsvc/link"
)

// agent collects a snapshot every interval and hands it to the link, which
// sends it when it can. Collection goes on while the core is away.
type agent struct {
	cfg  Config
	log  *slog.Logger
	set  *collect.Set
	link *link.Client
}

// newAgent prepares everything that can fail before the agent starts: the
// agent id, the host facts and the link.
func newAgent(cfg Config, log *slog.Logger) (*agent, error) {
	id := cfg.AgentID
	if id == "" {
		dir := cfg.StateDir
		if dir == "" {
			dir = defaultStateDir()
		}
		var err error
		if id, err = agentID(dir); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	facts, err := collect.Facts(ctx, collect.System{})
	if err != nil {
		log.Warn("some host facts are missing", "err", err)
	}
	l, err := link.New(link.Options{
		URL:          cfg.Core,
		Token:        cfg.Token,
		AgentID:      id,
		AgentVersion: Version,
		Host:         facts,
		Interval:     cfg.Interval,
		Logger:       log,
		// Batches are numbered from the start time in milliseconds, so the
		// numbers keep growing across restarts of the agent (at most one
		// batch a second) without keeping them on disk.
		FirstSeq: uint64(time.Now().UnixMilli()),
	})
	if err != nil {
		return nil, err
	}
	log.Info("esmon-agent starting", "version", Version, "agent_id", id, "host", facts.Hostname,
		"interval", cfg.Interval, "config", cfg.File)
	return &agent{cfg: cfg, log: log, set: collect.Default(collect.System{}), link: l}, nil
}

// Run collects and sends until ctx is cancelled, then returns once the link
// has closed.
func (a *agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.link.Run(ctx)
	}()
	defer wg.Wait()

	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	var lastErr string
	for {
		a.collectOnce(ctx, &lastErr)
		select {
		case <-ctx.Done():
			a.log.Info("esmon-agent stopping")
			return nil
		case <-t.C:
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
		a.link.Enqueue(snap)
	}
}
