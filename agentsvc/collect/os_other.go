//go:build !windows

package collect

import "strings"

// loopback reports whether the interface is the loopback one ("lo" on
// Linux, "lo0" on BSD and macOS).
func loopback(name string) bool {
	return name == "lo" || name == "lo0"
}

// pseudoDevice reports whether a disk I/O device holds no real disk: loop
// devices (mounted images, snaps), RAM disks and compressed RAM swap.
func pseudoDevice(name string) bool {
	for _, p := range []string{"loop", "ram", "zram"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
