package mailintest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"helpdesk/core/coretest"
	"helpdesk/core/mailauth/mailauthtest"
)

// DovecotOptions shape a private Dovecot: which SASL mechanisms it offers
// and the OAuth2 server its oauth2 passdb asks about tokens.
type DovecotOptions struct {
	// Mechanisms, e.g. "login xoauth2" (Office 365's offer). Passwords
	// (Password, any user) work with plain and login; tokens with xoauth2
	// and oauthbearer, checked at IntrospectURL.
	Mechanisms    string
	IntrospectURL string
	// Hosts the server certificate is for (default localhost).
	Hosts []string
}

// Dovecot is a running private Dovecot with TLS from its own CA.
type Dovecot struct {
	IMAP  string // host:port: plain text, STARTTLS offered
	IMAPS string // host:port: implicit TLS
	// SASL is the auth service's address for Postfix (smtpd_sasl_path).
	SASL string
	CA   mailauthtest.CA
	dir  string
}

// StartDovecot runs a Dovecot of the test's own (Debian's package, root).
func StartDovecot(t testing.TB, o DovecotOptions) *Dovecot {
	t.Helper()
	coretest.RequireRootCommand(t, "dovecot")
	dir := coretest.ServerDir(t, "hddc")
	os.MkdirAll(filepath.Join(dir, "mail"), 0o755)
	exec.Command("chown", "nobody:nogroup", filepath.Join(dir, "mail")).Run()
	hosts := o.Hosts
	if len(hosts) == 0 {
		hosts = []string{"localhost"}
	}
	d := &Dovecot{IMAP: coretest.FreeAddr(t), IMAPS: coretest.FreeAddr(t), SASL: coretest.FreeAddr(t), CA: mailauthtest.NewCA(t, dir, hosts...), dir: dir}
	conf := filepath.Join(dir, "dovecot.conf")
	os.WriteFile(filepath.Join(dir, "oauth2.conf"), []byte(fmt.Sprintf(`introspection_mode = post
introspection_url = %s
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
`, o.IntrospectURL)), 0o644)
	os.WriteFile(conf, []byte(d.config(o)), 0o644)
	// Into a file, not a pipe: the daemon Dovecot leaves behind keeps the
	// descriptors open, and waiting on a pipe would never end.
	out, _ := os.Create(filepath.Join(dir, "start.log"))
	start := exec.Command("dovecot", "-c", conf)
	start.Stdout, start.Stderr = out, out
	err := start.Run()
	out.Close()
	if err != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("start dovecot: %v %s", err, b)
	}
	coretest.StopAtCleanup(t, "dovecot", dir, filepath.Join(dir, "dovecot.log"), "dovecot", "-c", conf, "stop")
	for _, addr := range []string{d.IMAP, d.IMAPS, d.SASL} {
		coretest.WaitListening(t, addr)
	}
	return d
}

func (d *Dovecot) config(o DovecotOptions) string {
	port := func(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }
	return fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <%[2]s
ssl_key = <%[3]s
disable_plaintext_auth = no
auth_mechanisms = %[4]s
mail_location = maildir:%[1]s/mail/%%u
mail_fsync = never
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = static
  mechanisms = plain login
  args = password=%[5]s
}
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %[1]s/oauth2.conf
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=%[1]s/mail/%%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[6]s
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[7]s
    ssl = yes
  }
}
service auth {
  inet_listener {
    address = 127.0.0.1
    port = %[8]s
  }
}
`, d.dir, d.CA.CertFile, d.CA.KeyFile, o.Mechanisms, Password, port(d.IMAP), port(d.IMAPS), port(d.SASL))
}

// Account is an empty account on this server (signing in by password).
func (d *Dovecot) Account(user string) Account {
	return Account{Addr: d.IMAP, User: user, Password: Password, Dovecot: true}
}
