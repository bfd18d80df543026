package mailin

import (
	"strings"
	"testing"

	"helpdesk/core"
)

func TestClassifyHeaders(t *testing.T) {
	received := strings.Repeat("Received: from a by b; Mon, 2 Mar 2026 09:00:00 +0000\r\n", MaxReceived+1)
	cases := []struct {
		name, head string
		want       core.Class
	}{
		{"plain human", "From: a@example.com\r\n", core.ClassHuman},
		{"auto-submitted no is human", "From: a@example.com\r\nAuto-Submitted: no\r\n", core.ClassHuman},
		{"out of office", "From: a@example.com\r\nAuto-Submitted: auto-replied\r\n", core.ClassAutoReply},
		{"x-autoreply", "From: a@example.com\r\nX-Autoreply: yes\r\n", core.ClassAutoReply},
		{"bulk", "From: a@example.com\r\nPrecedence: bulk\r\n", core.ClassAutoReply},
		{"mailing list", "From: a@example.com\r\nList-Id: <news.example.com>\r\n", core.ClassAutoReply},
		{"null return path", "Return-Path: <>\r\nFrom: a@example.com\r\n", core.ClassBounce},
		{"postmaster", "From: postmaster@example.com\r\n", core.ClassBounce},
		{"read receipt", "From: a@example.com\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary=x\r\n", core.ClassReceipt},
		{"our loop header", "From: a@example.com\r\nX-Helpdesk-Loop: desk.test\r\n", core.ClassLoop},
		{"someone else's loop header", "From: a@example.com\r\nX-Helpdesk-Loop: other.test\r\n", core.ClassHuman},
		{"our own Message-ID", "From: a@example.com\r\nMessage-ID: <hd.1001.abc@desk.test>\r\n", core.ClassLoop},
		{"too many hops", "From: a@example.com\r\n" + received, core.ClassLoop},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse([]byte(c.head+"Subject: x\r\n\r\nbody\r\n--x--\r\n"), DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if got, why := Classify(p, "desk.test"); got != c.want {
				t.Errorf("got %s (%s), want %s", got, why, c.want)
			}
		})
	}
}
