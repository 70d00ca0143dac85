package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/store"
)

// gateKV is a real store whose writes of alert history and states can be
// held (they wait until released) or made to fail.
type gateKV struct {
	db *store.DB

	mu      sync.Mutex
	held    chan struct{} // non-nil: writes wait until it is closed
	entered chan struct{} // receives once per write that waits
	fail    error
	writes  atomic.Int64
}

func (g *gateKV) Get(k []byte) ([]byte, error) { return g.db.Get(k) }
func (g *gateKV) Scan(p []byte, fn func(k, v []byte) bool) error {
	return g.db.Scan(p, fn)
}

func (g *gateKV) gate(k []byte) error {
	if k[0] != store.PrefixAlertHistory && k[0] != store.PrefixAlertState {
		return nil
	}
	g.mu.Lock()
	held, fail := g.held, g.fail
	g.mu.Unlock()
	if held != nil {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		<-held
	}
	g.writes.Add(1)
	return fail
}

func (g *gateKV) Put(k, v []byte) error {
	if err := g.gate(k); err != nil {
		return err
	}
	return g.db.Put(k, v)
}

func (g *gateKV) Delete(k []byte) error {
	if err := g.gate(k); err != nil {
		return err
	}
	return g.db.Delete(k)
}

// hold makes writes wait until the returned function is called.
func (g *gateKV) hold() (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	g.held, g.entered = ch, make(chan struct{}, 1)
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		g.held = nil
		g.mu.Unlock()
		close(ch)
	}
}

// gateJournal passes the history's appends through its gateKV's gate.
type gateJournal struct {
	HistoryLog
	g *gateKV
}

func (j gateJournal) Append(recs [][]byte) error {
	if err := j.g.gate([]byte{store.PrefixAlertHistory}); err != nil {
		return err
	}
	return j.HistoryLog.Append(recs)
}

