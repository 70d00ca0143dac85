package main

// The two load tools' outputs are read here and nowhere else: their JSON
// (and what simulate prints) may gain, lose or rename fields, so every
// figure is looked up by name in a flattened copy of the document and is
// NaN when absent.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// figures is a JSON document flattened to dotted keys with numeric leaves
// (booleans as 0/1).
type figures map[string]float64

func flatten(prefix string, v any, out figures) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(key, e, out)
		}
	case float64:
		out[prefix] = x
	case bool:
		out[prefix] = map[bool]float64{false: 0, true: 1}[x]
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			out[prefix] = f
		}
	}
}

// readFigures reads a JSON file written by a load tool.
func readFigures(path string) (figures, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseFigures(path, b)
}

// parseFigures reads the JSON b (from the file name) written by a load tool.
func parseFigures(name string, b []byte) (figures, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := figures{}
	flatten("", v, out)
	return out, nil
}

// get returns the first of names found: as a whole key, or as the last
// part of a dotted key (shortest such key first). NaN when none is.
func (f figures) get(names ...string) float64 {
	for _, n := range names {
		if v, ok := f[n]; ok {
			return v
		}
	}
	for _, n := range names {
		var keys []string
		for k := range f {
			if strings.HasSuffix(k, "."+n) {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			sort.Slice(keys, func(i, j int) bool { return len(keys[i]) < len(keys[j]) })
			return f[keys[0]]
		}
	}
	return math.NaN()
}

// simFigures is what the driver uses of `esmon-agent simulate`.
type simFigures struct {
	Agents, Connected, Snapshots, SamplesSent, SamplesAcked, BatchesAcked float64
	AckP50, AckP99, AckMax                                                float64 // ms, measured by the agents
	WinAckP50, WinAckP99                                                  float64 // ms, the same in the window
	Dropped, Reconnects, AllConnectedAfterS, Queued                       float64
	// --verify: agents checked and matched, snapshots acknowledged,
	// points stored, missing and extra, and whether it passed (1/0).
	VerifyChecked, VerifyMatched, VerifyAcked, VerifyStored, VerifyMissing, VerifyExtra, VerifyOK float64
	// Skipped are the collections the simulator skipped for falling
	// behind, by host: the times on either side of each gap ("skipped").
	Skipped map[string][][2]int64
}

func simFromJSON(f figures) simFigures {
	return simFigures{
		Agents: f.get("agents"), Connected: f.get("connected"), Snapshots: f.get("snapshots"),
		SamplesSent: f.get("samples_sent"), SamplesAcked: f.get("samples_acked"), BatchesAcked: f.get("batches_acked"),
		AckP50: f.get("ack_p50_ms"), AckP99: f.get("ack_p99_ms"), AckMax: f.get("ack_max_ms"),
		WinAckP50: f.get("ack_window_p50_ms"), WinAckP99: f.get("ack_window_p99_ms"),
		Dropped: f.get("dropped"), Reconnects: f.get("reconnects"), AllConnectedAfterS: f.get("all_connected_after_s"),
		Queued:        f.get("queued", "queued_snapshots"),
		VerifyChecked: f.get("verify.checked"), VerifyMatched: f.get("verify.matched"),
		VerifyAcked: f.get("verify.acked_snapshots"), VerifyStored: f.get("verify.stored_points"),
		VerifyMissing: f.get("verify.missing_points"), VerifyExtra: f.get("verify.extra_points"), VerifyOK: f.get("verify.ok"),
	}
}

// simLine matches simulate's periodic totals line, e.g. "12:00:00 agents
// 100, connected 100, with acks 100, queued snapshots 0, dropped 0".
var simLine = regexp.MustCompile(`agents (\d+), connected (\d+).*?queued snapshots (\d+), dropped (\d+)`)

// simFromText fills what the JSON lacked from the last totals line.
func (s *simFigures) fromText(line string) {
	m := simLine.FindStringSubmatch(line)
	if m == nil {
		return
	}
	num := func(i int) float64 { v, _ := strconv.ParseFloat(m[i], 64); return v }
	if math.IsNaN(s.Agents) {
		s.Agents = num(1)
	}
	if math.IsNaN(s.Connected) {
		s.Connected = num(2)
	}
	if math.IsNaN(s.Queued) {
		s.Queued = num(3)
	}
	if math.IsNaN(s.Dropped) {
		s.Dropped = num(4)
	}
}

func nanSim() simFigures {
	n := math.NaN()
	return simFigures{n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, nil}
}

// liveFigures is what the driver uses of liveload's result.
type liveFigures struct {
	Subscribers, Connected, ConnectFailures, Dropped float64
	Updates, UpdatesPerS                             float64
	P50, P90, P99, Max                               float64 // ms
	BytesPerSubscriber                               float64
	LoadP99                                          float64 // ms, dial to snapshot
}

func liveFromJSON(f figures) liveFigures {
	return liveFigures{
		Subscribers: f.get("subscribers"), Connected: f.get("connected"), ConnectFailures: f.get("connect_failures"),
		Dropped: f.get("dropped_by_core", "dropped"), Updates: f.get("updates"), UpdatesPerS: f.get("updates_per_second"),
		P50: f.get("p50_ms"), P90: f.get("p90_ms"), P99: f.get("p99_ms"), Max: f.get("max_ms"),
		BytesPerSubscriber: f.get("bytes_per_subscriber"), LoadP99: f.get("snapshot_p99_ms"),
	}
}

func nanLive() liveFigures {
	n := math.NaN()
	return liveFigures{n, n, n, n, n, n, n, n, n, n, n, n}
}

// tool is a running load tool: its process, and the lines it printed.
type tool struct {
	name     string
	cmd      *exec.Cmd
	exited   chan struct{}
	logPath  string
	mu       sync.Mutex
	lastLine string // last line matching the tool's totals, if any
	seen     chan struct{}
	seenOnce sync.Once
	waitFor  string // a substring whose first appearance closes seen
}

// startTool starts bin with args; stdout and stderr go to logPath, and
// each stdout line is also scanned as it comes.
func startTool(name, bin string, args []string, logPath, waitFor string) (*tool, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	t := &tool{name: name, logPath: logPath, exited: make(chan struct{}), seen: make(chan struct{}), waitFor: waitFor}
	t.cmd = exec.Command(bin, args...)
	t.cmd.SysProcAttr = childAttr()
	t.cmd.Stderr = lf
	pr, pw := io.Pipe()
	t.cmd.Stdout = pw
	if err := t.cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	fmt.Fprintf(lf, "# %s %s\n", bin, strings.Join(args, " "))
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(lf, line)
			if simLine.MatchString(line) {
				t.mu.Lock()
				t.lastLine = line
				t.mu.Unlock()
			}
			if t.waitFor != "" && strings.Contains(line, t.waitFor) {
				t.seenOnce.Do(func() { close(t.seen) })
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		t.cmd.Wait()
		pw.Close()
		<-done
		lf.Close()
		close(t.exited)
	}()
	return t, nil
}

func (t *tool) pid() int { return t.cmd.Process.Pid }

// signal sends the tool sig, if it runs.
func (t *tool) signal(sig os.Signal) { t.cmd.Process.Signal(sig) }

func (t *tool) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastLine
}

