package collect

import "strings"

// loopback reports whether the interface is Windows' loopback pseudo
// interface ("Loopback Pseudo-Interface 1").
func loopback(name string) bool {
	return strings.HasPrefix(strings.ToLower(name), "loopback")
}

// pseudoDevice reports whether a disk I/O device holds no real disk. Windows
// reports drive letters only.
func pseudoDevice(string) bool { return false }
