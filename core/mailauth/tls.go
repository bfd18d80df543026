package mailauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSConfig verifies serverName's certificate against the system's CAs, or
// only against caFile's when one is given (a private CA). insecure turns
// verification off, for tests against throwaway servers only.
func TLSConfig(serverName, caFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// ExplainTLS adds what to do to a certificate error, which otherwise reads
// as a bare x509 message in a log.
func ExplainTLS(err error) error {
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &hostErr):
		return fmt.Errorf("%w (the server's certificate is not for the host name in the config: use the name on the certificate as host)", err)
	case errors.As(err, &authErr):
		return fmt.Errorf("%w (the certificate is not signed by a CA this machine trusts: set ca_file to your private CA)", err)
	case errors.As(err, &invalid):
		return fmt.Errorf("%w (the server's certificate is expired or not valid yet)", err)
	}
	return err
}
