package mailout

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIM signs outgoing mail so receivers can check it came from us.
type DKIM struct {
	Domain, Selector string
	Signer           crypto.Signer
}

// LoadDKIM reads a PEM private key (RSA in PKCS#1 or PKCS#8, or Ed25519).
func LoadDKIM(domain, selector, keyFile string) (*DKIM, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("dkim key: no PEM block")
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return nil, fmt.Errorf("dkim key %s: not a PKCS#1 or PKCS#8 private key", keyFile)
		}
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("dkim key %s: unsupported key type", keyFile)
	}
	return &DKIM{Domain: domain, Selector: selector, Signer: signer}, nil
}

// Sign returns msg with a DKIM-Signature header on top.
func (d *DKIM) Sign(msg []byte) ([]byte, error) {
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{
		Domain: d.Domain, Selector: d.Selector, Signer: d.Signer,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-Id", "In-Reply-To", "References", "Reply-To",
			"Content-Type", "Mime-Version", "Auto-Submitted"},
	})
	if err != nil {
		return nil, fmt.Errorf("dkim sign: %w", err)
	}
	return out.Bytes(), nil
}
