package mailauth_test

import (
	"testing"

	"helpdesk/core/coretest"
)

func TestMain(m *testing.M) { coretest.Main(m) }