// openGated opens an engine on the store db in dir through a gateKV, whose
// writes (and the history's) the test can hold and fail.
func openGated(t testing.TB, db *store.DB, dir string) (*Engine, *gateKV) {
	t.Helper()
	g := &gateKV{db: db}
	e, err := Open(g, gateJournal{openHistory(t, dir), g}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return e, g
}

// historyByState returns e's whole history and how many of its
// transitions went to each state.
func historyByState(t testing.TB, e *Engine) ([]apiv1.Transition, map[string]int) {
	t.Helper()
	h, err := e.History(0)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, tr := range h {
		count[tr.To]++
	}
	return h, count
}

func openDisk(t testing.TB, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// storm puts rules rules on one metric, each over every host, and returns
// one batch per host: value v on the metric.
func storm(t testing.TB, e *Engine, rules int) {
	t.Helper()
	var doc strings.Builder
	doc.WriteString("rules:\n")
	for i := range rules {
		fmt.Fprintf(&doc, "  - {name: storm-%d, metric: storm_percent, threshold: %d, severity: critical, enabled: true}\n", i, 50+i)
	}
	if n, _, _, err := e.Import([]byte(doc.String()), "test"); err != nil || n != rules {
		t.Fatalf("import: %d, %v", n, err)
	}
}

func stormBatch(host string, sec int, v float64) []store.Sample {
	return []store.Sample{{Metric: "storm_percent", Labels: store.Labels{{Name: "host", Value: host}}, T: int64(sec) * 1000, V: v}}
}

// TestAlertPersistenceOffTheEvalPath: many rules × many series fire and
// resolve at once while the store's writes are held. Evaluation of the
// further samples completes and returns all its transitions, and the
// active alerts can be read, while no write has been allowed to finish;
// once released, Close commits the queue and a restart finds every
// transition in the history.
func TestAlertPersistenceOffTheEvalPath(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir)
	e, g := openGated(t, db, dir)
	const rules, hosts = 20, 50
	storm(t, e, rules)
	release := g.hold()
	released := false
	defer func() {
		if !released {
			release()
		}
	}()

	fired := 0
	for h := range hosts {
		fired += len(e.Eval(fmt.Sprintf("h%02d", h), stormBatch(fmt.Sprintf("h%02d", h), 0, 99)))
	}
	if fired != rules*hosts {
		t.Fatalf("fired %d, want %d", fired, rules*hosts)
	}
	<-g.entered // the writer is now inside a held write
	before := g.writes.Load()
	resolved := 0
	for h := range hosts {
		for _, tr := range e.Eval(fmt.Sprintf("h%02d", h), stormBatch(fmt.Sprintf("h%02d", h), 5, 10)) {
			if tr.To != apiv1.StateResolved {
				t.Fatalf("want resolved, got %s", tr.To)
			}
			resolved++
		}
	}
	if resolved != rules*hosts {
		t.Fatalf("resolved %d, want %d", resolved, rules*hosts)
	}
	if n := len(e.Active()); n != 0 {
		t.Fatalf("%d alerts still active", n)
	}
	if got := g.writes.Load(); got != before {
		t.Fatalf("%d writes finished while held", got-before)
	}
	if q := e.PersistStats().Queued; q < rules*hosts {
		t.Fatalf("queued %d history records behind the held round, want at least %d", q, rules*hosts)
	}

	release()
	released = true
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	st := e.PersistStats()
	if st.Queued != 0 || st.Errors != 0 {
		t.Fatalf("after Close: %+v", st)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	e2, _ := openEngineOn(t, store.Options{Dir: dir})
	h, count := historyByState(t, e2)
	if count[apiv1.StateFiring] != rules*hosts || count[apiv1.StateResolved] != rules*hosts {
		t.Fatalf("history after restart: %v, want %d firing and %d resolved", count, rules*hosts, rules*hosts)
	}
	if h[0].To != apiv1.StateResolved || h[len(h)-1].To != apiv1.StateFiring {
		t.Fatalf("history out of order: newest %s, oldest %s", h[0].To, h[len(h)-1].To)
	}
	if n := len(e2.Active()); n != 0 {
		t.Fatalf("%d alerts active after restart, want none", n)
	}
}

// TestAlertFullQueueSlowsTheCallerNotTheEngine: with the queue bound
// lowered and the writes held, an Eval whose transitions overfill the
// queue waits, counted, after it released the engine lock: the active
// alerts can be read meanwhile, and the Eval returns once the writes go on.
func TestAlertFullQueueSlowsTheCallerNotTheEngine(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir)
	defer db.Close()
	e, g := openGated(t, db, dir)
	defer e.Close()
	e.w.max = 5
	storm(t, e, 20)
	release := g.hold()

	// The first transition starts a round that holds; the rest queue.
	e.Eval("a", stormBatch("a", 0, 51))
	<-g.entered
	done := make(chan int)
	go func() { done <- len(e.Eval("b", stormBatch("b", 0, 99))) }()
	for e.PersistStats().FullWaits == 0 {
		select {
		case n := <-done:
			release()
			t.Fatalf("Eval returned %d transitions without waiting for a full queue", n)
		default:
		}
	}
	if n := len(e.Active()); n != 21 {
		release()
		t.Fatalf("Active during the wait: %d alerts, want 21", n)
	}
	release()
	if n := <-done; n != 20 {
		t.Fatalf("Eval returned %d transitions, want 20", n)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := e.PersistStats(); st.FullWaits != 1 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestAlertAckIsOnDiskWhenAckReturns: Ack and Unack return only once their
// transition and the alert's state are committed.
func TestAlertAckIsOnDiskWhenAckReturns(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir)
	defer db.Close()
	e, err := Open(db, openHistory(t, dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	storm(t, e, 1)
	ts := e.Eval("a", stormBatch("a", 0, 99))
	if len(ts) != 1 {
		t.Fatalf("transitions %v", ts)
	}
	id := ts[0].Alert.ID
	if _, err := e.Ack(id, "ops@example.com", "on it", ts[0].At); err != nil {
		t.Fatal(err)
	}
	v, err := db.Get(append([]byte{store.PrefixAlertState}, id...))
	if err != nil || !strings.Contains(string(v), `"ops@example.com"`) {
		t.Fatalf("stored state after Ack: %s, %v", v, err)
	}
	if _, err := e.Unack(id, "ops@example.com", ts[0].At); err != nil {
		t.Fatal(err)
	}
	v, err = db.Get(append([]byte{store.PrefixAlertState}, id...))
	if err != nil || strings.Contains(string(v), `"ops@example.com"`) {
		t.Fatalf("stored state after Unack: %s, %v", v, err)
	}
	h, err := e.History(0)
	if err != nil || len(h) != 3 || h[0].Reason != ReasonUnacknowledged || h[1].Reason != ReasonAcknowledged || h[1].Alert.Ack.By != "ops@example.com" {
		t.Fatalf("history %+v, %v", h, err)
	}
}

// TestAlertLostRoundIsRedone shows what a lost round does (the crash case,
// made here by a failing write): Flush reports it, it is counted, the
// restarted engine has neither the alert nor its history, and the alert
// starts again from the next sample over the threshold.
func TestAlertLostRoundIsRedone(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir)
	e, g := openGated(t, db, dir)
	storm(t, e, 1)
	disk := errors.New("disk on fire")
	g.mu.Lock()
	g.fail = disk
	g.mu.Unlock()
	if ts := e.Eval("a", stormBatch("a", 0, 99)); len(ts) != 1 {
		t.Fatalf("transitions %v", ts)
	}
	if err := e.Flush(); !errors.Is(err, disk) {
		t.Fatalf("Flush = %v, want the write's error", err)
	}
	if st := e.PersistStats(); st.Errors == 0 {
		t.Fatalf("stats %+v", st)
	}
	e.Close()
	db.Close()

	e2, _ := openEngineOn(t, store.Options{Dir: dir})
	if h, _ := e2.History(0); len(h) != 0 || len(e2.Active()) != 0 {
		t.Fatalf("after the lost round: history %v, active %v", h, e2.Active())
	}
	ts := e2.Eval("a", stormBatch("a", 5, 99))
	if len(ts) != 1 || ts[0].To != apiv1.StateFiring {
		t.Fatalf("the alert should fire again: %v", ts)
	}
	if h, err := e2.History(0); err != nil || len(h) != 1 {
		t.Fatalf("history %v, %v", h, err)
	}
}

// TestAlertBatchPathSurvivesRestart: through PutBatch, a storm's
// transitions and the states of the alerts left firing are committed by
// Close and found by the engine after a restart; the ones resolved are
// gone from the states.
func TestAlertBatchPathSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	kv := openDisk(t, dir)
	e, err := Open(kv, openHistory(t, dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	const rules = 10
	storm(t, e, rules)
	for h := range 100 {
		e.Eval("h", stormBatch(string(rune('a'+h%26))+string(rune('a'+h/26)), 0, 99))
	}
	for h := range 50 { // half resolve
		e.Eval("h", stormBatch(string(rune('a'+h%26))+string(rune('a'+h/26)), 5, 10))
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if st := e.PersistStats(); st.Rounds == 0 || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := kv.Close(); err != nil {
		t.Fatal(err)
	}

	e2, _ := openEngineOn(t, store.Options{Dir: dir})
	_, count := historyByState(t, e2)
	if count[apiv1.StateFiring] != 100*rules || count[apiv1.StateResolved] != 50*rules {
		t.Fatalf("history after restart: %v", count)
	}
	active := e2.Active()
	if len(active) != 50*rules {
		t.Fatalf("%d alerts active after restart, want %d", len(active), 50*rules)
	}
	for _, a := range active {
		if a.State != apiv1.StateFiring {
			t.Fatalf("restored alert %s is %s", a.ID, a.State)
		}
	}
}

// TestHistoryOfEarlierVersionsIsReadAndDropped: transitions an earlier
// version kept in the store are read after the journal's, newest first,
// and retention removes them by their time.
func TestHistoryOfEarlierVersionsIsReadAndDropped(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir)
	defer db.Close()
	now := time.Now()
	old := []time.Time{now.Add(-100 * 24 * time.Hour), now.Add(-24 * time.Hour)}
	for i, at := range old {
		b, err := json.Marshal(apiv1.Transition{Alert: apiv1.Alert{ID: fmt.Sprintf("old-%d", i)}, To: apiv1.StateFiring, At: at})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Put(timeKey(store.PrefixAlertHistory, at, uint64(i+1)), b); err != nil {
			t.Fatal(err)
		}
	}
	e, err := Open(db, openHistory(t, dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	storm(t, e, 1)
	if ts := e.Eval("a", stormBatch("a", 0, 99)); len(ts) != 1 {
		t.Fatalf("transitions %v", ts)
	}
	ids := func(limit int) []string {
		t.Helper()
		h, err := e.History(limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tr := range h {
			if strings.HasPrefix(tr.Alert.ID, "old-") {
				out = append(out, tr.Alert.ID)
			} else {
				out = append(out, "new")
			}
		}
		return out
	}
	if got := ids(0); !slices.Equal(got, []string{"new", "old-1", "old-0"}) {
		t.Fatalf("history %v", got)
	}
	if got := ids(2); !slices.Equal(got, []string{"new", "old-1"}) {
		t.Fatalf("history(2) %v", got)
	}
	if err := e.DropHistoryBefore(now.Add(-90 * 24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := ids(0); !slices.Equal(got, []string{"new", "old-1"}) {
		t.Fatalf("history after 90 days' retention %v", got)
	}
	if _, err := db.Get(timeKey(store.PrefixAlertHistory, old[0], 1)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the record past retention is still stored: %v", err)
	}
	if err := e.DropHistoryBefore(now); err != nil {
		t.Fatal(err)
	}
	if got := ids(0); !slices.Equal(got, []string{"new"}) || e.legacy.Load() {
		t.Fatalf("history after retention up to now %v (legacy %v)", got, e.legacy.Load())
	}
}
