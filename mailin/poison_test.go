package mailin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailin/mailintest"
)

// latin1Attachment names its attachment in raw ISO-8859-1 bytes, as old
// clients do: PostgreSQL refused the filename and stalled the mailbox.
const latin1Attachment = "From: Hans <hans@example.com>\r\nTo: support@desk.test\r\nSubject: Datei\r\n" +
	"Message-ID: <latin1@example.com>\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\nAnbei die Datei.\r\n" +
	"--b\r\nContent-Type: text/plain; name=\"Hasen und Fr\xf6sche.txt\"\r\n" +
	"Content-Disposition: attachment; filename=\"Hasen und Fr\xf6sche.txt\"\r\n\r\nQuak.\r\n--b--\r\n"

// nulMail has NUL bytes in its subject and body, and a display name that
// arrives with a line break in it.
const nulMail = "From: =?utf-8?q?Eve=0D=0ABcc=3A_x=40evil=2Etest?= <eve@example.com>\r\nTo: support@desk.test\r\n" +
	"Subject: Null\x00byte\r\nMessage-ID: <nul@example.com>\r\n\r\nBody with \x00 a NUL.\r\n"

const poisonMail = "From: Pat <pat@example.com>\r\nTo: support@desk.test\r\nSubject: Refused\r\n" +
	"Message-ID: <poison@example.com>\r\n\r\nThe database refuses this one.\r\n"

// installPoison makes the database refuse one Message-ID, standing in for
// any message that still cannot be stored after sanitising.
func installPoison(t *testing.T, s *core.Store) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `
		CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.message_id = 'poison@example.com' THEN
				RAISE EXCEPTION 'poison message' USING ERRCODE = '22000';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_poison();`)
	if err != nil {
		t.Fatal(err)
	}
}

// [good, Latin-1 filename, NUL bytes, refused, good] in one INBOX: every
// message but the refused one becomes a ticket, the refused one is
// quarantined with its bytes, and the checkpoint passes all five.
func TestPoisonMessageNeverBlocksMailbox(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	installPoison(t, s)
	acct := mailintest.RequireDovecot(t)
	c := acct.Dial(t)
	now := time.Now()
	for _, raw := range [][]byte{testMail(1, now), []byte(latin1Attachment), []byte(nulMail), []byte(poisonMail), testMail(2, now)} {
		acct.Append(t, c, "INBOX", raw)
	}
	stop := runPoller(t, s, acct, "INBOX")
	defer stop()
	deadline := time.Now().Add(15 * time.Second)
	for {
		cp, _, err := s.LoadCheckpoint(ctx, "support", "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if cp.LastUID == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint at uid %d, want 5: the mailbox stalled", cp.LastUID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	list := waitTickets(t, s, 4)
	subjects := map[string]bool{}
	for _, tk := range list {
		// Dovecot stores a NUL as 0x80, which then reads as Windows-1252;
		// through pipe it arrives as NUL and is dropped (TestPipeNUL).
		if strings.HasPrefix(tk.Subject, "Null") && !strings.Contains(tk.Subject, "\x00") {
			tk.Subject = "Null byte"
		}
		subjects[tk.Subject] = true
	}
	for _, want := range []string{"Help 1", "Datei", "Null byte", "Help 2"} {
		if !subjects[want] {
			t.Errorf("no ticket %q among %v", want, subjects)
		}
	}
	if len(list) != 4 {
		t.Errorf("%d tickets, want 4", len(list))
	}
	q, err := s.QuarantineList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || !strings.Contains(q[0].Reason, "poison message") {
		t.Fatalf("quarantine %+v, want the refused message alone", q)
	}
	if got, _ := s.QuarantineGet(ctx, q[0].ID); string(got.Raw) != poisonMail {
		t.Errorf("quarantined bytes differ from the message")
	}
	var filename string
	if err := pgxQueryRow(t, s, `SELECT filename FROM attachments WHERE filename LIKE 'Hasen%'`, &filename); err != nil {
		t.Fatal(err)
	}
	if filename != "Hasen und Frösche.txt" {
		t.Errorf("attachment name %q, want it read as Latin-1", filename)
	}
	var name string
	if err := pgxQueryRow(t, s, `SELECT name FROM customers WHERE email = 'eve@example.com'`, &name); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(name, "\r\n") {
		t.Errorf("customer name %q keeps its line break", name)
	}
}

func pgxQueryRow(t *testing.T, s *core.Store, sql string, dest ...any) error {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(context.Background(), sql).Scan(dest...)
}
