// Package mailin takes mail in: it polls IMAP folders and accepts piped mail,
// parses each message, tells human mail from machine mail, and hands it to
// core through one Deliver path.
package mailin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // every charset go-message knows
	"github.com/emersion/go-message/mail"
	"golang.org/x/text/encoding/charmap"

	"helpdesk/core"
)

// Limits bound what one message may cost. A message over a limit is
// quarantined, never half-processed.
type Limits struct {
	MaxBytes       int64 // whole message
	MaxHeaderBytes int64 // top-level header
	MaxDepth       int   // MIME nesting
	MaxParts       int   // MIME parts in all
}

// DefaultLimits fit ordinary mail with large attachments.
var DefaultLimits = Limits{MaxBytes: 40 << 20, MaxHeaderBytes: 256 << 10, MaxDepth: 20, MaxParts: 500}

// LimitError says which limit a message broke.
type LimitError struct{ What string }

func (e *LimitError) Error() string { return "message over limit: " + e.What }

// Parsed is everything intake reads from a message before threading it.
type Parsed struct {
	Header     mail.Header
	MessageID  string
	InReplyTo  []string
	References []string
	From       core.Address
	FromCount  int // addresses on the From line
	To, Cc     []core.Address
	Recipients []string // To, Cc, Delivered-To, X-Original-To: where it was sent
	Subject    string
	Text       string // full text of the body, before quote stripping
	Attach     []core.Attachment
	// ReportType is the report-type of a multipart/report, if it is one.
	ReportType string
	// Parts lists the media type of every MIME part, in order.
	Parts []string
	// RawFrom is the From header as written, for senders whose address
	// does not parse ("MAILER-DAEMON <>").
	RawFrom string
	// Embedded holds Message-IDs of messages quoted inside a report (a
	// bounce's original), to find the ticket a bounce belongs to.
	Embedded []string
	// Attached is the first message attached whole (message/rfc822): what
	// an agent forwards "as attachment".
	Attached *Forwarded
	// HardBounced lists recipients a delivery report says failed permanently.
	HardBounced []string
	Received    int // number of Received: headers
}

// Parse reads a raw message. It fails only when the message is over a limit
// or has no readable header; a damaged body yields what could be read.
func Parse(raw []byte, lim Limits) (*Parsed, error) {
	if lim.MaxBytes > 0 && int64(len(raw)) > lim.MaxBytes {
		return nil, &LimitError{fmt.Sprintf("%d bytes, the limit is %d", len(raw), lim.MaxBytes)}
	}
	// The header limit is checked here, by size, rather than by reading
	// the text of go-message's error, which it does not type.
	if lim.MaxHeaderBytes > 0 && int64(headerLength(raw)) > lim.MaxHeaderBytes {
		return nil, &LimitError{fmt.Sprintf("header over %d bytes", lim.MaxHeaderBytes)}
	}
	opts := &message.ReadOptions{}
	if lim.MaxHeaderBytes > 0 {
		opts.MaxHeaderBytes = lim.MaxHeaderBytes + 1 // our check above decides; this only bounds the reader
	}
	e, err := message.ReadWithOptions(bytes.NewReader(raw), opts)
	if err != nil && e == nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	p := &Parsed{Header: mail.Header{Header: e.Header}}
	h := p.Header
	p.MessageID = messageID(h)
	p.InReplyTo = msgIDs(h, "In-Reply-To")
	p.References = msgIDs(h, "References")
	p.Subject = decodedText(h, "Subject")
	if from := addresses(h, "From"); len(from) > 0 {
		p.From, p.FromCount = from[0], len(from)
	} else if sender := addresses(h, "Sender"); len(sender) > 0 {
		p.From = sender[0]
	}
	p.RawFrom = decodedText(h, "From")
	p.To, p.Cc = addresses(h, "To"), addresses(h, "Cc")
	for _, a := range append(append([]core.Address{}, p.To...), p.Cc...) {
		p.Recipients = append(p.Recipients, a.Email)
	}
	for _, k := range []string{"Delivered-To", "X-Original-To", "Envelope-To"} {
		for _, v := range h.Values(k) {
			if a, err := mail.ParseAddress(v); err == nil {
				p.Recipients = append(p.Recipients, strings.ToLower(a.Address))
			} else if v = strings.TrimSpace(v); strings.Contains(v, "@") {
				p.Recipients = append(p.Recipients, strings.ToLower(strings.Trim(v, "<>")))
			}
		}
	}
	p.Received = len(h.Values("Received"))

	w := walker{lim: lim, p: p}
	if err := w.walk(e, 0, ""); err != nil {
		var le *LimitError
		if errors.As(err, &le) {
			return nil, err
		}
		// A damaged body: keep what was read; the raw original is stored anyway.
		if p.Text == "" && w.html == "" {
			p.Text = "(the body of this message could not be read: " + err.Error() + ")"
		}
	}
	if p.Text == "" && w.html != "" {
		p.Text = HTMLToText(w.html)
	}
	p.Text = strings.ToValidUTF8(p.Text, "\uFFFD")
	return p, nil
}

