package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"esmon/core/apiv1"
)

// channelsView is the Channels tab: each notification channel with the
// severities routed to it, its queue, and a "Send test" button whose
// outcome shows on its row.
type channelsView struct {
	c        *Console
	list     *widget.List
	channels []apiv1.Channel
	results  map[string]string // channel → outcome of its last test
	note     *widget.Label
}

// ButtonSendTest is the label of a channel's test button.
const ButtonSendTest = "Send test"

func (c *Console) channelsScreen() fyne.CanvasObject {
	v := &channelsView{c: c, results: map[string]string{}, note: widget.NewLabel("")}
	c.channels = v
	v.list = widget.NewList(
		func() int { return len(v.channels) },
		func() fyne.CanvasObject { return newChannelRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(v.channels) {
				ch := v.channels[id]
				o.(*channelRow).set(ch, v.results[ch.Name], func() { v.SendTest(ch.Name) })
			}
		})
	v.list.OnSelected = func(widget.ListItemID) { v.list.UnselectAll() }
	reload := widget.NewButtonWithIcon("Reload", theme.ViewRefreshIcon(), v.load)
	top := container.NewBorder(nil, nil, nil, reload, v.note)
	return container.NewPadded(container.NewBorder(top, nil, nil, nil, v.list))
}

// channelText says what a channel hears: "critical and up · 2 queued".
func channelText(ch apiv1.Channel) string {
	var s string
	switch {
	case ch.Always:
		s = "every alert, whatever the rule's routing"
	case ch.MinSeverity == "":
		s = "every severity"
	default:
		s = severityLabel(ch.MinSeverity) + " and up"
	}
	return fmt.Sprintf("%s · %d queued", s, ch.Queued)
}

// SendTest sends a test notification through a channel and shows whether
// it went.
func (v *channelsView) SendTest(name string) {
	v.results[name] = "Sending…"
	v.list.Refresh()
	v.c.act(func(ctx context.Context) error {
		return v.c.client.TestChannel(ctx, name)
	}, func(err error) {
		if err != nil {
			v.results[name] = "Failed: " + err.Error()
		} else {
			v.results[name] = "Sent."
		}
		v.list.Refresh()
	})
}

// load asks the core for its channels.
func (v *channelsView) load() {
	var got []apiv1.Channel
	v.c.actReport(v.note, "Could not load the channels", func(ctx context.Context) (err error) {
		got, err = v.c.client.Channels(ctx)
		return err
	}, func() {
		v.channels = got
		v.note.SetText(plural(len(got), "channel") + ": " + channelNames(got))
		v.list.Refresh()
	})
}

func channelNames(cs []apiv1.Channel) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// channelRow is one channel: name and routing, the last test's outcome,
// and the test button.
type channelRow struct {
	widget.BaseWidget
	title  *widget.RichText
	result *widget.Label
	test   *widget.Button
}

func newChannelRow() *channelRow {
	r := &channelRow{title: newTwoLines(), result: widget.NewLabel(""),
		test: widget.NewButtonWithIcon(ButtonSendTest, theme.MailSendIcon(), nil)}
	r.result.Truncation = fyne.TextTruncateEllipsis
	r.ExtendBaseWidget(r)
	return r
}

func (r *channelRow) CreateRenderer() fyne.WidgetRenderer {
	right := container.NewHBox(withWidth(320, r.result), r.test)
	return widget.NewSimpleRenderer(container.NewBorder(nil, nil, nil, right, r.title))
}

func (r *channelRow) set(ch apiv1.Channel, result string, test func()) {
	setTwoLines(r.title, ch.Name, channelText(ch))
	r.result.SetText(result)
	r.test.OnTapped = test
}
