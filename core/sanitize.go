package core

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sanitize makes every string of a message safe to store: valid UTF-8
// (PostgreSQL refuses anything else with SQLSTATE 22021, and one such
// filename used to hold back a whole mailbox) and free of NUL, which text
// columns and jsonb refuse too. One-line values (names, subjects, filenames,
// header values) also lose their line breaks and control characters, so a
// display name can never become an extra line in a mail we write. The raw
// message is kept byte for byte beside these values.
// IngestBatch calls it on every message; calling it twice changes nothing.
func (in *Inbound) Sanitize() {
	in.Mailbox = CleanLine(in.Mailbox)
	in.Note = CleanLine(in.Note)
	in.Forged = CleanLine(in.Forged)
	in.MessageID = CleanLine(in.MessageID)
	in.InReplyTo = cleanLines(in.InReplyTo)
	in.References = cleanLines(in.References)
	in.From = in.From.clean()
	for i := range in.Cc {
		in.Cc[i] = in.Cc[i].clean()
	}
	in.Subject = CleanLine(in.Subject)
	in.Text = CleanText(in.Text)
	in.ReplyToken = CleanLine(in.ReplyToken)
	in.Topic = CleanLine(in.Topic)
	in.RouteRule = CleanLine(in.RouteRule)
	for i := range in.Attach {
		in.Attach[i].Filename = CleanLine(in.Attach[i].Filename)
		in.Attach[i].ContentType = CleanLine(in.Attach[i].ContentType)
	}
	for i := range in.Commands {
		in.Commands[i].Raw = CleanLine(in.Commands[i].Raw)
		in.Commands[i].Name = CleanLine(in.Commands[i].Name)
		in.Commands[i].Args = cleanLines(in.Commands[i].Args)
	}
	in.CommandRest = CleanText(in.CommandRest)
	in.AuthPass = cleanLines(in.AuthPass)
	if f := in.Forwarded; f != nil {
		f.From, f.Subject, f.Text = f.From.clean(), CleanLine(f.Subject), CleanText(f.Text)
	}
	in.Undeliverable = cleanLines(in.Undeliverable)
}

func (a Address) clean() Address {
	return Address{Name: CleanLine(a.Name), Email: strings.ToLower(CleanLine(a.Email))}
}

// CleanText is text as PostgreSQL can store it: invalid UTF-8 becomes
// U+FFFD, NUL and other control characters except tab and line breaks go.
func CleanText(s string) string {
	if isClean(s, true) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' || !unicode.IsControl(r) {
			return r
		}
		return -1
	}, s)
}

// CleanLine is a one-line value: CleanText with every run of line breaks,
// tabs and control characters folded to one space, trimmed.
func CleanLine(s string) string {
	if isClean(s, false) {
		return strings.TrimSpace(s)
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == ' ' || r == '\u2028' || r == '\u2029'
	}), " ")
}

// isClean is the fast path: most values need no change at all. ASCII is
// checked byte by byte; only other bytes are decoded.
func isClean(s string, multiline bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < ' ' || c == 0x7f) && !(multiline && (c == '\n' || c == '\r' || c == '\t')) {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError:
			return false // invalid UTF-8 (or a literal U+FFFD, which costs a copy only)
		case unicode.IsControl(r), !multiline && (r == '\u2028' || r == '\u2029'):
			return false
		}
		i += size
	}
	return true
}

func cleanLines(list []string) []string {
	for i, s := range list {
		list[i] = CleanLine(s)
	}
	return list
}
