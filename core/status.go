package core

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// StatusLinkLifetime is how long a status link in a mail keeps working.
const StatusLinkLifetime = 180 * 24 * time.Hour

// StatusToken signs a read-only link to a ticket's status page, valid until expires.
func (s *Store) StatusToken(number int64, expires time.Time) string {
	return s.linkToken(statusLink, number, expires)
}

// ParseStatusToken checks a status link; it fails for forged, altered or
// expired links alike, so a refusal tells an attacker nothing.
func (s *Store) ParseStatusToken(token string, now time.Time) (int64, bool) {
	return s.parseLinkToken(statusLink, token, now)
}

// publicEvents are the events a customer may see on their status page.
var publicEvents = map[string]bool{EventCreated: true, EventStatus: true, EventResolved: true, EventClosed: true, EventReopened: true}

// PublicThread is a ticket as its customer may see it: their messages, the
// agents' responses and the changes of status; never internal notes, routing
// or escalation events, or unverified mail.
func (s *Store) PublicThread(ctx context.Context, number int64) (*Thread, error) {
	th, err := s.ShowTicket(ctx, number)
	if err != nil {
		return nil, err
	}
	var pub []Entry
	for _, e := range th.Entries {
		switch {
		case e.Kind == EntryMessage || e.Kind == EntryResponse:
			e.Data = nil
			pub = append(pub, e)
		case e.Kind == EntryEvent && publicEvents[e.Event]:
			e.Author = ""
			pub = append(pub, e)
		}
	}
	th.Entries = pub
	return th, nil
}

// AlertStall tells the admins, once per change, that a mailbox stopped
// polling (or recovered). The stall_alerts row keeps it once across daemons.
func (s *Store) AlertStall(ctx context.Context, mailbox string, recovered bool, since time.Time, reason string, now time.Time) (bool, error) {
	return s.alertOnce(ctx, mailbox, recovered, TemplateStallAlert, MailData{
		Mailbox: mailbox, Recovered: recovered, Since: since.UTC().Format("2006-01-02 15:04 MST"), Reason: CleanLine(reason)}, since, now)
}

// AlertSMTPOutage tells the admins, once per change across daemons, that
// the SMTP server has been unreachable since a time (or is back). The mail
// goes out when the server is back, so it also says for how long mail waited.
func (s *Store) AlertSMTPOutage(ctx context.Context, server string, recovered bool, since time.Time, reason string, now time.Time) (bool, error) {
	return s.alertOnce(ctx, "smtp "+server, recovered, TemplateSMTPOutage, MailData{
		Server: server, Recovered: recovered, Since: since.UTC().Format("2006-01-02 15:04 MST"), Reason: CleanLine(reason)}, since, now)
}

// alertOnce records that the admins were told about key (or removes the
// record on recovery) and, only when that changed something, queues the
// alert: several daemons seeing the same trouble send one.
func (s *Store) alertOnce(ctx context.Context, key string, recovered bool, template string, data MailData, since, now time.Time) (bool, error) {
	sent := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var tag pgconn.CommandTag
		var err error
		if recovered {
			tag, err = tx.Exec(ctx, `DELETE FROM stall_alerts WHERE mailbox = $1`, key)
		} else {
			tag, err = tx.Exec(ctx, `INSERT INTO stall_alerts (mailbox, since) VALUES ($1, $2) ON CONFLICT DO NOTHING`, key, since)
		}
		if err != nil {
			return fmt.Errorf("record alert about %s: %w", key, err)
		}
		if tag.RowsAffected() == 0 {
			return nil // already alerted (or nothing to recover from)
		}
		sent = true
		return s.alertAdmins(ctx, tx, now, template, data)
	})
	return sent, err
}
