package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"helpdesk/core/pglocal"
)

// TestDemo runs `helpdesk demo` as a user would on a fresh machine: it must
// play the whole tutorial and exit 0.
func TestDemo(t *testing.T) {
	if _, err := pglocal.FindBinaries(); err != nil {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"demo"}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"Every step happened as expected.", "Re-enabled the trackpad in Windows Device Manager.",
		"event sla", "listed among closed tickets", "portal is being restored"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("transcript lacks %q:\n%s", want, out.String())
		}
	}
}
