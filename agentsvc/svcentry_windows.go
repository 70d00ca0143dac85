package main

import (
	"fmt"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// serviceFlagArgs are added to the installed service's command line: on
// Windows the service process says it is one, rather than leave
// kardianos/service to guess with service.Interactive(), which guesses
// wrong under Wine's service manager (MACHINE.md).
var serviceFlagArgs = []string{"--as-service"}

// runAsService runs prg under the Windows service manager until it is told
// to stop.
func runAsService(prg *program) error {
	return svc.Run(serviceName, &winService{prg: prg})
}

// winService is prg as golang.org/x/sys/windows/svc sees it.
type winService struct{ prg *program }

// Execute implements svc.Handler: start, report running, stop on Stop or
// Shutdown within stopTimeout.
func (w *winService) Execute(_ []string, r <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	changes <- svc.Status{State: svc.StartPending}
	if err := w.prg.Start(nil); err != nil {
		return true, 1
	}
	changes <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for c := range r {
		switch c.Cmd {
		case svc.Interrogate:
			changes <- c.CurrentStatus
		case svc.Stop, svc.Shutdown:
			changes <- svc.Status{State: svc.StopPending}
			w.prg.Stop(nil)
			return false, 0
		}
	}
	return false, 0
}

// afterInstall sets what serviceConfig leaves out: delayed automatic start
// (after the network is up) and a restart one second after a failure. It
// returns a warning for each the service manager refused; the service runs
// without it.
func afterInstall() (warnings []string) {
	m, err := mgr.Connect()
	if err != nil {
		return []string{fmt.Sprintf("cannot set delayed start and restart on failure: %v", err)}
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return []string{fmt.Sprintf("cannot set delayed start and restart on failure: %v", err)}
	}
	defer s.Close()
	c, err := s.Config()
	if err == nil {
		c.DelayedAutoStart = true
		err = s.UpdateConfig(c)
	}
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("the service manager refused delayed automatic start (%v); the service starts at boot without delay", err))
	}
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{{Type: mgr.ServiceRestart, Delay: time.Second}}, 10); err != nil {
		warnings = append(warnings, fmt.Sprintf("the service manager refused restart on failure (%v)", err))
	}
	return warnings
}
