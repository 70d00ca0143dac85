package jmx

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"esmon/agentsvc/link"
)

// Protocol is the version of the line protocol the bridge must speak.
const Protocol = 1

// bridgeClass is the bridge's main class.
const bridgeClass = "esmon.jmx.Bridge"

const (
	// maxLine bounds one line from the bridge; a longer one breaks the
	// protocol and the bridge is restarted.
	maxLine = 16 << 20
	// maxLogLine bounds one logged line of the bridge's standard error.
	maxLogLine = 2000
	// answerGrace is how much longer than its own timeout the bridge may
	// take to answer before it counts as hung and is killed.
	answerGrace = 2 * time.Second
	// stopGrace is how long a bridge may take to exit after its standard
	// input closes, before it is killed.
	stopGrace = 2 * time.Second
)

// errNotRunning is the answer while the bridge is down or restarting.
var errNotRunning = errors.New("JMX bridge is not running (starting or restarting)")

// bridge runs the bridge process of one JVM: it starts it, restarts it with
// backoff when it dies, and sends it requests. Run owns the process; query
// may be called from any goroutine.
type bridge struct {
	target    Target
	java      string
	args      []string
	log       *slog.Logger
	backoff   link.Backoff
	stableFor time.Duration // a process that ran this long resets the backoff
	helloWait time.Duration // how long a starting bridge may take to say hello
	grace     time.Duration // answerGrace; shorter in tests

	mu     sync.Mutex // guards proc, starts and tried
	proc   *process   // the process that answers requests, nil while down
	starts int        // processes started, for tests and logs
	// tried, when armed, is closed as soon as a process has connected to
	// its JVM or ended, so a single collection (OneShot) knows when to ask.
	tried chan struct{}
}

// armTried returns a channel that is closed when the next process has
// connected to its JVM or ended.
func (b *bridge) armTried() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tried = make(chan struct{})
	return b.tried
}

// triedOne closes the armed channel, if any.
func (b *bridge) triedOne() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tried != nil {
		close(b.tried)
		b.tried = nil
	}
}

// newBridge prepares the command that runs t's bridge with class path cp
// (the bridge jar or classes directory).
func newBridge(t Target, cp string, log *slog.Logger) *bridge {
	java := t.Java
	if java == "" {
		java = "java"
		if home := os.Getenv("JAVA_HOME"); home != "" {
			java = filepath.Join(home, "bin", "java")
		}
	}
	// A hung JVM must not hold a bridge thread for ever: RMI calls give up
	// after twice the timeout.
	rmiTimeout := max(2*t.Timeout, 5*time.Second)
	args := []string{"-Xmx64m", "-Dsun.rmi.transport.tcp.responseTimeout=" + strconv.FormatInt(rmiTimeout.Milliseconds(), 10)}
	args = append(args, t.JavaOptions...)
	args = append(args, "-cp", strings.Join(append([]string{cp}, t.ClassPath...), string(os.PathListSeparator)), bridgeClass)
	return &bridge{
		target:    t,
		java:      java,
		args:      args,
		log:       log.With("jvm", t.Name),
		backoff:   link.Backoff{Min: time.Second, Max: time.Minute},
		stableFor: 5 * time.Minute,
		helloWait: 30 * time.Second,
		grace:     answerGrace,
	}
}

