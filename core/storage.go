package core

import (
	"context"
	"fmt"
	"time"

	"github.com/go-co-op/gocron/v2"

	"esmon/core/store"
)

// Storage is the `storage:` section of the settings.
type Storage struct {
	// Retention per tier: raw samples, 1-minute and 1-hour rollups
	// (defaults 14 days, 180 days, 3 years).
	Retention store.Retention `yaml:"retention"`
	// RepairWAL lets the core start on a damaged write-ahead log by
	// cutting it at the damage (the samples after it are lost). Without
	// it the core refuses to start and says where the damage is.
	RepairWAL bool `yaml:"repair_wal"`
	// AlertHistory is how long the alert history is kept (default 90
	// days); it is removed a day at a time.
	AlertHistory time.Duration `yaml:"alert_history"`
}

// DefaultAlertHistory is how long the alert history is kept by default.
const DefaultAlertHistory = 90 * 24 * time.Hour

// alertHistory is the alert history's retention in force.
func (s Storage) alertHistory() time.Duration {
	if s.AlertHistory <= 0 {
		return DefaultAlertHistory
	}
	return s.AlertHistory
}

// storageJobTimeout bounds one run of a storage job; the rollup's is an
// hour, the time it has for an hour's rows (paced, the rollup of 38
// minutes of samples at 10,000 agents took ~19 minutes, BENCHMARKS.md,
// "Scale", twenty-fifth round; one out of time is made again whole by
// the next run).
const (
	storageJobTimeout = 10 * time.Minute
	rollupJobTimeout  = time.Hour
)

// scheduleStorage adds the store's jobs: rollups every minute (an hour's
// row of the 1-hour rollups two minutes after it ends, its minute rollups
// once its raw samples expire within a day), retention of the store and
// of the alert history every hour.
func (c *Core) scheduleStorage(s gocron.Scheduler) error {
	jobs := []struct {
		name    string
		every   time.Duration
		timeout time.Duration
		run     func(context.Context) error
	}{
		{"rollup", time.Minute, rollupJobTimeout, c.db.Rollup},
		{"retention", time.Hour, storageJobTimeout, c.db.EnforceRetention},
		{"alert history retention", time.Hour, storageJobTimeout, func(context.Context) error {
			return c.alerts.DropHistoryBefore(time.Now().Add(-c.opts.Storage.alertHistory()))
		}},
	}
	for _, j := range jobs {
		// The scheduler's context ends at shutdown: a rollup pacing
		// itself stops at once instead of holding the shutdown.
		task := func(jobCtx context.Context) {
			ctx, cancel := context.WithTimeout(jobCtx, j.timeout)
			defer cancel()
			if err := j.run(ctx); err != nil {
				c.log.Error("storage job failed", "job", j.name, "err", err)
			}
		}
		if _, err := s.NewJob(gocron.DurationJob(j.every), gocron.NewTask(task),
			gocron.WithName(j.name), gocron.WithSingletonMode(gocron.LimitModeReschedule)); err != nil {
			return fmt.Errorf("schedule %s: %w", j.name, err)
		}
	}
	return nil
}
