//go:build unix

package main

import (
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

// selfUsage returns the CPU time this process used and its peak RSS.
func selfUsage() (cpuSeconds float64, maxRSS uint64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	rss := uint64(ru.Maxrss)
	if runtime.GOOS == "linux" {
		rss *= 1024 // kilobytes there, bytes on the BSDs and macOS
	}
	return cpu.Seconds(), rss
}

// markWindowsOnSignals has SIGUSR1 start and SIGUSR2 end the measurement
// window of f's ack_window_* figures (a load driver marks its window so);
// the returned func stops it.
func markWindowsOnSignals(f *fleet) (stop func()) {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, windowSignal(0), windowSignal(1))
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sig:
				if s == windowSignal(0) {
					f.markWindow(0)
				} else {
					f.markWindow(1)
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(sig); close(done) }
}

// windowSignal is the signal that starts (0) or ends (1) a measurement
// window.
func windowSignal(i int) os.Signal {
	if i == 0 {
		return syscall.SIGUSR1
	}
	return syscall.SIGUSR2
}
