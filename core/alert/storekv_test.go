package alert

import (
	"io"
	"log/slog"
	"testing"

	"esmon/core/apiv1"
	"esmon/core/store"
)

// openStoreKV opens a real store on disk, whose KV has PutBatch: the
// writer's batch path.
func openStoreKV(tb testing.TB, dir string) *store.DB {
	tb.Helper()
	db, err := store.Open(store.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// unbatchedKV hides the store's PutBatch: the writer then commits a round
// as separate Puts (one sync each).
type unbatchedKV struct{ store.KV }

// TestAlertBatchPathSurvivesRestart: through PutBatch, a storm's
// transitions and the states of the alerts left firing are committed by
// Close and found by the engine after a restart; the ones resolved are
// gone from the states.
func TestAlertBatchPathSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	kv := openStoreKV(t, dir)
	e, err := Open(kv, slog.New(slog.NewTextHandler(io.Discard, nil)))
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

	kv = openStoreKV(t, dir)
	defer kv.Close()
	e2, err := Open(kv, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	h, err := e2.History(0)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, tr := range h {
		count[tr.To]++
	}
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
