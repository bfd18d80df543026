package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"helpdesk/core/coretest"
)

// The release's .deb, built from packaging/nfpm.yaml with a static binary:
// installed with dpkg it puts the binary (reporting the version it was
// built with), a unit systemd-analyze accepts, the example config, the
// state directory and the helpdesk user in place; removed, the binary is
// gone. It needs root and dpkg, as on a Debian test machine.
func TestDebianPackage(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil || os.Geteuid() != 0 {
		if coretest.Required() {
			t.Fatalf("dpkg and root needed: %v", err)
		}
		t.Skip("needs dpkg and root")
	}
	const version = "0.0.0-test"
	dir := t.TempDir()
	for _, f := range []string{"docs/helpdesk.service", "docs/operations.md", "helpdesk.example.toml", "packaging/nfpm.yaml",
		"packaging/preinstall.sh", "packaging/postinstall.sh", "packaging/postremove.sh"} {
		b, err := os.ReadFile(filepath.Join("../..", f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), b, 0o755)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "VERSION="+version, "ARCH="+runtime.GOARCH)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	src, _ := filepath.Abs(".")
	run("go", "build", "-C", src, "-trimpath", "-ldflags", "-X main.version="+version, "-o", filepath.Join(dir, "dist", "helpdesk"), ".")
	run("go", "run", "github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2", "pkg", "--packager", "deb", "--config", "packaging/nfpm.yaml",
		"--target", "helpdesk.deb")
	run("dpkg", "-i", "helpdesk.deb")
	t.Cleanup(func() { exec.Command("dpkg", "-r", "helpdesk").Run() })
	if out := run("/usr/bin/helpdesk", "version"); !strings.Contains(out, version) {
		t.Errorf("installed helpdesk reports %q, want %s", out, version)
	}
	run("systemd-analyze", "verify", "/lib/systemd/system/helpdesk.service")
	for _, p := range []string{"/etc/helpdesk/helpdesk.toml", "/var/lib/helpdesk"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if out := run("stat", "-c", "%U", "/var/lib/helpdesk"); strings.TrimSpace(out) != "helpdesk" {
		t.Errorf("/var/lib/helpdesk owned by %s, want helpdesk", out)
	}
	run("dpkg", "-r", "helpdesk")
	if _, err := os.Stat("/usr/bin/helpdesk"); err == nil {
		t.Errorf("the binary stayed after dpkg -r")
	}
}
