package link

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait between connection attempts: exponential in the
// number of failed attempts, from Min up to Max, with full jitter so that
// many agents cut off by one core restart do not all come back at once.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff waits between 1 s and 30 s.
var DefaultBackoff = Backoff{Min: time.Second, Max: 30 * time.Second}

// Delay returns the wait before attempt number attempt (0 for the first
// retry). r is a uniform random number in [0, 1); the wait is uniform in
// [Min, min(Max, Min·2^attempt)].
func (b Backoff) Delay(attempt int, r float64) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Millisecond
	}
	if hi < lo {
		hi = lo
	}
	ceil := lo
	for i := 0; i < attempt && ceil < hi; i++ {
		ceil *= 2
	}
	ceil = min(ceil, hi)
	r = min(max(r, 0), 1)
	return lo + time.Duration(r*float64(ceil-lo))
}

// jitter returns a uniform random number in [0, 1).
func jitter() float64 { return rand.Float64() }
