package mailauth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/microsoft"

	"helpdesk/core"
)

// Providers.
const (
	Microsoft = "microsoft"
	Google    = "google"
	Generic   = "generic"
)

// Grants: how a token is got. The first two are a person's (delegated)
// and stored; the last two are the application's own.
const (
	GrantDevice            = "device"             // device code: a URL and a code to enter
	GrantBrowser           = "browser"            // authorization code to a loopback redirect
	GrantClientCredentials = "client_credentials" // Microsoft application access
	GrantServiceAccount    = "service_account"    // Google domain-wide delegation
)

// Services a token is for; Microsoft has a scope for each.
const (
	IMAP = "imap"
	SMTP = "smtp"
)

// OAuth is an account's [oauth] block.
type OAuth struct {
	Provider     string
	Grant        string
	Tenant       string // Microsoft: the directory (default "organizations")
	ClientID     string
	ClientSecret string
	// CertificateFile and KeyFile (PEM) prove a Microsoft app instead of a
	// secret; KeyFile may be omitted when the certificate file holds both.
	CertificateFile, KeyFile string
	// ServiceAccountFile is a Google service account's JSON key.
	ServiceAccountFile string
	Scopes             []string
	// AuthURL, TokenURL and DeviceURL override the provider's endpoints
	// (and are required for the generic provider).
	AuthURL, TokenURL, DeviceURL string
	// CAFile: a private CA for the token endpoint.
	CAFile string
}

// withEndpoint fills the URLs the config leaves out from the provider's
// endpoint, as golang.org/x/oauth2 knows it.
func (o OAuth) withEndpoint(e oauth2.Endpoint) OAuth {
	o.AuthURL = or(o.AuthURL, e.AuthURL)
	o.TokenURL = or(o.TokenURL, e.TokenURL)
	o.DeviceURL = or(o.DeviceURL, e.DeviceAuthURL)
	return o
}

// Resolved fills in the provider's defaults for service (IMAP or SMTP).
func (o OAuth) Resolved(service string) OAuth {
	if o.Provider == "" {
		o.Provider = Generic
	}
	switch o.Provider {
	case Microsoft:
		tenant := o.Tenant
		if tenant == "" {
			tenant = "organizations"
		}
		o = o.withEndpoint(microsoft.AzureADEndpoint(tenant))
		o.Grant = or(o.Grant, GrantDevice)
		if len(o.Scopes) == 0 {
			o.Scopes = microsoftScopes(o.Grant, service)
		}
	case Google:
		o = o.withEndpoint(google.Endpoint)
		// Google's device flow does not allow the mail scope.
		o.Grant = or(o.Grant, GrantBrowser)
		if len(o.Scopes) == 0 {
			o.Scopes = []string{"https://mail.google.com/"}
		}
	default:
		o.Grant = or(o.Grant, GrantDevice)
	}
	return o
}

func microsoftScopes(grant, service string) []string {
	if grant == GrantClientCredentials {
		return []string{"https://outlook.office365.com/.default"}
	}
	if service == SMTP {
		return []string{"https://outlook.office.com/SMTP.Send", "offline_access"}
	}
	return []string{"https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"}
}

func or(v, fallback string) string {
	if v != "" {
		return v
	}
	return fallback
}

// Delegated reports a grant a person gives with `helpdesk auth login`.
func (o OAuth) Delegated() bool { return o.Grant == GrantDevice || o.Grant == GrantBrowser }

// Check reports what is missing or wrong in a resolved block, naming the key.
func (o OAuth) Check() error {
	var errs []error
	switch o.Provider {
	case Microsoft, Google, Generic:
	default:
		errs = append(errs, fmt.Errorf("provider %q: want microsoft, google or generic", o.Provider))
	}
	switch o.Grant {
	case GrantDevice, GrantBrowser, GrantClientCredentials, GrantServiceAccount:
	default:
		errs = append(errs, fmt.Errorf("grant %q: want device, browser, client_credentials or service_account", o.Grant))
	}
	if o.ClientID == "" && o.Grant != GrantServiceAccount {
		errs = append(errs, errors.New("client_id is missing (the application's id from the provider's console)"))
	}
	if o.TokenURL == "" {
		errs = append(errs, errors.New("token_url is missing (required for the generic provider)"))
	}
	if o.Grant == GrantDevice && o.DeviceURL == "" {
		errs = append(errs, errors.New("device_url is missing: the device grant needs it"))
	}
	if o.Grant == GrantBrowser && o.AuthURL == "" {
		errs = append(errs, errors.New("auth_url is missing: the browser grant needs it"))
	}
	if o.Grant == GrantClientCredentials && o.ClientSecret == "" && o.CertificateFile == "" {
		errs = append(errs, errors.New("client_credentials needs client_secret (or client_secret_file) or certificate_file"))
	}
	if o.Grant == GrantServiceAccount && o.ServiceAccountFile == "" {
		errs = append(errs, errors.New("service_account needs service_account_file, the service account's JSON key"))
	}
	return errors.Join(errs...)
}

// Config is the x/oauth2 form of a delegated grant; redirect is the
// loopback address of the browser grant.
func (o OAuth) Config(redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes, RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{AuthURL: o.AuthURL, TokenURL: o.TokenURL, DeviceAuthURL: o.DeviceURL,
			AuthStyle: oauth2.AuthStyleInParams},
	}
}