// wait waits up to d for the tool to end by itself.
func (t *tool) wait(d time.Duration) bool {
	select {
	case <-t.exited:
		return true
	case <-time.After(d):
		return false
	}
}

// stop asks the tool to finish (SIGTERM: it writes its result), and kills
// it when it has not after grace.
func (t *tool) stop(grace time.Duration) {
	select {
	case <-t.exited:
		return
	default:
	}
	t.cmd.Process.Signal(syscall.SIGTERM)
	if !t.wait(grace) {
		t.cmd.Process.Signal(syscall.SIGKILL)
		<-t.exited
	}
}

func (t *tool) exitCode() int {
	if t.cmd.ProcessState == nil {
		return -1
	}
	return t.cmd.ProcessState.ExitCode()
}

func (t *tool) logTail() string {
	b, _ := os.ReadFile(t.logPath)
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return string(b)
}

// supportsFlag reports whether `bin args... --help` mentions flag, so the
// driver passes --json only to a tool that has it.
// helpSays reports whether bin's help for args mentions text.
func helpSays(bin string, args []string, text string) bool {
	out, _ := exec.Command(bin, append(args, "--help")...).CombinedOutput()
	return strings.Contains(string(out), text)
}

func supportsFlag(bin string, args []string, flag string) bool {
	out, _ := exec.Command(bin, append(args, "--help")...).CombinedOutput()
	return strings.Contains(string(out), "-"+flag+" ") || strings.Contains(string(out), "-"+flag+"\n") ||
		strings.Contains(string(out), "-"+flag+"\t") || strings.Contains(string(out), "--"+flag)
}
