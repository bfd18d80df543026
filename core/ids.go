package core

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SubjectTag is how a ticket number appears in a subject line.
func SubjectTag(number int64) string { return fmt.Sprintf("[#%d]", number) }

var subjectTagRE = regexp.MustCompile(`\[#(\d{1,18})\]`)

// ParseSubjectTag finds the first "[#N]" in a subject.
func ParseSubjectTag(subject string) (int64, bool) {
	m := subjectTagRE.FindStringSubmatch(subject)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	return n, err == nil
}

var replyPrefixRE = regexp.MustCompile(`(?i)^\s*((re|fwd?|aw|sv|vs|antw|wg)\s*(\[\d+\])?\s*:\s*)+`)

// CleanSubject strips reply prefixes and a ticket tag: what a new ticket is titled.
func CleanSubject(subject string) string {
	s := subjectTagRE.ReplaceAllString(subject, "")
	s = strings.TrimSpace(replyPrefixRE.ReplaceAllString(strings.TrimSpace(s), ""))
	if s == "" {
		return "(no subject)"
	}
	return s
}

// LoopHeader is the header every mail we send carries, with our domain as
// its value; intake seeing it with our domain knows our own mail came back.
const LoopHeader = "X-Helpdesk-Loop"

// messageIDPrefix starts every Message-ID we mint.
const messageIDPrefix = "hd."

// newMessageID mints a Message-ID (without angle brackets) on our domain.
// The ticket number is in it only to help a human reading headers.
func (s *Store) newMessageID(ticketNumber int64) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return fmt.Sprintf("%s%d.%s@%s", messageIDPrefix, ticketNumber, hex.EncodeToString(b[:]), s.domain)
}

// IsOurMessageID reports whether a Message-ID is one we minted on domain.
func IsOurMessageID(id, domain string) bool {
	return strings.HasPrefix(id, messageIDPrefix) && strings.HasSuffix(strings.ToLower(id), "@"+strings.ToLower(domain))
}

// BaseAddress drops the plus-part and case: Support+TOKEN@x becomes support@x.
func BaseAddress(addr string) string {
	local, domain, ok := strings.Cut(strings.ToLower(strings.Trim(addr, "<>")), "@")
	if !ok {
		return addr
	}
	local, _, _ = strings.Cut(local, "+")
	return local + "@" + domain
}

// DigestKey is the storage key of a message without a Message-ID.
func DigestKey(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ReplyToken identifies a ticket and, for agents, the agent it was issued to.
// It travels in the recipient address (support+TOKEN@domain) and is signed so
// nobody can mint one for a ticket or an agent they were never sent. An
// agent's token expires: it is a credential, and a copy of a forwarded
// notification must not work for good. Every mail to an agent carries a
// fresh one.
type ReplyToken struct {
	Ticket int64
	Agent  int64     // 0 for customers and collaborators
	Until  time.Time // agents' tokens only: the last day it is good for
}

// DefaultTokenLifetime is how long an agent's reply token is good for.
const DefaultTokenLifetime = 30 * 24 * time.Hour

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// MintToken signs t. The result is lower case because mail systems may fold
// the case of local parts. An agent's token carries its expiry as a day
// number.
func (s *Store) MintToken(t ReplyToken) string {
	body := fmt.Sprintf("%d-%d", t.Ticket, t.Agent)
	if t.Agent != 0 {
		body += fmt.Sprintf("-%d", t.Until.Unix()/86400)
	}
	return body + "-" + s.tokenMAC(body)
}

// ParseToken checks a token's signature and returns what it names. Whether
// an agent's token is still good is Expired's question.
func (s *Store) ParseToken(token string) (ReplyToken, bool) {
	token = strings.ToLower(token)
	i := strings.LastIndexByte(token, '-')
	if i < 0 || len(s.secret) == 0 {
		return ReplyToken{}, false
	}
	body, mac := token[:i], token[i+1:]
	if !hmac.Equal([]byte(mac), []byte(s.tokenMAC(body))) {
		return ReplyToken{}, false
	}
	parts := strings.Split(body, "-")
	if len(parts) < 2 || len(parts) > 3 {
		return ReplyToken{}, false
	}
	var t ReplyToken
	var err1, err2, err3 error
	t.Ticket, err1 = strconv.ParseInt(parts[0], 10, 64)
	t.Agent, err2 = strconv.ParseInt(parts[1], 10, 64)
	if len(parts) == 3 {
		var day int64
		day, err3 = strconv.ParseInt(parts[2], 10, 64)
		t.Until = time.Unix((day+1)*86400-1, 0) // good through that day
	}
	return t, err1 == nil && err2 == nil && err3 == nil
}

// Expired reports whether an agent's token is past its day, or carries
// none (tokens minted before expiry existed).
func (t ReplyToken) Expired(now time.Time) bool {
	return t.Agent != 0 && (t.Until.IsZero() || now.After(t.Until))
}

func (s *Store) tokenMAC(body string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("reply-token:" + body))
	return strings.ToLower(tokenEncoding.EncodeToString(m.Sum(nil)[:10]))
}

// TokenAddress puts a token into an address as plus-addressing:
// support@example.com becomes support+TOKEN@example.com.
func TokenAddress(address, token string) string {
	local, domain, ok := strings.Cut(address, "@")
	if !ok || token == "" {
		return address
	}
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	return local + "+" + token + "@" + domain
}

// TokenFromAddress returns the plus-part of an address, if any.
func TokenFromAddress(address string) string {
	local, _, ok := strings.Cut(address, "@")
	if !ok {
		return ""
	}
	_, tok, _ := strings.Cut(local, "+")
	return tok
}

// UseStoredSecret signs reply tokens with the secret kept in the database,
// generating it on first use. For installations that configure none.
func (s *Store) UseStoredSecret(ctx context.Context) error {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	var secret string
	err := s.pool.QueryRow(ctx, `
		WITH ins AS (INSERT INTO settings (key, value) VALUES ('reply_token_secret', $1)
			ON CONFLICT (key) DO NOTHING RETURNING value)
		SELECT value FROM ins UNION ALL SELECT value FROM settings WHERE key = 'reply_token_secret' LIMIT 1`,
		hex.EncodeToString(b[:])).Scan(&secret)
	if err != nil {
		return fmt.Errorf("load reply-token secret: %w", err)
	}
	s.secret = []byte(secret)
	return nil
}
