// Package businesshours does deadline arithmetic on a weekly schedule of
// open hours in a time zone, with holidays: "four business hours after
// Friday 16:00" and "how much business time passed between two instants".
// It is pure and uses only the standard library.
package businesshours

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Span is an open period within a day, as wall-clock offsets from midnight:
// 9:00–17:00 is {9h, 17h}. End may be 24h for "until midnight".
type Span struct {
	Start, End time.Duration
}

// Schedule is when the clock runs. The zero Schedule (no Weekly spans) is
// open around the clock.
type Schedule struct {
	Location *time.Location
	Weekly   [7][]Span       // by time.Weekday; sorted, non-overlapping
	Holidays map[string]bool // "2006-01-02" dates, closed all day
}

// maxDays bounds every walk, so a schedule with almost no open time cannot
// loop for long: ten years of calendar days.
const maxDays = 3660

// ErrNeverOpen is returned when a schedule has no open time within maxDays.
var ErrNeverOpen = errors.New("businesshours: the schedule is never open")

// AlwaysOpen reports whether the schedule is 24×7.
func (s *Schedule) AlwaysOpen() bool {
	if s == nil {
		return true
	}
	for _, d := range s.Weekly {
		if len(d) > 0 {
			return false
		}
	}
	return true
}

func (s *Schedule) loc() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

// openSpans returns the real instants the schedule is open on the calendar
// day of t (in the schedule's zone). Wall-clock times are turned into
// instants with time.Date, so on a daylight-saving change a 09:00–17:00 day
// is seven or nine real hours long, and a span starting in a skipped hour
// starts when the clock resumes.
func (s *Schedule) openSpans(y int, m time.Month, d int) [][2]time.Time {
	loc := s.loc()
	day := time.Date(y, m, d, 12, 0, 0, 0, loc) // noon: always exists
	if s.Holidays[day.Format("2006-01-02")] {
		return nil
	}
	var out [][2]time.Time
	for _, sp := range s.Weekly[day.Weekday()] {
		start := wall(y, m, d, sp.Start, loc)
		end := wall(y, m, d, sp.End, loc)
		if end.After(start) {
			out = append(out, [2]time.Time{start, end})
		}
	}
	return out
}

func wall(y int, m time.Month, d int, off time.Duration, loc *time.Location) time.Time {
	mins := int(off / time.Minute)
	return time.Date(y, m, d, mins/60, mins%60, 0, 0, loc)
}

// Add returns the instant when d of business time has passed after from.
// With d == 0 it returns the next open instant at or after from.
func (s *Schedule) Add(from time.Time, d time.Duration) (time.Time, error) {
	if s.AlwaysOpen() {
		return from.Add(d), nil
	}
	if d < 0 {
		return time.Time{}, fmt.Errorf("businesshours: negative duration %v", d)
	}
	cur := from.In(s.loc())
	y, m, day := cur.Date()
	for i := 0; i < maxDays; i++ {
		for _, sp := range s.openSpans(y, m, day+i) {
			start, end := sp[0], sp[1]
			if !end.After(cur) {
				continue
			}
			if start.Before(cur) {
				start = cur
			}
			if avail := end.Sub(start); d <= avail {
				return start.Add(d).In(from.Location()), nil
			} else {
				d -= avail
			}
		}
	}
	return time.Time{}, ErrNeverOpen
}

// Between returns the business time between a and b (zero if b is not after a).
func (s *Schedule) Between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	if s.AlwaysOpen() {
		return b.Sub(a)
	}
	var total time.Duration
	cur := a.In(s.loc())
	y, m, day := cur.Date()
	for i := 0; i < maxDays; i++ {
		spans := s.openSpans(y, m, day+i)
		dayStart := time.Date(y, m, day+i, 0, 0, 0, 0, s.loc())
		if !dayStart.Before(b) {
			break
		}
		for _, sp := range spans {
			start, end := sp[0], sp[1]
			if start.Before(a) {
				start = a
			}
			if end.After(b) {
				end = b
			}
			if end.After(start) {
				total += end.Sub(start)
			}
		}
	}
	return total
}

// IsOpen reports whether the clock runs at t.
func (s *Schedule) IsOpen(t time.Time) bool {
	if s.AlwaysOpen() {
		return true
	}
	lt := t.In(s.loc())
	y, m, d := lt.Date()
	for _, sp := range s.openSpans(y, m, d) {
		if !t.Before(sp[0]) && t.Before(sp[1]) {
			return true
		}
	}
	return false
}

// NextOpen returns t if the schedule is open then, else when it next opens.
func (s *Schedule) NextOpen(t time.Time) (time.Time, error) { return s.Add(t, 0) }

// dayNames maps the names ParseWeekly accepts.
var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWeekly reads lines such as "mon-fri 09:00-12:00,13:00-17:00" or
// "sat 10:00-14:00". A day named in several lines gets all their spans.
func ParseWeekly(lines []string) ([7][]Span, error) {
	var w [7][]Span
	for _, line := range lines {
		days, hours, ok := strings.Cut(strings.TrimSpace(strings.ToLower(line)), " ")
		if !ok {
			return w, fmt.Errorf("%q: want DAYS HH:MM-HH:MM[,HH:MM-HH:MM]", line)
		}
		first, last, isRange := strings.Cut(days, "-")
		d0, ok0 := dayNames[first]
		d1, ok1 := dayNames[last]
		if !isRange {
			d1, ok1 = d0, ok0
		}
		if !ok0 || !ok1 {
			return w, fmt.Errorf("%q: unknown day in %q (use mon, tue, wed, thu, fri, sat, sun)", line, days)
		}
		for _, part := range strings.Split(strings.TrimSpace(hours), ",") {
			a, b, ok := strings.Cut(strings.TrimSpace(part), "-")
			start, err1 := clock(a)
			end, err2 := clock(b)
			if !ok || err1 != nil || err2 != nil || end <= start {
				return w, fmt.Errorf("%q: bad hours %q (want HH:MM-HH:MM, end after start)", line, part)
			}
			for d := d0; ; d = (d + 1) % 7 {
				w[d] = append(w[d], Span{start, end})
				if d == d1 {
					break
				}
			}
		}
	}
	for d := range w {
		sort.Slice(w[d], func(i, j int) bool { return w[d][i].Start < w[d][j].Start })
		for i := 1; i < len(w[d]); i++ {
			if w[d][i].Start < w[d][i-1].End {
				return w, fmt.Errorf("overlapping hours on %s", time.Weekday(d))
			}
		}
	}
	return w, nil
}

func clock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}
