package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestKVWritesRacingClose: the host registry writes its records behind the
// hellos, so a write can come while the store closes. Writes that were in
// before Close are done (Close waits for them), writes after it get
// ErrClosed; none may reach a closed Badger (which panics, or is a race
// under -race).
func TestKVWritesRacingClose(t *testing.T) {
	for round := 0; round < 20; round++ {
		db, err := Open(Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 400)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 100; i++ {
					k := []byte(fmt.Sprintf("h%d-%d", w, i))
					var err error
					switch i % 3 {
					case 0:
						err = db.Put(k, []byte("v"))
					case 1:
						err = db.PutBatch([][]byte{k}, [][]byte{[]byte("v")})
					default:
						_, err = db.Get(k)
						if errors.Is(err, ErrNotFound) {
							err = nil
						}
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("round %d: a write racing Close: %v, want ErrClosed", round, err)
			}
		}
	}
	db, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for name, err := range map[string]error{
		"put":    db.Put([]byte("k"), []byte("v")),
		"delete": db.Delete([]byte("k")),
		"batch":  db.PutBatch([][]byte{[]byte("k")}, [][]byte{nil}),
		"scan":   db.Scan(nil, func(k, v []byte) bool { return true }),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if _, err := db.Get([]byte("k")); !errors.Is(err, ErrClosed) {
		t.Errorf("get after Close: %v, want ErrClosed", err)
	}
	if lsm, vlog := db.Size(); lsm != 0 || vlog != 0 {
		t.Errorf("size after Close %d/%d, want 0/0", lsm, vlog)
	}
}
