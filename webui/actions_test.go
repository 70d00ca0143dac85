package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"esmon/core/apiv1"
	"esmon/internal/browsertest"
)

// The JSON of the alerting actions (silence, Maintenance, Channel,
// Ack), written out here so this test does not depend on when those types
// land in apiv1; the shapes are the contract.
type (
	silence struct {
		ID        string            `json:"id"`
		Match     map[string]string `json:"match"`
		StartsAt  time.Time         `json:"starts_at"`
		EndsAt    time.Time         `json:"ends_at"`
		Comment   string            `json:"comment,omitempty"`
		CreatedBy string            `json:"created_by,omitempty"`
	}
	maintenance struct {
		ID       string            `json:"id"`
		Name     string            `json:"name"`
		Schedule string            `json:"schedule"`
		Duration string            `json:"duration"`
		Match    map[string]string `json:"match"`
		Active   bool              `json:"active"`
		Next     time.Time         `json:"next,omitzero"`
	}
	channel struct {
		Name        string `json:"name"`
		MinSeverity string `json:"min_severity,omitempty"`
		Always      bool   `json:"always,omitempty"`
		Queued      int    `json:"queued"`
	}
	ack struct {
		By string    `json:"by"`
		At time.Time `json:"at"`
	}
	ackedAlert struct {
		apiv1.Alert
		Ack *ack `json:"ack,omitempty"`
	}
)

// actionRoutes serves the alerting actions as core/api/alerts.go does, when
// pages.alerting is set; otherwise they answer 404 like a core without them.
func (f *fakeCore) actionRoutes(mux *http.ServeMux, guard func(http.HandlerFunc) http.HandlerFunc) {
	on := func(h http.HandlerFunc) http.HandlerFunc {
		return guard(func(w http.ResponseWriter, r *http.Request) {
			f.pages.mu.Lock()
			enabled := f.pages.alerting
			f.pages.mu.Unlock()
			if !enabled {
				writeError(w, http.StatusNotFound, "no such API endpoint", "not_found")
				return
			}
			h(w, r)
		})
	}
	mux.HandleFunc("GET /api/v1/channels", on(func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, []channel{{Name: "email", MinSeverity: "very_critical"}, {Name: "log", Always: true}, {Name: "teams", MinSeverity: "critical", Queued: 2}})
	}))
	mux.HandleFunc("POST /api/v1/channels/{name}/test", on(func(w http.ResponseWriter, r *http.Request) {
		f.pages.mu.Lock()
		f.pages.tests = append(f.pages.tests, r.PathValue("name"))
		f.pages.mu.Unlock()
		if r.PathValue("name") == "teams" {
			writeError(w, http.StatusBadGateway, "teams: webhook answered 403 Forbidden", "channel_failed")
			return
		}
		writeJSONBody(w, map[string]string{"status": "sent"})
	}))
	mux.HandleFunc("POST /api/v1/alerts/{id}/ack", on(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i := range f.alerts {
			if f.alerts[i].ID == r.PathValue("id") {
				f.pages.mu.Lock()
				f.pages.acks = append(f.pages.acks, r.PathValue("id"))
				f.pages.mu.Unlock()
				writeJSONBody(w, ackedAlert{f.alerts[i], &ack{By: "admin", At: time.Now()}})
				return
			}
		}
		writeError(w, http.StatusNotFound, "no such alert", "not_found")
	}))
	mux.HandleFunc("GET /api/v1/silences", on(func(w http.ResponseWriter, r *http.Request) {
		f.pages.mu.Lock()
		defer f.pages.mu.Unlock()
		writeJSONBody(w, append([]silence{}, f.pages.silences...))
	}))
	mux.HandleFunc("POST /api/v1/silences", on(func(w http.ResponseWriter, r *http.Request) {
		var s silence
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), "bad_json")
			return
		}
		if !s.EndsAt.After(s.StartsAt) {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "ends_at: must be after starts_at", "code": "invalid", "field": "ends_at"})
			return
		}
		f.pages.mu.Lock()
		defer f.pages.mu.Unlock()
		s.ID = fmt.Sprintf("s-%d", len(f.pages.silences)+1)
		s.CreatedBy = "admin"
		f.pages.silences = append(f.pages.silences, s)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(s)
	}))
	mux.HandleFunc("DELETE /api/v1/silences/{id}", on(func(w http.ResponseWriter, r *http.Request) {
		f.pages.mu.Lock()
		defer f.pages.mu.Unlock()
		for i, s := range f.pages.silences {
			if s.ID == r.PathValue("id") {
				f.pages.silences = append(f.pages.silences[:i], f.pages.silences[i+1:]...)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		writeError(w, http.StatusNotFound, "no such silence", "not_found")
	}))
	mux.HandleFunc("GET /api/v1/maintenance", on(func(w http.ResponseWriter, r *http.Request) {
		f.pages.mu.Lock()
		defer f.pages.mu.Unlock()
		writeJSONBody(w, append([]maintenance{}, f.pages.maint...))
	}))
	mux.HandleFunc("POST /api/v1/maintenance", on(func(w http.ResponseWriter, r *http.Request) {
		var m maintenance
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), "bad_json")
			return
		}
		f.pages.mu.Lock()
		defer f.pages.mu.Unlock()
		m.ID = fmt.Sprintf("m-%d", len(f.pages.maint)+1)
		m.Next = time.Now().Add(50 * time.Hour)
		f.pages.maint = append(f.pages.maint, m)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(m)
	}))
}

