// Package core wires the parts of the esmon core together: the store, the
// host registry, the alert engine, the notification router, the WebSocket
// hub and the HTTP API. It holds no logic of its own beyond the ingest path
// that hands one batch from part to part.
package core

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"esmon/core/alert"
	"esmon/core/api"
	"esmon/core/apiv1"
	"esmon/core/auth"
	"esmon/core/enrol"
	"esmon/core/hosts"
	"esmon/core/hub"
	"esmon/core/journal"
	"esmon/core/notify"
	"esmon/core/notify/email"
	"esmon/core/store"
	"esmon/core/tlscert"
	"esmon/internal/fdlimit"
)

// AdminTokenFile is the file the core writes into its data directory on
// first start, mode 0600. Agents enrol with join codes instead of a shared
// token (see package enrol).
const AdminTokenFile = "admin.token"

// Options configure a core. Zero values take the defaults noted.
type Options struct {
	// DataDir holds everything the core keeps. Required.
	DataDir string `yaml:"data_dir"`
	// Listen is the address of the HTTP and WebSocket listener.
	// Default 127.0.0.1:8470.
	Listen string `yaml:"listen"`
	// OfflineAfter is how long a host may be silent before it shows as
	// offline. Default 30s.
	OfflineAfter time.Duration `yaml:"offline_after"`
	// SMTP, when set, enables the email channel for very_critical alerts.
	SMTP *email.Config `yaml:"smtp"`
	// Storage tunes the time-series store.
	Storage Storage `yaml:"storage"`
	// Channels configure more notification channels; see Channels.
	Channels Channels `yaml:"channels"`
	// Alerting tunes flap damping and notification grouping.
	Alerting AlertSettings `yaml:"alerting"`
	// PublicURL is the web page's address as people reach it, for links in
	// notifications. Default: the listener's address.
	PublicURL string `yaml:"public_url"`
	// AgentConfig, when set, is pushed to every agent; see AgentConfig.
	AgentConfig *AgentConfig `yaml:"agent_config"`
	// TLS names the certificate; by default the core makes its own.
	TLS TLS `yaml:"tls"`
	// InsecureHTTP serves plain HTTP instead of HTTPS, with a warning in
	// the log: for a trusted test network only.
	InsecureHTTP bool `yaml:"insecure_http"`
	// AllowClearSecrets accepts channel secrets (SMTP passwords, Teams and
	// webhook URLs, webhook keys) written in clear in the settings, with a
	// warning each. Without it a clear secret stops the start and says how
	// to seal it (`esmon secret seal`), so secrets stay encrypted at rest.
	AllowClearSecrets bool `yaml:"allow_clear_secrets"`
	// AgentLimits bound the series and the sample rate of each host.
	AgentLimits hub.Limits `yaml:"agent_limits"`
	// HTTP bounds slow HTTP clients; see HTTPLimits.
	HTTP HTTPLimits `yaml:"http"`

	// Version is shown to agents and in logs.
	Version string `yaml:"-"`
	// Logger receives the core's logs. Default slog.Default().
	Logger *slog.Logger `yaml:"-"`
	// Desktop, when set, receives the transitions routed to the desktop
	// (critical and up). The console sets it.
	Desktop func(apiv1.Transition) `yaml:"-"`
	// Web is the web page to serve at /. Nil serves none.
	Web fs.FS `yaml:"-"`
}

// DefaultListen is where the core listens unless told otherwise.
const DefaultListen = "127.0.0.1:8470"

// Core is a running core.
type Core struct {
	opts   Options
	log    *slog.Logger
	db     *store.DB
	hosts  *hosts.Registry
	alerts *alert.Engine
	hist   *journal.Log // the alert history
	router *notify.Router
	live   *hub.Live
	agents *hub.Agents
	sched  gocron.Scheduler
	ln     net.Listener
	srv    *http.Server
	enrol  *enrol.Registry
	people *auth.Service
	certs  *tlscert.Reloader // nil on plain HTTP

	// evalSeconds times the alert evaluation of each ingested batch.
	evalSeconds prometheus.Histogram

	// started is when Run began serving: no host could report before.
	started time.Time
	// out hands transitions to the router off the ingest path.
	out *outbound

	stopOnce sync.Once
}

