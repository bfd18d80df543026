// Package mailauthtest has what tests of signing in need: an OAuth2
// authorization server with token (refresh, device code, authorization code
// with PKCE, client credentials by secret or certificate, service-account
// JWT), device authorization, authorize and RFC 7662 introspection
// endpoints, whose tokens can be made to expire quickly and grants revoked
// as real providers do; and a private certificate authority.
package mailauthtest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"helpdesk/core"
	"helpdesk/core/mailauth"
)

// Server is a running authorization server.
type Server struct {
	URL      string
	ClientID string
	// ClientSecret, if set, is the app's secret for client credentials.
	ClientSecret string
	// AppCertificate, if set, may prove the app by a signed assertion.
	AppCertificate *x509.Certificate
	// ServiceAccountKey, if set, verifies service-account assertions.
	ServiceAccountKey crypto.PublicKey
	// User is whom a device code or an authorization is approved for, and
	// whom client credentials act as.
	User string

	mu       sync.Mutex
	lifetime time.Duration
	access   map[string]*grant // access token → grant
	refresh  map[string]*grant
	devices  map[string]*device // by user code
	codes    map[string]*authCode
	counts   map[string]int
}

type grant struct {
	user    string
	expires time.Time
	revoked bool
}

type device struct {
	deviceCode string
	user       string // set when approved
}

type authCode struct {
	user, challenge, redirect string
}

// Start runs a server whose access tokens live for lifetime.
func Start(t testing.TB, lifetime time.Duration) *Server {
	s := &Server{ClientID: "helpdesk-test", User: "support@desk.test", lifetime: lifetime,
		access: map[string]*grant{}, refresh: map[string]*grant{}, devices: map[string]*device{},
		codes: map[string]*authCode{}, counts: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /device", s.deviceAuth)
	mux.HandleFunc("GET /device/approve", s.approveDevice)
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /introspect", s.introspect)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// Endpoints.
func (s *Server) TokenURL() string      { return s.URL + "/token" }
func (s *Server) DeviceURL() string     { return s.URL + "/device" }
func (s *Server) AuthURL() string       { return s.URL + "/authorize" }
func (s *Server) IntrospectURL() string { return s.URL + "/introspect" }

// Count is how many tokens were issued by a grant type ("refresh_token",
// "device_code", "authorization_code", "client_credentials", "jwt-bearer").
func (s *Server) Count(grantType string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[grantType]
}

// SetLifetime changes how long new access tokens live.
func (s *Server) SetLifetime(d time.Duration) {
	s.mu.Lock()
	s.lifetime = d
	s.mu.Unlock()
}

// Revoke withdraws every grant of user, as an admin revoking consent or
// sessions does: refresh tokens and access tokens stop working.
func (s *Server) Revoke(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range []map[string]*grant{s.access, s.refresh} {
		for _, g := range m {
			if g.user == user {
				g.revoked = true
			}
		}
	}
}

// Issue hands out a refresh token for user directly, as if they had signed in.
func (s *Server) Issue(user string) (refresh string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	refresh = random()
	s.refresh[refresh] = &grant{user: user}
	return refresh
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	if r.Form.Get("client_id") != s.ClientID && r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client_id "+r.Form.Get("client_id"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch gt := r.Form.Get("grant_type"); gt {
	case "refresh_token":
		g := s.refresh[r.Form.Get("refresh_token")]
		if g == nil || g.revoked {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS50173: the grant was revoked")
			return
		}
		s.issue(w, "refresh_token", g.user, true)
	case "urn:ietf:params:oauth:grant-type:device_code":
		for _, d := range s.devices {
			if d.deviceCode != r.Form.Get("device_code") {
				continue
			}
			if d.user == "" {
				oauthError(w, http.StatusBadRequest, "authorization_pending", "")
				return
			}
			s.issue(w, "device_code", d.user, true)
			return
		}
		oauthError(w, http.StatusBadRequest, "expired_token", "")
	case "authorization_code":
		c := s.codes[r.Form.Get("code")]
		delete(s.codes, r.Form.Get("code"))
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		if c == nil || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge || c.redirect != r.Form.Get("redirect_uri") {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "bad code, verifier or redirect_uri")
			return
		}
		s.issue(w, "authorization_code", c.user, true)
	case "client_credentials":
		if err := s.checkApp(r.Form); err != nil {
			oauthError(w, http.StatusUnauthorized, "invalid_client", err.Error())
			return
		}
		s.issue(w, "client_credentials", s.User, false)
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		user, err := s.checkServiceAccount(r.Form.Get("assertion"))
		if err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_grant", err.Error())
			return
		}
		s.issue(w, "jwt-bearer", user, false)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", gt)
	}
}

