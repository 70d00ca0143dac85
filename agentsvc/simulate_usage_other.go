//go:build !unix

package main

import "os"

// selfUsage returns zeros where getrusage does not exist; the report then
// leaves the simulator's own cost out.
func selfUsage() (cpuSeconds float64, maxRSS uint64) { return 0, 0 }

// markWindowsOnSignals does nothing where SIGUSR1 and SIGUSR2 do not exist.
func markWindowsOnSignals(*fleet) (stop func()) { return func() {} }

// windowSignal: there is none here.
func windowSignal(int) os.Signal { return nil }
