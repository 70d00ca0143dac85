//go:build !unix

package fdlimit

import "math"

// Raise has nothing to do where the OS sets no per-process open-file limit
// (Windows handles are bounded by memory alone).
func Raise() (uint64, error) { return math.MaxUint64, nil }
