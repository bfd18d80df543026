package mailin

import (
	"fmt"
	"testing"
)

func TestReadAuthResults(t *testing.T) {
	for _, c := range []struct {
		name, header, from string
		pass               []string
		forged             bool
	}{
		{"dkim pass", "mx.desk.test; dkim=pass header.d=example.com header.s=s1; spf=pass smtp.mailfrom=a@example.com", "example.com", []string{"example.com"}, false},
		{"dmarc pass", "mx.desk.test 1; dmarc=pass header.from=example.com", "example.com", []string{"example.com"}, false},
		{"quoted semicolon forges nothing", `mx.desk.test; spf=pass smtp.mailfrom="x;dkim=pass header.d=desk.test"@evil.test`, "evil.test", nil, false},
		{"another server's header", "evil.test; dkim=pass header.d=example.com", "example.com", nil, false},
		{"dmarc fail", "mx.desk.test; dkim=none; spf=softfail smtp.mailfrom=bank.example; dmarc=fail header.from=bank.example", "bank.example", nil, true},
		{"spf fail, no dkim", "mx.desk.test; spf=fail smtp.mailfrom=paypal.example; dkim=none", "paypal.example", nil, true},
		{"spf fail, aligned dkim", "mx.desk.test; spf=fail smtp.mailfrom=list.example; dkim=pass header.d=example.com", "example.com", []string{"example.com"}, false},
		{"spf fail, dkim of another domain", "mx.desk.test; spf=fail smtp.mailfrom=a.example; dkim=pass header.d=other.example", "a.example", []string{"other.example"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := ReadAuthResults([]string{c.header}, "mx.desk.test")
			if fmt.Sprint(a.Pass) != fmt.Sprint(c.pass) {
				t.Errorf("pass %v, want %v", a.Pass, c.pass)
			}
			if got := a.Forged(c.from) != ""; got != c.forged {
				t.Errorf("forged %v (%q), want %v", got, a.Forged(c.from), c.forged)
			}
		})
	}
}
