//go:build !windows

package main

import "github.com/kardianos/service"

// serviceFlagArgs are added to the installed service's command line; only
// Windows needs one.
var serviceFlagArgs []string

// runAsService runs prg under the service manager; outside Windows
// kardianos/service tells the two cases apart well enough.
func runAsService(prg *program) error {
	s, err := service.New(prg, serviceConfig(nil))
	if err != nil {
		return err
	}
	return s.Run()
}

// afterInstall has nothing to add outside Windows.
func afterInstall() []string { return nil }

// stopService stops the service; systemd returns once its process is gone.
func stopService(s service.Service) error { return s.Stop() }
