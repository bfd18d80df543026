package main

import (
	"testing"

	"helpdesk/core/coretest"
)

func TestMain(m *testing.M) { coretest.Main(m) }
