//go:build !headless

package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"esmon/core/apiv1"
)

// loadClient is a core with many hosts, each reporting new gauges every
// interval, spread evenly over it (as agents started at random times do),
// and an alert that resolves and fires again every 30 s.
type loadClient struct {
	demoClient
	hosts int
	every time.Duration
}

func (l *loadClient) Subscribe() (<-chan apiv1.Event, func()) {
	ch := make(chan apiv1.Event, 4096)
	done := make(chan struct{})
	var wg sync.WaitGroup
	hosts := make([]apiv1.Host, l.hosts)
	for i := range hosts {
		hosts[i] = apiv1.Host{ID: fmt.Sprintf("h%04d", i),
			Facts:  apiv1.HostFacts{Hostname: fmt.Sprintf("srv-%04d.example.net", i), OS: "linux", Platform: "debian", PlatformVersion: "12", Arch: "amd64", Cores: 8},
			Online: true, Status: apiv1.StatusOK, LastSeen: time.Now(),
			Gauges: apiv1.Gauges{CPU: rand.Float64() * 60, Memory: 30 + rand.Float64()*40, Disk: 20 + rand.Float64()*50}}
	}
	alert := l.alert()
	ch <- apiv1.Event{Type: apiv1.EventSnapshot, Hosts: append([]apiv1.Host(nil), hosts...), Alerts: []apiv1.Alert{alert}}
	wg.Go(func() {
		if l.every <= 0 {
			<-done
			return
		}
		tick := time.NewTicker(l.every / time.Duration(l.hosts))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case now := <-tick.C:
				h := &hosts[i%l.hosts]
				h.LastSeen = now
				h.Gauges.CPU = min(max(h.Gauges.CPU+rand.NormFloat64()*5, 0), 100)
				h.Gauges.Memory = min(max(h.Gauges.Memory+rand.NormFloat64(), 0), 100)
				ev := *h
				select {
				case ch <- apiv1.Event{Type: apiv1.EventHost, Host: &ev}:
				case <-done:
					return
				}
				if i%(l.hosts*6) == 0 { // every 30 s
					to := apiv1.StateFiring
					if alert.State == apiv1.StateFiring {
						to = apiv1.StateResolved
					}
					alert.State = to
					a := alert
					select {
					case ch <- apiv1.Event{Type: apiv1.EventAlert, Transition: &apiv1.Transition{Alert: a, To: to, At: now, Value: 96}}:
					case <-done:
						return
					}
				}
			}
		}
	})
	var once sync.Once
	return ch, func() { once.Do(func() { close(done); wg.Wait() }) }
}

// BenchmarkConsoleHosts measures the real console (GLFW under Xvfb) fed 500
// hosts that each report every 5 s (100 host updates a second), and the
// same 500 hosts idle as the baseline of drawing the window. It reports
// the console process's CPU use over a minute as a percentage of one core,
// from /proc (user + system time), after a 15 s warm-up. Run it alone:
//
//	go test -run '^$' -bench BenchmarkConsoleHosts -benchtime 1x ./app/
func BenchmarkConsoleHosts(b *testing.B) {
	for _, tc := range []struct {
		name  string
		hosts int
		every time.Duration // 0: the hosts never report after the snapshot
	}{
		{"500_hosts_idle", 500, 0},
		{"500_hosts_every_5s", 500, 5 * time.Second},
	} {
		b.Run(tc.name, func(b *testing.B) {
			x := newXDesktop(b)
			c := x.start(b, consoleHostsEnv+"="+strconv.Itoa(tc.hosts), consoleEveryEnv+"="+tc.every.String())
			pid := c.pid(b)
			shot := filepath.Join(b.TempDir(), "screen.png")
			x.waitDrawn(b, c, shot)
			time.Sleep(15 * time.Second) // warm-up: the first layout of every row
			for b.Loop() {
				const window = 60 * time.Second
				before := cpuTime(b, pid)
				time.Sleep(window)
				used := cpuTime(b, pid) - before
				b.ReportMetric(100*used.Seconds()/window.Seconds(), "cpu%")
				b.Logf("console CPU over %v: %v (%.1f%% of one core)", window, used, 100*used.Seconds()/window.Seconds())
			}
			rss := rssKB(b, pid)
			b.ReportMetric(float64(rss)/1024, "rss_MB")
			c.stop(b)
		})
	}
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times on Linux.
const clockTicks = 100

// cpuTime is a process's user plus system CPU time so far.
func cpuTime(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name is in parentheses and may hold spaces.
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// rssKB is a process's resident memory.
func rssKB(b *testing.B, pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(raw)
	if m == nil {
		b.Fatal("no VmRSS")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