// New opens the data directory, creating it and its tokens on first start,
// and binds the listener. Run serves.
func New(opts Options) (c *Core, err error) {
	if opts.DataDir == "" {
		return nil, errors.New("core: data directory is required")
	}
	if err := opts.AgentConfig.validate(); err != nil {
		return nil, err
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.OfflineAfter <= 0 {
		opts.OfflineAfter = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger
	// Every agent and dashboard holds a connection: lift the open-file
	// limit before the first one arrives.
	if n, err := fdlimit.Raise(); err != nil {
		log.Warn("open-file limit stays low; thousands of agents need more", "limit", n, "err", err)
	} else {
		log.Debug("open-file limit", "limit", n)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	c = &Core{opts: opts, log: log}
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()

	adminToken, err := ensureToken(filepath.Join(opts.DataDir, AdminTokenFile), "esm_admin_", log)
	if err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	if c.db, err = store.Open(store.Options{Dir: filepath.Join(opts.DataDir, "db"), Logger: log,
		Retention: opts.Storage.Retention, RepairWAL: opts.Storage.RepairWAL, Registerer: reg}); err != nil {
		return nil, err
	}
	closers = append(closers, c.db.Close)
	if c.hosts, err = hosts.Open(c.db, log); err != nil {
		return nil, err
	}
	hist, err := journal.Open(filepath.Join(opts.DataDir, "db", "history"), journal.Options{Logger: log.With("component", "alert history")})
	if err != nil {
		return nil, fmt.Errorf("open the alert history: %w", err)
	}
	c.hist = hist
	closers = append(closers, hist.Close)
	if c.alerts, err = alert.Open(c.db, hist, log.With("component", "alert")); err != nil {
		return nil, err
	}
	alerts := c.alerts
	closers = append(closers, alerts.Close)
	if c.enrol, err = enrol.Open(c.db, reg, log.With("component", "enrol")); err != nil {
		return nil, err
	}
	c.enrol.Version = opts.Version
	if err := c.setupTLS(reg); err != nil {
		return nil, err
	}

	c.evalSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "esmon_alert_eval_seconds",
		Help:    "Time to evaluate the alert rules against one batch of samples.",
		Buckets: prometheus.ExponentialBuckets(10e-6, 4, 9)})
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), c.evalSeconds)
	c.registerStoreMetrics(reg)

	routes, err := c.routes()
	if err != nil {
		return nil, err
	}
	if c.router, err = notify.NewRouter(routes, reg, c.notifyOptions()); err != nil {
		return nil, err
	}
	// Closers bind the part, not c: the named result c is nil by the time
	// they run on an error return.
	router := c.router
	closers = append(closers, func() error { return router.Stop(context.Background()) })
	c.out = newOutbound(c.router, c.alerts.Flush, log)
	out := c.out
	closers = append(closers, func() error { out.close(); return nil })
	if err := c.configureAlerts(routes); err != nil {
		return nil, err
	}
	c.live = hub.NewLive(c.snapshot, reg, log.With("component", "live"))
	live := c.live
	closers = append(closers, func() error { live.Close(); return nil })
	c.agents = hub.NewAgents(c, hub.NewAgentMetrics(reg), opts.Version, log.With("component", "agents"))
	if err := c.agents.SetLimits(opts.AgentLimits, reg); err != nil {
		return nil, err
	}

	people, err := auth.Open(auth.Options{KV: c.db, BootstrapToken: adminToken, Registerer: reg,
		Logger: log.With("component", "auth")})
	if err != nil {
		return nil, err
	}
	c.people = people
	handler := api.New(api.Deps{
		Hosts: c.hosts, Alerts: rules{c}, Alerting: alerting{c}, Series: c.db,
		Auth: api.NewAuth(people, reg, log), Live: c.live, Agents: c.agents, Enrolment: c,
		Web: opts.Web, Gatherer: reg, Reg: reg, Log: log,
	})
	c.srv = &http.Server{Handler: handler, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	opts.HTTP.apply(c.srv)

	if c.sched, err = c.schedule(); err != nil {
		return nil, err
	}
	closers = append(closers, c.sched.Shutdown)
	if c.ln, err = c.listen(); err != nil {
		return nil, err
	}
	return c, nil
}

