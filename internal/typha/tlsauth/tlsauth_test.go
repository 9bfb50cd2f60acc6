package tlsauth

import (
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calicong/calico/internal/pki"
)

func issue(t *testing.T, ca *pki.Authority, req pki.Request) *x509.Certificate {
	t.Helper()
	crt, _, err := ca.Issue(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(crt)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIdentityCheck(t *testing.T) {
	ca, _, err := pki.NewAuthority("ca")
	if err != nil {
		t.Fatal(err)
	}
	spiffe, _ := url.Parse("spiffe://cluster.local/ns/kube-system/sa/calico-node")
	byURI := issue(t, ca, pki.Request{CommonName: "whatever", URIs: []*url.URL{spiffe}, Client: true})
	byCN := issue(t, ca, pki.Request{CommonName: "typha-client", Client: true})
	for _, tc := range []struct {
		id   Identity
		cert *x509.Certificate
		ok   bool
	}{
		{Identity{CN: "typha-client"}, byCN, true},
		{Identity{CN: "typha-client"}, byURI, false},
		{Identity{URISAN: spiffe.String()}, byURI, true},
		{Identity{URISAN: spiffe.String()}, byCN, false},
		// Either is enough when both are configured.
		{Identity{CN: "typha-client", URISAN: spiffe.String()}, byURI, true},
		{Identity{CN: "typha-client", URISAN: spiffe.String()}, byCN, true},
		{Identity{}, byCN, true},
	} {
		err := tc.id.Check(tc.cert)
		if (err == nil) != tc.ok {
			t.Errorf("%s against CN %q: %v", tc.id, tc.cert.Subject.CommonName, err)
		}
		if err != nil && !strings.Contains(err.Error(), tc.cert.Subject.CommonName) {
			t.Errorf("error does not say what the certificate had: %v", err)
		}
	}
}

func TestConfigErrorsAndReload(t *testing.T) {
	dir := t.TempDir()
	if _, err := Client(Files{CAFile: "a", CertFile: "b", KeyFile: "c"}, Identity{}); err == nil || !strings.Contains(err.Error(), "common name or URI SAN") {
		t.Errorf("client without a server identity: %v", err)
	}
	if _, err := Server(Files{CAFile: "a"}, Identity{}); err == nil || !strings.Contains(err.Error(), "needs a CA file, a certificate file and a key file") {
		t.Errorf("missing files: %v", err)
	}
	ca, _, _ := pki.NewAuthority("ca")
	write := func(cn string) Files {
		crt, key, _ := ca.Issue(pki.Request{CommonName: cn, Server: true})
		f := Files{CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
		for p, b := range map[string][]byte{f.CAFile: ca.CertPEM, f.CertFile: crt, f.KeyFile: key} {
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return f
	}
	f := write("first")
	kp, err := newKeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cn := func() string {
		c, err := kp.get()
		if err != nil {
			t.Fatal(err)
		}
		x, _ := x509.ParseCertificate(c.Certificate[0])
		return x.Subject.CommonName
	}
	if cn() != "first" {
		t.Fatal("first certificate not loaded")
	}
	// A rotated pair is picked up; a broken one keeps the last good one.
	write("second")
	later := time.Now().Add(time.Minute)
	_ = os.Chtimes(f.CertFile, later, later)
	if got := cn(); got != "second" {
		t.Errorf("after rotation: %s", got)
	}
	_ = os.WriteFile(f.CertFile, []byte("garbage"), 0o600)
	_ = os.Chtimes(f.CertFile, later.Add(time.Minute), later.Add(time.Minute))
	if got := cn(); got != "second" {
		t.Errorf("after a broken write: %s", got)
	}
}
