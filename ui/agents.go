package ui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"esmon/core/apiv1"
)

// Join code lifetimes the Agents tab offers.
var joinLifetimes = []struct {
	Label string
	D     time.Duration
}{{"1 hour", time.Hour}, {"1 day", 24 * time.Hour}, {"7 days", 7 * 24 * time.Hour}}

// Labels of the Agents tab's controls.
const (
	ButtonCreateJoinCode = "Create join code"
	ButtonCopy           = "Copy"
	ButtonRevoke         = "Revoke"
)

// agentsView is the Agents tab: a join code maker that shows the code once
// with the commands that install an agent with it, each with a Copy
// button; the enrolled agents with Revoke; and the join codes.
type agentsView struct {
	c       *Console
	list    *widget.List
	agents  []apiv1.Agent
	codes   *widget.Label
	note    *widget.Label
	uses    *widget.Entry
	life    *widget.Select
	label   *widget.Entry
	created *fyne.Container // the code and its install commands
	// Install is the last created code's commands, by name, for tests.
	install map[string]string
}

func (c *Console) agentsScreen() fyne.CanvasObject {
	v := &agentsView{c: c, codes: widget.NewLabel(""), note: widget.NewLabel(""),
		uses: widget.NewEntry(), label: widget.NewEntry(), created: container.NewVBox()}
	c.agentsV = v
	v.note.Wrapping = fyne.TextWrapWord
	v.codes.Wrapping = fyne.TextWrapWord
	v.uses.SetText("1")
	v.label.SetPlaceHolder("what the code is for, e.g. web servers batch 2")
	var lives []string
	for _, l := range joinLifetimes {
		lives = append(lives, l.Label)
	}
	v.life = widget.NewSelect(lives, nil)
	v.life.SetSelected(lives[1])
	create := widget.NewButtonWithIcon(ButtonCreateJoinCode, theme.ContentAddIcon(), v.createCode)
	create.Importance = widget.HighImportance
	form := widget.NewForm(widget.NewFormItem("Agents it may enrol", v.uses),
		widget.NewFormItem("Valid for", v.life), widget.NewFormItem("Note", v.label))
	add := widget.NewCard("Add agents", "A join code enrols agents; the core shows it once.",
		container.NewVBox(form, container.NewHBox(create), v.created))

	v.list = widget.NewList(
		func() int { return len(v.agents) },
		func() fyne.CanvasObject { return newAgentRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(v.agents) {
				a := v.agents[id]
				o.(*agentRow).set(a, c.now(), func() { v.askRevoke(a) })
			}
		})
	v.list.OnSelected = func(widget.ListItemID) { v.list.UnselectAll() }
	reload := widget.NewButtonWithIcon("Reload", theme.ViewRefreshIcon(), v.load)
	top := container.NewVBox(add, container.NewBorder(nil, nil, sectionTitle(staticString("Enrolled agents")), reload), v.note)
	return container.NewPadded(container.NewBorder(top, v.codes, nil, nil, v.list))
}

// load asks the core for the agents and the join codes.
func (v *agentsView) load() {
	var agents []apiv1.Agent
	var codes []apiv1.JoinCode
	v.c.actReport(v.note, "Could not load the agents", func(ctx context.Context) (err error) {
		if agents, err = v.c.client.Agents(ctx); err != nil {
			return err
		}
		codes, err = v.c.client.JoinCodes(ctx)
		return err
	}, func() {
		v.agents = agents
		v.list.Refresh()
		v.note.SetText(plural(len(agents), "agent") + " enrolled")
		var lines []string
		for _, jc := range codes {
			line := fmt.Sprintf("Join code %s: %s, %d of %d uses left, expires %s", jc.ID, strings.ReplaceAll(jc.State, "_", " "),
				jc.UsesLeft, jc.Uses, jc.ExpiresAt.Local().Format("Jan 2 15:04"))
			if jc.Note != "" {
				line += " (" + jc.Note + ")"
			}
			lines = append(lines, line)
		}
		v.codes.SetText(strings.Join(lines, "\n"))
	})
}