// headerLength is the size of a message's header: up to the first empty
// line, or all of it when there is none.
// The earliest separator wins: a LF-only message may carry CRLF in its body.
func headerLength(raw []byte) int {
	end := len(raw)
	for _, sep := range [][]byte{[]byte("\r\n\r\n"), []byte("\n\n")} {
		if i := bytes.Index(raw, sep); i >= 0 && i+len(sep) < end {
			end = i + len(sep)
		}
	}
	return end
}

type walker struct {
	lim   Limits
	p     *Parsed
	parts int
	html  string
}

func (w *walker) walk(e *message.Entity, depth int, parentType string) error {
	w.parts++
	if w.lim.MaxParts > 0 && w.parts > w.lim.MaxParts {
		return &LimitError{fmt.Sprintf("more than %d MIME parts", w.lim.MaxParts)}
	}
	if w.lim.MaxDepth > 0 && depth > w.lim.MaxDepth {
		return &LimitError{fmt.Sprintf("MIME nesting deeper than %d", w.lim.MaxDepth)}
	}
	mediaType, params, err := e.Header.ContentType()
	if err != nil || mediaType == "" {
		mediaType = "text/plain"
	}
	w.p.Parts = append(w.p.Parts, mediaType)
	if mr := e.MultipartReader(); mr != nil {
		if mediaType == "multipart/report" && w.p.ReportType == "" {
			w.p.ReportType = strings.ToLower(params["report-type"])
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if part == nil {
				return fmt.Errorf("read %s part: %w", mediaType, err)
			}
			// part may come with an unknown-charset error yet still be readable.
			if err := w.walk(part, depth+1, mediaType); err != nil {
				return err
			}
		}
	}
	disp, dparams, _ := e.Header.ContentDisposition()
	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	filename = raw8bit(filename)
	attachment := disp == "attachment" || (filename != "" && !strings.HasPrefix(mediaType, "text/"))
	switch {
	case mediaType == "message/delivery-status":
		body, _ := io.ReadAll(io.LimitReader(e.Body, 1<<20))
		w.p.HardBounced = append(w.p.HardBounced, hardBounces(body)...)
		return nil
	case mediaType == "message/rfc822" || mediaType == "text/rfc822-headers" || mediaType == "message/rfc822-headers":
		// The original of a bounce (its Message-ID finds the ticket), or a
		// message an agent forwards as an attachment.
		inner, err := message.Read(io.LimitReader(e.Body, 1<<20))
		if inner != nil {
			ih := mail.Header{Header: inner.Header}
			if id := messageID(ih); id != "" {
				w.p.Embedded = append(w.p.Embedded, id)
			}
			if w.p.Attached == nil && mediaType == "message/rfc822" {
				w.p.Attached = w.embedded(inner, depth)
			}
		} else if err != nil {
			return nil
		}
		io.Copy(io.Discard, e.Body) // whatever is left of the original
		return nil
	case !attachment && mediaType == "text/plain" && w.p.Text == "":
		b, err := io.ReadAll(e.Body)
		w.p.Text = string(b)
		return readErr(err)
	case !attachment && mediaType == "text/html" && w.html == "":
		b, err := io.ReadAll(e.Body)
		w.html = string(b)
		return readErr(err)
	}
	n, err := io.Copy(io.Discard, e.Body)
	if filename == "" {
		filename = "unnamed"
	}
	w.p.Attach = append(w.p.Attach, core.Attachment{
		Filename: filename, ContentType: mediaType, Size: n,
		Inline: disp == "inline" || e.Header.Get("Content-Id") != "",
	})
	return readErr(err)
}

