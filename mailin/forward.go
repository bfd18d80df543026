package mailin

import (
	"regexp"
	"strings"

	"github.com/emersion/go-message/mail"

	"helpdesk/core"
)

// forwardStartRE matches the line mail clients put above a message
// forwarded inline.
var forwardStartRE = regexp.MustCompile(`(?i)^(-{2,}\s*(forwarded message|original message|weitergeleitete nachricht|message transféré|mensaje reenviado|messaggio inoltrato)\s*-{2,}|begin forwarded message:|anfang der weitergeleiteten nachricht:|début du message réexpédié\s*:)`)

// inlineForward finds a message forwarded inline ("---------- Forwarded
// message ---------" and a From: line below it) and returns its sender,
// subject and text.
func inlineForward(text string) *Forwarded {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i, l := range lines {
		if !forwardStartRE.MatchString(strings.TrimSpace(l)) {
			continue
		}
		var f Forwarded
		j := i + 1
		for ; j < len(lines) && j < i+10; j++ {
			t := strings.TrimSpace(strings.Trim(lines[j], "*"))
			if t == "" && f.From.Email != "" {
				break
			}
			_, v, ok := strings.Cut(t, ":")
			if !ok {
				continue
			}
			v = strings.TrimSpace(strings.Trim(v, "*"))
			switch headerLabel(t) {
			case labelFrom:
				if a, err := mail.ParseAddress(v); err == nil {
					f.From = core.Address{Name: a.Name, Email: strings.ToLower(a.Address)}
				}
			case labelSubject:
				f.Subject = v
			}
		}
		if f.From.Email == "" {
			return nil
		}
		f.Text = strings.TrimSpace(strings.Join(lines[min(j+1, len(lines)):], "\n"))
		return &f
	}
	return nil
}
