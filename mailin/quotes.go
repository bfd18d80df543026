package mailin

import (
	"regexp"
	"strings"
)

// ReplyMarker is the line our agent-facing mails start with; everything
// from it down in a reply is quoted history.
const ReplyMarker = "-- Reply above this line"

// StripQuotes returns the new text of a reply without its quoted history,
// wherever the new text is: above the quote (top-posting), below it
// (bottom-posting) or between quoted lines (inline replies). Quoted
// history is recognised as
//   - "> " lines and the attribution that introduces them ("On … wrote:",
//     "Am … schrieb …:", "Le … a écrit :", Gmail's "date, name <address>:"
//     with no verb at all, in the languages mail clients ship, wrapped
//     over up to three lines);
//   - everything from an unquoted history on: an attribution followed by
//     plain text, a dash-framed separator ("-----Original Message-----" in
//     any language), Outlook's underscore rule or its header block ("From:",
//     "Sent:", "To:", "Subject:" in any language and order, blank lines
//     allowed between them), our own reply marker;
//   - a signature ("-- ") to the end, and mobile footers ("Sent from my
//     iPhone").
//
// It never returns an empty string for a non-empty body: a reply that is
// all quote is kept whole rather than lost.
func StripQuotes(body string) string {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	lines := strings.Split(body, "\n")
	var kept []string
	for i := 0; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if historyStarts(lines, i) {
			break
		}
		if _, n := attribution(lines, i); n > 0 {
			next := i + n
			for next < len(lines) && strings.TrimSpace(lines[next]) == "" {
				next++
			}
			if next < len(lines) && quoted(lines[next]) {
				i = next - 1 // drop the attribution; its quote goes below
				continue
			}
			break // the history that follows is not marked: all of it goes
		}
		if quoted(t) || mobileFooter(t) {
			continue
		}
		kept = append(kept, lines[i])
	}
	out := tidyText(strings.Join(kept, "\n"))
	if out == "" {
		return strings.TrimSpace(body)
	}
	return out
}

// historyStarts reports a line from which everything is quoted history.
func historyStarts(lines []string, i int) bool {
	t := strings.TrimSpace(lines[i])
	switch {
	case t == "":
		return false
	case strings.Contains(t, ReplyMarker), t == "--", strings.TrimRight(lines[i], "\r") == "-- ":
		return true
	case t[0] == '-' && separatorRE.MatchString(t), t[0] == '_' && underscoreRE.MatchString(t):
		return true
	}
	return outlookBlock(lines, i)
}

var (
	// separatorRE: "-----Original Message-----", "---------- Forwarded
	// message ---------", "-----Ursprüngliche Nachricht-----", …
	separatorRE  = regexp.MustCompile(`^-{3,}\s*\S.{0,60}?\s*-{3,}$|^(?i:begin forwarded message|anfang der weitergeleiteten nachricht|début du message réexpédié)\s*:$`)
	underscoreRE = regexp.MustCompile(`^_{20,}$`)
	// mobileFooterRE: the line a phone's mail app appends.
	mobileFooterRE = regexp.MustCompile(`(?i)^(sent from my \w+|sent from (outlook|mail|yahoo mail|gmail)\b.*|get outlook for \w+` +
		`|von meinem \w+ gesendet|gesendet von meinem \w+|envoyé de mon \w+|enviado desde mi \w+|enviado do meu \w+` +
		`|inviato da(l mio)? \w+|verzonden (vanaf|met) mijn \w+|skickat från min \w+|sendt fra min \w+|wysłane z (mojego )?\w+` +
		`|отправлено с (моего )?\w+|надіслано з (мого )?\w+|iphoneから送信|从我的\s?\w+发送|從我的\s?\w+傳送)\.?$`)
)

// mobileFooter reports the line a phone's mail app appends. Such lines are
// short; the length check spares the regexp almost every line of a long body.
func mobileFooter(t string) bool {
	return len(t) < 50 && mobileFooterRE.MatchString(t)
}

// quoted reports a "> " line.
func quoted(line string) bool { return strings.HasPrefix(strings.TrimSpace(line), ">") }

// wroteRE matches the verb of an attribution line in the languages mail
// clients ship.
var wroteRE = regexp.MustCompile(`(?i)(\bwrote|\bwrites|\bschrieb|\bschreibt|a écrit|\bescribió|ha scritto|\bscrisse|\bschreef|\bescreveu|` +
	`\bskrev|\bskriver|\bkirjoitti|napisał\(a\)|\bnapisała?|napsal\(a\)|\bnapsala?|napísal|\bpíše|\bpiše|пишет|написал\(а\)|написала?|` +
	`пише|написав|写道|寫道|書きました|のメッセージ|님이 작성|작성:|yazdı|írta|έγραψε|kirjutas|rašė|rakstīja|a scris)`)

