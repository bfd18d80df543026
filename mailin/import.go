package mailin

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// ImportSummary counts what an import did.
type ImportSummary struct {
	Messages    int // read from the folder
	Tickets     int // new tickets opened
	Replies     int // added to existing tickets
	Duplicates  int // already stored
	Machine     int // bounces, auto-replies and the like, stored
	Quarantined int
}

// ErrMailboxBusy means another process polls the mailbox right now.
var ErrMailboxBusy = errors.New("another helpdesk process is polling this mailbox: stop it first, or let it take the mail in")

// Import takes in a folder's existing backlog once, from the checkpoint on,
// without mailing anyone: old mail gets no acknowledgement. It leaves the
// checkpoint after the last message, so the daemon starts from there.
func (p *Poller) Import(ctx context.Context, progress func(done, total int)) (ImportSummary, error) {
	var sum ImportSummary
	mb := p.Mailbox
	if mb.Folder == "" {
		mb.Folder = "INBOX"
	}
	release, ok, err := p.Intake.Store.LockMailbox(ctx, mb.Name)
	if err != nil {
		return sum, err
	}
	defer release()
	if !ok {
		return sum, ErrMailboxBusy
	}
	c, err := dial(mb, nil)
	if err != nil {
		return sum, err
	}
	defer c.Close()
	if _, err := login(ctx, c, mb); err != nil {
		return sum, err
	}
	sel, err := c.Select(mb.Folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return sum, fmt.Errorf("select %s: %w", mb.Folder, err)
	}
	cp, known, err := p.Intake.Store.LoadCheckpoint(ctx, mb.Name, mb.Folder)
	if err != nil {
		return sum, err
	}
	if !known || cp.UIDValidity != sel.UIDValidity {
		cp.LastUID = 0
	}
	cp.UIDValidity = sel.UIDValidity
	uids, err := uidsAfter(c, cp.LastUID)
	if err != nil {
		return sum, err
	}
	for i, uid := range uids {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		if err != nil {
			return sum, fmt.Errorf("fetch uid %d: %w", uid, err)
		}
		if len(msgs) == 0 || len(msgs[0].BodySection) == 0 {
			continue
		}
		mcp := cp
		mcp.LastUID = uint32(uid)
		out, err := p.Intake.Deliver(ctx, Source{Mailbox: mb.Name, DefaultTopic: mb.DefaultTopic, Checkpoint: &mcp, Quiet: true},
			msgs[0].BodySection[0].Bytes)
		if err != nil {
			return sum, fmt.Errorf("deliver uid %d: %w", uid, err)
		}
		sum.count(out)
		if progress != nil {
			progress(i+1, len(uids))
		}
	}
	return sum, nil
}

// uidsAfter lists, in order, the UIDs in the selected folder above last.
func uidsAfter(c *imapclient.Client, last uint32) ([]imap.UID, error) {
	data, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: imap.UID(last + 1), Stop: 0}}}}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("search UIDs after %d: %w", last, err)
	}
	var uids []imap.UID
	// "N:*" matches the highest UID even when it is below N, so filter.
	for _, u := range data.AllUIDs() {
		if uint32(u) > last {
			uids = append(uids, u)
		}
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	return uids, nil
}

// count adds one delivered message to the summary, under what became of it.
func (sum *ImportSummary) count(out Outcome) {
	sum.Messages++
	switch {
	case out.Quarantined != 0:
		sum.Quarantined++
	case out.Duplicate:
		sum.Duplicates++
	case out.Class.Machine():
		sum.Machine++
	case out.Created:
		sum.Tickets++
	default:
		sum.Replies++
	}
}
