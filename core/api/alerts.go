package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"esmon/core/alert"
	"esmon/core/apiv1"
	"esmon/core/hosts"
	"esmon/core/notify"
)

// Alerting is what people do with alerts, rules, silences, maintenance
// windows and channels, beyond reading and editing rules. The core
// implements it and publishes and routes the transitions actions cause.
type Alerting interface {
	Alert(id string) (apiv1.Alert, bool)
	Ack(id, by, comment string) (apiv1.Transition, error)
	Unack(id, by string) (apiv1.Transition, error)
	SetRuleEnabled(id string, enabled bool, by string) (apiv1.Rule, error)
	ExportRules() ([]byte, error)
	ImportRules(doc []byte, by string) (created, updated int, err error)
	RuleChanges(limit int) ([]apiv1.RuleChange, error)
	Silences() []apiv1.Silence
	AddSilence(s apiv1.Silence, by string) (apiv1.Silence, error)
	DeleteSilence(id, by string) error
	Maintenance() []apiv1.Maintenance
	AddMaintenance(m apiv1.Maintenance, by string) (apiv1.Maintenance, error)
	DeleteMaintenance(id, by string) error
	Channels() []apiv1.Channel
	TestChannel(ctx context.Context, name, by string) error
}

// actorKey is the context key of the person behind a request.
type actorKey struct{}

// WithActor returns ctx carrying who makes the request. Auth sets it to the
// signed-in user's name (auth.BootstrapUser for the admin.token).
func WithActor(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, actorKey{}, who)
}

// Actor is who makes the request, as recorded in acknowledgements, silences
// and rule changes, and in the audit log: the user's name.
func Actor(ctx context.Context) string {
	if who, ok := ctx.Value(actorKey{}).(string); ok && who != "" {
		return who
	}
	return "unknown"
}

// maxImportBody bounds a rule import: 10,000 rules of YAML fit.
const maxImportBody = 16 << 20

// importRoute is the rule import's route, the one that takes a body over
// maxBody.
const importRoute = "POST /api/v1/rules/import"

// alerting registers the endpoints of people's actions.
func (s *server) alerting(rt roles) {
	if s.Alerting == nil {
		return
	}
	rt.read("GET /api/v1/alerts/{id}", s.alert)
	rt.operate("POST /api/v1/alerts/{id}/ack", s.ack)
	rt.operate("DELETE /api/v1/alerts/{id}/ack", s.unack)
	rt.admin("POST /api/v1/rules/{id}/enable", s.enableRule(true))
	rt.admin("POST /api/v1/rules/{id}/disable", s.enableRule(false))
	rt.read("GET /api/v1/rules/export", s.exportRules)
	rt.admin(importRoute, s.importRules)
	rt.read("GET /api/v1/rules/changes", s.ruleChanges)
	rt.read("GET /api/v1/silences", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Alerting.Silences()) })
	rt.operate("POST /api/v1/silences", s.addSilence)
	rt.operate("DELETE /api/v1/silences/{id}", s.deleteSilence)
	rt.read("GET /api/v1/maintenance", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Alerting.Maintenance()) })
	rt.operate("POST /api/v1/maintenance", s.addMaintenance)
	rt.operate("DELETE /api/v1/maintenance/{id}", s.deleteMaintenance)
	rt.read("GET /api/v1/channels", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Alerting.Channels()) })
	rt.admin("POST /api/v1/channels/{name}/test", s.testChannel)
	if ht, ok := s.Alerting.(HostTagger); ok {
		rt.admin("PUT /api/v1/hosts/{id}/tags", s.putHostTags(ht))
		rt.admin("DELETE /api/v1/hosts/{id}/tags", s.clearHostTags(ht))
	}
}

// HostTagger is what the core implements to let an admin set a host's
// tags, which rules match with "tag". The admin's set replaces the agent's
// until it is cleared.
type HostTagger interface {
	SetHostTags(id string, tags []string, by string) (apiv1.Host, error)
	ClearHostTags(id, by string) (apiv1.Host, error)
}

func (s *server) putHostTags(ht HostTagger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body apiv1.HostTags
		if !readJSON(w, r, &body) {
			return
		}
		h, err := ht.SetHostTags(r.PathValue("id"), body.Tags, Actor(r.Context()))
		if err != nil {
			s.actionError(w, "set host tags", err)
			return
		}
		writeJSON(w, http.StatusOK, h)
	}
}

func (s *server) clearHostTags(ht HostTagger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h, err := ht.ClearHostTags(r.PathValue("id"), Actor(r.Context()))
		if err != nil {
			s.actionError(w, "clear host tags", err)
			return
		}
		writeJSON(w, http.StatusOK, h)
	}
}

