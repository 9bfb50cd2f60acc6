package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/lab/labtest"
	"github.com/calicong/calico/internal/linseed/store/clickhouse/chtest"
	"github.com/calicong/calico/internal/linseed/store/storetest"
	"github.com/calicong/calico/internal/pki"
	"github.com/calicong/calico/internal/poll"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

// certs are a CA, Linseed's serving certificate and a component's client
// certificate, in a directory.
type certs struct {
	dir                                string
	ca, serverCert, serverKey          string
	clientCert, clientKey, otherClient string
	otherKey                           string
}

func makeCerts(t *testing.T) certs {
	t.Helper()
	dir := t.TempDir()
	ca, _, err := pki.NewAuthority("linseed-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := pki.NewAuthority("another-ca")
	if err != nil {
		t.Fatal(err)
	}
	c := certs{dir: dir}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c.ca = write("ca.crt", ca.CertPEM)
	sc, sk, err := ca.Issue(pki.Request{CommonName: "calico-linseed", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	c.serverCert, c.serverKey = write("tls.crt", sc), write("tls.key", sk)
	cc, ck, err := ca.Issue(pki.Request{CommonName: "calico-log-shipper", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	c.clientCert, c.clientKey = write("client.crt", cc), write("client.key", ck)
	oc, ok, err := other.Issue(pki.Request{CommonName: "intruder", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	c.otherClient, c.otherKey = write("other.crt", oc), write("other.key", ok)
	return c
}

func (c certs) client(t *testing.T, cert, key string) *http.Client {
	t.Helper()
	caPEM, err := os.ReadFile(c.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// linseed is a running calico-linseed.
type linseed struct {
	url  string
	env  []string
	proc *labtest.Process
}

func startLinseed(t *testing.T, c certs, env []string) *linseed {
	t.Helper()
	ports, err := labtest.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	l := &linseed{url: fmt.Sprintf("https://127.0.0.1:%d", ports[0])}
	l.env = append([]string{
		fmt.Sprintf("LINSEED_LISTEN=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("LINSEED_HEALTH_LISTEN=127.0.0.1:%d", ports[1]),
		fmt.Sprintf("LINSEED_METRICS_LISTEN=127.0.0.1:%d", ports[2]),
		"LINSEED_TLS_CERT=" + c.serverCert, "LINSEED_TLS_KEY=" + c.serverKey, "LINSEED_CLIENT_CA=" + c.ca,
		"KUBECONFIG=" + testLab.Config.KubeconfigPath(),
	}, env...)
	l.start(t)
	return l
}

func (l *linseed) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(filepath.Join(labtest.Bin(t), "calico-linseed"))
	cmd.Env = append(os.Environ(), l.env...)
	l.proc = labtest.StartProcess(t, "calico-linseed", cmd)
	poll.Until(t, 30*time.Second, "calico-linseed to serve", func() bool {
		select {
		case <-l.proc.Done():
			t.Fatalf("calico-linseed exited: %v\n%s", l.proc.Err(), l.proc.Logs.String())
		default:
		}
		return strings.Contains(l.proc.Logs.String(), "calico-linseed serving")
	})
}

// serviceAccount creates a ServiceAccount bound to a ClusterRole with
// rules, and returns a token of it.
func serviceAccount(t *testing.T, name string, rules []rbacv1.PolicyRule) string {
	t.Helper()
	ctx := context.Background()
	kube := testLab.Client.Kube
	const ns = "default"
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if rules != nil {
		if _, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

func call(t *testing.T, hc *http.Client, method, url, token, contentType, body string) (int, map[string]any, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out, nil
}

// backends runs a test against SQLite and against ClickHouse.
func backends(t *testing.T, f func(t *testing.T, env []string)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, []string{"LINSEED_BACKEND=sqlite", "LINSEED_SQLITE_PATH=" + filepath.Join(t.TempDir(), "logs.db")})
	})
	t.Run("clickhouse", func(t *testing.T) {
		srv := chtest.Run(t)
		f(t, []string{"LINSEED_BACKEND=clickhouse", "LINSEED_CLICKHOUSE_ADDR=" + srv.Addr})
	})
}

var accounts atomic.Int64

// TestAuthAndDurability: with a real API server (TokenReview and
// SubjectAccessReview against real RBAC) and mutual TLS, on each backend:
// a connection without a client certificate, or with one from another
// CA, fails the TLS handshake; no token or a forged one is 401; a
// ServiceAccount without the permission is 403, with it 200; and killing
// Linseed with SIGKILL during a stream of bulk writes loses no record it
// acknowledged.
func TestAuthAndDurability(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		c := makeCerts(t)
		l := startLinseed(t, c, env)
		n := accounts.Add(1)
		writer := serviceAccount(t, fmt.Sprintf("shipper-%d", n), []rbacv1.PolicyRule{{APIGroups: []string{"linseed.tigera.io"},
			Resources: []string{"flowlogs"}, Verbs: []string{"create", "get"}}})
		stranger := serviceAccount(t, fmt.Sprintf("stranger-%d", n), nil)

		hc := c.client(t, c.clientCert, c.clientKey)
		logs := l.url + "/api/v1/flows/logs"
		for _, cl := range []struct {
			what string
			hc   *http.Client
		}{{"no client certificate", c.client(t, "", "")}, {"a certificate from another CA", c.client(t, c.otherClient, c.otherKey)}} {
			if _, _, err := call(t, cl.hc, "POST", logs, writer, "application/json", "{}"); err == nil || !strings.Contains(err.Error(), "tls") {
				t.Errorf("%s: %v, want a TLS failure", cl.what, err)
			}
		}
		for _, tc := range []struct {
			token  string
			status int
			msg    string
		}{{"", 401, "no bearer token"}, {"forged.token.value", 401, "not valid"},
			{stranger, 403, fmt.Sprintf(`"system:serviceaccount:default:stranger-%d" may not get flowlogs`, n)}, {writer, 200, ""}} {
			status, body, err := call(t, hc, "POST", logs, tc.token, "application/json", "{}")
			msg, _ := body["error"].(string)
			if err != nil || status != tc.status || !strings.Contains(msg, tc.msg) {
				t.Errorf("token %.10q: %d %q (%v), want %d %q", tc.token, status, msg, err, tc.status, tc.msg)
			}
		}

		// A stream of batches; each batch's records carry its number in
		// "host", so each acknowledged batch can be counted afterwards.
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		var mu sync.Mutex
		var acked []int
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for b := 0; ; b++ {
				select {
				case <-stop:
					return
				default:
				}
				var buf bytes.Buffer
				for range 200 {
					line := storetest.FlowLine(rng)
					line = line[:strings.LastIndex(line, `"host":`)] + fmt.Sprintf(`"host":"batch-%d"}`, b)
					buf.WriteString(line + "\n")
				}
				status, body, err := call(t, hc, "POST", logs+"/bulk", writer, "application/x-ndjson", buf.String())
				if err == nil && status == 200 && body["succeeded"] == 200.0 {
					mu.Lock()
					acked = append(acked, b)
					mu.Unlock()
				}
				if err != nil {
					return // Linseed is gone
				}
			}
		}()
		poll.Until(t, 30*time.Second, "some batches to be acknowledged", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= 5
		})
		l.proc.Kill()
		close(stop)
		<-done
		l.start(t)
		for _, b := range acked {
			status, body, err := call(t, hc, "POST", logs+"/count", writer, "application/json", fmt.Sprintf(`{"selector":"host = batch-%d"}`, b))
			if err != nil || status != 200 || body["count"] != 200.0 {
				t.Fatalf("acknowledged batch %d after SIGKILL: %d %v %v, want 200 records", b, status, body, err)
			}
		}
		t.Logf("%d acknowledged batches of 200 survived SIGKILL", len(acked))
	})
}
