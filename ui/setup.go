package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Labels of the first-run screen's buttons, for tests and docs.
const (
	ButtonCreateAdmin = "Create admin"
	ButtonSetupLater  = "Later"
	ButtonContinue    = "Continue to the console"
)

// minPassword is the shortest password the core takes (auth.MinPassword,
// which the ui cannot import without Badger; a test keeps them equal). The
// form checks it first so the operator hears of it before a round trip.
const minPassword = 10

// setupView is the first-run screen: while the core has no user, nobody
// can sign in on the web page, so the console asks for the first admin
// before it shows the overview.
type setupView struct {
	c                       *Console
	main                    fyne.CanvasObject // the tabs, shown when done or later
	name, password, confirm *widget.Entry
	create, later           *widget.Button
	note                    *widget.Label
	done                    *widget.Label // what to do next, once created
	cont                    *widget.Button
	form, next              *fyne.Container // the form, then what comes next
}

// checkSetup asks the core whether it waits for its first admin and, if
// so, puts the first-run screen in front of main.
func (c *Console) checkSetup(main fyne.CanvasObject) {
	var needed bool
	c.act(func(ctx context.Context) (err error) {
		needed, err = c.client.SetupNeeded(ctx)
		return err
	}, func(err error) {
		c.setupAsked = true
		if err != nil {
			c.logger.Warn("cannot ask the core whether it needs its first admin", "err", err)
			return
		}
		if needed {
			c.setup = c.newSetupView(main)
			c.win.SetContent(c.setup.screen())
		}
	})
}

func (c *Console) newSetupView(main fyne.CanvasObject) *setupView {
	v := &setupView{c: c, main: main, name: widget.NewEntry(), password: widget.NewPasswordEntry(),
		confirm: widget.NewPasswordEntry(), note: widget.NewLabel(""), done: widget.NewLabel("")}
	v.name.SetPlaceHolder("admin")
	v.note.Wrapping = fyne.TextWrapWord
	v.note.Importance = widget.DangerImportance
	v.done.Wrapping = fyne.TextWrapWord
	v.done.Selectable = true
	v.create = widget.NewButtonWithIcon(ButtonCreateAdmin, theme.ConfirmIcon(), v.Create)
	v.create.Importance = widget.HighImportance
	v.later = widget.NewButton(ButtonSetupLater, v.Finish)
	v.cont = widget.NewButtonWithIcon(ButtonContinue, theme.NavigateNextIcon(), v.Finish)
	v.cont.Importance = widget.HighImportance
	v.confirm.OnSubmitted = func(string) { v.Create() }
	return v
}

func (v *setupView) screen() fyne.CanvasObject {
	rules := widget.NewLabel(fmt.Sprintf("The name is 1 to 64 of a-z, 0-9, '.', '_', '@', '-'. "+
		"The password has at least %d characters; a phrase of a few words is easiest to type.", minPassword))
	rules.Wrapping = fyne.TextWrapWord
	rules.Importance = widget.LowImportance
	form := widget.NewForm(widget.NewFormItem("Name", v.name), widget.NewFormItem("Password", v.password),
		widget.NewFormItem("Password again", v.confirm))
	v.form = container.NewVBox(form, rules, container.NewHBox(v.create, v.later), v.note)
	v.next = container.NewVBox(v.done, container.NewHBox(v.cont))
	v.next.Hide()
	card := widget.NewCard("Welcome to esmon",
		"No one can sign in yet. Create the first admin: people use this name and password on the web dashboard, and admins add everyone else under Users.",
		container.NewVBox(v.form, v.next))
	return container.NewCenter(withWidth(560, card))
}

// check says what is wrong with the form before the core is asked, or "".
func (v *setupView) check(name, pw string) string {
	switch {
	case name == "":
		return "Give the admin a name."
	case len([]rune(pw)) < minPassword:
		return fmt.Sprintf("The password needs at least %d characters.", minPassword)
	case pw != v.confirm.Text:
		return "The two passwords differ."
	}
	return ""
}

// Create asks the core to make the admin of the form.
func (v *setupView) Create() {
	name, pw := strings.TrimSpace(v.name.Text), v.password.Text
	if msg := v.check(name, pw); msg != "" {
		v.note.SetText(msg)
		return
	}
	v.note.SetText("")
	v.create.Disable()
	v.c.act(func(ctx context.Context) error {
		return v.c.client.Setup(ctx, name, pw)
	}, func(err error) {
		v.create.Enable()
		if err != nil {
			v.note.SetText("Could not create " + name + ": " + err.Error())
			return
		}
		v.password.SetText("")
		v.confirm.SetText("")
		v.done.SetText(fmt.Sprintf("%s is the first admin. People sign in on the web dashboard at %s "+
			"with that name and password; this console needs no sign-in.", name, v.c.client.WebURL()))
		v.form.Hide()
		v.next.Show()
	})
}

// Finish leaves the first-run screen for the console's tabs.
func (v *setupView) Finish() {
	v.c.win.SetContent(v.main)
	v.c.setup = nil
}
