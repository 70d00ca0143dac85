package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"esmon/core/wire"
)

// TestMain runs the agent itself when the test binary is started with
// ESMON_AGENT_MAIN=1, so tests can run the real command as a process.
func TestMain(m *testing.M) {
	if os.Getenv("ESMON_AGENT_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// agentCmd returns the agent command with args, in a clean environment.
func agentCmd(ctx context.Context, t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = []string{"ESMON_AGENT_MAIN=1", "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	if runtime.GOOS == "windows" {
		cmd.Env = append(cmd.Env, "SystemRoot="+os.Getenv("SystemRoot"))
	}
	return cmd
}

func TestOncePrintsSnapshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := agentCmd(ctx, t, "once")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("once: %v\n%s", err, stderr.String())
	}
	var got struct {
		Host    wire.HostFacts
		Metrics []struct {
			Metric string
			Labels map[string]string
			Value  *float64
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if got.Host.Hostname == "" || got.Host.Cores <= 0 {
		t.Errorf("host facts %+v", got.Host)
	}
	seen := map[string]bool{}
	for _, m := range got.Metrics {
		if m.Value == nil {
			t.Errorf("%s has no value", m.Metric)
			continue
		}
		seen[m.Metric] = true
		if m.Metric == wire.CPUCoreUsagePercent && m.Labels[wire.LabelCore] == "" {
			t.Errorf("per-core sample without core label: %+v", m)
		}
	}
	for _, name := range []string{wire.CPUUsagePercent, wire.CPUCoreUsagePercent, wire.MemoryTotalBytes, wire.MemoryUsedPercent, wire.UptimeSeconds} {
		if !seen[name] {
			t.Errorf("no %s in output", name)
		}
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		stderr   string
		noStdout bool
	}{
		{name: "no command", args: nil, code: exitUsage, stderr: "Usage:"},
		{name: "help", args: []string{"--help"}, code: exitOK, stdout: "esmon-agent run"},
		{name: "version", args: []string{"--version"}, code: exitOK, stdout: "esmon-agent dev"},
		{name: "run help", args: []string{"run", "--help"}, code: exitOK, stderr: "-token-file"},
		{name: "install help", args: []string{"install", "--help"}, code: exitOK, stderr: "-config"},
		{name: "unknown command", args: []string{"frobnicate"}, code: exitUsage, stderr: `unknown command "frobnicate"`},
		{name: "interval too short", args: []string{"run", "--core", "http://x", "--token", "t", "--interval", "500ms"}, code: exitUsage, stderr: "minimum is 1s"},
		{name: "no core", args: []string{"run", "--token", "t"}, code: exitUsage, stderr: "no core URL"},
		{name: "no token", args: []string{"run", "--core", "https://core"}, code: exitUsage, stderr: "no agent token"},
		{name: "bad scheme", args: []string{"run", "--core", "ftp://core", "--token", "t"}, code: exitUsage, stderr: "scheme"},
		{name: "install needs config", args: []string{"install"}, code: exitUsage, stderr: "--config FILE, --join-code CODE or --core URL is required"},
		{name: "stray argument", args: []string{"once", "extra"}, code: exitUsage, stderr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstderr: %s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.stderr)
			}
		})
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokFile := write("token", "from-token-file\n")
	file := write("agent.yaml", "core: https://file-core\ntoken: from-file\ninterval: 10s\nlog_level: debug\n")
	fileWithTokenFile := write("tf.yaml", "core: https://file-core\ntoken_file: "+tokFile+"\n")
	both := write("both.yaml", "token: a\ntoken_file: "+tokFile+"\n")
	unknown := write("typo.yaml", "cor: https://x\n")
	lists := write("lists.yaml", "services: [W3SVC, MSSQLSERVER]\nchecks:\n  - tcp://db:5432\n  - https://intranet/health\nspool_max_mb: 5\nlog_file: /var/log/esmon-agent.log\n")
	tagged := write("tags.yaml", "tags: [prod, maximo]\n")

	tests := []struct {
		name    string
		flags   []string
		env     map[string]string
		want    Config
		wantErr string
		procOff bool // the process scan is off: ProcessInterval stays 0
	}{
		{name: "defaults", want: Config{Interval: 5 * time.Second}},
		{name: "file", flags: []string{"--config", file},
			want: Config{Core: "https://file-core", Token: "from-file", Interval: 10 * time.Second, LogLevel: -4}},
		{name: "env over file", flags: []string{"--config", file}, env: map[string]string{"ESMON_CORE": "https://env-core", "ESMON_INTERVAL": "2s"},
			want: Config{Core: "https://env-core", Token: "from-file", Interval: 2 * time.Second, LogLevel: -4}},
		{name: "flag over env", flags: []string{"--config", file, "--core", "wss://flag-core", "--interval", "1s"}, env: map[string]string{"ESMON_CORE": "https://env-core"},
			want: Config{Core: "wss://flag-core", Token: "from-file", Interval: time.Second, LogLevel: -4}},
		{name: "config from env", env: map[string]string{"ESMON_CONFIG": file, "ESMON_LOG_LEVEL": "warn"},
			want: Config{Core: "https://file-core", Token: "from-file", Interval: 10 * time.Second, LogLevel: 4}},
		{name: "token file in file", flags: []string{"--config", fileWithTokenFile},
			want: Config{Core: "https://file-core", Token: "from-token-file", Interval: 5 * time.Second}},
		{name: "token flag over token file in file", flags: []string{"--config", fileWithTokenFile, "--token", "flag-tok"},
			want: Config{Core: "https://file-core", Token: "flag-tok", Interval: 5 * time.Second}},
		{name: "token file flag over token in file", flags: []string{"--config", file, "--token-file", tokFile},
			want: Config{Core: "https://file-core", Token: "from-token-file", Interval: 10 * time.Second, LogLevel: -4}},
		{name: "token and token file together", flags: []string{"--config", both}, wantErr: "keep one"},
		{name: "interval below minimum", flags: []string{"--interval", "999ms"}, wantErr: "minimum is 1s"},
		{name: "interval not a duration", env: map[string]string{"ESMON_INTERVAL": "5"}, wantErr: "want a duration"},
		{name: "unknown key", flags: []string{"--config", unknown}, wantErr: `unknown setting "cor"`},
		{name: "missing file", flags: []string{"--config", filepath.Join(dir, "nope.yaml")}, wantErr: "read config"},
		{name: "bad log level", flags: []string{"--log-level", "loud"}, wantErr: "log level"},
		{name: "lists in the file", flags: []string{"--config", lists},
			want: Config{Interval: 5 * time.Second, Services: []string{"W3SVC", "MSSQLSERVER"}, Checks: []string{"tcp://db:5432", "https://intranet/health"},
				SpoolMaxBytes: 5 << 20, LogFile: "/var/log/esmon-agent.log"}},
		{name: "lists from the environment", env: map[string]string{"ESMON_SERVICES": "a, b,,", "ESMON_CHECKS": "tcp://x:1"},
			want: Config{Interval: 5 * time.Second, Services: []string{"a", "b"}, Checks: []string{"tcp://x:1"}}},
		{name: "bad check", flags: []string{"--checks", "ftp://x"}, wantErr: "want tcp://host:port"},
		{name: "tcp check without port", flags: []string{"--checks", "tcp://x"}, wantErr: "want tcp://host:port"},
		{name: "bad spool size", flags: []string{"--spool-max-mb", "0"}, wantErr: "spool max mb"},
		{name: "process interval off", flags: []string{"--process-interval", "0"}, want: Config{Interval: 5 * time.Second}, procOff: true},
		{name: "process interval too short", flags: []string{"--process-interval", "10ms"}, wantErr: "process interval 10ms is too short"},
		{name: "tags in the file", flags: []string{"--config", tagged}, want: Config{Interval: 5 * time.Second, Tags: []string{"prod", "maximo"}}},
		{name: "tags: env over file", flags: []string{"--config", tagged}, env: map[string]string{"ESMON_TAGS": "dev, team-db"},
			want: Config{Interval: 5 * time.Second, Tags: []string{"dev", "team-db"}}},
		{name: "tags: flag over env", flags: []string{"--tags", "site.2"}, env: map[string]string{"ESMON_TAGS": "dev"}, want: Config{Interval: 5 * time.Second, Tags: []string{"site.2"}}},
		{name: "tag not a word", flags: []string{"--tags", "prod,two words"}, wantErr: `tag "two words"`},
		{name: "too many tags", flags: []string{"--tags", strings.Repeat("a,", wire.MaxTags) + "b"}, wantErr: "tags: at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFlagSet("run", &bytes.Buffer{}, "")
			configPath, ss := configFlags(fs)
			if err := fs.Parse(tt.flags); err != nil {
				t.Fatal(err)
			}
			got, err := loadConfig(*configPath, ss, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.File = ""
			want := tt.want
			want.CheckInterval, want.CheckTimeout = 30*time.Second, 10*time.Second
			if !tt.procOff {
				want.ProcessInterval = 30 * time.Second
			}
			if want.SpoolMaxBytes == 0 {
				want.SpoolMaxBytes = 100 << 20
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestAgentIDIsStable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a, err := agentID(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := agentID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || len(a) != 32 {
		t.Errorf("ids %q then %q, want the same 32-character id", a, b)
	}
	other, err := agentID(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if other == a {
		t.Error("two state directories got the same id")
	}
}

// TestRunSendsToCore runs `esmon-agent run` as a process against a test core
// and checks that a batch with CPU and memory series arrives, and that the
// agent stops on interrupt.
func TestRunSendsToCore(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("interrupting a child process is not portable to Windows")
	}
	type got struct {
		hello  wire.Hello
		series map[string]bool
	}
	var mu sync.Mutex
	var g got
	gotBatch := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			msg, err := wire.Decode(data)
			if err != nil {
				t.Errorf("decode: %v", err)
				return
			}
			var reply any
			switch m := msg.(type) {
			case *wire.Hello:
				mu.Lock()
				g.hello = *m
				mu.Unlock()
				reply = &wire.Welcome{Version: wire.Version, HostID: m.Host.Hostname}
			case *wire.Batch:
				mu.Lock()
				if g.series == nil {
					g.series = map[string]bool{}
				}
				for _, d := range m.Defs {
					g.series[d.Metric] = true
				}
				mu.Unlock()
				once.Do(func() { close(gotBatch) })
				reply = &wire.Ack{Seq: m.Seq}
			}
			frame, _ := wire.Encode(reply)
			if err := conn.WriteMessage(websocket.BinaryMessage, frame); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	state := t.TempDir()
	cmd := agentCmd(ctx, t, "run", "--interval", "1s", "--state-dir", state)
	cmd.Env = append(cmd.Env, "ESMON_CORE="+srv.URL, "ESMON_TOKEN=tok-123")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gotBatch:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no batch within 10 s\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("agent exited with %v\n%s", err, stderr.String())
		}
	case <-time.After(8 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("agent did not stop within 8 s of interrupt\n%s", stderr.String())
	}

	mu.Lock()
	defer mu.Unlock()
	id, _ := os.ReadFile(filepath.Join(state, agentIDFile))
	if g.hello.Token != "tok-123" || g.hello.AgentID != strings.TrimSpace(string(id)) || g.hello.IntervalMS != 1000 || g.hello.AgentVersion != "dev" {
		t.Errorf("hello %+v; state id %q", g.hello, id)
	}
	for _, m := range []string{wire.CPUUsagePercent, wire.MemoryUsedBytes} {
		if !g.series[m] {
			t.Errorf("first batches define no %s; got %v", m, g.series)
		}
	}
	if strings.Contains(stderr.String(), "tok-123") {
		t.Error("the token appears in the logs")
	}
}

// TestSimulate runs `esmon-agent simulate` with three agents against a test
// core: three identities, each with its own host, sending realistic values.
func TestSimulate(t *testing.T) {
	type agentSeen struct {
		hello  wire.Hello
		values map[string][]float64 // by metric, in arrival order
	}
	var mu sync.Mutex
	seen := map[string]*agentSeen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		var me *agentSeen
		defs := map[uint32]string{}
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			msg, err := wire.Decode(data)
			if err != nil {
				t.Errorf("decode: %v", err)
				return
			}
			var reply any
			mu.Lock()
			switch m := msg.(type) {
			case *wire.Hello:
				me = &agentSeen{hello: *m, values: map[string][]float64{}}
				seen[m.AgentID] = me
				reply = &wire.Welcome{Version: wire.Version, HostID: m.Host.Hostname}
			case *wire.Batch:
				for _, d := range m.Defs {
					defs[d.ID] = d.Metric
					if len(d.Labels) > 0 {
						defs[d.ID] += fmt.Sprint(d.Labels)
					}
				}
				for _, s := range m.Snapshots {
					for i, id := range s.IDs {
						me.values[defs[id]] = append(me.values[defs[id]], s.Values[i])
					}
				}
				reply = &wire.Ack{Seq: m.Seq}
			}
			mu.Unlock()
			frame, _ := wire.Encode(reply)
			if err := conn.WriteMessage(websocket.BinaryMessage, frame); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := agentCmd(ctx, t, "simulate", "--agents", "3", "--core", srv.URL, "--token", "tok", "--interval", "1s", "--duration", "4s")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("simulate: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("%d agents said hello, want 3: %v\n%s", len(seen), seen, stderr.String())
	}
	hosts := map[string]bool{}
	for id, a := range seen {
		hosts[a.hello.Host.Hostname] = true
		if a.hello.Token != "tok" || a.hello.Host.Cores == 0 || a.hello.Host.MemoryBytes == 0 {
			t.Errorf("%s: hello %+v", id, a.hello)
		}
		cpu := a.values[wire.CPUUsagePercent]
		if len(cpu) < 2 {
			t.Errorf("%s: %d cpu samples, want one a second", id, len(cpu))
		}
		for _, v := range cpu {
			if v <= 0 || v > 100 {
				t.Errorf("%s: cpu %v", id, v)
			}
		}
		for _, m := range []string{wire.MemoryUsedPercent, wire.DiskUsedPercent, wire.NetReceivedBytesTotal, wire.UptimeSeconds, wire.ProcessCount, wire.Load1} {
			found := false
			for k := range a.values {
				found = found || k == m || strings.HasPrefix(k, m+"[")
			}
			if !found {
				t.Errorf("%s: no %s", id, m)
			}
		}
		for k, vs := range a.values {
			if !strings.Contains(k, "_total") {
				continue
			}
			for i := 1; i < len(vs); i++ {
				if vs[i] < vs[i-1] {
					t.Errorf("%s: counter %s went back: %v", id, k, vs)
				}
			}
		}
	}
	if len(hosts) != 3 {
		t.Errorf("host names %v, want 3 distinct", hosts)
	}
	if !strings.Contains(stdout.String(), "agents 3,") || !strings.Contains(stdout.String(), "with acks 3,") {
		t.Errorf("no summary with 3 agents, all acknowledged:\n%s", stdout.String())
	}
}

// TestWriteServiceConfig checks what `install --core` writes: a config the
// service can run, and a token file, both for the service account alone.
func TestWriteServiceConfig(t *testing.T) {
	tests := []struct {
		name, core, token, join, wantErr string
	}{
		{name: "written", core: "https://core.example:8470", token: "s3cret"},
		{name: "join code", join: testJoinCode},
		{name: "bad join code", join: "esmon1_nonsense", wantErr: "damaged"},
		{name: "no token", core: "https://core.example", wantErr: "no agent token"},
		{name: "bad core URL", core: "core.example", token: "x", wantErr: "scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			p, err := writeServiceConfig(dir, tt.core, tt.token, tt.join)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := loadConfig(p, settings(), func(string) string { return "" })
			if err == nil {
				err = cfg.forRun()
			}
			if err != nil || cfg.Core != tt.core || cfg.Token != tt.token || cfg.JoinCode != tt.join || cfg.StateDir != dir {
				t.Fatalf("config %+v, %v", cfg, err)
			}
			if runtime.GOOS == "windows" {
				return
			}
			modes := map[string]os.FileMode{dir: 0o700, p: 0o600}
			if tt.token != "" {
				modes[filepath.Join(dir, serviceTokenFile)] = 0o600
			}
			for path, want := range modes {
				fi, err := os.Stat(path)
				if err != nil || fi.Mode().Perm() != want {
					t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
				}
			}
			b, _ := os.ReadFile(p)
			if tt.token != "" && strings.Contains(string(b), tt.token) {
				t.Error("the token is in the config file, not only in the token file")
			}
		})
	}
}

// testJoinCode is a well-formed join code for a core that is not there.
var testJoinCode = wire.JoinCode{URL: "https://core.example:8470", Pin: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
	Secret: "0123456789abcdef.c2VjcmV0", Expires: 1900000000}.String()
