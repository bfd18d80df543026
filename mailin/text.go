package mailin

import (
	"html"
	"regexp"
	"strings"
)

var (
	htmlDropRE  = regexp.MustCompile(`(?is)<(script|style|head|title)[^>]*>.*?</(script|style|head|title)\s*>|<!--.*?-->`)
	htmlBreakRE = regexp.MustCompile(`(?i)<br\s*/?>|</(p|div|li|tr|h[1-6]|blockquote|table)\s*>`)
	htmlItemRE  = regexp.MustCompile(`(?i)<li[^>]*>`)
	htmlTagRE   = regexp.MustCompile(`(?s)<[^>]*>`)
	blankRunsRE = regexp.MustCompile(`\n{3,}`)
)

// HTMLToText turns an HTML body into readable plain text: block ends become
// line breaks, list items bullets, tags vanish, entities are decoded.
// It is for display only; the original HTML stays in the raw message.
func HTMLToText(s string) string {
	s = htmlDropRE.ReplaceAllString(s, "")
	s = htmlBreakRE.ReplaceAllString(s, "\n")
	s = htmlItemRE.ReplaceAllString(s, "\n- ")
	s = htmlTagRE.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	lines := strings.Split(strings.ReplaceAll(s, "\r", ""), "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.TrimSpace(blankRunsRE.ReplaceAllString(strings.Join(lines, "\n"), "\n\n"))
}

// ReplyMarker is the line our agent-facing mails start with; everything
// from it down in a reply is quoted history.
const ReplyMarker = "-- Reply above this line"

var (
	wroteRE      = regexp.MustCompile(`(?i)^(on|am|le|el|op|il)\b.{0,200}(wrote|schrieb|a écrit|escribió|schreef|ha scritto)\s*:\s*$`)
	originalRE   = regexp.MustCompile(`(?i)^-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|forwarded message)\s*-{2,}`)
	outlookRE    = regexp.MustCompile(`(?i)^(from|von|de):\s.+`)
	outlookNext  = regexp.MustCompile(`(?i)^(sent|gesendet|envoyé|date|to|an|à):\s`)
	underscoreRE = regexp.MustCompile(`^_{20,}\s*$`)
)

// StripQuotes returns the new text of a reply without the quoted history
// below it. It never returns an empty string for a non-empty body: a reply
// that is all quote is kept whole rather than lost.
func StripQuotes(body string) string {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	lines := strings.Split(body, "\n")
	cut := len(lines)
	for i, l := range lines {
		// Every marker below has a colon, a run of dashes or underscores, or
		// our reply marker; most lines have none, so skip the regexps.
		if !strings.ContainsAny(l, ":-_") {
			continue
		}
		t := strings.TrimSpace(l)
		next := ""
		if i+1 < len(lines) {
			next = strings.TrimSpace(lines[i+1])
		}
		if strings.Contains(t, ReplyMarker) || originalRE.MatchString(t) || underscoreRE.MatchString(t) ||
			wroteRE.MatchString(t) || (wroteRE.MatchString(t+" "+next) && strings.HasPrefix(strings.TrimSpace(lines[min(i+2, len(lines)-1)]), ">")) ||
			(outlookRE.MatchString(t) && outlookNext.MatchString(next)) {
			cut = i
			break
		}
	}
	kept := lines[:cut]
	// Drop trailing ">" quote lines and blank lines.
	for len(kept) > 0 {
		t := strings.TrimSpace(kept[len(kept)-1])
		if t == "" || strings.HasPrefix(t, ">") {
			kept = kept[:len(kept)-1]
			continue
		}
		break
	}
	out := strings.TrimSpace(strings.Join(kept, "\n"))
	if out == "" {
		return strings.TrimSpace(body)
	}
	return out
}
