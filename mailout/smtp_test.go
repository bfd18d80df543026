package mailout

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"helpdesk/mailout/mailouttest"
)

// A refused transaction leaves the session mid-way: the next mail on the
// connection must start with RSET, or the server answers "nested MAIL".
// A completed one needs none, and none is sent.
func TestConnResetsOnlyAfterAnUnfinishedTransaction(t *testing.T) {
	sink := mailouttest.Start(t)
	k := &conn{ctx: context.Background(), cfg: SMTPConfig{Addr: sink.Addr, TLS: TLSNone, Timeout: 5 * time.Second}}
	defer k.close()
	msg := []byte("Subject: x\r\n\r\nx\r\n")
	if err := k.send("desk@desk.test", []string{"ann@example.com"}, msg); err != nil || k.open {
		t.Fatalf("first mail: %v (open %v)", err, k.open)
	}
	sink.RefuseRcpt("bob@example.com")
	var refused *smtp.SMTPError
	if err := k.send("desk@desk.test", []string{"bob@example.com"}, msg); !errors.As(err, &refused) || !k.open {
		t.Fatalf("refused recipient: %v (open %v), want the server's 550 and the transaction left open", err, k.open)
	}
	if err := k.send("desk@desk.test", []string{"cy@example.com"}, msg); err != nil {
		t.Fatalf("the mail after a refusal: %v", err)
	}
	if got := len(sink.Mails()); got != 2 {
		t.Errorf("%d mails delivered, want 2", got)
	}
}

// A connection the server closed while idle fails at MAIL, before any of
// the mail went out: it is dialled again and the mail goes once.
func TestConnRedialsAStaleConnection(t *testing.T) {
	sink := mailouttest.Start(t)
	k := &conn{ctx: context.Background(), cfg: SMTPConfig{Addr: sink.Addr, TLS: TLSNone, Timeout: 5 * time.Second}}
	defer k.close()
	msg := []byte("Subject: x\r\n\r\nx\r\n")
	if err := k.send("desk@desk.test", []string{"ann@example.com"}, msg); err != nil {
		t.Fatal(err)
	}
	k.c.Close() // as if the server had hung up; the client does not know yet
	if err := k.send("desk@desk.test", []string{"bob@example.com"}, msg); err != nil {
		t.Fatalf("after the server closed the connection: %v", err)
	}
	if got := len(sink.Mails()); got != 2 {
		t.Errorf("%d mails delivered, want 2", got)
	}
}
