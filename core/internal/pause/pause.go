// Package pause waits for a time or a context, whichever ends first.
package pause

import (
	"context"
	"time"
)

// For waits d, or until ctx ends, when it returns ctx's error.
func For(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
