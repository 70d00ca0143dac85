package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// Labels of the Settings tab's switches.
const (
	CheckStartMinimised = "Start minimised to the tray"
	CheckAutostart      = "Start esmon when I sign in"
)

// settingsScreen is the Settings tab: the console's own options (start
// minimised, start at sign-in), and what the core runs with (data
// directory, ports, TLS, retention, settings file), which change in the
// settings file and take effect at the next start.
func (c *Console) settingsScreen() fyne.CanvasObject {
	note := widget.NewLabel("")
	note.Wrapping = fyne.TextWrapWord

	minimised := widget.NewCheck(CheckStartMinimised, func(on bool) {
		c.app.Preferences().SetBool(PrefStartMinimised, on)
	})
	minimised.SetChecked(c.app.Preferences().Bool(PrefStartMinimised))
	console := widget.NewForm(widget.NewFormItem("Window", minimised))

	if as := c.opts.Autostart; as != nil {
		on, err := as.Enabled()
		if err != nil {
			note.SetText("Cannot read the sign-in setting: " + err.Error())
		}
		check := widget.NewCheck(CheckAutostart, nil)
		check.SetChecked(on)
		check.OnChanged = func(want bool) { c.setAutostart(check, note, want) }
		console.Append("Sign-in", check)
	}

	core := widget.NewForm()
	for _, s := range c.opts.Core {
		l := widget.NewLabel(s.Value)
		l.Wrapping = fyne.TextWrapBreak
		l.Selectable = true
		core.Append(s.Name, l)
	}
	if len(c.opts.Core) == 0 {
		core.Append("Core", widget.NewLabel("attached to "+c.client.WebURL()))
	}
	hint := widget.NewLabel("The core's settings change in its settings file (or ESMON_* variables and flags) and take effect when it restarts.")
	hint.Wrapping = fyne.TextWrapWord
	hint.Importance = widget.LowImportance
	return container.NewVScroll(container.NewPadded(container.NewVBox(
		widget.NewCard("Console", "", console),
		widget.NewCard("Core", "", container.NewVBox(core, hint)),
		note)))
}

// setAutostart switches start at sign-in and reports a failure.
func (c *Console) setAutostart(check *widget.Check, note *widget.Label, want bool) {
	if err := c.opts.Autostart.SetEnabled(want); err != nil {
		note.SetText("Could not change the sign-in setting: " + err.Error())
		check.OnChanged = nil
		check.SetChecked(!want)
		check.OnChanged = func(w bool) { c.setAutostart(check, note, w) }
		return
	}
	note.SetText("")
}