// createCode makes a join code from the form and shows it with its
// install commands.
func (v *agentsView) createCode() {
	uses, err := strconv.Atoi(strings.TrimSpace(v.uses.Text))
	if err != nil || uses < 1 {
		v.note.SetText("Agents it may enrol: a whole number, 1 or more")
		return
	}
	req := apiv1.NewJoinCode{Uses: uses, Note: strings.TrimSpace(v.label.Text),
		TTLSeconds: int64(joinLifetimes[max(v.life.SelectedIndex(), 0)].D.Seconds())}
	var out apiv1.CreatedJoinCode
	v.c.actReport(v.note, "Could not create a join code", func(ctx context.Context) (err error) {
		out, err = v.c.client.CreateJoinCode(ctx, req)
		return err
	}, func() {
		v.showCode(out)
		v.load()
	})
}

// showCode shows a new join code and its install commands with Copy
// buttons.
func (v *agentsView) showCode(jc apiv1.CreatedJoinCode) {
	v.install = map[string]string{
		"Join code":              jc.Code,
		"Linux":                  jc.Install.Linux,
		"Windows (PowerShell)":   jc.Install.WindowsPowerShell,
		"Windows (MSI, cmd.exe)": jc.Install.WindowsMSI,
	}
	v.created.RemoveAll()
	v.created.Add(widget.NewLabel(fmt.Sprintf("Enrols %s until %s. Copy it now: it is not shown again.",
		plural(jc.UsesLeft, "agent"), jc.ExpiresAt.Local().Format("Jan 2 15:04"))))
	for _, name := range []string{"Join code", "Linux", "Windows (PowerShell)", "Windows (MSI, cmd.exe)"} {
		text := v.install[name]
		if text == "" {
			continue
		}
		cmd := widget.NewEntry()
		cmd.SetText(text)
		cmd.TextStyle.Monospace = true
		cmd.Disable() // read-only, still selectable
		copyBtn := widget.NewButtonWithIcon(ButtonCopy, theme.ContentCopyIcon(), func() {
			v.c.app.Clipboard().SetContent(text)
			v.note.SetText(name + " copied to the clipboard")
		})
		v.created.Add(container.NewBorder(nil, nil, withWidth(170, widget.NewLabel(name)), copyBtn, cmd))
	}
}

func (v *agentsView) askRevoke(a apiv1.Agent) {
	v.c.confirm("Revoke agent", "Revoke "+a.Hostname+" ("+a.ID+")? It is disconnected and cannot connect again until it is enrolled anew.",
		func() { v.Revoke(a.ID) })
}

// Revoke revokes an agent and lists the agents again.
func (v *agentsView) Revoke(id string) {
	v.c.actReport(v.note, "Could not revoke", func(ctx context.Context) error {
		return v.c.client.RevokeAgent(ctx, id)
	}, v.load)
}

// agentRow is one enrolled agent: host and system, connection, and Revoke.
type agentRow struct {
	widget.BaseWidget
	state  *badge
	title  *widget.RichText
	revoke *widget.Button
}

func newAgentRow() *agentRow {
	r := &agentRow{state: newBadge(112), title: newTwoLines(),
		revoke: widget.NewButtonWithIcon(ButtonRevoke, theme.CancelIcon(), nil)}
	r.ExtendBaseWidget(r)
	return r
}

func (r *agentRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewBorder(nil, nil, container.NewCenter(r.state), r.revoke, r.title))
}

func (r *agentRow) set(a apiv1.Agent, now time.Time, revoke func()) {
	switch {
	case a.Revoked:
		r.state.Set("REVOKED", StatusColor(apiv1.SeverityVeryCritical))
	case a.Connected:
		r.state.Set("CONNECTED", StatusColor(apiv1.StatusOK))
	default:
		r.state.Set("OFFLINE", StatusColor(apiv1.StatusOffline))
	}
	sub := strings.TrimSpace(a.OS + " · agent " + a.Version)
	if a.RemoteAddr != "" {
		sub += " · from " + a.RemoteAddr
	}
	if !a.LastContact.IsZero() {
		sub += " · last heard " + strings.TrimPrefix(sinceText(a.LastContact, now), "since ")
	}
	setTwoLines(r.title, a.Hostname+" ("+a.ID+")", sub)
	r.revoke.OnTapped = revoke
	setEnabled(r.revoke, !a.Revoked)
}
