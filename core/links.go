package core

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// What a signed link opens; each signs with its own prefix, so a link of
// one kind never opens another.
const (
	statusLink = "status-link:"
	fileLink   = "file-link:"
	reportLink = "report-link:"
)

// linkToken signs "ID-EXPIRY" for a link of one kind, valid until expires.
func (s *Store) linkToken(kind string, id int64, expires time.Time) string {
	body := fmt.Sprintf("%d-%d", id, expires.Unix())
	return body + "-" + s.linkMAC(kind, body)
}

// parseLinkToken checks a link of one kind and returns its ID; forged,
// altered and expired links fail alike, so a refusal tells an attacker
// nothing.
func (s *Store) parseLinkToken(kind, token string, now time.Time) (int64, bool) {
	i := strings.LastIndexByte(token, '-')
	if i < 0 || len(s.secret) == 0 {
		return 0, false
	}
	body, mac := token[:i], token[i+1:]
	if !hmac.Equal([]byte(mac), []byte(s.linkMAC(kind, body))) {
		return 0, false
	}
	id, exp, ok := strings.Cut(body, "-")
	n, err1 := strconv.ParseInt(id, 10, 64)
	e, err2 := strconv.ParseInt(exp, 10, 64)
	if !ok || err1 != nil || err2 != nil || now.Unix() > e {
		return 0, false
	}
	return n, true
}

func (s *Store) linkMAC(kind, body string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(kind + body))
	return strings.ToLower(tokenEncoding.EncodeToString(m.Sum(nil)[:15]))
}

// ReportLinkLifetime is how long the dashboard link in a report mail works.
const ReportLinkLifetime = 30 * 24 * time.Hour

// ReportToken signs a link to the dashboard of the week ending at end.
func (s *Store) ReportToken(end, expires time.Time) string {
	return s.linkToken(reportLink, end.Unix(), expires)
}

// ParseReportToken checks a dashboard link and returns its week's end.
func (s *Store) ParseReportToken(token string, now time.Time) (time.Time, bool) {
	end, ok := s.parseLinkToken(reportLink, token, now)
	return time.Unix(end, 0).UTC(), ok
}
