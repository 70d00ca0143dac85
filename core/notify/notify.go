// Package notify carries alert transitions to the notification channels:
// email, Teams, the desktop console, the log. Every channel speaks one
// contract, Notifier; the Router decides which channel hears about which
// transition and owns the queueing, retry and backoff that every channel
// would otherwise write again.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"esmon/core/apiv1"
)

// Notifier is a notification channel. Notify delivers the transitions, in
// order, and reports whether a failure is worth another try: retry is true
// for a timeout, a refused connection or a temporary refusal by the far end,
// false for bad configuration or a permanent refusal. A channel that delivered
// some transitions before failing says so with a *PartialError, so the Router
// does not send those again.
type Notifier interface {
	// Name identifies the channel in routes, logs and metrics.
	Name() string
	Notify(ctx context.Context, ts ...apiv1.Transition) (retry bool, err error)
}

// PartialError reports that the first Delivered transitions of a Notify call
// reached the channel before Err stopped it. The Router retries only the
// rest, which keeps "nothing sent twice" true for channels that send one
// message per transition.
type PartialError struct {
	Delivered int
	Err       error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%v (after %d delivered)", e.Err, e.Delivered)
}

func (e *PartialError) Unwrap() error { return e.Err }

// Func turns a function that takes one transition into a channel named name,
// for in-process consumers such as the desktop console's toasts. fn runs on
// the channel's sender goroutine, one transition at a time; a panic in it is
// reported as a failure that is not retried rather than taking the process
// down.
func Func(name string, fn func(apiv1.Transition)) Notifier {
	return &funcNotifier{name: name, fn: fn}
}

type funcNotifier struct {
	name string
	fn   func(apiv1.Transition)
}

var _ Notifier = (*funcNotifier)(nil)

func (f *funcNotifier) Name() string { return f.name }

func (f *funcNotifier) Notify(ctx context.Context, ts ...apiv1.Transition) (retry bool, err error) {
	for i, t := range ts {
		if err := ctx.Err(); err != nil {
			return true, &PartialError{Delivered: i, Err: err}
		}
		if err := f.call(t); err != nil {
			return false, &PartialError{Delivered: i, Err: err}
		}
	}
	return false, nil
}

func (f *funcNotifier) call(t apiv1.Transition) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: panic: %v", f.name, r)
		}
	}()
	f.fn(t)
	return nil
}

// LogName is the name of the channel NewLog returns.
const LogName = "log"

// NewLog returns the log channel: each transition becomes one structured
// record on logger (slog.Default() when nil), at Warn for an alert that
// starts firing and at Info otherwise. It never fails.
func NewLog(logger *slog.Logger) Notifier {
	if logger == nil {
		logger = slog.Default()
	}
	return &logNotifier{logger: logger}
}

type logNotifier struct {
	logger *slog.Logger
}

var _ Notifier = (*logNotifier)(nil)

func (l *logNotifier) Name() string { return LogName }

func (l *logNotifier) Notify(ctx context.Context, ts ...apiv1.Transition) (retry bool, err error) {
	for _, t := range ts {
		level := slog.LevelInfo
		if t.To == apiv1.StateFiring {
			level = slog.LevelWarn
		}
		a := t.Alert
		attrs := []slog.Attr{
			slog.String("alert", a.ID),
			slog.String("rule", a.RuleName),
			slog.String("host", a.Host),
			slog.String("severity", a.Severity),
			slog.String("from", t.From),
			slog.String("to", t.To),
			slog.Float64("value", t.Value),
			slog.Time("at", t.At),
		}
		if a.Metric != "" {
			attrs = append(attrs, slog.String("metric", a.Metric), slog.String("op", a.Op), slog.Float64("threshold", a.Threshold))
		}
		if len(a.Labels) > 0 {
			la := make([]any, 0, len(a.Labels))
			for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
				la = append(la, slog.String(k, a.Labels[k]))
			}
			attrs = append(attrs, slog.Group("labels", la...))
		}
		msg := "alert " + t.To
		if a.Summary != "" {
			msg += ": " + a.Summary
		}
		l.logger.LogAttrs(ctx, level, msg, attrs...)
	}
	return false, nil
}
