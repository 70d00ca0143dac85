// Package jmx reads JVM figures over JMX for esmon-agent, through the JMX
// bridge: a small Java program (java/ in this directory, built with
// javac --release 8 and embedded in the agent as a jar) that the agent runs
// as one long-lived child process per configured JVM and talks to in JSON
// lines over its standard input and output.
//
// Each bridge is supervised: restarted with jittered backoff when it dies,
// killed when it stops answering, its standard error copied into the
// agent's log. The Collector asks every bridge at once on each collection,
// within a timeout, so a hung JVM costs its own figures and never holds up
// the other collectors.
package jmx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"esmon/agentsvc/collect"
	"esmon/core/wire"
)

// maxSamples bounds the samples taken from one JVM in one collection, so
// a query pattern that matches thousands of MBeans cannot flood the core.
const maxSamples = 10_000

// maxErrorsShown bounds the query errors of one JVM named in one
// collection error.
const maxErrorsShown = 3

// Options configures a Collector.
type Options struct {
	// Targets are the JVMs to watch, as ParseConfig returns them.
	Targets []Target
	// StateDir is the agent's state directory; the bridge jar is written
	// into its jmx subdirectory.
	StateDir string
	// Logger receives the bridges' events and standard error.
	Logger *slog.Logger

	// classPath, when set, runs the bridge from there (a jar or classes
	// directory) instead of the embedded jar.
	classPath string
}

// Collector reads every configured JVM through its bridge. Run keeps the
// bridges running; Collect reads them.
type Collector struct {
	bridges []*bridge
	queries [][]Query         // per bridge
	metrics []map[string]bool // per bridge: the metric names it may send
	log     *slog.Logger
}

var _ collect.Collector = (*Collector)(nil)

// New writes the bridge jar into the state directory and prepares a bridge
// per target. Nothing runs until Run.
func New(opts Options) (*Collector, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cp := opts.classPath
	if cp == "" {
		var err error
		if cp, err = writeJar(opts.StateDir); err != nil {
			return nil, err
		}
	}
	c := &Collector{log: log}
	for _, t := range opts.Targets {
		qs := t.queries()
		names := map[string]bool{}
		for _, q := range qs {
			for _, a := range q.Attributes {
				names[a.Metric] = true
			}
		}
		c.bridges = append(c.bridges, newBridge(t, cp, log))
		c.queries = append(c.queries, qs)
		c.metrics = append(c.metrics, names)
	}
	return c, nil
}

// Name implements collect.Collector.
func (c *Collector) Name() string { return "jmx" }

// Run runs every bridge until ctx is cancelled, and returns once they have
// all stopped.
func (c *Collector) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, b := range c.bridges {
		wg.Go(func() { b.Run(ctx) })
	}
	wg.Wait()
}

// OneShot returns a collector that reads every JVM once on its own, for
// `esmon-agent once`, where no Run keeps the bridges up: each Collect starts
// the bridges, waits until each has connected to its JVM or failed its
// first try, collects, and stops them again.
func (c *Collector) OneShot() collect.Collector { return oneShot{c} }

type oneShot struct{ c *Collector }

var _ collect.Collector = oneShot{}

// Name implements collect.Collector.
func (o oneShot) Name() string { return o.c.Name() }

// Collect implements collect.Collector. A JVM whose bridge is not up when
// ctx ends is reported as jvm_up 0, with the reason in the error.
func (o oneShot) Collect(ctx context.Context, s *collect.Sink) error {
	tried := make([]<-chan struct{}, len(o.c.bridges))
	for i, b := range o.c.bridges {
		tried[i] = b.armTried()
	}
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		o.c.Run(runCtx)
	}()
	defer func() {
		stop()
		<-stopped
	}()
	for _, t := range tried {
		select {
		case <-t:
		case <-ctx.Done():
		}
	}
	return o.c.Collect(ctx, s)
}

// Collect asks every bridge at once for its JVM's figures, each within its
// target's timeout or what is left of ctx, whichever is shorter. Every JVM
// gets jvm_up, 1 when it could be read; one that could not adds to the
// error, which names it.
func (c *Collector) Collect(ctx context.Context, s *collect.Sink) error {
	wait := func(t time.Duration) time.Duration {
		if dl, ok := ctx.Deadline(); ok {
			// Leave the bridge time to answer "timed out" before the
			// collection itself gives up.
			left := time.Until(dl) * 3 / 4
			t = min(t, left.Truncate(100*time.Millisecond))
		}
		return max(t, minTimeout)
	}
	type result struct {
		resp *response
		err  error
	}
	results := make([]result, len(c.bridges))
	var wg sync.WaitGroup
	for i, b := range c.bridges {
		wg.Go(func() {
			results[i].resp, results[i].err = b.query(ctx, c.queries[i], wait(b.target.Timeout))
		})
	}
	wg.Wait()

	var errs []error
	for i, b := range c.bridges {
		name := b.target.Name
		r := results[i]
		if r.err != nil {
			s.Add(wire.JVMUp, 0, wire.LabelJVM, name)
			errs = append(errs, fmt.Errorf("jvm %s: %w", name, r.err))
			continue
		}
		s.Add(wire.JVMUp, 1, wire.LabelJVM, name)
		if err := c.add(s, name, c.metrics[i], r.resp); err != nil {
			errs = append(errs, fmt.Errorf("jvm %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// add puts the samples of one JVM's answer into s, with the jvm label
// first and the others in name order, and derives jvm_heap_used_percent.
func (c *Collector) add(s *collect.Sink, jvm string, allowed map[string]bool, r *response) error {
	var used, limit float64 = -1, -1
	var bad []string
	samples := r.Samples
	if len(samples) > maxSamples {
		bad = append(bad, fmt.Sprintf("%d samples, only the first %d kept: narrow the queries", len(samples), maxSamples))
		samples = samples[:maxSamples]
	}
	for _, sm := range samples {
		if !allowed[sm.Metric] || !goodLabels(sm.Labels) {
			bad = append(bad, fmt.Sprintf("unexpected sample %.100q from the bridge", sm.Metric))
			continue
		}
		pairs := make([]string, 0, 2+2*len(sm.Labels))
		pairs = append(pairs, wire.LabelJVM, jvm)
		names := make([]string, 0, len(sm.Labels))
		for n := range sm.Labels {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			pairs = append(pairs, n, sm.Labels[n])
		}
		s.Add(sm.Metric, sm.Value, pairs...)
		if len(sm.Labels) == 0 {
			switch sm.Metric {
			case wire.JVMHeapUsedBytes:
				used = sm.Value
			case wire.JVMHeapMaxBytes:
				limit = sm.Value
			}
		}
	}
	if used >= 0 && limit > 0 {
		s.Add(wire.JVMHeapUsedPercent, 100*used/limit, wire.LabelJVM, jvm)
	}
	errs := append(bad, r.Errors...)
	if len(errs) == 0 {
		return nil
	}
	more := ""
	if len(errs) > maxErrorsShown {
		more = fmt.Sprintf(" (and %d more)", len(errs)-maxErrorsShown)
		errs = errs[:maxErrorsShown]
	}
	return errors.New(strings.Join(errs, "; ") + more)
}

// goodLabels reports whether labels from the bridge are ones the core
// takes: a bad one would cost the whole batch, not just this sample.
func goodLabels(labels map[string]string) bool {
	if len(labels) >= wire.MaxLabels {
		return false
	}
	for n, v := range labels {
		if !wire.ValidName(n) || n == "host" || n == wire.LabelJVM || len(v) > wire.MaxLabelValueLen || strings.IndexByte(v, 0) >= 0 {
			return false
		}
	}
	return true
}