// actionError answers the errors of the alerting actions: a *FieldError is
// a 400 naming the field, an unknown thing a 404, a wrong state a 409.
func (s *server) actionError(w http.ResponseWriter, what string, err error) {
	var fe *alert.FieldError
	var te *hosts.TagError
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, fieldError{apiv1.Error{Error: err.Error(), Code: "invalid"}, fe.Field})
	case errors.As(err, &te):
		writeJSON(w, http.StatusBadRequest, fieldError{apiv1.Error{Error: te.Error(), Code: "invalid"}, "tags"})
	case errors.Is(err, alert.ErrNoAlert), errors.Is(err, alert.ErrNoRule), errors.Is(err, alert.ErrNoSilence),
		errors.Is(err, alert.ErrNoMaintenance), errors.Is(err, notify.ErrNoChannel), errors.Is(err, hosts.ErrNoHost):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, alert.ErrNotFiring):
		writeError(w, http.StatusConflict, "not_firing", err.Error())
	default:
		s.internal(w, what, err)
	}
}

// fieldError is a 400 answer that names the wrong field.
type fieldError struct {
	apiv1.Error
	Field string `json:"field"`
}

func (s *server) alert(w http.ResponseWriter, r *http.Request) {
	a, ok := s.Alerting.Alert(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", alert.ErrNoAlert.Error())
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *server) ack(w http.ResponseWriter, r *http.Request) {
	var body apiv1.AckRequest
	if r.ContentLength != 0 && !readJSON(w, r, &body) {
		return
	}
	t, err := s.Alerting.Ack(r.PathValue("id"), Actor(r.Context()), body.Comment)
	if err != nil {
		s.actionError(w, "acknowledge", err)
		return
	}
	writeJSON(w, http.StatusOK, t.Alert)
}

func (s *server) unack(w http.ResponseWriter, r *http.Request) {
	t, err := s.Alerting.Unack(r.PathValue("id"), Actor(r.Context()))
	if err != nil {
		s.actionError(w, "unacknowledge", err)
		return
	}
	writeJSON(w, http.StatusOK, t.Alert)
}

func (s *server) enableRule(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ru, err := s.Alerting.SetRuleEnabled(r.PathValue("id"), enabled, Actor(r.Context()))
		if err != nil {
			s.actionError(w, "enable rule", err)
			return
		}
		writeJSON(w, http.StatusOK, ru)
	}
}

func (s *server) exportRules(w http.ResponseWriter, _ *http.Request) {
	b, err := s.Alerting.ExportRules()
	if err != nil {
		s.internal(w, "export rules", err)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Content-Disposition", `attachment; filename="esmon-rules.yaml"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

func (s *server) importRules(w http.ResponseWriter, r *http.Request) {
	doc, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxImportBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", maxImportBody))
		return
	}
	created, updated, err := s.Alerting.ImportRules(doc, Actor(r.Context()))
	if err != nil {
		s.actionError(w, "import rules", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"created": created, "updated": updated})
}

func (s *server) ruleChanges(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r)
	if !ok {
		return
	}
	cs, err := s.Alerting.RuleChanges(limit)
	if err != nil {
		s.internal(w, "rule changes", err)
		return
	}
	writeJSON(w, http.StatusOK, cs)
}

func (s *server) addSilence(w http.ResponseWriter, r *http.Request) {
	var sil apiv1.Silence
	if !readJSON(w, r, &sil) {
		return
	}
	out, err := s.Alerting.AddSilence(sil, Actor(r.Context()))
	if err != nil {
		s.actionError(w, "add silence", err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *server) deleteSilence(w http.ResponseWriter, r *http.Request) {
	if err := s.Alerting.DeleteSilence(r.PathValue("id"), Actor(r.Context())); err != nil {
		s.actionError(w, "delete silence", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) addMaintenance(w http.ResponseWriter, r *http.Request) {
	var m apiv1.Maintenance
	if !readJSON(w, r, &m) {
		return
	}
	out, err := s.Alerting.AddMaintenance(m, Actor(r.Context()))
	if err != nil {
		s.actionError(w, "add maintenance window", err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *server) deleteMaintenance(w http.ResponseWriter, r *http.Request) {
	if err := s.Alerting.DeleteMaintenance(r.PathValue("id"), Actor(r.Context())); err != nil {
		s.actionError(w, "delete maintenance window", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// testChannel sends a test notification and says whether it went: 200, or
// 502 with the channel's error.
func (s *server) testChannel(w http.ResponseWriter, r *http.Request) {
	err := s.Alerting.TestChannel(r.Context(), r.PathValue("name"), Actor(r.Context()))
	switch {
	case errors.Is(err, notify.ErrNoChannel):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case err != nil:
		writeError(w, http.StatusBadGateway, "channel_failed", err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "sent"})
	}
}
