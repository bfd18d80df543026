package mailin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-message/mail"

	"helpdesk/core"
)

// SpamCheck is how intake tells spam: the verdict headers the operator's MX
// writes (trusted only when declared, since the MX must also strip any a
// sender planted), else a scanner asked directly, and block lists.
type SpamCheck struct {
	// TrustHeaders: the MX adds X-Spam-* (SpamAssassin) or X-Spamd-Result /
	// X-Spam (rspamd) to every message and strips them from incoming mail.
	TrustHeaders bool
	// Threshold: a score at or above it is spam; 0 takes the header's or
	// scanner's own verdict.
	Threshold float64
	// Scanner, if set, judges mail that carries no trusted verdict.
	Scanner Scanner
	// Timeout bounds one scan (default 10s).
	Timeout time.Duration
	// Block lists addresses and "@domain"s whose mail is spam.
	Block []string

	// downUntil: after a failed scan, mail goes unscanned for a minute
	// rather than each message waiting out the timeout.
	downUntil atomic.Int64
}

// scannerRest is how long a failed scanner is left alone.
const scannerRest = time.Minute

// Verdict is a spam judgement.
type Verdict struct {
	Spam   bool
	Score  float64
	Detail string // who said so and why
}

// Scanner asks a spam filter about one message.
type Scanner interface {
	Scan(ctx context.Context, raw []byte) (Verdict, error)
}

// judge returns the spam verdict of a message, and a note when it could not
// be scanned. A scanner that is down or slow never holds mail: the message
// is taken in unscanned and marked so.
func (c *SpamCheck) judge(p *Parsed, raw []byte) (v Verdict, unscanned string) {
	if c == nil {
		return Verdict{}, ""
	}
	if blocked := c.blocked(p.From.Email); blocked != "" {
		return Verdict{Spam: true, Detail: "sender blocked by config (" + blocked + ")"}, ""
	}
	if c.TrustHeaders {
		if v, ok := headerVerdict(p.Header, c.Threshold); ok {
			return v, ""
		}
	}
	if c.Scanner == nil {
		return Verdict{}, ""
	}
	if until := c.downUntil.Load(); time.Now().UnixNano() < until {
		return Verdict{}, "unscanned: the scanner failed less than a minute ago"
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	v, err := c.Scanner.Scan(ctx, raw)
	if err != nil {
		c.downUntil.Store(time.Now().Add(scannerRest).UnixNano())
		return Verdict{}, "unscanned: " + err.Error()
	}
	if c.Threshold > 0 {
		v.Spam = v.Score >= c.Threshold
	}
	return v, ""
}

func (c *SpamCheck) blocked(email string) string {
	_, domain, _ := strings.Cut(email, "@")
	for _, b := range c.Block {
		b = strings.ToLower(strings.TrimSpace(b))
		if b == email || (strings.HasPrefix(b, "@") && b == "@"+domain) {
			return b
		}
	}
	return ""
}

var (
	// "Yes, score=1002.7 required=5.0 tests=GTUBE autolearn=no"
	saStatusRE = regexp.MustCompile(`(?i)^\s*(yes|no)\b.*?\bscore=(-?[0-9.]+)`)
	// "default: True [15.20 / 15.00]; …"
	rspamdResultRE = regexp.MustCompile(`(?i)^\s*\w+:\s*(true|false)\s*\[\s*(-?[0-9.]+)\s*/`)
)

// headerVerdict reads SpamAssassin's and rspamd's verdict headers.
func headerVerdict(h mail.Header, threshold float64) (Verdict, bool) {
	decide := func(flag bool, score float64, hasScore bool, who string) Verdict {
		v := Verdict{Spam: flag, Score: score, Detail: who}
		if threshold > 0 && hasScore {
			v.Spam = score >= threshold
		}
		if hasScore {
			v.Detail += fmt.Sprintf(", score %.1f", score)
		}
		return v
	}
	if m := saStatusRE.FindStringSubmatch(h.Get("X-Spam-Status")); m != nil {
		score, err := strconv.ParseFloat(m[2], 64)
		return decide(strings.EqualFold(m[1], "yes"), score, err == nil, "SpamAssassin (X-Spam-Status)"), true
	}
	if m := rspamdResultRE.FindStringSubmatch(h.Get("X-Spamd-Result")); m != nil {
		score, err := strconv.ParseFloat(m[2], 64)
		return decide(strings.EqualFold(m[1], "true"), score, err == nil, "rspamd (X-Spamd-Result)"), true
	}
	for _, k := range []string{"X-Spam-Flag", "X-Spam"} {
		if v := strings.TrimSpace(h.Get(k)); v != "" {
			yes := strings.EqualFold(v, "yes") || strings.EqualFold(v, "true")
			return decide(yes, 0, false, k), true
		}
	}
	return Verdict{}, false
}

// Spamd asks SpamAssassin's spamd over TCP (the spamc protocol, CHECK).
type Spamd struct{ Addr string }

// Scan implements Scanner.
func (s Spamd) Scan(ctx context.Context, raw []byte) (Verdict, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return Verdict{}, fmt.Errorf("spamd %s: %w", s.Addr, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	fmt.Fprintf(c, "CHECK SPAMC/1.5\r\nContent-length: %d\r\n\r\n", len(raw))
	if _, err := c.Write(raw); err != nil {
		return Verdict{}, fmt.Errorf("spamd %s: %w", s.Addr, err)
	}
	if cw, ok := c.(*net.TCPConn); ok {
		cw.CloseWrite()
	}
	return readSpamdReply(c)
}

// readSpamdReply reads "SPAMD/1.1 0 EX_OK" and "Spam: True ; 1002.7 / 5.0".
func readSpamdReply(r io.Reader) (Verdict, error) {
	br := bufio.NewReader(r)
	status, err := br.ReadString('\n')
	if err != nil {
		return Verdict{}, fmt.Errorf("spamd reply: %w", err)
	}
	if f := strings.Fields(status); len(f) < 3 || f[1] != "0" {
		return Verdict{}, fmt.Errorf("spamd: %s", strings.TrimSpace(status))
	}
	for {
		line, err := br.ReadString('\n')
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), "Spam") {
			flag, rest, _ := strings.Cut(v, ";")
			score, _, _ := strings.Cut(rest, "/")
			sc, _ := strconv.ParseFloat(strings.TrimSpace(score), 64)
			return Verdict{Spam: strings.EqualFold(strings.TrimSpace(flag), "true"), Score: sc,
				Detail: fmt.Sprintf("spamd, score %.1f", sc)}, nil
		}
		if err != nil {
			return Verdict{}, fmt.Errorf("spamd reply without a Spam header: %w", err)
		}
	}
}