// Run keeps the bridge running until ctx is cancelled, then stops it and
// returns once the process and every goroutine of it have ended.
func (b *bridge) Run(ctx context.Context) {
	attempt := 0
	for {
		began := time.Now()
		err := b.runOnce(ctx)
		b.triedOne()
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) >= b.stableFor {
			attempt = 0
		}
		wait := b.backoff.Delay(attempt, rand.Float64())
		attempt++
		b.log.Warn("JMX bridge stopped; restarting", "err", err, "after", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// runOnce runs one bridge process until it exits or ctx is cancelled, and
// says why it ended.
func (b *bridge) runOnce(ctx context.Context) error {
	cmd := exec.Command(b.java, b.args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", b.java, err)
	}
	b.mu.Lock()
	b.starts++
	b.mu.Unlock()
	p := &process{cmd: cmd, stdin: stdin, pending: map[uint64]*call{}, hello: make(chan error, 1), exited: make(chan struct{})}

	var readers sync.WaitGroup
	readers.Go(func() { b.logStderr(stderr) })
	readers.Go(func() { p.read(stdout, b.log) })
	waited := make(chan struct{})
	go func() {
		readers.Wait()
		p.finish(cmd.Wait())
		close(waited)
	}()
	defer func() {
		b.mu.Lock()
		if b.proc == p {
			b.proc = nil
		}
		b.mu.Unlock()
		p.stop(waited)
	}()

	hello := time.NewTimer(b.helloWait)
	defer hello.Stop()
	select {
	case err := <-p.hello:
		if err != nil {
			p.kill(err)
			return err
		}
	case <-hello.C:
		err := fmt.Errorf("no hello from the bridge within %s", b.helloWait)
		p.kill(err)
		return err
	case <-p.exited:
		return p.exitErr()
	case <-ctx.Done():
		return ctx.Err()
	}

	connect := request{Op: "connect", URL: b.target.URL, Username: b.target.Username, Password: b.target.Password, Env: b.target.ConnectorEnv}
	if _, err := p.do(ctx, connect, b.helloWait); err != nil {
		p.kill(err)
		return fmt.Errorf("configure the bridge: %w", err)
	}
	b.log.Info("JMX bridge running", "url", b.target.URL, "pid", cmd.Process.Pid)
	b.mu.Lock()
	b.proc = p
	b.mu.Unlock()
	b.triedOne()

	select {
	case <-p.exited:
		return p.exitErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logStderr copies the bridge's standard error into the agent's log, a
// line at a time.
func (b *bridge) logStderr(r io.Reader) {
	br := bufio.NewReaderSize(r, 4096)
	for {
		line, err := br.ReadString('\n')
		if line = strings.TrimRight(line, "\r\n"); line != "" {
			if len(line) > maxLogLine {
				line = line[:maxLogLine] + "…"
			}
			b.log.Info("JMX bridge: " + line)
		}
		if err != nil {
			return
		}
	}
}

// query asks the bridge for qs. The bridge answers within wait, or it is
// counted as hung and killed; ctx may end the wait earlier without that.
func (b *bridge) query(ctx context.Context, qs []Query, wait time.Duration) (*response, error) {
	b.mu.Lock()
	p := b.proc
	b.mu.Unlock()
	if p == nil {
		return nil, errNotRunning
	}
	return p.do(ctx, request{Op: "query", TimeoutMS: wait.Milliseconds(), Queries: qs}, wait+b.grace)
}

// pid returns the process id of the running bridge, or 0.
func (b *bridge) pid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == nil {
		return 0
	}
	return b.proc.cmd.Process.Pid
}

// startCount returns how many bridge processes were started.
func (b *bridge) startCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.starts
}

// request is one line to the bridge.
type request struct {
	ID        uint64            `json:"id"`
	Op        string            `json:"op"`
	URL       string            `json:"url,omitempty"`
	Username  string            `json:"username,omitempty"`
	Password  string            `json:"password,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	TimeoutMS int64             `json:"timeout_ms,omitempty"`
	Queries   []Query           `json:"queries,omitempty"`
}

// response is one line from the bridge. Error alone means the request
// failed as a whole; Errors are the parts of a query that failed.
type response struct {
	ID      uint64   `json:"id"`
	OK      bool     `json:"ok"`
	Error   string   `json:"error"`
	Samples []sample `json:"samples"`
	Errors  []string `json:"errors"`
}

// sample is one value the bridge read.
type sample struct {
	Metric string            `json:"metric"`
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// hello is the bridge's first line.
type hello struct {
	Hello    string `json:"hello"`
	Protocol int    `json:"protocol"`
	Java     string `json:"java"`
	VM       string `json:"vm"`
}

// process is one running bridge. Requests are written under wmu and
// matched to their answers by id.
type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	hello  chan error    // receives once: nil after a good hello
	exited chan struct{} // closed when the process has exited

	wmu sync.Mutex // guards writes to stdin

	mu      sync.Mutex       // guards the fields below
	nextID  uint64           // the id of the last request
	pending map[uint64]*call // requests without an answer yet
	killed  error            // why the process was killed, if it was
	waitErr error            // what Wait returned
}

// call is a request waiting for its answer.
type call struct {
	answer chan *response // buffered; receives the answer once
}

// do sends req and waits for its answer. If none comes within wait the
// process is killed as hung; if ctx ends first do returns ctx's error and
// the answer, when it comes, is dropped.
func (p *process) do(ctx context.Context, req request, wait time.Duration) (*response, error) {
	c := &call{answer: make(chan *response, 1)}
	p.mu.Lock()
	p.nextID++
	req.ID = p.nextID
	p.pending[req.ID] = c
	p.mu.Unlock()

	line, err := json.Marshal(req)
	if err != nil {
		p.forget(req.ID)
		return nil, fmt.Errorf("encode request: %w", err)
	}
	// The watchdog outlives an early return for ctx: a bridge that never
	// answers is killed even when nobody waits for it any more.
	watchdog := time.AfterFunc(wait, func() {
		p.mu.Lock()
		_, still := p.pending[req.ID]
		p.mu.Unlock()
		if still {
			p.kill(fmt.Errorf("bridge gave no answer within %s", wait))
		}
	})

	p.wmu.Lock()
	_, err = p.stdin.Write(append(line, '\n'))
	p.wmu.Unlock()
	if err != nil {
		watchdog.Stop()
		p.forget(req.ID)
		if e := p.exitErr(); e != nil {
			return nil, e
		}
		return nil, fmt.Errorf("write to bridge: %w", err)
	}
	select {
	case r := <-c.answer:
		watchdog.Stop()
		if r.Error != "" {
			return nil, errors.New(r.Error)
		}
		return r, nil
	case <-p.exited:
		watchdog.Stop()
		return nil, p.exitErr()
	case <-ctx.Done():
		// Keep the call pending: the watchdog still kills a bridge that
		// never answers, and a late answer is dropped.
		return nil, ctx.Err()
	}
}

func (p *process) forget(id uint64) {
	p.mu.Lock()
	delete(p.pending, id)
	p.mu.Unlock()
}

// read takes the bridge's standard output: the hello, then answers. It
// returns at the end of the output, or when the output breaks the
// protocol, after killing the process.
func (p *process) read(r io.Reader, log *slog.Logger) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	greeted := false
	for sc.Scan() {
		line := sc.Bytes()
		if !greeted {
			var h hello
			err := json.Unmarshal(line, &h)
			switch {
			case err != nil || h.Hello != "esmon-jmx":
				err = fmt.Errorf("bridge did not say hello: %.200q", line)
			case h.Protocol != Protocol:
				err = fmt.Errorf("bridge speaks protocol %d, want %d", h.Protocol, Protocol)
			default:
				log.Debug("JMX bridge started", "java", h.Java, "vm", h.VM)
			}
			p.hello <- err
			if err != nil {
				p.kill(err)
				io.Copy(io.Discard, r)
				return
			}
			greeted = true
			continue
		}
		var resp response
		if err := json.Unmarshal(line, &resp); err != nil || resp.ID == 0 {
			err := fmt.Errorf("bridge broke the protocol: %.200q", line)
			p.kill(err)
			io.Copy(io.Discard, r)
			return
		}
		p.mu.Lock()
		c := p.pending[resp.ID]
		delete(p.pending, resp.ID)
		p.mu.Unlock()
		if c != nil {
			c.answer <- &resp
		}
	}
	if err := sc.Err(); err != nil {
		p.kill(fmt.Errorf("read from bridge: %w", err))
		io.Copy(io.Discard, r)
	}
	if !greeted {
		p.hello <- errors.New("bridge exited before its hello")
	}
}

// kill ends the process, remembering why for the requests it fails.
func (p *process) kill(why error) {
	p.mu.Lock()
	if p.killed == nil {
		p.killed = why
	}
	p.mu.Unlock()
	p.cmd.Process.Kill()
}

// finish records how the process ended and wakes every waiter.
func (p *process) finish(waitErr error) {
	p.mu.Lock()
	p.waitErr = waitErr
	p.pending = map[uint64]*call{}
	p.mu.Unlock()
	close(p.exited)
}

// exitErr says why the process ended.
func (p *process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.killed != nil:
		return fmt.Errorf("bridge killed: %w", p.killed)
	case p.waitErr != nil:
		return fmt.Errorf("bridge exited: %w", p.waitErr)
	}
	return errors.New("bridge exited")
}

// stop closes the bridge's standard input, which ends it, waits up to
// stopGrace, then kills it; it returns once waited is closed.
func (p *process) stop(waited <-chan struct{}) {
	p.stdin.Close()
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-waited:
		return
	case <-t.C:
		p.kill(errors.New("did not exit after its input closed"))
	}
	<-waited
}
