package businesshours

import (
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no zone %s: %v", name, err)
	}
	return loc
}

func weekly(t *testing.T, lines ...string) [7][]Span {
	t.Helper()
	w, err := ParseWeekly(lines)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestAdd(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	newYork := mustLoc(t, "America/New_York")
	office := &Schedule{Location: berlin, Weekly: weekly(t, "mon-fri 09:00-17:00"),
		Holidays: map[string]bool{"2026-12-25": true, "2026-12-28": true}}
	split := &Schedule{Location: berlin, Weekly: weekly(t, "mon-fri 09:00-12:00,13:00-17:00")}
	nyOffice := &Schedule{Location: newYork, Weekly: weekly(t, "mon-fri 09:00-17:00")}
	night := &Schedule{Location: berlin, Weekly: weekly(t, "sun 01:00-04:00")}
	at := func(loc *time.Location, s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		name  string
		s     *Schedule
		from  string
		d     time.Duration
		want  string
		wantL *time.Location
	}{
		{"24x7", &Schedule{}, "2026-03-06 16:00", 4 * time.Hour, "2026-03-06 20:00", time.UTC},
		{"within a day", office, "2026-03-02 10:00", 2 * time.Hour, "2026-03-02 12:00", berlin},
		{"before opening", office, "2026-03-02 07:00", time.Hour, "2026-03-02 10:00", berlin},
		{"over the weekend", office, "2026-03-06 16:00", 4 * time.Hour, "2026-03-09 12:00", berlin},
		{"starting on Saturday", office, "2026-03-07 11:00", time.Hour, "2026-03-09 10:00", berlin},
		{"ends exactly at closing", office, "2026-03-02 16:00", time.Hour, "2026-03-02 17:00", berlin},
		{"holidays skipped", office, "2026-12-24 16:00", 2 * time.Hour, "2026-12-29 10:00", berlin},
		{"many days", office, "2026-03-02 09:00", 40 * time.Hour, "2026-03-06 17:00", berlin},
		{"many weeks", office, "2026-03-02 09:00", 80 * time.Hour, "2026-03-13 17:00", berlin},
		{"split day skips lunch", split, "2026-03-02 11:00", 2 * time.Hour, "2026-03-02 14:00", berlin},
		{"split day next morning", split, "2026-03-02 16:30", time.Hour, "2026-03-03 09:30", berlin},
		{"zero means next open", office, "2026-03-07 12:00", 0, "2026-03-09 09:00", berlin},
		// Spring forward in Berlin: 2026-03-29 02:00 → 03:00. A night shift
		// 01:00–04:00 that Sunday is two real hours.
		{"spring forward shortens the day", night, "2026-03-29 00:00", 150 * time.Minute, "2026-04-05 01:30", berlin},
		// Fall back in Berlin: 2026-10-25 03:00 → 02:00: 01:00–04:00 is four real hours.
		{"fall back lengthens the day", night, "2026-10-25 00:00", 210 * time.Minute, "2026-10-25 03:30", berlin},
		// New York's spring forward is 2026-03-08 (a Sunday): Friday 16:00 + 2h → Monday 10:00 local.
		{"across a DST weekend in New York", nyOffice, "2026-03-06 16:00", 2 * time.Hour, "2026-03-09 10:00", newYork},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.s.Add(at(c.wantL, c.from), c.d)
			if err != nil {
				t.Fatal(err)
			}
			want := at(c.wantL, c.want)
			if !got.Equal(want) {
				t.Errorf("Add(%s, %v) = %s, want %s", c.from, c.d, got.In(c.wantL).Format("2006-01-02 15:04 MST"), want.Format("2006-01-02 15:04 MST"))
			}
			// Between is Add's inverse on business time.
			if c.d > 0 {
				if back := c.s.Between(at(c.wantL, c.from), got); back != c.d {
					t.Errorf("Between(from, Add(from, %v)) = %v", c.d, back)
				}
			}
		})
	}
}

func TestBetweenAndIsOpen(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	office := &Schedule{Location: berlin, Weekly: weekly(t, "mon-fri 09:00-17:00")}
	fri := time.Date(2026, 3, 6, 16, 0, 0, 0, berlin)
	mon := time.Date(2026, 3, 9, 10, 0, 0, 0, berlin)
	if got := office.Between(fri, mon); got != 2*time.Hour {
		t.Errorf("Between(Fri 16:00, Mon 10:00) = %v, want 2h", got)
	}
	if got := office.Between(mon, fri); got != 0 {
		t.Errorf("Between backwards = %v, want 0", got)
	}
	if office.IsOpen(time.Date(2026, 3, 7, 12, 0, 0, 0, berlin)) {
		t.Errorf("open on Saturday noon")
	}
	if !office.IsOpen(mon) {
		t.Errorf("closed on Monday 10:00")
	}
}

func TestNeverOpen(t *testing.T) {
	s := &Schedule{Weekly: weekly(t, "mon 09:00-10:00"), Holidays: map[string]bool{}}
	for d := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2037; d = d.AddDate(0, 0, 1) {
		s.Holidays[d.Format("2006-01-02")] = true
	}
	if _, err := s.Add(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Hour); err != ErrNeverOpen {
		t.Errorf("got %v, want ErrNeverOpen", err)
	}
}

func TestParseWeeklyErrors(t *testing.T) {
	for _, bad := range []string{"mon", "funday 09:00-17:00", "mon 17:00-09:00", "mon 09:00-25:00", "mon 09:00-12:00,11:00-13:00"} {
		if _, err := ParseWeekly([]string{bad}); err == nil {
			t.Errorf("ParseWeekly(%q) accepted", bad)
		}
	}
	w, err := ParseWeekly([]string{"fri-mon 10:00-11:00"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Weekday{time.Friday, time.Saturday, time.Sunday, time.Monday} {
		if len(w[d]) != 1 {
			t.Errorf("fri-mon should include %s", d)
		}
	}
	if len(w[time.Wednesday]) != 0 {
		t.Errorf("fri-mon should not include Wednesday")
	}
}
