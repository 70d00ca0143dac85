package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"esmon/core/apiv1"
)

// historyLimit is how many transitions the history list asks for.
const historyLimit = 500

// Silence lengths the silence dialog offers.
var silenceLengths = []struct {
	Label string
	D     time.Duration
}{{"1 hour", time.Hour}, {"4 hours", 4 * time.Hour}, {"24 hours", 24 * time.Hour}, {"7 days", 7 * 24 * time.Hour}}

// alertsView is the Alerts tab: the active alerts or the history on the
// left, the chosen alert on the right with who acknowledged it, and the
// Acknowledge and Silence actions.
type alertsView struct {
	c        *Console
	mode     *widget.RadioGroup
	active   *widget.List
	history  *widget.List
	note     *widget.Label // errors and outcomes of actions
	past     []apiv1.Transition
	selected string // alert ID shown on the right
	// pending is an alert opened before the live feed's first snapshot,
	// opened again when it comes: active, or from the history.
	pending string

	// The detail pane.
	severity            *badge
	title, value, ackBy *widget.RichText
	facts               *widget.Label
	ackBtn, silenceBtn  *widget.Button
	hostBtn             *widget.Button
	detail, empty       fyne.CanvasObject
}

// Labels of the Alerts tab's controls.
const (
	AlertsActive  = "Active"
	AlertsHistory = "History"
	ButtonAck     = "Acknowledge…"
	ButtonSilence = "Silence…"
)

func (c *Console) alertsScreen() fyne.CanvasObject {
	v := &alertsView{c: c, title: newTwoLines(), value: newTwoLines(), ackBy: newTwoLines(),
		severity: newBadge(112), facts: widget.NewLabel(""), note: widget.NewLabel("")}
	c.alerts = v
	v.facts.Wrapping = fyne.TextWrapWord
	v.note.Wrapping = fyne.TextWrapWord
	v.ackBy.Wrapping = fyne.TextWrapWord
	v.ackBy.Truncation = fyne.TextTruncateOff

	v.active = c.newAlertList(func(a apiv1.Alert) { v.show(a.ID) })
	v.history = widget.NewList(
		func() int { return len(v.past) },
		func() fyne.CanvasObject { return newHistoryRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(v.past) {
				o.(*historyRow).set(v.past[id], c.hostLabel(v.past[id].Alert.Host), c.now)
			}
		})
	v.history.OnSelected = func(id widget.ListItemID) {
		if id < len(v.past) {
			v.show(v.past[id].Alert.ID)
		}
	}
	v.history.Hide()
	v.mode = widget.NewRadioGroup([]string{AlertsActive, AlertsHistory}, func(m string) {
		if m == AlertsHistory {
			v.active.Hide()
			v.history.Show()
			v.loadHistory()
		} else {
			v.history.Hide()
			v.active.Show()
		}
	})
	v.mode.Horizontal, v.mode.Required = true, true
	v.mode.SetSelected(AlertsActive)

	v.ackBtn = widget.NewButtonWithIcon(ButtonAck, theme.ConfirmIcon(), v.askAck)
	v.ackBtn.Importance = widget.HighImportance
	v.silenceBtn = widget.NewButtonWithIcon(ButtonSilence, theme.VolumeMuteIcon(), v.askSilence)
	v.hostBtn = widget.NewButtonWithIcon("Open host", theme.ComputerIcon(), func() {
		if a, ok := v.alert(); ok {
			c.openHost(a.Host)
		}
	})
	v.detail = container.NewVBox(
		container.NewHBox(v.severity),
		v.title, v.value, v.facts, widget.NewSeparator(), v.ackBy,
		container.NewHBox(v.ackBtn, v.silenceBtn, v.hostBtn),
		v.note)
	v.detail.Hide()
	v.empty = emptyNote(theme.InfoIcon(), "Choose an alert to see it, acknowledge or silence it")

	left := container.NewBorder(v.mode, nil, nil, nil, container.NewStack(v.active, v.history))
	split := container.NewHSplit(left, container.NewPadded(container.NewStack(v.empty, container.NewVScroll(v.detail))))
	split.Offset = 0.6
	return container.NewPadded(split)
}