// Rspamd asks rspamd's HTTP API (/checkv2).
type Rspamd struct {
	URL    string // e.g. http://127.0.0.1:11333
	Client *http.Client
}

// Scan implements Scanner.
func (s Rspamd) Scan(ctx context.Context, raw []byte) (Verdict, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.URL, "/")+"/checkv2", bytes.NewReader(raw))
	if err != nil {
		return Verdict{}, fmt.Errorf("rspamd: %w", err)
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Verdict{}, fmt.Errorf("rspamd: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Verdict{}, fmt.Errorf("rspamd: %s", resp.Status)
	}
	var out struct {
		Action string  `json:"action"`
		Score  float64 `json:"score"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return Verdict{}, fmt.Errorf("rspamd reply: %w", err)
	}
	spam := out.Action == "reject" || out.Action == "add header" || out.Action == "rewrite subject"
	return Verdict{Spam: spam, Score: out.Score, Detail: fmt.Sprintf("rspamd %s, score %.1f", out.Action, out.Score)}, nil
}

// applySpam sets a prepared message's class from the verdict. Only human
// mail can be spam: a bounce or our own mail coming back stays what it is.
func applySpam(msg *core.Inbound, v Verdict, unscanned string) {
	switch {
	case v.Spam && msg.Class == core.ClassHuman:
		msg.Class, msg.Note = core.ClassSpam, v.Detail
	case unscanned != "":
		msg.Note = unscanned
	}
}
