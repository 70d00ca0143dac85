package ui

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"esmon/core/apiv1"
)

// rulesView is the Rules tab: the rules on the left; on the right a form
// that edits the chosen rule or a new one, with Save and Delete. The core
// validates; its answer (which field is wrong and why) shows under the form.
type rulesView struct {
	c     *Console
	list  *widget.List
	rules []apiv1.Rule
	edit  apiv1.Rule // the rule in the form; ID "" for a new one
	note  *widget.Label

	name, metric, match, threshold, warning, clear, forDur, summary *widget.Entry
	kind, op, severity                                              *widget.Select
	enabled                                                         *widget.Check
	del                                                             *widget.Button
	form                                                            *widget.Form
}

// Labels of the Rules tab's buttons.
const (
	ButtonNewRule    = "New rule"
	ButtonSaveRule   = "Save"
	ButtonDeleteRule = "Delete"
)

func (c *Console) rulesScreen() fyne.CanvasObject {
	v := &rulesView{c: c, note: widget.NewLabel("")}
	c.rules = v
	v.note.Wrapping = fyne.TextWrapWord
	v.list = widget.NewList(
		func() int { return len(v.rules) },
		func() fyne.CanvasObject { return newTwoLines() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(v.rules) {
				r := v.rules[id]
				setTwoLines(o.(*widget.RichText), r.Name, ruleText(r))
			}
		})
	v.list.OnSelected = func(id widget.ListItemID) {
		if id < len(v.rules) {
			v.setForm(v.rules[id])
		}
	}

	v.name, v.metric, v.match = widget.NewEntry(), widget.NewEntry(), widget.NewEntry()
	v.threshold, v.warning, v.clear = widget.NewEntry(), widget.NewEntry(), widget.NewEntry()
	v.forDur, v.summary = widget.NewEntry(), widget.NewEntry()
	v.metric.SetPlaceHolder("cpu_usage_percent")
	v.match.SetPlaceHolder("host=web-01, mount=/ (empty: every host)")
	v.warning.SetPlaceHolder("optional: a milder threshold at warning")
	v.clear.SetPlaceHolder("optional: resolve only past this value")
	v.forDur.SetPlaceHolder("5m")
	v.kind = widget.NewSelect([]string{apiv1.RuleThreshold, apiv1.RuleAgentOffline, apiv1.RuleCheckFailed, apiv1.RuleServiceStopped}, nil)
	v.op = widget.NewSelect([]string{">", ">=", "<", "<=", "==", "!="}, nil)
	v.severity = widget.NewSelect(apiv1.Severities, nil)
	v.enabled = widget.NewCheck("Enabled", nil)
	v.form = widget.NewForm(
		widget.NewFormItem("Name", v.name),
		widget.NewFormItem("Kind", v.kind),
		widget.NewFormItem("Metric", v.metric),
		widget.NewFormItem("Match", v.match),
		widget.NewFormItem("Comparison", v.op),
		widget.NewFormItem("Threshold", v.threshold),
		widget.NewFormItem("Warning at", v.warning),
		widget.NewFormItem("Clear at", v.clear),
		widget.NewFormItem("For", v.forDur),
		widget.NewFormItem("Severity", v.severity),
		widget.NewFormItem("Summary", v.summary),
		widget.NewFormItem("", v.enabled),
	)
	save := widget.NewButtonWithIcon(ButtonSaveRule, theme.DocumentSaveIcon(), v.save)
	save.Importance = widget.HighImportance
	v.del = widget.NewButtonWithIcon(ButtonDeleteRule, theme.DeleteIcon(), v.askDelete)
	newRule := widget.NewButtonWithIcon(ButtonNewRule, theme.ContentAddIcon(), func() {
		v.list.UnselectAll()
		v.setForm(apiv1.Rule{Kind: apiv1.RuleThreshold, Op: ">", Severity: apiv1.SeverityWarning,
			For: apiv1.Duration(5 * time.Minute), Enabled: true})
	})
	v.setForm(apiv1.Rule{Kind: apiv1.RuleThreshold, Op: ">", Severity: apiv1.SeverityWarning, Enabled: true})

	right := container.NewVBox(v.form, container.NewHBox(save, v.del), v.note)
	left := container.NewBorder(container.NewHBox(newRule), nil, nil, nil, v.list)
	split := container.NewHSplit(left, container.NewVScroll(container.NewPadded(right)))
	split.Offset = 0.4
	return container.NewPadded(split)
}

// ruleText sums a rule up in one line: "cpu_usage_percent > 90 for 5m ·
// critical", "disabled" when off.
func ruleText(r apiv1.Rule) string {
	var s string
	switch r.Kind {
	case apiv1.RuleAgentOffline:
		s = "no data for " + time.Duration(r.For).String()
	case apiv1.RuleCheckFailed:
		s = "a check fails"
	case apiv1.RuleServiceStopped:
		s = "a service stops"
	default:
		s = fmt.Sprintf("%s %s %s", r.Metric, r.Op, formatNumber(r.Threshold))
		if r.For > 0 {
			s += " for " + time.Duration(r.For).String()
		}
	}
	s += " · " + severityLabel(r.Severity)
	if !r.Enabled {
		s += " · disabled"
	}
	return s
}

