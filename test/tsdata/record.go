package main

import (
	"context"
	"encoding/gob"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"esmon/agentsvc/collect"
	"esmon/core/store"
)

// snapshot is one recorded collection: every sample shares its time.
type snapshot struct {
	T       int64
	Samples []store.Sample // T of each sample is the snapshot's
}

// recorded is a snapshot as the gob stream holds it: store.Sample carries
// a SeriesRef, which has no meaning outside one open store (and which gob
// cannot encode).
type recorded struct {
	T       int64
	Samples []recordedSample
}

type recordedSample struct {
	Metric string
	Labels store.Labels
	V      float64
}

// record collects snapshots of this machine with the agent's collectors
// and appends them to a gob stream.
func record(args []string) error {
	fs := flag.NewFlagSet("record", flag.ExitOnError)
	out := fs.String("out", "recorded.gob", "file to append snapshots to")
	n := fs.Int("n", 600, "snapshots to take")
	every := fs.Duration("interval", time.Second, "time between snapshots")
	fs.Parse(args)
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	enc := gob.NewEncoder(f)
	set := collect.Default(collect.System{})
	// As the agent does: the slow collectors (the process scan and the
	// temperatures, every collect.DefaultProcessInterval) run in the
	// background and their samples join the next snapshot; without Start
	// they would run inline in every snapshot.
	ctx, cancel := context.WithCancel(context.Background())
	defer set.Start(ctx)()
	defer cancel()
	host, _ := os.Hostname()
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for i := 0; i < *n; i++ {
		snap, err := set.Collect(ctx)
		if err != nil && len(snap.Samples) == 0 {
			return fmt.Errorf("collect: %w", err)
		}
		s := recorded{T: snap.Time.UnixMilli()}
		for _, cs := range snap.Samples {
			ls := store.Labels{{Name: "host", Value: host}}
			for _, l := range cs.Labels {
				ls = append(ls, store.Label{Name: l.Name, Value: l.Value})
			}
			ls.Sort()
			s.Samples = append(s.Samples, recordedSample{Metric: cs.Metric, Labels: ls, V: cs.Value}) // as sent: Sink.Add applied collect.Precision
		}
		if err := enc.Encode(&s); err != nil {
			return err
		}
		if i%60 == 0 {
			fmt.Fprintf(os.Stderr, "snapshot %d: %d samples\n", i, len(s.Samples))
		}
		<-tick.C
	}
	return nil
}

// readRecorded loads a recorded stream.
func readRecorded(path string) ([]snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := gob.NewDecoder(f)
	var out []snapshot
	for {
		var r recorded
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		s := snapshot{T: r.T, Samples: make([]store.Sample, len(r.Samples))}
		for i, rs := range r.Samples {
			s.Samples[i] = store.Sample{Metric: rs.Metric, Labels: rs.Labels, T: r.T, V: rs.V}
		}
		out = append(out, s)
	}
}
