package collect

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
)

// ServiceStates implements ServiceSource through the service control
// manager, asking only for the rights to read a service's status, which
// every user has.
func (System) ServiceStates(_ context.Context, names []string) (map[string]ServiceState, error) {
	scm, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return nil, fmt.Errorf("open service manager: %w", err)
	}
	defer windows.CloseServiceHandle(scm)
	out := make(map[string]ServiceState, len(names))
	for _, n := range names {
		p, err := windows.UTF16PtrFromString(n)
		if err != nil {
			out[n] = ServiceMissing
			continue
		}
		h, err := windows.OpenService(scm, p, windows.SERVICE_QUERY_STATUS)
		if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
			out[n] = ServiceMissing
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open service %s: %w", n, err)
		}
		var st windows.SERVICE_STATUS
		err = windows.QueryServiceStatus(h, &st)
		windows.CloseServiceHandle(h)
		if err != nil {
			return nil, fmt.Errorf("query service %s: %w", n, err)
		}
		out[n] = ServiceState(st.CurrentState)
	}
	return out, nil
}
