package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"esmon/core/apiv1"
	"esmon/core/notify"
)

// TestNotificationID: every post carries the id of its notifications, the
// same when the same notifications are posted again after a crash, in a
// header and in the payload, so that a receiver can drop the repeat.
func TestNotificationID(t *testing.T) {
	var mu sync.Mutex
	var heads []string
	var bodies []Payload
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p Payload
		json.Unmarshal(b, &p)
		mu.Lock()
		heads, bodies = append(heads, r.Header.Get(notify.IDHeader)), append(bodies, p)
		mu.Unlock()
	}))
	defer srv.Close()
	c, err := New(Config{Name: "hook", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	tr := func(id string, redelivery bool) apiv1.Transition {
		return apiv1.Transition{Alert: apiv1.Alert{ID: "a"}, To: apiv1.StateFiring, NotificationID: id, Redelivery: redelivery}
	}
	sends := [][]apiv1.Transition{
		{tr("n1", false)},
		{tr("n1", true)},
		{tr("n1", false), tr("n2", false)},
		{tr("n1", true), tr("n2", true)},
	}
	for _, ts := range sends {
		if _, err := c.Notify(context.Background(), ts...); err != nil {
			t.Fatal(err)
		}
	}
	if heads[0] != "n1" || heads[1] != heads[0] || heads[2] == heads[0] || heads[3] != heads[2] || heads[2] == "" {
		t.Errorf("id headers %q: want n1, n1, then one group id twice", heads)
	}
	if got := bodies[1].Transitions[0]; got.NotificationID != "n1" || !got.Redelivery {
		t.Errorf("payload of the redelivery: %+v", got)
	}
}
