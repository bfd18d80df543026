package mailauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"helpdesk/core"
)

// earlyRefresh: a token this close to its expiry is refreshed before use,
// so a login or a send never goes out with one that lapses on the way.
const earlyRefresh = 5 * time.Minute

// Tokens hands out an account's access tokens, refreshing them as needed.
// An account is "mailbox NAME" or "smtp": one grant each.
type Tokens struct {
	Account string
	// Fix is the command (or step) that repairs a grant that no longer works.
	Fix string

	store  *core.Store
	source oauth2.TokenSource // the provider, through the vault for delegated grants
	mu     sync.Mutex
	cached *oauth2.Token
	failed *ReauthError // the last permanent failure, until a token works
}

// ReauthError is a grant that will not work again without a person: consent
// revoked, the refresh token expired, the client secret wrong, nobody signed
// in yet. Retrying cannot help; Fix says what does.
type ReauthError struct {
	Account, Fix string
	Err          error
}

func (e *ReauthError) Error() string {
	return fmt.Sprintf("oauth sign-in for %s does not work: %v; fix: %s", e.Account, e.Err, e.Fix)
}
func (e *ReauthError) Unwrap() error { return e.Err }

// Token returns a valid access token. A permanent failure comes back as a
// *ReauthError, and the admins are told once (the first daemon to see it).
func (t *Tokens) Token(ctx context.Context) (*oauth2.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cached != nil && t.cached.Expiry.After(time.Now().Add(earlyRefresh)) {
		return t.cached, nil
	}
	tok, err := t.source.Token()
	if err != nil {
		return nil, t.failure(ctx, err)
	}
	t.cached, t.failed = tok, nil
	return tok, nil
}

// Failure is the grant's permanent failure, nil while it works.
func (t *Tokens) Failure() *ReauthError {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// refused drops an access token the server would not take: the next
// attempt refreshes instead of presenting it again.
func (t *Tokens) refused(access string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cached != nil && t.cached.AccessToken == access {
		t.cached = nil
	}
	if v, ok := t.source.(*vault); ok {
		v.refused(access)
	}
}

func (t *Tokens) failure(ctx context.Context, err error) error {
	if !permanent(err) {
		return fmt.Errorf("get oauth token for %s: %w", t.Account, err)
	}
	reauth := &ReauthError{Account: t.Account, Fix: t.Fix, Err: err}
	if t.failed == nil && t.store != nil {
		if _, aerr := t.store.AlertOAuthFailure(ctx, t.Account, err.Error(), t.Fix, time.Now()); aerr != nil {
			return errors.Join(reauth, aerr)
		}
	}
	t.failed = reauth
	return reauth
}

// permanent reports an error that needs a person: the provider refused
// the grant or the client, or nobody has signed in.
func permanent(err error) bool {
	if errors.Is(err, core.ErrNoOAuthToken) {
		return true
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return false
	}
	switch re.ErrorCode {
	case "invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope",
		"access_denied", "consent_required", "interaction_required":
		return true
	}
	// A refusal without a code: only a 400 or 401 says the request itself
	// is wrong; a 5xx or 429 is the provider's trouble, retried.
	return re.ErrorCode == "" && re.Response != nil &&
		(re.Response.StatusCode == http.StatusBadRequest || re.Response.StatusCode == http.StatusUnauthorized)
}

// vault is a delegated grant kept in PostgreSQL: the refresh token a person
// got with `helpdesk auth login`. Refreshing locks the row, so of several
// daemons one asks the provider and the others take its answer.
type vault struct {
	ctx      context.Context
	store    *core.Store
	account  string
	config   *oauth2.Config
	mu       sync.Mutex
	rejected string // an access token a server refused
}

func (v *vault) refused(access string) {
	v.mu.Lock()
	v.rejected = access
	v.mu.Unlock()
}

func (v *vault) Token() (*oauth2.Token, error) {
	v.mu.Lock()
	rejected := v.rejected
	v.mu.Unlock()
	var fresh *oauth2.Token
	_, err := v.store.UpdateOAuthToken(v.ctx, v.account, func(current []byte) ([]byte, error) {
		var tok oauth2.Token
		if err := json.Unmarshal(current, &tok); err != nil {
			return nil, fmt.Errorf("read stored token: %w", err)
		}
		if tok.AccessToken != rejected && tok.Expiry.After(time.Now().Add(earlyRefresh)) {
			fresh = &tok // another daemon refreshed it a moment ago
			return nil, nil
		}
		if tok.RefreshToken == "" {
			return nil, errors.New("the stored grant has no refresh token (was offline_access asked for?)")
		}
		// An empty access token makes x/oauth2 refresh at once; it keeps
		// the old refresh token when the provider sends no new one.
		next, err := v.config.TokenSource(v.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			return nil, err
		}
		fresh = next
		return MarshalToken(next)
	})
	if err != nil {
		return nil, err
	}
	return fresh, nil
}

// MarshalToken is the form a token is stored in.
func MarshalToken(t *oauth2.Token) ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode oauth token: %w", err)
	}
	return b, nil
}