// TestAlertActions: with a core that serves them, the page offers
// acknowledge, silences, maintenance windows and channel tests; without,
// none of it shows (TestAlertsPage and TestDashboard run on such a core).
func TestAlertActions(t *testing.T) {
	browser := browsertest.New(t)
	core := newFakeCore(t)
	ctx, cancel := context.WithTimeout(browser, 40*time.Second)
	defer cancel()
	b := &browsertest.Page{T: t, Ctx: ctx}

	// Without the actions: no nav links, no buttons.
	signIn(b, core)
	core.next(t)
	b.Do(chromedp.Click(chromedp.CSS(`[data-nav="alerts"]`)))
	b.Do(chromedp.WaitVisible(chromedp.CSS(`#av-active tr[data-alert="a-disk"]`)))
	if got := b.Eval(`document.querySelector('[data-nav="silences"]').hidden && !document.querySelector('#av-active button[data-action]')`); got != true {
		t.Fatal("alerting actions offered by a core without them")
	}

	core.pages.mu.Lock()
	core.pages.alerting = true
	core.pages.mu.Unlock()
	b.Do(chromedp.Reload())
	core.next(t)
	b.Do(chromedp.WaitVisible(chromedp.CSS(`[data-nav="silences"]`)))
	b.Do(chromedp.WaitVisible(chromedp.CSS(`#av-active tr[data-alert="a-disk"] button[data-action="ack"]`)))
	if b.Eval(`!!document.querySelector('#av-active tr[data-alert="a-swap"] button[data-action]')`) != false {
		t.Error("a pending alert offers acknowledge")
	}

	// Acknowledge: the core records it and the row says who.
	b.Do(chromedp.Click(chromedp.CSS(`#av-active tr[data-alert="a-disk"] button[data-action="ack"]`)))
	b.WaitJS(`document.querySelector('#av-active tr[data-alert="a-disk"]').dataset.acked === "true"`, "acknowledged")
	b.WaitJS(`document.querySelector('#av-active tr[data-alert="a-disk"]').textContent.includes("Acknowledged by admin")`, "who acknowledged")
	core.pages.mu.Lock()
	acks := fmt.Sprint(core.pages.acks)
	core.pages.mu.Unlock()
	if acks != "[a-disk]" {
		t.Errorf("acks = %s", acks)
	}
	browsertest.Screenshot(t, ctx, "alerts-ack.png")

	// Silence from the alert: the form comes filled with its host and rule.
	b.Do(chromedp.Click(chromedp.CSS(`#av-active tr[data-alert="a-heap"] a[href^="#/silences"]`)))
	b.Do(chromedp.WaitVisible(chromedp.ID("silences-view")))
	b.WaitJS(`document.getElementById("sv-host").value === "h-mx" && document.getElementById("sv-rule").value === "r-heap"`, "silence form filled")
	b.Do(chromedp.SendKeys(chromedp.ID("sv-comment"), "JVM restart planned"))
	b.Do(chromedp.Click(chromedp.ID("sv-save")))
	b.Do(chromedp.WaitVisible(chromedp.CSS(`#sv-list tr[data-silence="s-1"]`)))
	b.WaitJS(`document.querySelector('#sv-list tr[data-silence="s-1"]').textContent.includes("host=maximo-01, rule=r-heap")`, "silence listed")
	core.pages.mu.Lock()
	sil := core.pages.silences[0]
	core.pages.mu.Unlock()
	if d := sil.EndsAt.Sub(sil.StartsAt); d != 2*time.Hour || sil.Comment != "JVM restart planned" {
		t.Errorf("silence %+v lasts %v", sil, d)
	}
	browsertest.Screenshot(t, ctx, "silences.png")
	b.Do(chromedp.Click(chromedp.CSS(`#sv-list tr[data-silence="s-1"] button`)))
	b.Do(chromedp.WaitVisible(chromedp.ID("sv-empty")))

	// A maintenance window, with its validation.
	b.Do(chromedp.Click(chromedp.CSS(`[data-nav="maintenance"]`)))
	b.Do(chromedp.WaitVisible(chromedp.ID("maint-form")))
	b.Do(chromedp.Click(chromedp.ID("mv-save")))
	b.WaitJS(`document.getElementById("mv-name-err").textContent !== "" && document.getElementById("mv-schedule-err").textContent !== ""`, "window errors")
	b.Do(
		chromedp.SendKeys(chromedp.ID("mv-name"), "Sunday patching"),
		chromedp.SendKeys(chromedp.ID("mv-schedule"), "0 2 * * 0"),
		chromedp.SendKeys(chromedp.ID("mv-duration"), "2h"),
		chromedp.SendKeys(chromedp.ID("mv-match"), "host=db-*"),
	)
	b.Do(chromedp.Click(chromedp.ID("mv-save")))
	b.Do(chromedp.WaitVisible(chromedp.CSS(`#mv-list tr[data-maintenance="m-1"]`)))
	b.WaitText(`#mv-list tr[data-maintenance="m-1"] td.mono`, "0 2 * * 0")
	browsertest.Screenshot(t, ctx, "maintenance.png")

	// Channels: a test that goes and one that fails, each said plainly.
	b.Do(chromedp.Click(chromedp.CSS(`[data-nav="channels"]`)))
	b.Do(chromedp.WaitVisible(chromedp.CSS(`#cv-list tr[data-channel="email"]`)))
	b.Do(chromedp.Click(chromedp.CSS(`#cv-list tr[data-channel="email"] button`)))
	b.WaitJS(`document.querySelector('#cv-list tr[data-channel="email"] .test-result').dataset.result === "ok"`, "email test sent")
	b.Do(chromedp.Click(chromedp.CSS(`#cv-list tr[data-channel="teams"] button`)))
	b.WaitJS(`document.querySelector('#cv-list tr[data-channel="teams"] .test-result').textContent.includes("403 Forbidden")`, "teams test failed")
	browsertest.Screenshot(t, ctx, "channels.png")
}
