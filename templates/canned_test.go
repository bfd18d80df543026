package templates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCannedOverriddenOnDisk(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "canned"), 0o755)
	os.WriteFile(filepath.Join(dir, "canned", "need-info.txt"), []byte("Ours: [#{{.Number}}]"), 0o644)
	os.WriteFile(filepath.Join(dir, "canned", "refund.txt"), []byte("Refunded."), 0o644)
	got, err := Canned(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got["need-info"] != "Ours: [#{{.Number}}]" || got["refund"] != "Refunded." || !strings.Contains(got["password-reset"], "Forgot password") {
		t.Errorf("canned responses %v", got)
	}
}
