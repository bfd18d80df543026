package mailintest

import (
	"os"
	"testing"

	"helpdesk/core/coretest"
)

// SpamdAddr is the private spamd scripts/test starts, or a skip (a failure
// under the test script or CI) when none runs.
func SpamdAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("HELPDESK_TEST_SPAMD_ADDR")
	if addr == "" {
		if coretest.Required() {
			t.Fatal("HELPDESK_TEST_SPAMD_ADDR is not set: scripts/test starts spamd and sets it")
		}
		t.Skip("no spamd: HELPDESK_TEST_SPAMD_ADDR is not set (scripts/test starts one)")
	}
	return addr
}
