package core

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"esmon/core/auth"
	"esmon/core/store"
)

// People is who may sign in: the console uses it to create the first admin
// on its own screen and to manage users without going through HTTP.
func (c *Core) People() *auth.Service { return c.people }

// OpenPeople opens the users of the core whose data directory is dir,
// for `esmon users` while that core is stopped: Badger admits one process,
// so with the core running this fails and the web page or the API is the
// way. The returned func closes the store.
func OpenPeople(dir string, log *slog.Logger) (*auth.Service, func() error, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("data directory: %w", err)
	}
	db, err := store.Open(store.Options{Dir: filepath.Join(dir, "db"), Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("open the store (is the core running? then use the web page or /api/v1/users): %w", err)
	}
	svc, err := auth.Open(auth.Options{KV: db, Logger: log})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return svc, db.Close, nil
}
