// Command liveload opens many /ws/live subscriptions to a core, the way many
// open dashboards would, and records how late each update arrives: the
// delay from the moment the core applied an agent's batch (the host event's
// last_seen, stamped by the core) to the moment this subscriber read it. It
// also reads the core's resident memory from /metrics before and after the
// subscribers connect, to give the memory each dashboard connection costs.
//
//	liveload --core http://127.0.0.1:8470 --token-file DATA/admin.token --subscribers 1000 --duration 2m
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "liveload:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("liveload", flag.ContinueOnError)
	core := fs.String("core", os.Getenv("ESMON_CORE"), "core `URL` (http:// or https://; also ESMON_CORE)")
	tokenFile := fs.String("token-file", "", "read the API token from `FILE` (the core's admin.token, or a personal token)")
	pin := fs.String("fingerprint", "", "`pin` of the core's certificate (base64 SHA-256 of its public key, as `esmon serve` prints it)")
	caFile := fs.String("ca-file", "", "check the core's certificate against the CAs in `FILE` (default: the system's)")
	n := fs.Int("subscribers", 100, "number of live `subscribers`")
	ramp := fs.Int("ramp", 200, "new subscribers per `second` while connecting")
	duration := fs.Duration("duration", time.Minute, "how `long` to measure once every subscriber is connected")
	jsonOut := fs.String("json", "", "also write the result as JSON to `FILE` (for plots)")
	cpuProfile := fs.String("cpuprofile", "", "write liveload's own CPU profile of the measured window to `FILE` (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *core == "" || *tokenFile == "" {
		return errors.New("--core and --token-file are required")
	}
	if *n < 1 || *ramp < 1 {
		return errors.New("--subscribers and --ramp must be at least 1")
	}
	b, err := os.ReadFile(*tokenFile)
	if err != nil {
		return fmt.Errorf("read token: %w", err)
	}
	t, err := newTarget(*core, strings.TrimSpace(string(b)), *pin, *caFile)
	if err != nil {
		return err
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var prof io.Writer
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		prof = f
	}
	res, err := measure(ctx, t, *n, *ramp, *duration, prof, stdout)
	if err != nil {
		return err
	}
	res.print(stdout)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	return nil
}
