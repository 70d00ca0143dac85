//go:build unix

package main

import (
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
