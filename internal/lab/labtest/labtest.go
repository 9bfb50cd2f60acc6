// Package labtest starts a real lab control plane for tests: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler from the built
// binaries, on free loopback ports, in a temporary state directory. Tests
// that need an API server share one per package (see Main).
package labtest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/lab/netnstest"
)

// Lab is a running control plane.
type Lab struct {
	Config lab.Config
	REST   *rest.Config
	Client *datastore.Client
}

// BinDir finds the directory holding the built binaries: $CALICO_BIN, else
// bin/ at the repository root.
func BinDir() (string, error) {
	if d := os.Getenv("CALICO_BIN"); d != "" {
		return d, nil
	}
	_, file, _, _ := runtime.Caller(0)
	d := filepath.Join(filepath.Dir(file), "..", "..", "..", "bin")
	if _, err := os.Stat(filepath.Join(d, "calico-lab")); err != nil {
		return "", fmt.Errorf("built binaries not found in %s (run `make build`, or set CALICO_BIN): %w", d, err)
	}
	return filepath.Abs(d)
}

// Tool is a program `make build` puts next to the product's binaries
// (prometheus and promtool, built with what the project needs); a test
// without it ends as netnstest.Missing says.
func Tool(t testing.TB, name string) string {
	t.Helper()
	d, err := BinDir()
	if err == nil {
		_, err = os.Stat(filepath.Join(d, name))
	}
	if err != nil {
		netnstest.Missing(t, "needs %s from `make build`: %v", name, err)
	}
	return filepath.Join(d, name)
}

// Bin is the preamble of a test that runs the built binaries against the
// lab: skipped under -short, failed when the binaries are missing; it
// returns their directory.
func Bin(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the lab")
	}
	d, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1.
func FreePorts(n int) ([]int, error) { return lab.FreePorts(n) }

// Config returns a lab configuration on free ports with its state in dir.
func Config(dir string) (lab.Config, error) {
	bin, err := BinDir()
	if err != nil {
		return lab.Config{}, err
	}
	ports, err := FreePorts(13)
	if err != nil {
		return lab.Config{}, err
	}
	cfg := lab.Defaults()
	cfg.StateDir = dir
	cfg.Executable = filepath.Join(bin, "calico-lab")
	cfg.KubeBinary = filepath.Join(bin, "kube-lab")
	cfg.EtcdClientPort, cfg.EtcdPeerPort, cfg.APIServerPort, cfg.ControllerManagerPort, cfg.SchedulerPort =
		ports[0], ports[1], ports[2], ports[3], ports[4]
	cfg.APIServerWebhookPort, cfg.APIServerHealthPort = ports[5], ports[6]
	cfg.LinseedPort, cfg.LinseedHealthPort, cfg.LinseedMetricsPort = ports[7], ports[8], ports[9]
	cfg.ClickHousePort, cfg.ClickHouseHTTPPort = ports[10], ports[11]
	cfg.ManagerPort = ports[12]
	return cfg, nil
}

// prefixed writes each line with a prefix.
type prefixed struct {
	w      io.Writer
	prefix string
}

func (p prefixed) Write(b []byte) (int, error) {
	lines := strings.SplitAfter(string(b), "\n")
	var out strings.Builder
	for _, l := range lines {
		if l != "" {
			out.WriteString(p.prefix + l)
		}
	}
	if _, err := io.WriteString(p.w, out.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Option adjusts a test lab's configuration.
type Option func(*lab.Config)

// WithAPIServerArgs adds kube-apiserver flags.
func WithAPIServerArgs(args ...string) Option {
	return func(c *lab.Config) { c.ExtraAPIServerArgs = append(c.ExtraAPIServerArgs, args...) }
}

// Start brings up a lab in a fresh temporary directory. The caller must
// call Stop.
func Start(out io.Writer, opts ...Option) (*Lab, error) {
	dir, err := os.MkdirTemp("", "calico-labtest-")
	if err != nil {
		return nil, err
	}
	cfg, err := Config(filepath.Join(dir, "lab"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for _, o := range opts {
		o(&cfg)
	}
	l := &Lab{Config: cfg}
	if err := lab.Up(context.Background(), cfg, out); err != nil {
		l.Stop()
		return nil, err
	}
	if l.REST, err = datastore.LoadConfig(cfg.KubeconfigPath()); err != nil {
		l.Stop()
		return nil, err
	}
	if l.Client, err = datastore.New(l.REST); err != nil {
		l.Stop()
		return nil, err
	}
	return l, nil
}

// WithoutWebhooks takes calico-apiserver's webhooks out of the API
// server's path until the test ends: for tests that must store what no
// user could (objects written before the webhooks were installed).
func (l *Lab) WithoutWebhooks(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lab.UnregisterWebhooks(ctx, l.Client); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := lab.RegisterWebhooks(ctx, l.Config, l.Client); err != nil {
			t.Errorf("restoring the webhooks: %v", err)
		}
	})
}

// Stop tears the lab down and removes its directory.
func (l *Lab) Stop() {
	_ = lab.Down(context.Background(), l.Config, io.Discard)
	os.RemoveAll(filepath.Dir(l.Config.StateDir))
}

// Main runs a package's tests against one shared lab, which it stores in
// *shared. Tests skipped with -short do not start it.
func Main(m *testing.M, shared **Lab, opts ...Option) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	// The bring-up's progress shows only when the package fails.
	l, err := Start(prefixed{os.Stderr, "labtest: "}, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "labtest: start lab:", err)
		return 1
	}
	defer l.Stop()
	*shared = l
	return m.Run()
}

// CreatePod creates a pod, waiting out the ServiceAccount admission of a
// new namespace (see multihost.CreatePod).
func CreatePod(ctx context.Context, kube kubernetes.Interface, pod *corev1.Pod) (*corev1.Pod, error) {
	return multihost.CreatePod(ctx, kube, pod)
}

// Apply applies YAML documents with the lab's kubectl, as an administrator.
func (l *Lab) Apply(t testing.TB, yaml []byte) {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", l.Config.KubeconfigPath(), "apply", "-f", "-")
	c.Stdin = bytes.NewReader(yaml)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

// KubeconfigAs is the lab's kubeconfig impersonating user (for a
// ServiceAccount, system:serviceaccount:NS:NAME): what runs with it has
// exactly that user's permissions.
func (l *Lab) KubeconfigAs(t testing.TB, user string) string {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(l.Config.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range kc.AuthInfos {
		ai.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
