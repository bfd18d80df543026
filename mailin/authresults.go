package mailin

import (
	"regexp"
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// AuthResults is what the trusted receiving server's Authentication-Results
// header says of a message.
type AuthResults struct {
	// Pass lists domains for which DKIM or DMARC passed.
	Pass []string
	// DMARCFail: the From domain's DMARC policy failed.
	DMARCFail bool
	// SPFFail: SPF failed for the envelope sender.
	SPFFail bool
	// dkimPass lists the d= of every passing DKIM signature.
	dkimPass []string
}

// ReadAuthResults reads the topmost Authentication-Results header, parsed
// with go-msgauth/authres, if it was written by the trusted receiving server
// (authservID). Headers further down may have been added by anyone before
// the mail reached our server, so they are ignored; with no authservID
// configured nothing is trusted.
func ReadAuthResults(values []string, authservID string) AuthResults {
	var out AuthResults
	if authservID == "" || len(values) == 0 {
		return out
	}
	// go-message keeps header order: the first is the topmost.
	id, results, err := authres.Parse(maskQuoted(values[0]))
	if err != nil || !strings.EqualFold(id, authservID) {
		return out
	}
	for _, r := range results {
		switch r := r.(type) {
		case *authres.DKIMResult:
			if r.Value == authres.ResultPass {
				d := domainOf(r.Domain)
				if d == "" {
					d = domainOf(r.Identifier)
				}
				if d != "" {
					out.Pass, out.dkimPass = append(out.Pass, d), append(out.dkimPass, d)
				}
			}
		case *authres.DMARCResult:
			switch r.Value {
			case authres.ResultPass:
				if d := domainOf(r.From); d != "" {
					out.Pass = append(out.Pass, d)
				}
			case authres.ResultFail:
				out.DMARCFail = true
			}
		case *authres.SPFResult:
			out.SPFFail = out.SPFFail || r.Value == authres.ResultFail
		}
	}
	return out
}

// Forged reports why a message's sender is likely forged, or "": DMARC
// failed, or SPF failed with no DKIM pass aligned with the From domain.
// Answering such a message would send backscatter to an innocent address.
func (a AuthResults) Forged(fromDomain string) string {
	switch {
	case a.DMARCFail:
		return "DMARC fail"
	case a.SPFFail && !a.alignedDKIM(fromDomain):
		return "SPF fail and no DKIM signature of the From domain"
	}
	return ""
}

func (a AuthResults) alignedDKIM(fromDomain string) bool {
	for _, d := range a.dkimPass {
		if strings.EqualFold(d, fromDomain) || strings.HasSuffix(strings.ToLower(fromDomain), "."+strings.ToLower(d)) {
			return true
		}
	}
	return false
}

// AuthPassDomains returns the domains the trusted server saw DKIM or DMARC
// pass for.
func AuthPassDomains(values []string, authservID string) []string {
	return ReadAuthResults(values, authservID).Pass
}

// maskQuoted hides the separators inside quoted strings and comments from
// authres, which splits on every ";": `smtp.mailfrom="x;dkim=pass
// header.d=victim"@evil` must stay one value, not become a second result.
func maskQuoted(v string) string {
	b := []byte(v)
	quoted, comment, escaped := false, 0, false
	for i, c := range b {
		switch {
		case escaped:
			escaped = false
		case c == '\\' && (quoted || comment > 0):
			escaped = true
		case c == '"' && comment == 0:
			quoted = !quoted
		case c == '(' && !quoted:
			comment++
		case c == ')' && !quoted && comment > 0:
			comment--
		case (c == ';' || c == '=') && (quoted || comment > 0):
			b[i] = '_'
		}
	}
	return string(b)
}

var hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

// domainOf is the domain of "example.com", "@example.com" or
// "user@example.com", or "" when that is not a host name.
func domainOf(v string) string {
	v = strings.TrimSpace(v)
	if at := strings.LastIndexByte(v, '@'); at >= 0 {
		v = v[at+1:]
	}
	v = strings.ToLower(v)
	if !hostnameRE.MatchString(v) {
		return ""
	}
	return v
}
