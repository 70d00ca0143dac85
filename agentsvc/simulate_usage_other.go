//go:build !unix

package main

// selfUsage returns zeros where getrusage does not exist; the report then
// leaves the simulator's own cost out.
func selfUsage() (cpuSeconds float64, maxRSS uint64) { return 0, 0 }