// open shows one alert, chosen from the tray, the overview or a clicked
// notification. An alert no longer active is shown from the history.
func (v *alertsView) open(id string) {
	v.pending = ""
	switch i := slices.IndexFunc(v.c.model.alerts, func(a apiv1.Alert) bool { return a.ID == id }); {
	case i >= 0:
		v.mode.SetSelected(AlertsActive)
		v.active.Select(i)
		v.active.ScrollTo(i)
	case !v.c.model.connected:
		// Before the first snapshot nothing is known yet.
		v.mode.SetSelected(AlertsActive)
		v.pending = id
	default:
		// Switching to the history loads it, then shows the selected alert.
		v.mode.SetSelected(AlertsHistory)
	}
	v.show(id)
}

// alert is the alert shown on the right: from the active list, else the
// latest transition of it in the history.
func (v *alertsView) alert() (apiv1.Alert, bool) {
	if i := slices.IndexFunc(v.c.model.alerts, func(a apiv1.Alert) bool { return a.ID == v.selected }); i >= 0 {
		return v.c.model.alerts[i], true
	}
	for _, t := range v.past {
		if t.Alert.ID == v.selected {
			a := t.Alert
			a.State = t.To
			return a, true
		}
	}
	return apiv1.Alert{}, false
}

// Selected is the ID of the alert shown on the right.
func (v *alertsView) Selected() string { return v.selected }

func (v *alertsView) show(id string) {
	if id != v.selected {
		v.note.SetText("")
	}
	v.selected = id
	a, ok := v.alert()
	if !ok {
		v.detail.Hide()
		v.empty.Show()
		return
	}
	v.empty.Hide()
	v.detail.Show()
	col := StatusColor(alertStatus(a))
	v.severity.Set(strings.ToUpper(severityLabel(a.Severity))+" · "+strings.ToUpper(a.State), col)
	setTwoLines(v.title, a.RuleName, v.c.hostLabel(a.Host))
	setTwoLines(v.value, alertValueText(a.Value, a), sinceText(alertSince(a), v.c.now()))
	var facts []string
	if a.Summary != "" {
		facts = append(facts, a.Summary)
	}
	if a.Metric != "" {
		facts = append(facts, "Metric: "+a.Metric+labelsText(a.Labels))
	}
	if a.Silenced != "" {
		facts = append(facts, "Notifications muted by "+a.Silenced)
	}
	if a.Flapping {
		facts = append(facts, "Flapping: held firing until it is calm")
	}
	if !a.ResolvedAt.IsZero() {
		facts = append(facts, "Resolved "+a.ResolvedAt.Local().Format("Jan 2 15:04:05"))
	}
	v.facts.SetText(strings.Join(facts, "\n"))
	if a.Ack != nil {
		setTwoLines(v.ackBy, "Acknowledged", ackText(*a.Ack, v.c.now()))
	} else {
		setTwoLines(v.ackBy, "Not acknowledged", "Acknowledging stops repeat notices and escalation.")
	}
	firing := a.State == apiv1.StateFiring
	setEnabled(v.ackBtn, firing && a.Ack == nil)
	setEnabled(v.silenceBtn, firing || a.State == apiv1.StatePending)
}

func setEnabled(b *widget.Button, on bool) {
	if on {
		b.Enable()
	} else {
		b.Disable()
	}
}

