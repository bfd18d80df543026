// Package mailauth signs helpdesk in to its mail servers, IMAP and SMTP
// alike: with a password, or with an OAuth2 access token (Microsoft 365,
// Google Workspace, any OAuth2 server), and over the SASL mechanism the
// server offers for it.
package mailauth

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// SASL mechanism names.
const (
	Plain       = "PLAIN"
	Login       = "LOGIN"
	XOAuth2     = "XOAUTH2"
	OAuthBearer = "OAUTHBEARER"
)

// Credentials are how helpdesk signs in as User: a password, or Tokens.
type Credentials struct {
	User     string
	Password string
	Tokens   *Tokens // nil: sign in with the password
}

// OAuth reports whether these credentials use OAuth2 tokens.
func (c Credentials) OAuth() bool { return c.Tokens != nil }

// Mechanism is one SASL exchange ready to run, with the access token it
// carries (empty for a password) so that a refusal can be reported back.
type Mechanism struct {
	Client sasl.Client
	Name   string
	Expiry time.Time // the token's; zero for a password or a token without one
	token  string
	tokens *Tokens
}

// Refused tells the token source that the server refused this mechanism's
// token, so the next attempt gets a fresh one instead of the cached one.
func (m Mechanism) Refused() {
	if m.tokens != nil {
		m.tokens.refused(m.token)
	}
}

// Choose picks the mechanism for the server's offer (its AUTH= names):
// OAUTHBEARER (RFC 7628) before XOAUTH2 (all that Microsoft offers) for a
// token; PLAIN before LOGIN (all that Office 365's SMTP offers) for a
// password. addr, the server's "host:port", goes into OAUTHBEARER's message.
func (c Credentials) Choose(ctx context.Context, offered []string, addr string) (Mechanism, error) {
	has := func(name string) bool {
		return slices.ContainsFunc(offered, func(o string) bool { return strings.EqualFold(o, name) })
	}
	if !c.OAuth() {
		switch {
		case has(Plain):
			return Mechanism{Client: sasl.NewPlainClient("", c.User, c.Password), Name: Plain}, nil
		case has(Login):
			return Mechanism{Client: sasl.NewLoginClient(c.User, c.Password), Name: Login}, nil
		}
		return Mechanism{}, fmt.Errorf("the server offers AUTH %s, none of which helpdesk can use with a password (PLAIN, LOGIN)", offerList(offered))
	}
	name := ""
	switch {
	case has(OAuthBearer):
		name = OAuthBearer
	case has(XOAuth2):
		name = XOAuth2
	default:
		return Mechanism{}, fmt.Errorf("the server offers AUTH %s but neither OAUTHBEARER nor XOAUTH2, so it cannot take an OAuth token", offerList(offered))
	}
	token, err := c.Tokens.Token(ctx)
	if err != nil {
		return Mechanism{}, err
	}
	m := Mechanism{Name: name, Expiry: token.Expiry, token: token.AccessToken, tokens: c.Tokens}
	if name == OAuthBearer {
		host, portText, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(portText)
		m.Client = sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: c.User, Token: token.AccessToken, Host: host, Port: port})
	} else {
		m.Client = &xoauth2Client{user: c.User, token: token.AccessToken}
	}
	return m, nil
}

func offerList(offered []string) string {
	if len(offered) == 0 {
		return "(nothing)"
	}
	return strings.Join(offered, " ")
}

// xoauth2Client is Google's and Microsoft's XOAUTH2, which go-sasl does not
// have: one initial response, and an empty answer to the JSON error the
// server sends before it refuses.
type xoauth2Client struct{ user, token string }

func (x *xoauth2Client) Start() (string, []byte, error) {
	return XOAuth2, []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	return []byte{}, nil
}