// Forwarded is a message carried inside another: its sender, subject and
// text.
type Forwarded struct {
	From    core.Address
	Subject string
	Text    string
}

// embedded reads an attached message's sender, subject and text, under the
// same limits as the message around it.
func (w *walker) embedded(inner *message.Entity, depth int) *Forwarded {
	h := mail.Header{Header: inner.Header}
	from := addresses(h, "From")
	if len(from) == 0 {
		return nil
	}
	sub := &walker{lim: w.lim, p: &Parsed{}, parts: w.parts}
	sub.walk(inner, depth+1, "")
	w.parts = sub.parts
	text := sub.p.Text
	if text == "" && sub.html != "" {
		text = HTMLToText(sub.html)
	}
	return &Forwarded{From: from[0], Subject: decodedText(h, "Subject"), Text: strings.ToValidUTF8(text, "\uFFFD")}
}

// readErr ignores errors that leave the body readable: an unknown charset
// or transfer encoding yields the undecoded bytes, which beats losing them.
func readErr(err error) error {
	if err == nil || message.IsUnknownCharset(err) || message.IsUnknownEncoding(err) {
		return nil
	}
	return err
}

// hardBounces reads a message/delivery-status body and returns recipients
// whose Status is 5.x.x.
func hardBounces(body []byte) []string {
	var out []string
	var rcpt string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			rcpt = ""
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "final-recipient", "original-recipient":
			if _, addr, ok := strings.Cut(v, ";"); ok {
				rcpt = strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
			}
		case "status":
			if strings.HasPrefix(v, "5.") && rcpt != "" {
				out = append(out, rcpt)
				rcpt = ""
			}
		}
	}
	return out
}

func messageID(h mail.Header) string {
	id, err := h.MessageID()
	if err == nil && id != "" {
		return id
	}
	// Malformed ids are still ids: keep them, trimmed, so a duplicate of a
	// message with a broken Message-ID is still caught.
	v := strings.TrimSpace(h.Get("Message-Id"))
	return strings.Trim(v, "<>")
}

func msgIDs(h mail.Header, key string) []string {
	ids, err := h.MsgIDList(key)
	if err == nil {
		return ids
	}
	var out []string
	for _, f := range strings.Fields(h.Get(key)) {
		if f = strings.Trim(f, "<>,"); strings.Contains(f, "@") {
			out = append(out, f)
		}
	}
	return out
}

var wordDecoder = &mime.WordDecoder{CharsetReader: message.CharsetReader}

func decodedText(h mail.Header, key string) string {
	v := raw8bit(h.Get(key))
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		v = d
	}
	return strings.ToValidUTF8(strings.TrimSpace(v), "\uFFFD")
}

// raw8bit reads a header value sent as raw 8-bit bytes instead of encoded
// words. UTF-8 is taken as is (RFC 6532); anything else is almost always
// Windows-1252 or its subset Latin-1, what old clients write, so
// "Fr\xf6sche" reads as "Frösche" rather than as a broken character.
func raw8bit(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	if d, err := charmap.Windows1252.NewDecoder().String(s); err == nil {
		return d
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func addresses(h mail.Header, key string) []core.Address {
	// Raw 8-bit names ("René" in Latin-1 bytes) are read before parsing:
	// the address parser refuses bytes that are not UTF-8.
	v := raw8bit(h.Get(key))
	list, err := mail.ParseAddressList(v)
	if err != nil {
		// Fall back to a lenient read of each comma-separated item.
		list = nil
		for _, item := range strings.Split(v, ",") {
			if a, err := mail.ParseAddress(item); err == nil {
				list = append(list, a)
			}
		}
	}
	var out []core.Address
	for _, a := range list {
		if a == nil || !strings.Contains(a.Address, "@") {
			continue
		}
		out = append(out, core.Address{Name: a.Name, Email: strings.ToLower(a.Address)})
	}
	return out
}