// Context carries the HTTP client for the provider: a timeout, and the
// private CA if one is set.
func (o OAuth) Context(ctx context.Context) (context.Context, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	if o.CAFile != "" {
		tcfg, err := TLSConfig("", o.CAFile, false)
		if err != nil {
			return nil, err
		}
		client.Transport = &http.Transport{TLSClientConfig: tcfg}
	}
	return context.WithValue(ctx, oauth2.HTTPClient, client), nil
}

// Account names a mailbox's grant, or the SMTP server's.
func Account(mailbox string) string {
	if mailbox == "" {
		return "smtp"
	}
	return "mailbox " + mailbox
}

// LoginCommand is the command that signs an account in again.
func LoginCommand(mailbox string) string {
	if mailbox == "" {
		return "helpdesk auth login --smtp"
	}
	return "helpdesk auth login --mailbox " + mailbox
}

// NewTokens returns the token source of a mailbox's grant (mailbox "" for
// SMTP) signing in as user. ctx bounds every refresh.
func NewTokens(ctx context.Context, store *core.Store, mailbox, user string, o OAuth) (*Tokens, error) {
	account := Account(mailbox)
	ctx, err := o.Context(ctx)
	if err != nil {
		return nil, fmt.Errorf("oauth for %s: %w", account, err)
	}
	t := &Tokens{Account: account, store: store}
	switch o.Grant {
	case GrantDevice, GrantBrowser:
		t.Fix = LoginCommand(mailbox)
		t.source = &vault{ctx: ctx, store: store, account: account, config: o.Config("")}
	case GrantClientCredentials:
		t.Fix = "check client_id, client_secret or certificate_file, and the app's access to " + user + ", then restart helpdesk"
		t.source, err = appSource(ctx, o)
	case GrantServiceAccount:
		t.Fix = "check the service account's key and its domain-wide delegation for " + user + ", then restart helpdesk"
		t.source, err = serviceAccountSource(ctx, o, user)
	default:
		err = fmt.Errorf("unknown grant %q", o.Grant)
	}
	if err != nil {
		return nil, fmt.Errorf("oauth for %s: %w", account, err)
	}
	return t, nil
}

// appSource is Microsoft's application access: client credentials, proved
// by a secret or by a certificate's signed assertion.
func appSource(ctx context.Context, o OAuth) (oauth2.TokenSource, error) {
	cc := &clientcredentials.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: o.TokenURL,
		Scopes: o.Scopes, AuthStyle: oauth2.AuthStyleInParams}
	if o.CertificateFile == "" {
		return cc.TokenSource(ctx), nil
	}
	cert, err := tls.LoadX509KeyPair(o.CertificateFile, or(o.KeyFile, o.CertificateFile))
	if err != nil {
		return nil, fmt.Errorf("load certificate_file: %w", err)
	}
	return &assertionSource{ctx: ctx, config: cc, cert: cert}, nil
}

// assertionSource proves the app with a JWT signed by its certificate's
// key, a new one for every token request (each expires in minutes).
type assertionSource struct {
	ctx    context.Context
	config *clientcredentials.Config
	cert   tls.Certificate
}

func (a *assertionSource) Token() (*oauth2.Token, error) {
	assertion, err := ClientAssertion(a.cert, a.config.ClientID, a.config.TokenURL, time.Now())
	if err != nil {
		return nil, err
	}
	cc := *a.config
	cc.EndpointParams = map[string][]string{
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	return cc.Token(a.ctx)
}

// ClientAssertion is the signed JWT that proves an app holding cert to
// Microsoft's token endpoint (audience), with the certificate's SHA-1 and
// SHA-256 thumbprints in x5t and x5t#S256 as Microsoft asks.
func ClientAssertion(cert tls.Certificate, clientID, audience string, now time.Time) (string, error) {
	der := cert.Certificate[0]
	sum1, sum256 := sha1.Sum(der), sha256.Sum256(der)
	claims := jwt.RegisteredClaims{
		Issuer: clientID, Subject: clientID, Audience: jwt.ClaimStrings{audience}, ID: rand.Text(),
		NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodPS256, claims)
	tok.Header["x5t"] = base64.RawURLEncoding.EncodeToString(sum1[:])
	tok.Header["x5t#S256"] = base64.RawURLEncoding.EncodeToString(sum256[:])
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return "", errors.New("certificate key cannot sign")
	}
	signed, err := tok.SignedString(signer)
	if err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	return signed, nil
}

// serviceAccountSource is Google's domain-wide delegation: the service
// account acts as user.
func serviceAccountSource(ctx context.Context, o OAuth, user string) (oauth2.TokenSource, error) {
	key, err := os.ReadFile(o.ServiceAccountFile)
	if err != nil {
		return nil, fmt.Errorf("read service_account_file: %w", err)
	}
	cfg, err := google.JWTConfigFromJSON(key, o.Scopes...)
	if err != nil {
		return nil, fmt.Errorf("service_account_file %s: %w", o.ServiceAccountFile, err)
	}
	cfg.Subject = user
	return cfg.TokenSource(ctx), nil
}
