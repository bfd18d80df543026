package core

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoOAuthToken: nobody has signed in for this account yet.
var ErrNoOAuthToken = errors.New("no OAuth token stored")

// SaveOAuthToken keeps an account's token (its JSON, sealed with the desk's
// secret), replacing any earlier one. A fresh sign-in ends an earlier
// failure, so the next one alerts the admins again.
func (s *Store) SaveOAuthToken(ctx context.Context, account string, token []byte) error {
	sealed, err := s.sealToken(account, token)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO oauth_tokens (account, sealed) VALUES ($1, $2)
			ON CONFLICT (account) DO UPDATE SET sealed = EXCLUDED.sealed, updated_at = now()`, account, sealed); err != nil {
			return fmt.Errorf("save oauth token of %s: %w", account, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM stall_alerts WHERE mailbox = $1`, oauthAlertKey(account)); err != nil {
			return fmt.Errorf("clear oauth alert of %s: %w", account, err)
		}
		return nil
	})
}

// UpdateOAuthToken runs update on an account's token with its row locked,
// so that of several daemons one refreshes and the others then read its
// result. update returns the token to keep, or nil to keep the current one.
// It returns the token kept.
func (s *Store) UpdateOAuthToken(ctx context.Context, account string, update func(current []byte) ([]byte, error)) ([]byte, error) {
	var kept []byte
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var sealed []byte
		err := tx.QueryRow(ctx, `SELECT sealed FROM oauth_tokens WHERE account = $1 FOR UPDATE`, account).Scan(&sealed)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoOAuthToken
		}
		if err != nil {
			return fmt.Errorf("lock oauth token of %s: %w", account, err)
		}
		current, err := s.openToken(account, sealed)
		if err != nil {
			return err
		}
		next, err := update(current)
		if err != nil || next == nil {
			kept = current
			return err
		}
		if sealed, err = s.sealToken(account, next); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE oauth_tokens SET sealed = $2, updated_at = now() WHERE account = $1`, account, sealed); err != nil {
			return fmt.Errorf("save refreshed oauth token of %s: %w", account, err)
		}
		kept = next
		return nil
	})
	return kept, err
}

// DeleteOAuthToken forgets an account's grant (helpdesk auth logout).
func (s *Store) DeleteOAuthToken(ctx context.Context, account string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM oauth_tokens WHERE account = $1`, account)
	if err != nil {
		return false, fmt.Errorf("delete oauth token of %s: %w", account, err)
	}
	return tag.RowsAffected() > 0, nil
}

// AlertOAuthFailure tells the admins, once across daemons until someone
// signs in again, that an account's grant stopped working, and which
// command fixes it.
func (s *Store) AlertOAuthFailure(ctx context.Context, account, reason, fix string, now time.Time) (bool, error) {
	return s.alertOnce(ctx, oauthAlertKey(account), false, TemplateOAuthFailure, MailData{
		Account: account, Reason: CleanLine(reason), Fix: CleanLine(fix), Since: now.UTC().Format("2006-01-02 15:04 MST")}, now, now)
}

func oauthAlertKey(account string) string { return "oauth " + account }

// tokenKey derives the sealing key from the desk's secret, apart from the
// key that signs reply tokens and links.
func (s *Store) tokenKey() (cipher.AEAD, error) {
	if len(s.secret) == 0 {
		return nil, errors.New("seal oauth tokens: the desk has no secret")
	}
	key, err := hkdf.Key(sha256.New, s.secret, nil, "helpdesk oauth tokens", 32)
	if err != nil {
		return nil, fmt.Errorf("derive oauth token key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("oauth token cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// sealToken encrypts a token; the account is authenticated with it, so a
// row copied to another account does not open.
func (s *Store) sealToken(account string, token []byte) ([]byte, error) {
	aead, err := s.tokenKey()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, token, []byte(account)), nil
}

func (s *Store) openToken(account string, sealed []byte) ([]byte, error) {
	aead, err := s.tokenKey()
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("open oauth token of %s: too short", account)
	}
	token, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(account))
	if err != nil {
		return nil, fmt.Errorf("open oauth token of %s (was the desk's secret changed?): %w", account, err)
	}
	return token, nil
}