// setForm puts a rule into the form.
func (v *rulesView) setForm(r apiv1.Rule) {
	v.edit = r
	v.name.SetText(r.Name)
	v.kind.SetSelected(r.Kind)
	v.metric.SetText(r.Metric)
	v.match.SetText(matchText(r.Match))
	v.op.SetSelected(r.Op)
	v.threshold.SetText(strconv.FormatFloat(r.Threshold, 'f', -1, 64))
	v.warning.SetText(optionalText(r.Warning))
	v.clear.SetText(optionalText(r.Clear))
	v.forDur.SetText("")
	if r.For > 0 {
		v.forDur.SetText(time.Duration(r.For).String())
	}
	v.severity.SetSelected(r.Severity)
	v.summary.SetText(r.Summary)
	v.enabled.SetChecked(r.Enabled)
	setEnabled(v.del, r.ID != "")
	v.note.SetText("")
	if r.UpdatedBy != "" {
		v.note.SetText("Last changed by " + r.UpdatedBy + " on " + r.UpdatedAt.Local().Format("Jan 2 15:04"))
	}
}

func optionalText(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', -1, 64)
}

// matchText writes matchers as "host=web-01, mount=/".
func matchText(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}

// parseMatch reads "host=web-01, mount=/".
func parseMatch(s string) (map[string]string, error) {
	m := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("match: %q is not name=value", part)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// readForm builds a rule from the form, keeping the edited rule's other
// fields (routing, escalation, no-data handling).
func (v *rulesView) readForm() (apiv1.Rule, error) {
	r := v.edit
	r.Name = strings.TrimSpace(v.name.Text)
	r.Kind = v.kind.Selected
	r.Metric = strings.TrimSpace(v.metric.Text)
	r.Op = v.op.Selected
	r.Severity = v.severity.Selected
	r.Summary = strings.TrimSpace(v.summary.Text)
	r.Enabled = v.enabled.Checked
	var err error
	if r.Match, err = parseMatch(v.match.Text); err != nil {
		return r, err
	}
	num := func(field, text string) (*float64, error) {
		text = strings.TrimSpace(text)
		if text == "" {
			return nil, nil
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a number", field, text)
		}
		return &f, nil
	}
	th, err := num("threshold", v.threshold.Text)
	if err != nil {
		return r, err
	}
	r.Threshold = 0
	if th != nil {
		r.Threshold = *th
	}
	if r.Warning, err = num("warning", v.warning.Text); err != nil {
		return r, err
	}
	if r.Clear, err = num("clear", v.clear.Text); err != nil {
		return r, err
	}
	r.For = 0
	if t := strings.TrimSpace(v.forDur.Text); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			return r, fmt.Errorf("for: %q is not a duration like 5m", t)
		}
		r.For = apiv1.Duration(d)
	}
	return r, nil
}

// save sends the form to the core.
func (v *rulesView) save() {
	r, err := v.readForm()
	if err != nil {
		v.note.SetText("Not saved: " + err.Error())
		return
	}
	create := r.ID == ""
	v.note.SetText("Saving…")
	var saved apiv1.Rule
	v.c.actReport(v.note, "Not saved", func(ctx context.Context) (err error) {
		saved, err = v.c.client.SaveRule(ctx, r, create)
		return err
	}, func() {
		v.edit = saved
		setEnabled(v.del, true)
		v.note.SetText("Saved " + saved.Name + ".")
		v.reload(saved.ID)
	})
}

func (v *rulesView) askDelete() {
	r := v.edit
	if r.ID == "" {
		return
	}
	v.c.confirm("Delete rule", "Delete the rule "+r.Name+"? Its alerts resolve.", func() { v.Delete(r.ID) })
}

// Delete removes a rule.
func (v *rulesView) Delete(id string) {
	v.c.actReport(v.note, "Not deleted", func(ctx context.Context) error {
		return v.c.client.DeleteRule(ctx, id)
	}, func() {
		v.list.UnselectAll()
		v.setForm(apiv1.Rule{Kind: apiv1.RuleThreshold, Op: ">", Severity: apiv1.SeverityWarning, Enabled: true})
		v.note.SetText("Deleted.")
		v.reload("")
	})
}

// load asks the core for the rules.
func (v *rulesView) load() { v.reload(v.edit.ID) }

// reload lists the rules again and selects one by ID.
func (v *rulesView) reload(selectID string) {
	var got []apiv1.Rule
	v.c.actReport(v.note, "Could not load the rules", func(ctx context.Context) (err error) {
		got, err = v.c.client.Rules(ctx)
		return err
	}, func() {
		slices.SortStableFunc(got, func(a, b apiv1.Rule) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
		v.rules = got
		v.list.Refresh()
		// Select the rule again only if the form still edits it: the
		// operator may have moved on to another while this loaded.
		if selectID == "" || v.edit.ID != selectID {
			return
		}
		if i := slices.IndexFunc(got, func(r apiv1.Rule) bool { return r.ID == selectID }); i >= 0 {
			v.list.Select(i)
		}
	})
}