// mailAddrRE finds an address in an attribution that has no verb (Gmail in
// some languages, Russian webmails): "5 янв. 2026 г., в 10:00, Ivan <ivan@x>:".
var mailAddrRE = regexp.MustCompile(`<?[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+>?`)

// attribution reports whether lines[i] starts an attribution line, joined
// with up to two more when a client wrapped it; n is how many lines it
// takes (0: none).
func attribution(lines []string, i int) (text string, n int) {
	if !colonEndsWithin(lines, i, 3) {
		return "", 0 // the common case, decided without building strings
	}
	joined := ""
	for k := 0; k < 3 && i+k < len(lines); k++ {
		t := strings.TrimSpace(lines[i+k])
		if t == "" || quoted(t) || len(joined)+len(t) > 400 {
			return "", 0
		}
		if k > 0 && (strings.HasSuffix(joined, ".") || strings.HasSuffix(joined, "!") || strings.HasSuffix(joined, "?") ||
			!strings.ContainsAny(joined, "0123456789")) {
			return "", 0 // a wrapped attribution starts with its date; this is a sentence of its own
		}
		joined = strings.TrimSpace(joined + " " + t)
		if isAttribution(joined) {
			return joined, k + 1
		}
	}
	return "", 0
}

// colonEndsWithin reports whether one of n lines from i ends with a colon.
func colonEndsWithin(lines []string, i, n int) bool {
	for k := i; k < len(lines) && k < i+n; k++ {
		t := strings.TrimRight(lines[k], " \t\r")
		if strings.HasSuffix(t, ":") || strings.HasSuffix(t, "：") {
			return true
		}
	}
	return false
}

func isAttribution(s string) bool {
	if len(s) > 400 || !(strings.HasSuffix(s, ":") || strings.HasSuffix(s, "：")) {
		return false
	}
	if wroteRE.MatchString(s) {
		return true
	}
	// No verb: a date (some digit) and the quoted author's address.
	return mailAddrRE.MatchString(s) && strings.ContainsAny(s, "0123456789") && !strings.Contains(s, "://")
}

// labelKind is which header field a line of a quoted header block shows.
type labelKind int

const (
	labelNone labelKind = iota
	labelFrom
	labelSent
	labelTo
	labelSubject
	labelCc
)

// headerLabels are the field names Outlook and other clients write above
// quoted history, per field, in the languages they ship.
var headerLabels = []struct {
	kind labelKind
	re   *regexp.Regexp
}{
	{labelFrom, labelRE(`from|von|de|da|van|från|fra|od|от|від|发件人|發件人|寄件者|差出人|보낸 사람|lähettäjä|kimden|feladó|afzender|remetente|mittente|expéditeur|absender`)},
	{labelSent, labelRE(`sent|date|datum|gesendet|envoyé|enviado|enviada|fecha|inviato|data|verzonden|skickat|sendt|wysłano|отправлено|дата|надіслано|发送时间|日期|時間|送信日時|보낸 날짜|lähetetty|odesláno|gönderildi|tarih|elküldve|dátum`)},
	{labelTo, labelRE(`to|an|à|a|para|aan|till|til|do|kome|кому|收件人|宛先|받는 사람|vastaanottaja|komu|kime|címzett|destinatario|destinataire|empfänger`)},
	{labelSubject, labelRE(`subject|betreff|objet|asunto|oggetto|onderwerp|ämne|emne|temat|тема|主题|主旨|件名|제목|aihe|předmět|konu|tárgy|assunto`)},
	{labelCc, labelRE(`cc|kopie|копия|копія|抄送|副本|참조|kopio|dw`)},
}

func labelRE(names string) *regexp.Regexp {
	// "*From:*" when bold was turned into asterisks, "De :" in French.
	return regexp.MustCompile(`(?i)^\*?(` + names + `)\*?\s*[:：]`)
}

func headerLabel(line string) labelKind {
	t := strings.TrimSpace(line)
	// A label is a word or two before a colon near the start of the line.
	head := t[:min(len(t), 44)]
	if strings.IndexByte(head, ':') < 0 && !strings.Contains(head, "：") {
		return labelNone
	}
	for _, l := range headerLabels {
		if l.re.MatchString(t) {
			return l.kind
		}
	}
	return labelNone
}

// outlookBlock reports a quoted header block starting at line i: within
// eight lines (blank ones allowed, as Outlook's HTML leaves them) at least
// three different fields, one of them From.
func outlookBlock(lines []string, i int) bool {
	if headerLabel(lines[i]) == labelNone {
		return false
	}
	seen := map[labelKind]bool{}
	for k := i; k < len(lines) && k < i+8; k++ {
		if kind := headerLabel(lines[k]); kind != labelNone {
			seen[kind] = true
		} else if strings.TrimSpace(lines[k]) != "" {
			break
		}
	}
	return seen[labelFrom] && len(seen) >= 3
}
