package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"esmon/app/toast"
	"esmon/internal/flock"
)

// errAlreadyRunning is returned by claimInstance to a second launch, after
// it asked the first one to bring its window forward (or open an alert).
var errAlreadyRunning = errors.New("esmon is already running for this user")

// File names of the single-instance claim, in the user's esmon directory.
const (
	instanceLock   = "console.lock"
	instanceSocket = "console.sock"
)

// instance is the console's claim to be the only one of its user: a lock
// on a file, held for the life of the process (the OS drops it when the
// process dies, so a crash leaves no stale claim), and a local socket
// beside it on which a later launch asks this one to show its window, or
// to open an alert: one request line, "show" or "open esmon://alert/ID"
// (the link of a clicked Windows notification), answered "ok" or
// "error: why".
type instance struct {
	lock *os.File
	ln   net.Listener
	log  *slog.Logger
	wg   sync.WaitGroup // the accept loop and its connections
}

// Requests a later launch sends the console that holds the claim.
const (
	requestShow = "show"
	requestOpen = "open " // and an alert link
)

// openRequest asks the running console to open an alert.
func openRequest(alertID string) string { return requestOpen + toast.AlertURL(alertID) }

// claimInstance claims dir for this process. When another process holds
// it, claimInstance sends that one request (requestShow, or openRequest)
// and returns errAlreadyRunning.
func claimInstance(dir string, log *slog.Logger, request string) (*instance, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := flock.Claim(filepath.Join(dir, instanceLock))
	if err != nil {
		if !errors.Is(err, flock.ErrLocked) {
			return nil, fmt.Errorf("instance lock: %w", err)
		}
		if err := raiseFirst(dir, request); err != nil {
			return nil, fmt.Errorf("%w, but it did not answer: %v", errAlreadyRunning, err)
		}
		return nil, errAlreadyRunning
	}
	sock := filepath.Join(dir, instanceSocket)
	_ = os.Remove(sock) // left by a process that died; the lock says it is gone
	ln, err := net.Listen("unix", sock)
	if err != nil {
		flock.Release(f)
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	return &instance{lock: f, ln: ln, log: log}, nil
}

// serve calls show, or open with an alert ID, (from its own goroutine)
// for every later launch, until Close.
func (in *instance) serve(show func(), open func(alertID string)) {
	in.wg.Go(func() {
		for {
			conn, err := in.ln.Accept()
			if err != nil {
				return // closed
			}
			in.wg.Go(func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				line, err := bufio.NewReader(io.LimitReader(conn, maxRequest)).ReadString('\n')
				if err != nil {
					in.log.Warn("unreadable request on the console socket", "err", err)
					return
				}
				answer := "ok"
				switch line = strings.TrimSpace(line); {
				case line == requestShow:
					in.log.Info("another launch of esmon asked for the window")
					show()
				case strings.HasPrefix(line, requestOpen):
					id, err := toast.ParseAlertURL(strings.TrimPrefix(line, requestOpen))
					if err != nil {
						in.log.Warn("refused a request to open an alert", "err", err)
						answer = "error: " + err.Error()
						break
					}
					in.log.Info("another launch of esmon asked to open an alert", "alert", id)
					open(id)
				default:
					in.log.Warn("unknown request on the console socket", "request", fmt.Sprintf("%.64q", line))
					answer = "error: unknown request"
				}
				_, _ = conn.Write([]byte(answer + "\n"))
			})
		}
	})
}

// maxRequest bounds a request line: an alert link is short.
const maxRequest = 1024

// Close gives the claim up.
func (in *instance) Close() {
	in.ln.Close()
	in.wg.Wait()
	flock.Release(in.lock)
}

// raiseFirst sends request to the console that holds dir.
func raiseFirst(dir, request string) error {
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
		if _, err := conn.Write([]byte(request + "\n")); err != nil {
			return fmt.Errorf("ask the running console: %w", err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return fmt.Errorf("the running console did not confirm: %v", err)
		}
		if line = strings.TrimSpace(line); line != "ok" {
			return fmt.Errorf("the running console refused: %s", strings.TrimPrefix(line, "error: "))
		}
		return nil
	}
	return fmt.Errorf("reach the running console: %w", last)
}
