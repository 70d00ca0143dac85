package ui

import (
	"context"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"esmon/core/apiv1"
)

// ButtonAddUser is the label of the Users tab's add button.
const ButtonAddUser = "Add user"

// usersView is the Users tab: the people who sign in with their role, a
// role picker and enable switch per person, Delete, and a form to add one.
type usersView struct {
	c     *Console
	list  *widget.List
	users []apiv1.User
	note  *widget.Label

	name, password *widget.Entry
	role           *widget.Select
}

func (c *Console) usersScreen() fyne.CanvasObject {
	v := &usersView{c: c, note: widget.NewLabel(""), name: widget.NewEntry(), password: widget.NewPasswordEntry(),
		role: widget.NewSelect(apiv1.Roles, nil)}
	c.usersV = v
	v.note.Wrapping = fyne.TextWrapWord
	v.role.SetSelected(apiv1.RoleViewer)
	v.list = widget.NewList(
		func() int { return len(v.users) },
		func() fyne.CanvasObject { return newUserRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(v.users) {
				o.(*userRow).set(v, v.users[id])
			}
		})
	v.list.OnSelected = func(widget.ListItemID) { v.list.UnselectAll() }
	add := widget.NewButtonWithIcon(ButtonAddUser, theme.ContentAddIcon(), v.Add)
	add.Importance = widget.HighImportance
	form := widget.NewForm(widget.NewFormItem("Name", v.name), widget.NewFormItem("Role", v.role),
		widget.NewFormItem("First password", v.password))
	card := widget.NewCard("Add a user", "Viewers read; operators also acknowledge and silence; admins also change rules, channels, users and agents.",
		container.NewVBox(form, container.NewHBox(add)))
	top := container.NewVBox(card, sectionTitle(staticString("Users")), v.note)
	return container.NewPadded(container.NewBorder(top, nil, nil, nil, v.list))
}

// staticString is a bound string that never changes, for sectionTitle.
func staticString(s string) binding.String {
	b := binding.NewString()
	_ = b.Set(s)
	return b
}

// load asks the core for its users.
func (v *usersView) load() {
	var got []apiv1.User
	v.c.actReport(v.note, "Could not load the users", func(ctx context.Context) (err error) {
		got, err = v.c.client.Users(ctx)
		return err
	}, func() {
		v.users = got
		v.list.Refresh()
	})
}

// Add creates the user in the form.
func (v *usersView) Add() {
	nu := apiv1.NewUser{Name: strings.TrimSpace(v.name.Text), Role: v.role.Selected, Password: v.password.Text}
	v.c.actReport(v.note, "Could not add "+nu.Name, func(ctx context.Context) error {
		_, err := v.c.client.AddUser(ctx, nu)
		return err
	}, func() {
		v.name.SetText("")
		v.password.SetText("")
		v.note.SetText("Added " + nu.Name + ".")
		v.load()
	})
}

// Update changes a user's role or enablement.
func (v *usersView) Update(name string, p apiv1.UserPatch) {
	v.c.act(func(ctx context.Context) error {
		_, err := v.c.client.UpdateUser(ctx, name, p)
		return err
	}, func(err error) {
		if err != nil {
			v.note.SetText("Could not change " + name + ": " + err.Error())
		} else {
			v.note.SetText("Changed " + name + ".")
		}
		v.load()
	})
}

func (v *usersView) askDelete(name string) {
	v.c.confirm("Delete user", "Delete "+name+"? Their sessions and API tokens end.", func() { v.Delete(name) })
}

// Delete removes a user.
func (v *usersView) Delete(name string) {
	v.c.actReport(v.note, "Could not delete "+name, func(ctx context.Context) error {
		return v.c.client.DeleteUser(ctx, name)
	}, func() {
		v.note.SetText("Deleted " + name + ".")
		v.load()
	})
}

// userRow is one user: name and state, role picker, enabled switch,
// Delete.
type userRow struct {
	widget.BaseWidget
	title   *widget.RichText
	role    *widget.Select
	enabled *widget.Check
	del     *widget.Button
}

func newUserRow() *userRow {
	r := &userRow{title: newTwoLines(), role: widget.NewSelect(apiv1.Roles, nil),
		enabled: widget.NewCheck("Enabled", nil), del: widget.NewButtonWithIcon("", theme.DeleteIcon(), nil)}
	r.ExtendBaseWidget(r)
	return r
}

func (r *userRow) CreateRenderer() fyne.WidgetRenderer {
	right := container.NewHBox(withWidth(140, r.role), r.enabled, r.del)
	return widget.NewSimpleRenderer(container.NewBorder(nil, nil, nil, right, r.title))
}

func (r *userRow) set(v *usersView, u apiv1.User) {
	var sub []string
	sub = append(sub, u.Role)
	if u.Disabled {
		sub = append(sub, "disabled")
	}
	if !u.LockedUntil.IsZero() && u.LockedUntil.After(v.c.now()) {
		sub = append(sub, "locked until "+u.LockedUntil.Local().Format("15:04"))
	}
	if !u.Created.IsZero() {
		sub = append(sub, "since "+u.Created.Local().Format(time.DateOnly))
	}
	setTwoLines(r.title, u.Name, strings.Join(sub, " · "))
	// Set without firing the callbacks, then wire them to this user.
	r.role.OnChanged, r.enabled.OnChanged = nil, nil
	r.role.SetSelected(u.Role)
	r.enabled.SetChecked(!u.Disabled)
	name := u.Name
	r.role.OnChanged = func(role string) {
		if role != u.Role {
			v.Update(name, apiv1.UserPatch{Role: &role})
		}
	}
	r.enabled.OnChanged = func(on bool) {
		off := !on
		v.Update(name, apiv1.UserPatch{Disabled: &off})
	}
	r.del.OnTapped = func() { v.askDelete(name) }
}
