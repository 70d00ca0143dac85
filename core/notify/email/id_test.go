package email

import (
	"testing"

	mail "github.com/wneessen/go-mail"

	"esmon/core/apiv1"
)

// TestMessageIDStable: a mail's Message-ID comes from its notifications'
// ids, so the same mail sent again after a crash has the same Message-ID,
// single or digest; a test mail, without ids, gets a fresh one each time.
func TestMessageIDStable(t *testing.T) {
	c, err := New(Config{Host: "127.0.0.1", From: "esmon@example.test", To: []string{"ops@example.test"}, GroupAbove: 1})
	if err != nil {
		t.Fatal(err)
	}
	tr := func(id string) apiv1.Transition {
		return apiv1.Transition{Alert: apiv1.Alert{ID: "a", Host: "h", Severity: "critical"}, To: apiv1.StateFiring, NotificationID: id}
	}
	msgID := func(ts ...apiv1.Transition) string {
		var m *mail.Msg
		var err error
		if len(ts) > 1 {
			m, err = c.digest(ts)
		} else {
			m, err = c.message(ts[0])
		}
		if err != nil {
			t.Fatal(err)
		}
		return m.GetGenHeader(mail.HeaderMessageID)[0]
	}
	tests := []struct {
		name     string
		a, b     []apiv1.Transition
		wantSame bool
	}{
		{"one mail sent twice", []apiv1.Transition{tr("n1")}, []apiv1.Transition{tr("n1")}, true},
		{"two notifications", []apiv1.Transition{tr("n1")}, []apiv1.Transition{tr("n2")}, false},
		{"digest sent twice", []apiv1.Transition{tr("n1"), tr("n2")}, []apiv1.Transition{tr("n1"), tr("n2")}, true},
		{"test mails", []apiv1.Transition{tr("")}, []apiv1.Transition{tr("")}, false},
	}
	for _, tc := range tests {
		a, b := msgID(tc.a...), msgID(tc.b...)
		if (a == b) != tc.wantSame {
			t.Errorf("%s: Message-IDs %s and %s, same=%v want %v", tc.name, a, b, a == b, tc.wantSame)
		}
	}
	if got := msgID(tr("n1")); got != "<n1@esmon>" {
		t.Errorf("Message-ID %s, want <n1@esmon>", got)
	}
}
