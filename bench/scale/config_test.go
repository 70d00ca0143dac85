package main

import (
	"io"
	"testing"
	"time"
)

// The simulator outlives every phase of the step it is started for: a
// window longer than two hours keeps its agents to the end and through
// the restart.
func TestSimOutlivesTheStep(t *testing.T) {
	for _, args := range [][]string{
		{"--out", "x", "--steps", "10000", "--window", "125m", "--settle", "30s"},
		{"--out", "x", "--steps", "10000", "--window", "6h", "--connect-timeout", "10m"},
		{"--out", "x", "--steps", "100", "--window", "60s"},
	} {
		cfg, err := parseArgs(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		n := cfg.steps[0]
		step := cfg.connectLimit(n) + cfg.settle + cfg.window + restartLimit
		if got := cfg.simDuration(n); got < step || got < 2*time.Hour {
			t.Errorf("%v: simulator runs %v, the step may take %v", args, got, step)
		}
	}
}
