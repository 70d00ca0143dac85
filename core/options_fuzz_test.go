package core

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzOptions feeds arbitrary settings files, decoded as `esmon serve`
// decodes them (unknown keys refused), to New: it must start a core or
// answer an error, never panic. Paths and the listener are pinned to a
// temporary directory and loopback, so the fuzzer neither writes nor
// reads files elsewhere nor listens outside this machine.
func FuzzOptions(f *testing.F) {
	f.Add([]byte("offline_after: 30s\nstorage:\n  retention: {raw: 48h}\n"))
	f.Add([]byte("alerting:\n  flap_count: 3\n  flap_window: 5m\n  group_wait: 1s\n  escalation:\n    - {after: 5m, channels: [log]}\n"))
	f.Add([]byte("agent_limits:\n  max_series_per_host: 10\n  max_samples_per_second: 5\n  max_throttle: 1s\nhttp:\n  read_header_timeout: 1s\n  idle_timeout: 1m\n"))
	f.Add([]byte("channels:\n  webhooks:\n    - {name: ops, url: 'http://127.0.0.1:1/hook', secret: s}\n  teams:\n    - {url: 'https://example.invalid/flow'}\n"))
	f.Add([]byte("smtp: {host: 127.0.0.1, port: 25, from: esmon@x, to: [ops@x]}\n"))
	f.Add([]byte("agent_config:\n  version: 2\n  interval: 10s\n  services: [W3SVC]\n  checks: ['tcp://db:5432']\n"))
	f.Add([]byte("alerting: {escalation: [{after: 1m, channels: [nope]}]}\n"))
	f.Add([]byte("listen: [\n"))
	dir := f.TempDir()
	quiet := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, doc []byte) {
		var o Options
		dec := yaml.NewDecoder(bytes.NewReader(doc))
		dec.KnownFields(true)
		if err := dec.Decode(&o); err != nil && !errors.Is(err, io.EOF) {
			return
		}
		o.DataDir, o.Listen, o.Logger = filepath.Join(dir, "data"), "127.0.0.1:0", quiet
		o.TLS = TLS{}
		if o.Channels.LogFile != nil {
			o.Channels.LogFile.Path = filepath.Join(dir, "alerts.log")
		}
		c, err := New(o)
		if err != nil {
			return
		}
		if err := c.Stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
	})
}
