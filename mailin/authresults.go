package mailin

import (
	"strings"
)

// AuthPassDomains reads the topmost Authentication-Results header and, if it
// was written by the trusted receiving server (authservID), returns the
// domains for which DKIM or DMARC passed. Headers further down may have been
// added by anyone before the mail reached our server, so they are ignored.
func AuthPassDomains(values []string, authservID string) []string {
	if authservID == "" || len(values) == 0 {
		return nil
	}
	top := values[0] // go-message keeps header order: the first is the topmost
	parts := strings.Split(top, ";")
	id := strings.TrimSpace(parts[0])
	if i := strings.IndexAny(id, " \t"); i >= 0 {
		id = id[:i] // an optional version follows the id
	}
	if !strings.EqualFold(id, authservID) {
		return nil
	}
	var out []string
	for _, res := range parts[1:] {
		fields := strings.Fields(strings.ToLower(res))
		if len(fields) == 0 {
			continue
		}
		method, result, _ := strings.Cut(fields[0], "=")
		if result != "pass" || (method != "dkim" && method != "dmarc") {
			continue
		}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			if (method == "dkim" && (k == "header.d" || k == "header.i")) || (method == "dmarc" && k == "header.from") {
				v = strings.Trim(v, `"()`)
				if at := strings.LastIndexByte(v, '@'); at >= 0 {
					v = v[at+1:]
				}
				out = append(out, v)
			}
		}
	}
	return out
}
