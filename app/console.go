//go:build !headless

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"esmon/core"
	"esmon/core/apiv1"
	"esmon/core/store"
	"esmon/ui"
	"esmon/ui/remote"
)

// appID names esmon to the desktop: preferences, notifications, the tray.
const appID = "com.esolutions.esmon"

// console is the GUI build's consoleUI: the Fyne console of package ui,
// holding this user's single-instance claim while it runs.
type console struct {
	*ui.Console
	log     *slog.Logger
	inst    *instance
	cfg     config
	cfgPath string
	args    []string // of this launch, for start at sign-in
}

var _ consoleUI = (*console)(nil)

// newConsole claims the console for this user, then makes the Fyne app and
// its console; it shows nothing until Run or Connect. A second launch gets
// errAlreadyRunning once the first has brought its window forward, or
// opened the alert of cfg.openAlert (esmon --open).
func newConsole(logger *slog.Logger, cfg config, cfgPath string, args []string) (consoleUI, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return nil, fmt.Errorf("find the user's config directory: %w", err)
	}
	request := requestShow
	if cfg.openAlert != "" {
		request = openRequest(cfg.openAlert)
	}
	inst, err := claimInstance(filepath.Join(dir, "esmon"), logger, request)
	if err != nil {
		return nil, err
	}
	a := app.NewWithID(appID)
	uc := ui.NewConsole(a, logger.With("part", "console"))
	uc.SetPlacer(newPlacer())
	return &console{Console: uc, log: logger,
		inst: inst, cfg: cfg, cfgPath: cfgPath, args: args}, nil
}

// Run shows the window and tray on the main goroutine, attached to the core
// in this process, until the user quits from the tray or ctx is done.
func (c *console) Run(ctx context.Context, cr *core.Core) error {
	defer c.inst.Close()
	client, err := newLocalClient(cr, c.log)
	if err != nil {
		return err
	}
	c.SetOptions(ui.Options{Autostart: c.autostart(), Core: c.coreSettings(cr), OpenAlert: c.cfg.openAlert})
	c.serveLaunches()
	defer clickableNotifications(c)()
	return c.Console.Run(ctx, client)
}

// Connect runs the console attached to a remote core over its API and
// /ws/live; desktop notifications then come from the live feed.
func (c *console) Connect(ctx context.Context, r remoteCore) error {
	defer c.inst.Close()
	token, err := r.token()
	if err != nil {
		return err
	}
	client, err := remote.New(remote.Options{URL: r.URL, Token: token, Fingerprint: r.Pin, CAFile: r.CAFile,
		Logger: c.log.With("part", "remote")})
	if err != nil {
		return err
	}
	verified := "the system's trusted CAs"
	switch {
	case r.Pin != "":
		verified = "pinned key " + r.Pin
	case r.CAFile != "":
		verified = "CA file " + r.CAFile
	case strings.HasPrefix(r.URL, "http:"):
		verified = "nothing: plain HTTP"
	}
	c.SetOptions(ui.Options{NotifyFromFeed: true, Autostart: c.autostart(), Core: []ui.Setting{
		{Name: "Attached to", Value: r.URL}, {Name: "Verified by", Value: verified},
		{Name: "Token file", Value: r.TokenFile},
	}, OpenAlert: c.cfg.openAlert})
	c.serveLaunches()
	defer clickableNotifications(c)()
	return c.Console.Run(ctx, client)
}

// serveLaunches answers later launches of esmon: the window comes forward,
// or an alert opens (a clicked Windows notification), on the UI goroutine
// by the same path as a click on a Linux notification.
func (c *console) serveLaunches() {
	c.inst.serve(func() { fyne.Do(c.Show) },
		func(id string) { fyne.Do(func() { c.OpenAlert(apiv1.Alert{ID: id}) }) })
}

// autostart is the start-at-sign-in switch for this program, or nil where
// the platform has none.
func (c *console) autostart() ui.Autostart {
	exe, err := os.Executable()
	if err != nil {
		c.log.Warn("no start at sign-in: cannot name this program", "err", err)
		return nil
	}
	if s := newAutostart(exe, c.args); s != nil {
		return s
	}
	return nil
}

// coreSettings is what the Settings screen shows of the embedded core.
func (c *console) coreSettings(cr *core.Core) []ui.Setting {
	tls := "self-signed certificate, pin " + cr.Pin()
	switch {
	case cr.Pin() == "":
		tls = "off: plain HTTP (insecure_http)"
	case c.cfg.TLS.CertFile != "":
		tls = "certificate " + c.cfg.TLS.CertFile + ", pin " + cr.Pin()
	}
	ret := c.cfg.Storage.Retention
	def := store.DefaultRetention
	days := func(d, fallback interface{ Hours() float64 }) string {
		h := d.Hours()
		if h <= 0 {
			h = fallback.Hours()
		}
		return fmt.Sprintf("%.0f days", h/24)
	}
	file := c.cfgPath
	if file == "" {
		file = "none (defaults, flags and ESMON_* variables)"
	}
	return []ui.Setting{
		{Name: "Data directory", Value: c.cfg.DataDir},
		{Name: "Listening on", Value: cr.Addr().String() + " (web dashboard, API, agents)"},
		{Name: "TLS", Value: tls},
		{Name: "Retention", Value: "raw " + days(ret.Raw, def.Raw) + " · 1-minute " + days(ret.Minute, def.Minute) +
			" · 1-hour " + days(ret.Hour, def.Hour)},
		{Name: "Settings file", Value: file},
		{Name: "Admin token", Value: cr.AdminTokenPath()},
	}
}