// schedule sets up the periodic jobs: offline detection, Badger's
// value-log GC, and the store's rollups and retention.
func (c *Core) schedule() (gocron.Scheduler, error) {
	s, err := gocron.NewScheduler(gocron.WithLogger(gocronLogger{c.log}))
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	period := min(c.opts.OfflineAfter/3, 5*time.Second)
	if _, err := s.NewJob(gocron.DurationJob(period), gocron.NewTask(c.checkSilent),
		gocron.WithName("offline"), gocron.WithSingletonMode(gocron.LimitModeReschedule)); err != nil {
		return nil, fmt.Errorf("schedule offline check: %w", err)
	}
	if _, err := s.NewJob(gocron.DurationJob(5*time.Second), gocron.NewTask(c.tick),
		gocron.WithName("alert-tick"), gocron.WithSingletonMode(gocron.LimitModeReschedule)); err != nil {
		return nil, fmt.Errorf("schedule alert tick: %w", err)
	}
	if _, err := s.NewJob(gocron.DurationJob(saveSeenEvery), gocron.NewTask(c.saveSeen, false),
		gocron.WithName("save-seen"), gocron.WithSingletonMode(gocron.LimitModeReschedule)); err != nil {
		return nil, fmt.Errorf("schedule last-seen save: %w", err)
	}
	if _, err := s.NewJob(gocron.DurationJob(10*time.Minute), gocron.NewTask(c.db.RunValueLogGC),
		gocron.WithName("vlog-gc"), gocron.WithSingletonMode(gocron.LimitModeReschedule)); err != nil {
		return nil, fmt.Errorf("schedule value-log GC: %w", err)
	}
	if err := c.scheduleStorage(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Run serves until ctx is done or Stop is called, then shuts down cleanly.
func (c *Core) Run(ctx context.Context) error {
	c.started = time.Now()
	c.alerts.Up(c.started)
	c.sched.Start()
	c.log.Info("core listening", "addr", c.ln.Addr().String(), "web", c.WebURL(), "data", c.opts.DataDir,
		"admin_token_file", c.AdminTokenPath(), "tls_pin", c.Pin())
	errc := make(chan error, 1)
	go func() { errc <- c.srv.Serve(c.ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			c.shutdown()
			return fmt.Errorf("serve: %w", err)
		}
	}
	return c.shutdown()
}

// Stop shuts the core down; Run returns.
func (c *Core) Stop() error { return c.shutdown() }

func (c *Core) shutdown() error {
	var errs []error
	c.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.agents.Close() // agents first: no batch is half-stored
		if err := c.srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		c.ln.Close() // Shutdown closes it only if Run got as far as serving
		c.live.Close()
		if err := c.sched.Shutdown(); err != nil {
			errs = append(errs, err)
		}
		c.out.close() // every transition reaches the router (and its outbox)
		if err := c.alerts.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := c.hist.Close(); err != nil {
			errs = append(errs, err)
		}
		c.saveSeen(true)
		if err := c.router.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := c.db.Close(); err != nil {
			errs = append(errs, err)
		}
		c.log.Info("core stopped")
	})
	return errors.Join(errs...)
}

// Addr is the address the core listens on.
func (c *Core) Addr() net.Addr { return c.ln.Addr() }

