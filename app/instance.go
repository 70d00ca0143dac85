package main

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// errAlreadyRunning is returned by claimInstance to a second launch, after
// it asked the first one to bring its window forward.
var errAlreadyRunning = errors.New("esmon is already running for this user")

// File names of the single-instance claim, in the user's esmon directory.
const (
	instanceLock   = "console.lock"
	instanceSocket = "console.sock"
)

// instance is the console's claim to be the only one of its user: a lock
// on a file, held for the life of the process (the OS drops it when the
// process dies, so a crash leaves no stale claim), and a local socket
// beside it on which a later launch asks this one to show its window.
type instance struct {
	lock *os.File
	ln   net.Listener
	log  *slog.Logger
	wg   sync.WaitGroup // the accept loop and its connections
}

// claimInstance claims dir for this process. When another process holds
// it, claimInstance asks that one to show itself and returns
// errAlreadyRunning.
func claimInstance(dir string, log *slog.Logger) (*instance, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, instanceLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open instance lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if !errors.Is(err, errLocked) {
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		if err := raiseFirst(dir); err != nil {
			return nil, fmt.Errorf("%w, but it did not answer: %v", errAlreadyRunning, err)
		}
		return nil, errAlreadyRunning
	}
	sock := filepath.Join(dir, instanceSocket)
	_ = os.Remove(sock) // left by a process that died; the lock says it is gone
	ln, err := net.Listen("unix", sock)
	if err != nil {
		unlockFile(f)
		f.Close()
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	return &instance{lock: f, ln: ln, log: log}, nil
}

// serve calls show (from its own goroutine) for every later launch, until
// Close.
func (in *instance) serve(show func()) {
	in.wg.Go(func() {
		for {
			conn, err := in.ln.Accept()
			if err != nil {
				return // closed
			}
			in.wg.Go(func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err != nil || strings.TrimSpace(line) != "show" {
					in.log.Warn("unknown request on the console socket", "err", err)
					return
				}
				in.log.Info("another launch of esmon asked for the window")
				show()
				_, _ = conn.Write([]byte("ok\n"))
			})
		}
	})
}

// Close gives the claim up.
func (in *instance) Close() {
	in.ln.Close()
	in.wg.Wait()
	unlockFile(in.lock)
	in.lock.Close()
}

// raiseFirst asks the console that holds dir to show its window.
func raiseFirst(dir string) error {
	var last error
	// The first launch may hold the lock a moment before it listens.
	for range 20 {
		conn, err := net.DialTimeout("unix", filepath.Join(dir, instanceSocket), 2*time.Second)
		if err != nil {
			last = err
			time.Sleep(250 * time.Millisecond)
			continue
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte("show\n")); err != nil {
			return fmt.Errorf("ask the running console: %w", err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ok" {
			return fmt.Errorf("the running console did not confirm: %v", err)
		}
		return nil
	}
	return fmt.Errorf("reach the running console: %w", last)
}
