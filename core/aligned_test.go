package core

import "testing"

func TestAlignedStopsAtPublicSuffixes(t *testing.T) {
	for _, c := range []struct {
		email  string
		passes []string
		want   bool
	}{
		{"garnet@desk.test", []string{"desk.test"}, true},
		{"garnet@eu.desk.test", []string{"desk.test"}, true},
		{"garnet@desk.test", []string{"test"}, false},      // header.i=@test
		{"garnet@example.co.uk", []string{"co.uk"}, false}, // a public suffix
		{"garnet@example.co.uk", []string{"example.co.uk"}, true},
		{"garnet@desk.test", []string{"evil.test"}, false},
		{"garnet@desk.test", []string{"sub.desk.test"}, false}, // a subdomain does not vouch for its parent
	} {
		if got := aligned(c.email, c.passes); got != c.want {
			t.Errorf("aligned(%s, %v) = %v, want %v", c.email, c.passes, got, c.want)
		}
	}
}