// WebURL is the address of the web page as seen from this machine.
func (c *Core) WebURL() string {
	host, port, _ := net.SplitHostPort(c.ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return c.scheme() + "://" + net.JoinHostPort(host, port) + "/"
}

// Hosts lists the monitored hosts.
func (c *Core) Hosts() []apiv1.Host { return c.hosts.List() }

// ActiveAlerts lists pending and firing alerts, most severe first.
func (c *Core) ActiveAlerts() []apiv1.Alert { return c.alerts.Active() }

// Subscribe returns the live feed (a snapshot first) and its cancel func.
func (c *Core) Subscribe() (<-chan apiv1.Event, func()) { return c.live.Subscribe() }

// AdminTokenPath names the bootstrap admin token's file.
func (c *Core) AdminTokenPath() string { return filepath.Join(c.opts.DataDir, AdminTokenFile) }

// Ref implements hub.SeriesRefs: the hub looks each series an agent
// declares up once, and appends by reference after that.
func (c *Core) Ref(metric string, labels store.Labels) (store.SeriesRef, error) {
	return c.db.Ref(metric, labels)
}

var (
	_ hub.Ingester   = (*Core)(nil)
	_ hub.SeriesRefs = (*Core)(nil)
)

// Ingest implements hub.Ingester: store, evaluate, publish.
func (c *Core) Ingest(ctx context.Context, host string, samples []store.Sample) error {
	if err := c.db.Append(ctx, samples); err != nil {
		return err
	}
	began := time.Now()
	ts := c.alerts.Eval(host, samples)
	c.evalSeconds.Observe(time.Since(began).Seconds())
	update := c.hosts.UpdateBrief
	if c.live.WantsLatest(host) {
		update = c.hosts.Update
	}
	if h, ok := update(host, samples, time.Now()); ok {
		c.live.Publish(apiv1.Event{Type: apiv1.EventHost, Host: &h})
	}
	c.transitions(ts)
	return nil
}

// transitions publishes alert transitions, updates host status and routes
// them to the channels.
func (c *Core) transitions(ts []apiv1.Transition) {
	c.publish(ts)
	c.out.send(ts)
}

// publish puts alert transitions on the live feed and updates the status
// of their hosts.
func (c *Core) publish(ts []apiv1.Transition) {
	if len(ts) == 0 {
		return
	}
	seen := map[string]bool{}
	for i := range ts {
		t := ts[i]
		c.live.Publish(apiv1.Event{Type: apiv1.EventAlert, Transition: &t})
		if seen[t.Alert.Host] {
			continue
		}
		seen[t.Alert.Host] = true
		if h, changed := c.hosts.SetWorst(t.Alert.Host, c.alerts.WorstOn(t.Alert.Host)); changed {
			c.live.Publish(apiv1.Event{Type: apiv1.EventHost, Host: &h})
		}
	}
}

// offlineChunk is how many hosts one agent-offline evaluation takes: it
// holds the alert engine's lock, so thousands of hosts going silent at
// once are evaluated in steps, and the ingest of the hosts still
// reporting (whose evaluation needs the same lock) goes on between them.
const offlineChunk = 100

// checkSilent marks silent hosts offline and fires agent-offline alerts.
// Until one OfflineAfter has passed since the start, no host is declared
// offline: every host was silent while the core was down, and none has
// had the time to come back yet. The alerts of one pass reach the live
// feed chunk by chunk, and the channels together once the pass is done,
// so that a burst is grouped into few messages.
func (c *Core) checkSilent() {
	now := time.Now()
	if now.Sub(c.started) < c.opts.OfflineAfter {
		return
	}
	for _, h := range c.hosts.Silent(now.Add(-c.opts.OfflineAfter)) {
		c.live.Publish(apiv1.Event{Type: apiv1.EventHost, Host: &h})
	}
	// Only hosts silent for at least the shortest offline rule's time
	// can fire one (last seen before now - after + 1 ns: a rule fires on
	// a silence of exactly its time): at 10,000 agents listing all of
	// them every 5 s was 6 % of what the core allocated.
	after, ok := c.alerts.OfflineAfter()
	if !ok {
		return
	}
	list := c.hosts.SilentSince(now.Add(-after + 1))
	var all []apiv1.Transition
	for len(list) > 0 {
		n := min(len(list), offlineChunk)
		ts := c.alerts.EvalOffline(list[:n], now)
		c.publish(ts)
		all = append(all, ts...)
		list = list[n:]
	}
	c.out.send(all)
}

// saveSeenEvery is how often the hosts' last seen times and the agents'
// last contacts, which hellos and batches keep in memory only, are
// written.
const saveSeenEvery = 5 * time.Minute

// saveSeen writes the last seen times and last contacts that are behind;
// all writes every one that is (at shutdown).
func (c *Core) saveSeen(all bool) {
	began := time.Now()
	hosts := c.hosts.SaveSeen()
	agents := c.enrol.FlushContacts(all)
	if hosts+agents > 0 {
		c.log.Debug("saved last seen times", "hosts", hosts, "agents", agents, "took", time.Since(began))
	}
}

// outbound hands transitions to the router from a goroutine of its own, in
// the order they came: the router writes each notification to its outbox
// before it queues it, and neither an agent's batch nor a hello waits on
// that. Before each hand-over it waits until the alert engine committed
// the transitions (flush), so that no notification goes out for a
// transition a crash then takes out of the history. A burst (thousands of
// hosts offline at once) goes out in chunks.
type outbound struct {
	router *notify.Router
	flush  func() error
	log    *slog.Logger

	mu      sync.Mutex // guards pending and closed
	pending []apiv1.Transition
	closed  bool
	wake    chan struct{}
	done    chan struct{}
}

// outboundChunk bounds the transitions of one Router.Send.
const outboundChunk = 256

func newOutbound(r *notify.Router, flush func() error, log *slog.Logger) *outbound {
	o := &outbound{router: r, flush: flush, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go o.run()
	return o
}

// send queues ts for the router and returns at once. After close, it
// sends them itself.
func (o *outbound) send(ts []apiv1.Transition) {
	if len(ts) == 0 {
		return
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		o.hand(ts)
		return
	}
	o.pending = append(o.pending, ts...)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbound) run() {
	defer close(o.done)
	for {
		o.mu.Lock()
		n := min(len(o.pending), outboundChunk)
		chunk := slices.Clone(o.pending[:n])
		o.pending = slices.Delete(o.pending, 0, n)
		closed := o.closed
		o.mu.Unlock()
		if n > 0 {
			o.hand(chunk)
			continue
		}
		if closed {
			return
		}
		<-o.wake
	}
}

// hand gives ts to the router once the alert engine committed them. A
// failed commit is logged; the notifications still go: a late notice of
// an alert beats none.
func (o *outbound) hand(ts []apiv1.Transition) {
	if err := o.flush(); err != nil {
		o.log.Error("alert history not committed before notifying", "err", err)
	}
	o.router.Send(ts...)
}

// close hands what is pending to the router and waits until it has.
// Close may be called more than once.
func (o *outbound) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	<-o.done
}

// snapshot is the live feed's first event: the hosts, with their Latest
// values when latest is set (in-process subscribers; pages get none), and
// the active alerts.
func (c *Core) snapshot(latest bool) apiv1.Event {
	list := c.hosts.ListBrief
	if latest {
		list = c.hosts.List
	}
	return apiv1.Event{Type: apiv1.EventSnapshot, Hosts: list(), Alerts: c.alerts.Active()}
}

func (c *Core) registerStoreMetrics(reg prometheus.Registerer) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esmon_store_series", Help: "Series in the store."},
			func() float64 { return float64(c.db.Stats().Series) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esmon_store_lsm_bytes", Help: "Bytes of Badger's LSM tree."},
			func() float64 { return float64(c.db.Stats().LSMBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esmon_store_vlog_bytes", Help: "Bytes of Badger's value log."},
			func() float64 { return float64(c.db.Stats().VlogByte) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esmon_hosts", Help: "Known hosts."},
			func() float64 { return float64(c.hosts.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esmon_alerts_active", Help: "Pending and firing alerts."},
			func() float64 { return float64(c.alerts.ActiveCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esmon_alert_history_bytes", Help: "Bytes of the alert history's files."},
			func() float64 { return float64(c.hist.Stats().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esmon_alert_history_files", Help: "Files of the alert history (one a day)."},
			func() float64 { return float64(c.hist.Stats().Files) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "esmon_alert_history_tail_cuts_total",
			Help: "Torn ends of the alert history's files cut at start."},
			func() float64 { return float64(c.hist.Stats().TailCuts) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "esmon_alert_history_damaged_frames_total",
			Help: "Damaged frames of the alert history met by reads (the older records of their file are skipped)."},
			func() float64 { return float64(c.hist.Stats().Damaged) }),
	)
}

// rules adapts the alert engine to the API: rule changes publish and route
// the transitions they cause.
type rules struct{ c *Core }

func (r rules) Active() []apiv1.Alert                         { return r.c.alerts.Active() }
func (r rules) History(limit int) ([]apiv1.Transition, error) { return r.c.alerts.History(limit) }
func (r rules) Rules() []apiv1.Rule                           { return r.c.alerts.Rules() }
func (r rules) Rule(id string) (apiv1.Rule, bool)             { return r.c.alerts.Rule(id) }

func (r rules) PutRule(ru apiv1.Rule, create bool) (apiv1.Rule, error) {
	saved, ts, err := r.c.alerts.PutRule(ru, create)
	r.c.transitions(ts)
	return saved, err
}

func (r rules) DeleteRule(id, by string) error {
	ts, err := r.c.alerts.DeleteRule(id, by)
	r.c.transitions(ts)
	return err
}

var _ api.Alerts = rules{}

// ensureToken reads the token in path, or creates it (mode 0600) with a
// fresh random secret. It logs the path, never the token.
func ensureToken(path, prefix string, log *slog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("token file %s is empty", path)
		}
		return t, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	t := prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	if _, err := f.WriteString(t + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	log.Info("created token file (keep it secret)", "path", path)
	return t, nil
}

// gocronLogger sends gocron's logs to slog.
type gocronLogger struct{ l *slog.Logger }

func (g gocronLogger) Debug(msg string, args ...any) { g.l.Debug(msg, args...) }
func (g gocronLogger) Error(msg string, args ...any) { g.l.Error(msg, args...) }
func (g gocronLogger) Info(msg string, args ...any)  { g.l.Debug(msg, args...) }
func (g gocronLogger) Warn(msg string, args ...any)  { g.l.Warn(msg, args...) }
