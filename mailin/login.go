package mailin

import (
	"context"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"helpdesk/core/mailauth"
)

// sessionMargin: a session signed in with a token is renewed this long
// before the token lapses (or halfway through a shorter life).
const sessionMargin = time.Minute

// login signs in with the mailbox's password, or with an OAuth2 token over
// the mechanism the server offers. until is when the session should be
// renewed because its token lapses (zero with a password).
func login(ctx context.Context, c *imapclient.Client, mb Mailbox) (until time.Time, err error) {
	creds := mailauth.Credentials{User: mb.User, Password: mb.Password, Tokens: mb.Tokens}
	if !creds.OAuth() {
		if err := c.Login(mb.User, mb.Password).Wait(); err != nil {
			return time.Time{}, fmt.Errorf("login %s as %s: %w", mb.Addr, mb.User, err)
		}
		return time.Time{}, nil
	}
	mech, err := creds.Choose(ctx, c.Caps().AuthMechanisms(), mb.Addr)
	if err != nil {
		return time.Time{}, fmt.Errorf("login %s as %s: %w", mb.Addr, mb.User, err)
	}
	if err := c.Authenticate(mech.Client); err != nil {
		mech.Refused()
		return time.Time{}, fmt.Errorf("login %s as %s by %s: %w (is IMAP enabled for the mailbox, and the app allowed to use it?)", mb.Addr, mb.User, mech.Name, err)
	}
	if mech.Expiry.IsZero() {
		return time.Time{}, nil
	}
	return mech.Expiry.Add(-min(sessionMargin, time.Until(mech.Expiry)/2)), nil
}

// CheckLogin connects and signs in to the mailbox's server, then leaves:
// `helpdesk auth login` proves a new grant with it.
func CheckLogin(ctx context.Context, mb Mailbox) error {
	c, err := dial(mb, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := login(ctx, c, mb); err != nil {
		return err
	}
	return c.Logout().Wait()
}