// checkApp verifies client credentials: the secret, or an assertion signed
// by the app's certificate naming this endpoint, as Microsoft checks it.
func (s *Server) checkApp(form url.Values) error {
	if a := form.Get("client_assertion"); a != "" {
		if s.AppCertificate == nil {
			return fmt.Errorf("no certificate registered")
		}
		var claims jwt.RegisteredClaims
		tok, err := jwt.ParseWithClaims(a, &claims, func(*jwt.Token) (any, error) { return s.AppCertificate.PublicKey, nil },
			jwt.WithAudience(s.TokenURL()), jwt.WithIssuer(s.ClientID), jwt.WithSubject(s.ClientID), jwt.WithExpirationRequired())
		if err != nil {
			return fmt.Errorf("client assertion: %w", err)
		}
		sum := sha1.Sum(s.AppCertificate.Raw)
		if tok.Header["x5t"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return fmt.Errorf("client assertion: x5t is not the registered certificate's")
		}
		return nil
	}
	if s.ClientSecret == "" || form.Get("client_secret") != s.ClientSecret {
		return fmt.Errorf("AADSTS7000215: invalid client secret")
	}
	return nil
}

func (s *Server) checkServiceAccount(assertion string) (string, error) {
	if s.ServiceAccountKey == nil {
		return "", fmt.Errorf("no service account registered")
	}
	var claims jwt.MapClaims
	if _, err := jwt.ParseWithClaims(assertion, &claims, func(*jwt.Token) (any, error) { return s.ServiceAccountKey, nil },
		jwt.WithAudience(s.TokenURL())); err != nil {
		return "", fmt.Errorf("assertion: %w", err)
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return "", fmt.Errorf("assertion names no user (sub): domain-wide delegation needs one")
	}
	return sub, nil
}

func (s *Server) issue(w http.ResponseWriter, grantType, user string, withRefresh bool) {
	s.counts[grantType]++
	access := random()
	s.access[access] = &grant{user: user, expires: time.Now().Add(s.lifetime)}
	body := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": int(s.lifetime.Seconds())}
	if withRefresh {
		refresh := random()
		s.refresh[refresh] = &grant{user: user}
		body["refresh_token"] = refresh
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
}

func (s *Server) deviceAuth(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	if r.Form.Get("client_id") != s.ClientID {
		oauthError(w, http.StatusBadRequest, "invalid_client", "unknown client_id")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	userCode := random()[:8]
	s.devices[userCode] = &device{deviceCode: random()}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"device_code": s.devices[userCode].deviceCode, "user_code": userCode,
		"verification_uri":          s.URL + "/device/approve",
		"verification_uri_complete": s.URL + "/device/approve?code=" + userCode,
		"expires_in":                600, "interval": 1,
	})
}

// approveDevice is the person entering the code and consenting.
func (s *Server) approveDevice(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[r.URL.Query().Get("code")]
	if d == nil {
		http.Error(w, "no such code", http.StatusNotFound)
		return
	}
	d.user = s.User
	fmt.Fprintln(w, "approved")
}

// authorize approves at once (the person consents) and redirects back.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.ClientID || q.Get("code_challenge_method") != "S256" {
		http.Error(w, "bad client_id or no PKCE", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	code := random()
	s.codes[code] = &authCode{user: s.User, challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	s.mu.Unlock()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// introspect answers RFC 7662 for Dovecot's oauth2 passdb.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	s.mu.Lock()
	g := s.access[r.Form.Get("token")]
	active := g != nil && !g.revoked && time.Now().Before(g.expires)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !active {
		json.NewEncoder(w).Encode(map[string]any{"active": false})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"active": true, "username": g.user})
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func random() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// UserOf is whom an access token was issued for ("" if unknown).
func (s *Server) UserOf(access string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.access[access]; g != nil {
		return g.user
	}
	return ""
}

// SignedIn stores a grant of s.User for mailbox ("" for SMTP) in store, as
// `helpdesk auth login` leaves it, and returns the tokens a daemon makes of
// it for service (mailauth.IMAP or mailauth.SMTP).
func (s *Server) SignedIn(t testing.TB, store *core.Store, mailbox, service string) *mailauth.Tokens {
	t.Helper()
	ctx := context.Background()
	stored, _ := mailauth.MarshalToken(&oauth2.Token{RefreshToken: s.Issue(s.User)})
	if err := store.SaveOAuthToken(ctx, mailauth.Account(mailbox), stored); err != nil {
		t.Fatal(err)
	}
	tokens, err := mailauth.NewTokens(ctx, store, mailbox, s.User, s.Settings(mailauth.GrantDevice, service))
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

// Settings is an [oauth] block for this server.
func (s *Server) Settings(grant, service string) mailauth.OAuth {
	return mailauth.OAuth{Provider: mailauth.Generic, Grant: grant, ClientID: s.ClientID, TokenURL: s.TokenURL(),
		DeviceURL: s.DeviceURL(), AuthURL: s.AuthURL()}.Resolved(service)
}
