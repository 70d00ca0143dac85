package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"esmon/agentsvc/collect"
	"esmon/core/wire"
)

// FuzzConfigFile feeds arbitrary settings files to the agent's config
// loading: it must answer with settings or an error, never panic, and the
// settings it accepts must hold what the agent relies on.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte("core: https://core:8470\ninterval: 5s\nservices: [W3SVC, MSSQLSERVER]\nchecks: tcp://db:5432\ntags: [prod]\n"))
	f.Add([]byte("interval: 1s\nprocess_interval: 0\nspool_max_mb: 5\nlog_level: debug\n"))
	f.Add([]byte("jmx:\n  - name: maximo\n    url: service:jmx:rmi:///jndi/rmi://localhost:9999/jmxrmi\n"))
	f.Add([]byte("checks: [\"http://x/health\", 1, true]\ntags: prod,dev\n"))
	f.Add([]byte("interval: {a: 1}\n"))
	f.Add([]byte(":\n- - -"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, doc []byte) {
		path := filepath.Join(dir, "agent.yaml")
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(path, settings(), func(string) string { return "" })
		if err != nil {
			return
		}
		switch {
		case cfg.Interval < minInterval:
			t.Fatalf("interval %v accepted", cfg.Interval)
		case cfg.ProcessInterval != 0 && cfg.ProcessInterval < minInterval:
			t.Fatalf("process interval %v accepted", cfg.ProcessInterval)
		case cfg.SpoolMaxBytes < 1<<20:
			t.Fatalf("spool of %d bytes accepted", cfg.SpoolMaxBytes)
		case cfg.CheckTimeout < 100*time.Millisecond:
			t.Fatalf("check timeout %v accepted", cfg.CheckTimeout)
		case len(cfg.Tags) > wire.MaxTags:
			t.Fatalf("%d tags accepted", len(cfg.Tags))
		}
		for _, tg := range cfg.Tags {
			if !wire.ValidTag(tg) {
				t.Fatalf("tag %q accepted", tg)
			}
		}
		for _, c := range cfg.Checks {
			if _, err := collect.ParseCheck(c); err != nil {
				t.Fatalf("check %q accepted: %v", c, err)
			}
		}
	})
}
