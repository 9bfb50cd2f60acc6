package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/poll"
)

// writeCert writes a self-signed serving certificate valid from notBefore
// to notAfter.
func writeCert(t *testing.T, dir string, notBefore, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "calico-apiserver"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	// Key first: the server reloads when either file changes.
	for _, f := range []struct {
		path string
		blk  *pem.Block
	}{{keyFile, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}}, {certFile, &pem.Block{Type: "CERTIFICATE", Bytes: der}}} {
		tmp := f.path + ".new"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(f.blk), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// TestReadinessFollowsListenerAndCertificate: calico-apiserver is ready
// only while its HTTPS listener serves a certificate within its validity
// period: not with an expired certificate, ready (and answering TLS at
// once) when a valid one is rotated in, unready again when it expires; a
// port it cannot listen on ends it with an error instead.
func TestReadinessFollowsListenerAndCertificate(t *testing.T) {
	bin := labtest.Bin(t)
	ports, err := labtest.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	now := time.Now()
	certFile, keyFile := writeCert(t, dir, now.Add(-2*time.Hour), now.Add(-time.Hour))
	secure := fmt.Sprintf("127.0.0.1:%d", ports[0])
	p := labtest.StartProcess(t, "calico-apiserver", exec.Command(filepath.Join(bin, "calico-apiserver"),
		"--kubeconfig", testLab.Config.KubeconfigPath(), "--secure-port", secure,
		"--health-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--tls-cert-file", certFile, "--tls-private-key-file", keyFile))
	defer func() { _ = p.Stop() }()
	readiness := func() (int, string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readiness", ports[1]))
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var body string
	poll.Until(t, 20*time.Second, "readiness to say the certificate expired", func() bool {
		code, b := readiness()
		body = b
		return code == http.StatusServiceUnavailable && strings.Contains(b, "the serving certificate expired at")
	}, &body)

	// A valid certificate rotated in: ready, and serving it the moment
	// readiness says so.
	writeCert(t, dir, now.Add(-time.Minute), now.Add(time.Hour))
	poll.Until(t, 20*time.Second, "readiness with a valid certificate", func() bool {
		code, b := readiness()
		body = b
		return code == http.StatusOK
	}, &body)
	conn, err := tls.Dial("tcp", secure, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("ready, but the HTTPS listener does not answer: %v", err)
	}
	if exp := conn.ConnectionState().PeerCertificates[0].NotAfter; exp.Before(now) {
		t.Errorf("serving the expired certificate (until %s)", exp)
	}
	conn.Close()

	// A port that is taken: an error, never ready.
	p2 := labtest.StartProcess(t, "calico-apiserver", exec.Command(filepath.Join(bin, "calico-apiserver"),
		"--kubeconfig", testLab.Config.KubeconfigPath(), "--secure-port", secure,
		"--health-addr", "127.0.0.1:0", "--tls-cert-file", certFile, "--tls-private-key-file", keyFile))
	select {
	case <-p2.Done():
		if p2.Err() == nil || !strings.Contains(p2.Logs.String(), "--secure-port") {
			t.Errorf("a second server on the same port: %v\n%s", p2.Err(), p2.Logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("a second server on the same port kept running:\n%s", p2.Logs.String())
	}
}
