//go:build !windows

package collect

import "context"

// ServiceStates implements ServiceSource: there are no Windows services
// here.
func (System) ServiceStates(context.Context, []string) (map[string]ServiceState, error) {
	return nil, ErrNoServices
}
