package mailout

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// TestDKIMVerifiedIndependently signs a rendered mail and has dkimpy
// (Debian's python3-dkim, another implementation) verify it, with the public
// key served from a stub DNS lookup.
func TestDKIMVerifiedIndependently(t *testing.T) {
	// Debian's interpreter, where python3-dkim installs; PATH may hold another.
	python := "/usr/bin/python3"
	if _, err := exec.Command(python, "-c", "import dkim").CombinedOutput(); err != nil {
		if coretest.Required() {
			t.Fatal("python3-dkim is missing: scripts/test installs it")
		}
		t.Skip("python3-dkim is not installed")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "dkim.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	d, err := LoadDKIM("desk.test", "hd2026", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tpl, _ := LoadTemplates("")
	m := goldenMail(core.TemplateResponse, func(d *core.MailData) { d.Subject, d.Body = "Trackpad – fixed ✓", "Re-enabled it.\nBye." })
	r, _ := tpl.Render(m.Template, m.Data)
	raw, _, err := Build(m, r, core.Address{Name: "Support", Email: "support@desk.test"}, "desk.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signed, err := d.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	record := "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub)
	msgFile := filepath.Join(dir, "signed.eml")
	os.WriteFile(msgFile, signed, 0o600)
	verify := `
import dkim, sys
msg = open(sys.argv[1], 'rb').read()
def dns(name, timeout=5):
    return sys.argv[2].encode() if name == b'hd2026._domainkey.desk.test.' else None
print(dkim.verify(msg, dnsfunc=dns))
`
	check := func(file string) string {
		out, err := exec.Command(python, "-c", verify, file, record).CombinedOutput()
		if err != nil {
			t.Fatalf("dkimpy: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := check(msgFile); got != "True" {
		t.Fatalf("dkimpy says %s, want True", got)
	}
	// A tampered body must fail, or the check proves nothing.
	tampered := strings.Replace(string(signed), "Re-enabled it.", "Send me your password.", 1)
	os.WriteFile(msgFile, []byte(tampered), 0o600)
	if got := check(msgFile); got != "False" {
		t.Errorf("tampered mail verified: %s", got)
	}
}
