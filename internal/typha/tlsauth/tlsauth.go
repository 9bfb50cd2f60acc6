// Package tlsauth builds the mutual-TLS configurations of Typha and its
// clients the way Calico does (and of the other in-cluster services that
// are reached by pod or node IP, such as calico-node's capture files): each side presents a certificate signed by
// the shared CA, and each checks the other's identity by its common name
// or a URI SAN (either may be required; if both are configured, a match of
// either is enough). Addresses are not checked: Typha is reached by pod or
// node IP. Certificate and key files are re-read when they change on disk,
// so rotated certificates take effect without a restart.
package tlsauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"
)

// Identity is what a peer's certificate must show. Empty fields are not
// checked; with both empty any certificate the CA signed is accepted.
type Identity struct {
	CN     string
	URISAN string
}

func (id Identity) String() string {
	switch {
	case id.CN != "" && id.URISAN != "":
		return fmt.Sprintf("common name %q or URI SAN %q", id.CN, id.URISAN)
	case id.CN != "":
		return fmt.Sprintf("common name %q", id.CN)
	case id.URISAN != "":
		return fmt.Sprintf("URI SAN %q", id.URISAN)
	}
	return "any identity"
}

// Check reports whether cert shows the identity.
func (id Identity) Check(cert *x509.Certificate) error {
	if id.CN == "" && id.URISAN == "" {
		return nil
	}
	if id.CN != "" && cert.Subject.CommonName == id.CN {
		return nil
	}
	if id.URISAN != "" && slices.ContainsFunc(cert.URIs, func(u *url.URL) bool { return u.String() == id.URISAN }) {
		return nil
	}
	var uris []string
	for _, u := range cert.URIs {
		uris = append(uris, u.String())
	}
	return fmt.Errorf("peer certificate (common name %q, URI SANs %v) does not have %s", cert.Subject.CommonName, uris, id)
}

// Files are one side's PEM files.
type Files struct {
	CAFile   string
	CertFile string
	KeyFile  string
}

// load reads the CA and the key pair.
func (f Files) load() (*x509.CertPool, *keyPair, error) {
	if f.CAFile == "" || f.CertFile == "" || f.KeyFile == "" {
		return nil, nil, errors.New("TLS needs a CA file, a certificate file and a key file")
	}
	pool, err := LoadCA(f.CAFile)
	if err != nil {
		return nil, nil, err
	}
	kp, err := newKeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, nil, err
	}
	return pool, kp, nil
}

// LoadCA reads a PEM file of CA certificates into a pool.
func LoadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// Server is the server's configuration: its certificate, and client
// certificates required, signed by the CA and showing the identity.
func Server(f Files, client Identity) (*tls.Config, error) {
	pool, kp, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  pool,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return kp.get()
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no client certificate")
			}
			return client.Check(cs.PeerCertificates[0])
		},
	}, nil
}

// Client is the client's configuration: its certificate, and the
// server's chain verified against the CA and its identity checked.
func Client(f Files, server Identity) (*tls.Config, error) {
	if server.CN == "" && server.URISAN == "" {
		return nil, errors.New("TLS to a server needs the common name or URI SAN its certificate must show")
	}
	pool, kp, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is verified below, without the host name check.
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return kp.get()
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server presented no certificate")
			}
			opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
				return fmt.Errorf("the server's certificate: %w", err)
			}
			return server.Check(cs.PeerCertificates[0])
		},
	}, nil
}

// ServingCertificate loads a server's certificate and key for
// tls.Config.GetCertificate, re-reading them when either file changes.
func ServingCertificate(certFile, keyFile string) (func(*tls.ClientHelloInfo) (*tls.Certificate, error), error) {
	kp, err := newKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get() }, nil
}

// ClientCertificate loads a client's certificate and key for
// tls.Config.GetClientCertificate, re-reading them when either file
// changes.
func ClientCertificate(certFile, keyFile string) (func(*tls.CertificateRequestInfo) (*tls.Certificate, error), error) {
	kp, err := newKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }, nil
}

// keyPair is a certificate and key re-read when either file changes.
type keyPair struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime [2]time.Time
}

func newKeyPair(certFile, keyFile string) (*keyPair, error) {
	kp := &keyPair{certFile: certFile, keyFile: keyFile}
	if _, err := kp.get(); err != nil {
		return nil, err
	}
	return kp, nil
}

func (kp *keyPair) get() (*tls.Certificate, error) {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	var mt [2]time.Time
	for i, p := range []string{kp.certFile, kp.keyFile} {
		st, err := os.Stat(p)
		if err != nil {
			if kp.cert != nil {
				return kp.cert, nil // keep the last good pair
			}
			return nil, err
		}
		mt[i] = st.ModTime()
	}
	if kp.cert != nil && mt == kp.modTime {
		return kp.cert, nil
	}
	c, err := tls.LoadX509KeyPair(kp.certFile, kp.keyFile)
	if err != nil {
		if kp.cert != nil {
			return kp.cert, nil
		}
		return nil, fmt.Errorf("loading certificate %s and key %s: %w", kp.certFile, kp.keyFile, err)
	}
	kp.cert, kp.modTime = &c, mt
	return kp.cert, nil
}