// labelsText is " {mount=/, device=sda}" or "".
func labelsText(ls map[string]string) string {
	var parts []string
	for k, v := range ls {
		if k != "host" {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	slices.Sort(parts)
	return " {" + strings.Join(parts, ", ") + "}"
}

// refreshActive follows the live feed's changes to the active list.
func (v *alertsView) refreshActive() {
	v.active.Refresh()
	if id := v.pending; id != "" && v.c.model.connected {
		v.pending = ""
		if id == v.selected { // the operator did not choose another meanwhile
			v.open(id)
			return
		}
	}
	if v.selected != "" {
		v.show(v.selected)
	}
}

// transition adds a live transition to the history while it is shown.
func (v *alertsView) transition(t apiv1.Transition) {
	if v.mode.Selected != AlertsHistory {
		return
	}
	v.past = slices.Insert(v.past, 0, t)
	if len(v.past) > historyLimit {
		v.past = v.past[:historyLimit]
	}
	v.history.Refresh()
}

// loadHistory asks the core for the latest transitions.
func (v *alertsView) loadHistory() {
	var got []apiv1.Transition
	v.c.actReport(v.note, "Could not load the history", func(ctx context.Context) (err error) {
		got, err = v.c.client.History(ctx, historyLimit)
		return err
	}, func() {
		v.past = got
		v.history.Refresh()
		if v.selected != "" {
			v.show(v.selected)
		}
	})
}

// askAck asks for a comment and acknowledges the shown alert.
func (v *alertsView) askAck() {
	a, ok := v.alert()
	if !ok {
		return
	}
	comment := widget.NewMultiLineEntry()
	comment.SetPlaceHolder("What is being done about it (shown to everyone)")
	dialog.ShowForm("Acknowledge "+a.RuleName+" on "+v.c.hostLabel(a.Host), "Acknowledge", "Cancel",
		[]*widget.FormItem{widget.NewFormItem("Comment", comment)},
		func(ok bool) {
			if ok {
				v.Ack(a.ID, comment.Text)
			}
		}, v.c.win)
}

// Ack acknowledges an alert with a comment and reports the outcome under
// the buttons.
func (v *alertsView) Ack(id, comment string) {
	v.note.SetText("Acknowledging…")
	v.c.ack(id, comment, func(err error) {
		if err != nil {
			v.note.SetText("Could not acknowledge: " + err.Error())
			return
		}
		v.note.SetText("Acknowledged.")
	})
}

// askSilence asks for a length and a comment and silences the shown
// alert's rule on its host.
func (v *alertsView) askSilence() {
	a, ok := v.alert()
	if !ok {
		return
	}
	var labels []string
	for _, l := range silenceLengths {
		labels = append(labels, l.Label)
	}
	length := widget.NewSelect(labels, nil)
	length.SetSelected(labels[0])
	comment := widget.NewMultiLineEntry()
	comment.SetPlaceHolder("Why (shown to everyone)")
	dialog.ShowForm("Silence "+a.RuleName+" on "+v.c.hostLabel(a.Host), "Silence", "Cancel",
		[]*widget.FormItem{widget.NewFormItem("For", length), widget.NewFormItem("Comment", comment)},
		func(ok bool) {
			if !ok {
				return
			}
			d := silenceLengths[max(length.SelectedIndex(), 0)].D
			v.Silence(a, d, comment.Text)
		}, v.c.win)
}

// Silence mutes the notifications of an alert's rule on its host for d.
func (v *alertsView) Silence(a apiv1.Alert, d time.Duration, comment string) {
	now := v.c.now()
	s := apiv1.Silence{Match: map[string]string{"host": a.Host, "rule": a.RuleID},
		StartsAt: now, EndsAt: now.Add(d), Comment: comment}
	v.note.SetText("Silencing…")
	var out apiv1.Silence
	v.c.actReport(v.note, "Could not silence", func(ctx context.Context) (err error) {
		out, err = v.c.client.AddSilence(ctx, s)
		return err
	}, func() {
		v.note.SetText(fmt.Sprintf("Silenced until %s.", out.EndsAt.Local().Format("Jan 2 15:04")))
	})
}

// historyRow is one transition of the alert history: when, the change, the
// rule and host, the value, and who acknowledged it.
type historyRow struct {
	widget.BaseWidget
	state *badge
	title *widget.RichText
	value *widget.RichText
}

func newHistoryRow() *historyRow {
	r := &historyRow{state: newBadge(112), title: newTwoLines(), value: newTwoLines()}
	r.ExtendBaseWidget(r)
	return r
}

func (r *historyRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewBorder(nil, nil,
		container.NewCenter(r.state), withWidth(220, r.value), r.title))
}

func (r *historyRow) set(t apiv1.Transition, host string, now func() time.Time) {
	col := StatusColor(t.Alert.Severity)
	text := strings.ToUpper(t.To)
	switch {
	case t.To == apiv1.StateResolved || t.To == apiv1.StateInactive:
		col = StatusColor(apiv1.StatusOK)
	case t.To == apiv1.StatePending:
		col = StatusColor(apiv1.StatusOffline)
	case t.Reason == "acknowledged":
		text = "ACKED"
	}
	r.state.Set(text, col)
	sub := host + " · " + t.From + " → " + t.To
	if t.Reason != "" {
		sub += " (" + t.Reason + ")"
	}
	if t.Alert.Ack != nil {
		sub += " · " + ackText(*t.Alert.Ack, now())
	}
	setTwoLines(r.title, t.Alert.RuleName, sub)
	when := t.At.Local().Format("Jan 2 15:04:05")
	setTwoLines(r.value, alertValueText(t.Value, t.Alert), when)
}
