package labtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/netnstest"
)

// Helpers for tests of a whole lab (lab.Up, with nodes), as users see it.

// NewConfig is a lab configuration in the test's temporary directory;
// the lab is taken down when the test ends.
func NewConfig(t *testing.T) lab.Config {
	t.Helper()
	cfg, err := Config(filepath.Join(t.TempDir(), "lab"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lab.Down(context.Background(), cfg, &bytes.Buffer{}) })
	return cfg
}

// Runner runs one of the lab's binaries (kubectl, calicoctl, ...) as the
// lab's administrator with stdin as its input, failing the test if it
// fails.
func Runner(t *testing.T, cfg lab.Config) func(stdin, name string, args ...string) string {
	bin, _ := BinDir()
	return func(stdin, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+cfg.KubeconfigPath())
		cmd.Stdin = strings.NewReader(stdin)
		o, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, o)
		}
		return string(o)
	}
}

// Status is the lab's status.json.
type Status struct {
	SupervisorPID int `json:"supervisorPID"`
	Components    []struct {
		Name     string `json:"name"`
		PID      int    `json:"pid"`
		State    string `json:"state"`
		Restarts int    `json:"restarts"`
	} `json:"components"`
}

// ReadStatus reads the lab's status.
func ReadStatus(t *testing.T, cfg lab.Config) Status {
	t.Helper()
	var st Status
	data, err := os.ReadFile(filepath.Join(cfg.StateDir, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// ComponentPID is the PID of one of the lab's components.
func ComponentPID(t *testing.T, cfg lab.Config, name string) int {
	t.Helper()
	for _, c := range ReadStatus(t, cfg).Components {
		if c.Name == name {
			return c.PID
		}
	}
	t.Fatalf("no %s in the lab's status", name)
	return 0
}

// ParseEnv reads what `calico-lab env` exports; the test fails if any of
// the wanted variables is missing.
func ParseEnv(t *testing.T, envOutput string, want ...string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for l := range strings.SplitSeq(envOutput, "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(l, "export "), "="); ok {
			env[k], _, _ = strings.Cut(v, " ")
		}
	}
	for _, k := range want {
		if env[k] == "" {
			t.Fatalf("calico-lab env sets no %s:\n%s", k, envOutput)
		}
	}
	return env
}

// Env is `calico-lab env` of the lab, with the wanted variables.
func Env(t *testing.T, cfg lab.Config, want ...string) map[string]string {
	t.Helper()
	var out strings.Builder
	if err := lab.Env(cfg, &out); err != nil {
		t.Fatal(err)
	}
	return ParseEnv(t, out.String(), want...)
}

// Console calls the console's APIs (MANAGER_URL) as a user.
type Console struct {
	t      *testing.T
	URL    string
	Client *http.Client
}

// NewConsole is a client of the console named by the lab's environment
// (MANAGER_URL, CALICO_LAB_CA).
func NewConsole(t *testing.T, env map[string]string) *Console {
	pem, err := os.ReadFile(env["CALICO_LAB_CA"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &Console{t: t, URL: env["MANAGER_URL"], Client: &http.Client{Timeout: 20 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
}

// Post sends a JSON body; out is filled from a 200 answer.
func (c *Console) Post(token, path, body string, out any) int {
	c.t.Helper()
	return c.Do(http.MethodPost, token, path, body, out)
}

// Get reads; out is filled from a 200 answer.
func (c *Console) Get(token, path string, out any) int {
	c.t.Helper()
	return c.Do(http.MethodGet, token, path, "", out)
}

// Do makes a request and returns the answer's status.
func (c *Console) Do(method, token, path, body string, out any) int {
	c.t.Helper()
	code, data := c.Raw(method, token, path, body)
	if out != nil && code == 200 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s: %v\n%s", path, err, data)
		}
	}
	return code
}

// Raw makes a request and returns the answer's status and body.
func (c *Console) Raw(method, token, path, body string) (int, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// ServiceAccountToken makes a ServiceAccount (in default) bound to a
// ClusterRole and returns a token of it.
func ServiceAccountToken(t *testing.T, cfg lab.Config, name, role string) string {
	t.Helper()
	c, err := datastore.Connect(cfg.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Kube.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: "default"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := c.Kube.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// DemoLab starts a lab of nodes with the demo deployed, as `make run`
// does, for a test that needs the whole of it (skipped with -short; a
// missing prerequisite fails it under CALICO_BIN). It is taken down when
// the test ends.
func DemoLab(t *testing.T, nodes int) lab.Config {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the lab")
	}
	netnstest.Require(t)
	netnstest.RequireBinaries(t, "bird", "iptables")
	cfg := NewConfig(t)
	cfg.Nodes = nodes
	var out strings.Builder
	if err := lab.Up(context.Background(), cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if err := lab.Demo(context.Background(), cfg, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	return cfg
}
