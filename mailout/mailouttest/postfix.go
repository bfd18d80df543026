package mailouttest

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"helpdesk/core/coretest"
)

// Postfix says how to run a private Postfix.
type Postfix struct {
	// RelayTo, "host:port", receives all mail for other domains.
	RelayTo string
	// Aliases, when set, makes Postfix the final destination of desk.test
	// and delivers through local(8) with these alias lines
	// ("support: |/path/to/command").
	Aliases []string
	// Discard: accept and queue every message, then throw it away (a fair
	// SMTP peer for benchmarks).
	Discard bool
	// SASL, "host:port" of a Dovecot auth service, makes the port a
	// submission port: relaying only after AUTH, checked by Dovecot.
	SASL string
	// Mechanisms, when set, limits what the submission port announces
	// (Postfix's smtpd_sasl_mechanism_filter), e.g. "login, xoauth2".
	Mechanisms string
}

// StartPostfix runs a private Postfix from Debian's package on a loopback
// port and returns that address. It needs root.
func StartPostfix(t testing.TB, pf Postfix) string {
	t.Helper()
	coretest.RequireRootCommand(t, "postfix")
	dir := coretest.ServerDir(t, "hdpf")
	for _, d := range []string{"conf", "queue", "data"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	exec.Command("chown", "postfix", filepath.Join(dir, "data")).Run()
	addr := coretest.FreeAddr(t)
	conf := filepath.Join(dir, "conf")
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.desk.test
mydomain = desk.test
myorigin = desk.test
smtp_tls_security_level = none
smtpd_tls_security_level = none
mynetworks = 127.0.0.0/8
maillog_file_prefixes = %[1]s
maillog_file = %[1]s/postfix.log
local_recipient_maps =
biff = no
`, dir)
	if pf.RelayTo != "" {
		main += fmt.Sprintf("relayhost = [%s]:%s\n", strings.Split(pf.RelayTo, ":")[0], strings.Split(pf.RelayTo, ":")[1])
	}
	if len(pf.Aliases) > 0 {
		aliases := filepath.Join(conf, "aliases")
		os.WriteFile(aliases, []byte(strings.Join(pf.Aliases, "\n")+"\n"), 0o644)
		if b, err := exec.Command("postalias", aliases).CombinedOutput(); err != nil {
			t.Fatalf("postalias: %v %s", err, b)
		}
		main += fmt.Sprintf("mydestination = desk.test\nalias_maps = hash:%[1]s\nalias_database = hash:%[1]s\n", aliases)
	} else {
		main += "mydestination =\nalias_maps =\nalias_database =\n"
	}
	if pf.SASL == "" {
		main += "smtpd_relay_restrictions = permit_mynetworks, reject\n"
	}
	if pf.SASL != "" {
		main += fmt.Sprintf("smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = inet:%s\n"+
			"smtpd_relay_restrictions = permit_sasl_authenticated, reject\n", pf.SASL)
		if pf.Mechanisms != "" {
			main += "smtpd_sasl_mechanism_filter = " + pf.Mechanisms + "\n"
		}
	}
	if pf.Discard {
		main += "default_transport = discard\nrelay_transport = discard\nsmtpd_recipient_restrictions = permit_mynetworks, reject\n"
	}
	os.WriteFile(filepath.Join(conf, "main.cf"), []byte(main), 0o644)
	os.WriteFile(filepath.Join(conf, "master.cf"), []byte(masterCF(t, addr)), 0o644)
	if b, err := exec.Command("postfix", "-c", conf, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "postfix.log"))
		t.Fatalf("start postfix: %v %s\n%s", err, b, log)
	}
	coretest.StopAtCleanup(t, "postfix", dir, filepath.Join(dir, "postfix.log"), "postfix", "-c", conf, "stop")
	coretest.WaitListening(t, addr)
	postfixQueues.Store(addr, filepath.Join(dir, "queue"))
	t.Cleanup(func() { postfixQueues.Delete(addr) })
	return addr
}

// postfixQueues maps each private Postfix's address to its queue directory.
var postfixQueues sync.Map

// PostfixQueued counts the messages the private Postfix at addr holds:
// accepted, and not yet delivered or discarded.
func PostfixQueued(t testing.TB, addr string) int {
	dir, ok := postfixQueues.Load(addr)
	if !ok {
		t.Fatalf("no private Postfix at %s", addr)
	}
	n := 0
	for _, q := range []string{"maildrop", "incoming", "active", "deferred", "hold"} {
		filepath.WalkDir(filepath.Join(dir.(string), q), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				n++
			}
			return nil
		})
	}
	return n
}

// masterCF is Debian's master.cf with smtpd on addr, no chroot, and none of
// its pipe(8) services.
func masterCF(t testing.TB, addr string) string {
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	skip := false
	for _, line := range strings.Split(string(master), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "#") || line == "":
			continue
		case strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t"):
			if !skip {
				out = append(out, line)
			}
			continue
		}
		skip = len(f) > 7 && f[7] == "pipe"
		if skip {
			continue
		}
		if f[0] == "smtp" && f[1] == "inet" {
			f[0] = addr
		}
		if len(f) > 4 && f[4] == "y" {
			f[4] = "n"
		}
		out = append(out, strings.Join(f, " "))
	}
	return strings.Join(out, "\n") + "\n"
}
