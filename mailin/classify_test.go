package mailin

import (
	"os"
	"path/filepath"
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
		{"null sender display name", "From: MAILER-DAEMON <>\r\n", core.ClassBounce},
		{"null sender bare", "From: <>\r\n", core.ClassBounce},
		{"no From at all", "To: support@desk.test\r\n", core.ClassBounce},
		{"report without report-type", "From: a@example.com\r\nContent-Type: multipart/report; boundary=x\r\n", core.ClassBounce},
		{"post_master", "From: post_master@example.com\r\n", core.ClassBounce},
		{"exchange delivery system", "From: Mail Delivery System <MAIL.DELIVERY.SYSTEM@example.com>\r\n", core.ClassBounce},
		{"list -bounces", "From: users-bounces@lists.example.org\r\n", core.ClassAutoReply},
		{"list -request", "From: users-request@lists.example.org\r\n", core.ClassAutoReply},
		{"list -admin", "From: users-admin@lists.example.org\r\n", core.ClassAutoReply},
		{"owner-", "From: owner-users@lists.example.org\r\n", core.ClassAutoReply},
		{"list-unsubscribe", "From: news@example.com\r\nList-Unsubscribe: <mailto:u@example.com>\r\n", core.ClassAutoReply},
		{"x-ml-name", "From: a@example.com\r\nX-ML-Name: users\r\n", core.ClassAutoReply},
		{"x-mlserver", "From: a@example.com\r\nX-MLServer: fml\r\n", core.ClassAutoReply},
		{"precedence junk", "From: a@example.com\r\nPrecedence: junk\r\n", core.ClassAutoReply},
		{"apple vacation", "From: a@example.com\r\nX-Apple-Action: VACATION\r\n", core.ClassAutoReply},
		{"sns notification", "From: no-reply@sns.amazonaws.com\r\nX-Amz-Sns-Message-Type: Notification\r\n", core.ClassBounce},
		{"human named Admin", "From: \"Sys Admin\" <ada@example.com>\r\n", core.ClassHuman},
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

// Auto-reply subjects as clients write them in their users' languages.
func TestClassifyAutoReplySubjects(t *testing.T) {
	for _, c := range []struct {
		subject string
		want    core.Class
	}{
		{"Auto reply: Your ticket", core.ClassAutoReply},                // Apple Mail
		{"Automatic reply: [#1001] Trackpad", core.ClassAutoReply},      // Outlook
		{"Automatische Antwort: [#1001] Trackpad", core.ClassAutoReply}, // Outlook, German
		{"Abwesenheitsnotiz: Ihr Ticket", core.ClassAutoReply},          // Notes / Exchange, German
		{"Réponse automatique : votre demande", core.ClassAutoReply},    // Outlook, French
		{"Respuesta automática: su solicitud", core.ClassAutoReply},     // Spanish
		{"Risposta automatica: richiesta", core.ClassAutoReply},         // Italian
		{"Automatisch antwoord: uw ticket", core.ClassAutoReply},        // Dutch
		{"Resposta automática: pedido", core.ClassAutoReply},            // Portuguese
		{"Autosvar: ärende", core.ClassAutoReply},                       // Swedish, Danish, Norwegian
		{"Automatyczna odpowiedź: zgłoszenie", core.ClassAutoReply},     // Polish
		{"Автоматический ответ: заявка", core.ClassAutoReply},           // Russian
		{"Автоматична відповідь: заявка", core.ClassAutoReply},          // Ukrainian
		{"自動応答: お問い合わせ", core.ClassAutoReply},                           // Japanese
		{"自动回复：您的工单", core.ClassAutoReply},                              // Chinese, full-width colon
		{"자동 회신: 문의", core.ClassAutoReply},                              // Korean
		{"Out of Office: back Monday", core.ClassAutoReply},
		{"Re: automatic reply setup does not work", core.ClassHuman}, // a customer asking about it
		{"Absence of invoice", core.ClassHuman},
	} {
		p, err := Parse([]byte("From: a@example.com\r\nSubject: "+c.subject+"\r\n\r\nbody\r\n"), DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		if got, why := Classify(p, "desk.test"); got != c.want {
			t.Errorf("%q: got %s (%s), want %s", c.subject, got, why, c.want)
		}
	}
}

// Every machine sample in testdata is classified as a machine, and the
// null-sender ones are not quarantined for lack of a From.
func TestMachineSamplesAreMachines(t *testing.T) {
	files, _ := filepath.Glob("testdata/machine/*.eml")
	if len(files) == 0 {
		t.Fatal("no samples")
	}
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		p, err := Parse(raw, DefaultLimits)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got, why := Classify(p, "desk.test")
		if human := strings.Contains(f, "not-bounce"); got.Machine() == human {
			t.Errorf("%s: classified %s (%s)", f, got, why)
		}
	}
}
