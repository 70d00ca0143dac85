//go:build unix

package fdlimit

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Raise lifts the soft open-file limit to the hard one, and the hard one to
// the kernel's ceiling (fs.nr_open) when the process may (root or
// CAP_SYS_RESOURCE). It returns the soft limit in force afterwards. Go
// already lifts the soft limit to the hard one at start; the part that
// matters is the hard limit, which containers and service managers often
// set to a few thousand.
func Raise() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read open-file limit: %w", err)
	}
	if ceiling := nrOpen(); ceiling > lim.Max {
		want := syscall.Rlimit{Cur: ceiling, Max: ceiling}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			return ceiling, nil
		}
	}
	if lim.Cur < lim.Max {
		want := syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return lim.Cur, fmt.Errorf("raise open-file limit to %d: %w", lim.Max, err)
		}
		return lim.Max, nil
	}
	return lim.Cur, nil
}

// nrOpen is the kernel's largest allowed open-file limit, or 0 where it
// cannot be read.
func nrOpen() uint64 {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
