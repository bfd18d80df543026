package mailin

import (
	"regexp"
	"strings"

	"helpdesk/core"
)

// ParseCommands reads the command lines at the top of an agent's mail: lines
// starting with "/" before any other text (blank lines between them are
// fine). It returns them and the text that follows. /note ends the commands:
// everything after it is the note. Arguments may be quoted with "…" or '…'.
// Whether a command exists is core's decision, so a typo becomes a clear
// error mail rather than text sent to the customer.
func ParseCommands(text string) (cmds []core.Command, rest string) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	// Walk line by line without splitting the whole body: commands are at
	// the top, and a long message should cost nothing more.
	pos, line := 0, 0
	for pos < len(text) {
		end := strings.IndexByte(text[pos:], '\n')
		next := len(text)
		if end >= 0 {
			next = pos + end + 1
		} else {
			end = len(text) - pos
		}
		line++
		t := strings.TrimSpace(text[pos : pos+end])
		if t == "" {
			pos = next
			continue
		}
		if !strings.HasPrefix(t, "/") || len(t) < 2 {
			break
		}
		fields := splitArgs(t[1:])
		if len(fields) == 0 || t[1] == ' ' || t[1] == '\t' || !commandNameRE.MatchString(fields[0]) {
			break // "/\"" or "/ etc": text that starts with a slash, not a command
		}
		c := core.Command{Line: line, Raw: t, Name: strings.ToLower(fields[0]), Args: fields[1:]}
		cmds = append(cmds, c)
		pos = next
		if c.Name == "note" {
			// "/note some text" keeps the text on the same line as the note.
			inline := strings.TrimSpace(strings.TrimPrefix(t[1:], fields[0]))
			return cmds, strings.TrimSpace(inline + "\n" + text[pos:])
		}
	}
	return cmds, strings.TrimSpace(text[min(pos, len(text)):])
}

// commandNameRE is what a command's name looks like: a word.
var commandNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// splitArgs splits on spaces, keeping quoted runs together.
func splitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	inArg := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inArg = r, true
		case r == ' ' || r == '\t':
			if inArg {
				out = append(out, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if inArg {
		out = append(out, cur.String())
	}
	return out
}
