package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultAttachLimit is the most of a customer's files an agent's mail
// carries; above it the mail lists them with download links instead.
const DefaultAttachLimit = 10 << 20

// FileLinkLifetime is how long a download link in an agent's mail works.
const FileLinkLifetime = 30 * 24 * time.Hour

// fileInfo is an attachment of a stored message, as the attachments table
// has it.
type fileInfo struct {
	id   int64
	name string
	size int64
}

// filesOf loads the (not inline) attachments of the given messages.
func filesOf(ctx context.Context, tx pgx.Tx, refs []int64) (map[int64][]fileInfo, error) {
	out := map[int64][]fileInfo{}
	rows, err := tx.Query(ctx, `SELECT message_ref, id, filename, size FROM attachments
		WHERE message_ref = ANY($1) AND NOT inline ORDER BY id`, refs)
	if err != nil {
		return nil, fmt.Errorf("load attachments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ref int64
		var f fileInfo
		if err := rows.Scan(&ref, &f.id, &f.name, &f.size); err != nil {
			return nil, fmt.Errorf("load attachments: %w", err)
		}
		out[ref] = append(out[ref], f)
	}
	return out, rows.Err()
}

// withFiles gives an agent's mail about message ref its files: attached
// (the mail carries the original, mailout takes the files from it) when
// they fit the limit, else listed with signed download links. It sets
// m.attach and m.data["Files"].
func (s *Store) withFiles(m *outMail, ref int64, files []fileInfo, now time.Time) {
	if len(files) == 0 {
		return
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	attached := total <= s.attachLimit
	list := make([]FileLink, len(files))
	for i, f := range files {
		list[i] = FileLink{Name: f.name, Size: humanSize(f.size)}
		if !attached && s.statusBase != "" {
			list[i].URL = s.statusBase + "/file/" + s.FileToken(f.id, now.Add(FileLinkLifetime))
		}
	}
	m.data.Files, m.data.FilesAttached = list, attached
	if attached {
		m.attach = ref
	}
}

// withRequestFiles gives an assignment mail the files of the ticket's first
// customer message: the request the agent now owns.
func (s *Store) withRequestFiles(ctx context.Context, tx pgx.Tx, m *outMail, ticketID int64, now time.Time) error {
	var ref int64
	err := tx.QueryRow(ctx, `SELECT id FROM messages WHERE ticket_id = $1 AND class = 'human' ORDER BY id LIMIT 1`, ticketID).Scan(&ref)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find the request of ticket %d: %w", ticketID, err)
	}
	files, err := filesOf(ctx, tx, []int64{ref})
	if err != nil {
		return err
	}
	s.withFiles(m, ref, files[ref], now)
	return nil
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// FileToken signs a download link to one attachment, valid until expires.
func (s *Store) FileToken(attachmentID int64, expires time.Time) string {
	return s.linkToken(fileLink, attachmentID, expires)
}

// ParseFileToken checks a download link; forged, altered and expired links
// all fail alike.
func (s *Store) ParseFileToken(token string, now time.Time) (int64, bool) {
	return s.parseLinkToken(fileLink, token, now)
}

// StoredFile is an attachment and the raw message that carries it.
type StoredFile struct {
	Ticket      int64  `json:"ticket"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Raw         []byte `json:"-"`
}

// File loads one attachment by id with its message's raw bytes.
func (s *Store) File(ctx context.Context, id int64) (*StoredFile, error) {
	var f StoredFile
	err := s.pool.QueryRow(ctx, `SELECT coalesce(t.number, 0), a.filename, a.content_type, a.size, m.raw
		FROM attachments a JOIN messages m ON m.id = a.message_ref LEFT JOIN tickets t ON t.id = m.ticket_id
		WHERE a.id = $1`, id).Scan(&f.Ticket, &f.Filename, &f.ContentType, &f.Size, &f.Raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("attachment %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load attachment %d: %w", id, err)
	}
	return &f, nil
}

// TicketFile finds an attachment of a ticket by file name (the latest
// message's, when several carry the same name).
func (s *Store) TicketFile(ctx context.Context, number int64, filename string) (*StoredFile, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT a.id FROM attachments a JOIN messages m ON m.id = a.message_ref
		JOIN tickets t ON t.id = m.ticket_id WHERE t.number = $1 AND a.filename = $2 ORDER BY a.id DESC LIMIT 1`,
		number, filename).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("ticket %d has no file %q: %w", number, filename, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("find file %q of ticket %d: %w", filename, number, err)
	}
	return s.File(ctx, id)
}
