package mailauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// Prompt is what a person must do to sign in: open URL (and, for a device
// code, enter Code there).
type Prompt struct {
	URL, Code string
}

// SignIn runs a delegated grant's flow, calling show with what the person
// must do, and returns the token with its refresh token. port is the
// loopback port of the browser grant's redirect (0: any free one).
func SignIn(ctx context.Context, o OAuth, port int, show func(Prompt)) (*oauth2.Token, error) {
	ctx, err := o.Context(ctx)
	if err != nil {
		return nil, err
	}
	var tok *oauth2.Token
	switch o.Grant {
	case GrantDevice:
		tok, err = deviceSignIn(ctx, o, show)
	case GrantBrowser:
		tok, err = browserSignIn(ctx, o, port, show)
	default:
		return nil, fmt.Errorf("grant %q needs no sign-in: helpdesk gets the application's tokens itself", o.Grant)
	}
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken == "" {
		return nil, errors.New("the provider sent no refresh token, so helpdesk could not stay signed in (Microsoft: add the offline_access scope; Google: remove helpdesk's access at myaccount.google.com/permissions and sign in again)")
	}
	return tok, nil
}

// deviceSignIn: the person opens a URL on any device and enters a code
// (Microsoft allows it for mail scopes; RFC 8628).
func deviceSignIn(ctx context.Context, o OAuth, show func(Prompt)) (*oauth2.Token, error) {
	cfg := o.Config("")
	auth, err := cfg.DeviceAuth(ctx)
	if err != nil {
		return nil, fmt.Errorf("ask %s for a device code: %w", o.DeviceURL, err)
	}
	show(Prompt{URL: auth.VerificationURI, Code: auth.UserCode})
	tok, err := cfg.DeviceAccessToken(ctx, auth)
	if err != nil {
		return nil, fmt.Errorf("wait for sign-in: %w", err)
	}
	return tok, nil
}

// browserSignIn: an authorization code with PKCE, sent to a loopback
// address on this machine (Google's way for mail; RFC 8252). On a server,
// forward the port from the admin's machine (ssh -L PORT:localhost:PORT).
func browserSignIn(ctx context.Context, o OAuth, port int, show func(Prompt)) (*oauth2.Token, error) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("listen for the sign-in redirect: %w", err)
	}
	defer l.Close()
	redirect := fmt.Sprintf("http://localhost:%d/", l.Addr().(*net.TCPAddr).Port)
	cfg := o.Config(redirect)
	verifier, state := oauth2.GenerateVerifier(), rand.Text()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if o.Provider == Google {
		// Without these Google sends a refresh token only the first time.
		opts = append(opts, oauth2.AccessTypeOffline, oauth2.ApprovalForce)
	}
	codes := make(chan string, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Get("state") != state:
			http.Error(w, "This sign-in link is not the one helpdesk opened.", http.StatusBadRequest)
			return
		case q.Get("error") != "":
			fmt.Fprintf(w, "Sign-in failed: %s %s. Close this page and run the command again.\n", q.Get("error"), q.Get("error_description"))
			codes <- ""
			return
		}
		fmt.Fprintln(w, "Signed in. You can close this page; helpdesk finishes in the terminal.")
		select {
		case codes <- q.Get("code"):
		default:
		}
	})}
	go srv.Serve(l)
	defer srv.Close()
	show(Prompt{URL: cfg.AuthCodeURL(state, opts...)})
	var code string
	select {
	case code = <-codes:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for sign-in: %w", ctx.Err())
	}
	if code == "" {
		return nil, errors.New("the provider refused the sign-in (see the browser page)")
	}
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("exchange the sign-in code: %w", err)
	}
	return tok, nil
}
