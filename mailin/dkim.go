package mailin

import (
	"bytes"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIMCheck verifies DKIM signatures itself, trusting no header: the second
// way to prove an agent's mail when the MX's Authentication-Results cannot
// be trusted.
type DKIMCheck struct {
	// Domains are the agents' mail domains: only mail from them is
	// verified, so customer mail costs no DNS lookups.
	Domains []string
	// LookupTXT resolves the signers' keys; nil uses the system resolver
	// (tests use a local zone).
	LookupTXT func(domain string) ([]string, error)
}

// maxSignatures bounds the work one message can cost.
const maxSignatures = 5

// pass returns the domains whose DKIM signature on raw verifies, for mail
// from one of the checked domains.
func (c *DKIMCheck) pass(fromDomain string, raw []byte) []string {
	if c == nil || !c.covers(fromDomain) {
		return nil
	}
	verifications, _ := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT: c.LookupTXT, MaxVerifications: maxSignatures})
	var out []string
	for _, v := range verifications {
		if v.Err == nil {
			if d := domainOf(v.Domain); d != "" {
				out = append(out, d)
			}
		}
	}
	return out
}

func (c *DKIMCheck) covers(domain string) bool {
	for _, d := range c.Domains {
		if strings.EqualFold(d, domain) || strings.HasSuffix(strings.ToLower(domain), "."+strings.ToLower(d)) {
			return true
		}
	}
	return false
}
