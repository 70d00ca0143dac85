package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/kardianos/service"
	"golang.org/x/sys/windows"
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

// stopService stops the service and returns once its process has exited,
// not only once it reported itself stopped: the installer removes or
// replaces esmon-agent.exe right after, and Windows refuses to delete the
// image of a process still winding down (the file would then wait for a
// reboot). The process is opened before the stop is sent, so its handle
// cannot name a reused process id. A service already stopped is not an
// error.
func stopService(service.Service) error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return err
	}
	if st.State == svc.Stopped {
		return nil
	}
	var proc windows.Handle
	if st.ProcessId != 0 {
		// Without the handle the stop still happens; only the wait for
		// the process is lost.
		proc, _ = windows.OpenProcess(windows.SYNCHRONIZE, false, st.ProcessId)
	}
	if proc != 0 {
		defer windows.CloseHandle(proc)
	}
	if st.State != svc.StopPending {
		if st, err = s.Control(svc.Stop); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(stopTimeout + 10*time.Second)
	for st.State != svc.Stopped {
		if time.Now().After(deadline) {
			return fmt.Errorf("the service did not stop within %s (state %d)", stopTimeout+10*time.Second, st.State)
		}
		time.Sleep(50 * time.Millisecond)
		if st, err = s.Query(); err != nil {
			return err
		}
	}
	if proc == 0 {
		return nil
	}
	wait := uint32(time.Until(deadline).Milliseconds())
	switch ev, err := windows.WaitForSingleObject(proc, wait); {
	case err != nil:
		return err
	case ev == uint32(windows.WAIT_TIMEOUT):
		return errors.New("the service stopped but its process did not exit")
	}
	return nil
}
