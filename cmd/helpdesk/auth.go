package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"helpdesk/core/mailauth"
	"helpdesk/mailin"
	"helpdesk/mailout"
)

const authUsage = `usage:
  helpdesk auth login (--mailbox NAME | --smtp) [--port N]   sign in with OAuth2 and keep the grant
  helpdesk auth logout (--mailbox NAME | --smtp)              forget the grant
`

// cmdAuth signs the desk in to OAuth2 mailboxes and the SMTP account.
func cmdAuth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "login" && args[0] != "logout") {
		fmt.Fprint(stderr, authUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return flag.ErrHelp
		}
		return &exitError{2, errors.New("auth: want login or logout")}
	}
	fs := flag.NewFlagSet("auth "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	mailbox := fs.String("mailbox", "", "the mailbox (by its name in the config)")
	smtp := fs.Bool("smtp", false, "the SMTP account")
	port := fs.Int("port", 0, "browser grant: the loopback port of the redirect (default: any free port)")
	if err := fs.Parse(args[1:]); err != nil {
		return &exitError{2, err}
	}
	if (*mailbox == "") == !*smtp {
		fmt.Fprint(stderr, authUsage)
		return &exitError{2, errors.New("auth: name one of --mailbox NAME or --smtp")}
	}
	cfg, db, err := openCommand(ctx, *cfgPath, stderr, true)
	if err != nil {
		return err
	}
	defer db.Close()
	account := mailauth.Account(*mailbox)
	if args[0] == "logout" {
		gone, err := db.DeleteOAuthToken(ctx, account)
		if err != nil {
			return err
		}
		if !gone {
			fmt.Fprintf(stdout, "%s had no stored sign-in\n", account)
			return nil
		}
		fmt.Fprintf(stdout, "%s signed out\n", account)
		return nil
	}
	a, err := cfg.oauthAccount(ctx, db, *mailbox)
	if err != nil {
		return err
	}
	// Only now the secret files: a password account is refused above
	// whatever its files hold.
	if err := cfg.readMailSecrets(); err != nil {
		return &exitError{78, err}
	}
	a.settings = cfg.oauth(a.block, a.service)
	return a.signIn(ctx, db, *port, stdout)
}

// oauthAccount is one account that signs in with OAuth2, and the check
// that proves a new grant by signing in to its server.
type oauthAccount struct {
	name, user string
	block      *OAuthConfig
	service    string         // mailauth.IMAP or mailauth.SMTP
	settings   mailauth.OAuth // the block resolved, once its secret file is read
	check      func(context.Context) error
}

func (c *Config) oauthAccount(ctx context.Context, db *database, mailbox string) (*oauthAccount, error) {
	if mailbox == "" {
		if c.SMTP.OAuth == nil {
			return nil, &exitError{2, errors.New("the [smtp] section has no [smtp.oauth] block: it signs in with a password")}
		}
		return &oauthAccount{name: mailauth.Account(""), user: c.SMTP.User, block: c.SMTP.OAuth, service: mailauth.SMTP,
			check: func(ctx context.Context) error {
				s, err := c.SMTPSettings(ctx, db.Store)
				if err != nil {
					return err
				}
				return mailout.CheckLogin(ctx, s)
			}}, nil
	}
	if err := c.CheckMailbox(mailbox); err != nil {
		return nil, &exitError{2, err}
	}
	for i, m := range c.Mailboxes {
		if m.Name != mailbox {
			continue
		}
		if m.OAuth == nil {
			return nil, &exitError{2, fmt.Errorf("mailbox %s has no [mailboxes.oauth] block: it signs in with a password", mailbox)}
		}
		return &oauthAccount{name: mailauth.Account(mailbox), user: m.User, block: m.OAuth, service: mailauth.IMAP,
			check: func(ctx context.Context) error {
				mb, err := c.Mailbox(ctx, db.Store, i)
				if err != nil {
					return err
				}
				return mailin.CheckLogin(ctx, mb)
			}}, nil
	}
	return nil, &exitError{2, fmt.Errorf("no mailbox named %q in the config", mailbox)}
}

// signIn runs the grant's flow as the account's user, keeps the grant, and
// proves it on the mail server.
func (a *oauthAccount) signIn(ctx context.Context, db *database, port int, stdout io.Writer) error {
	if err := a.settings.Check(); err != nil {
		return &exitError{78, fmt.Errorf("%s: oauth: %w", a.name, err)}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	tok, err := mailauth.SignIn(ctx, a.settings, port, func(p mailauth.Prompt) {
		if p.Code != "" {
			fmt.Fprintf(stdout, "Sign in as %s: open %s and enter the code %s\n", a.user, p.URL, p.Code)
			return
		}
		fmt.Fprintf(stdout, "Sign in as %s: open this address in a browser on this machine\n(or forward the port: ssh -L PORT:localhost:PORT this-server):\n%s\n", a.user, p.URL)
	})
	if err != nil {
		return fmt.Errorf("sign in for %s: %w", a.name, err)
	}
	stored, err := mailauth.MarshalToken(tok)
	if err != nil {
		return err
	}
	if err := db.SaveOAuthToken(ctx, a.name, stored); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Signed in; the grant for %s is stored (encrypted with the desk's secret).\n", a.name)
	if err := a.check(ctx); err != nil {
		return fmt.Errorf("the mail server refused the new grant for %s (did you sign in as %s?): %w", a.name, a.user, err)
	}
	fmt.Fprintf(stdout, "The mail server accepts it: %s is ready. A running daemon picks it up at its next attempt.\n", a.name)
	return nil
}
