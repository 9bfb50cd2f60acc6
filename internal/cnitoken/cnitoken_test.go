package cnitoken

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/calicong/calico/internal/cniinstall"
)

// issuer is a fake API server's TokenRequest: token-1, token-2, ... of
// the given lifetime, or an error while fail is set.
func issuer(lifetime time.Duration, fail *atomic.Bool, asked *atomic.Int64) *fake.Clientset {
	kube := fake.NewClientset()
	var n atomic.Int64
	kube.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		if tr, ok := a.(k8stesting.CreateAction).GetObject().(*authnv1.TokenRequest); ok && tr.Spec.ExpirationSeconds != nil {
			asked.Store(*tr.Spec.ExpirationSeconds)
		}
		if fail.Load() {
			return true, nil, errors.New("the API server is away")
		}
		return true, &authnv1.TokenRequest{Status: authnv1.TokenRequestStatus{
			Token: fmt.Sprintf("token-%d", n.Add(1)), ExpirationTimestamp: metav1.NewTime(time.Now().Add(lifetime))}}, nil
	})
	return kube
}

func token(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "token: "); ok {
			return strings.Trim(v, `"`)
		}
	}
	t.Fatalf("no token in %s", data)
	return ""
}

func TestRefreshKeepsServerAndCA(t *testing.T) {
	var fail atomic.Bool
	var asked atomic.Int64
	path := filepath.Join(t.TempDir(), cniinstall.KubeconfigName)
	c := Config{Kube: issuer(time.Hour, &fail, &asked), Namespace: "kube-system", ServiceAccount: DefaultServiceAccount, Kubeconfig: path}
	if _, err := Refresh(context.Background(), c); !errors.Is(err, ErrNoKubeconfig) {
		t.Fatalf("refresh before calico-cni-install ran: %v, want ErrNoKubeconfig", err)
	}
	want := cniinstall.Kubeconfig("https://10.96.0.1:443", []byte("the CA"), "pod-token")
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Refresh(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got := string(mustRead(t, path)); got != string(cniinstall.Kubeconfig("https://10.96.0.1:443", []byte("the CA"), "token-1")) {
		t.Errorf("after a refresh the kubeconfig is\n%s", got)
	}
	if asked.Load() != int64(DefaultValidity/time.Second) {
		t.Errorf("asked for %d s, want %d", asked.Load(), int64(DefaultValidity/time.Second))
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	fail.Store(true)
	if _, err := Refresh(context.Background(), c); err == nil || !strings.Contains(err.Error(), "kube-system/calico-cni-plugin") {
		t.Errorf("a failed request: %v", err)
	}
	if token(t, path) != "token-1" {
		t.Error("a failed request changed the kubeconfig")
	}
	if err := os.WriteFile(path, []byte("clusters: ["), 0o600); err != nil {
		t.Fatal(err)
	}
	fail.Store(false)
	if _, err := Refresh(context.Background(), c); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a broken kubeconfig: %v", err)
	}
}

// TestRunRefreshesOnSchedule: with tokens living 4 s, Run replaces them
// every second (a quarter of the lifetime), each a new one, and stops
// with its context.
func TestRunRefreshesOnSchedule(t *testing.T) {
	path := kubeconfigFile(t)
	var fail atomic.Bool
	var asked atomic.Int64
	stop := runFor(t, Config{Kube: issuer(4*time.Second, &fail, &asked), Namespace: "kube-system", ServiceAccount: "cni", Kubeconfig: path})
	start := time.Now()
	for deadline := start.Add(10 * time.Second); token(t, path) != "token-3"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("token %s after 10 s", token(t, path))
		}
	}
	// token-1 at once, then two refreshes a second apart.
	if el := time.Since(start); el < 1800*time.Millisecond {
		t.Errorf("three tokens took %v, want about 2 s", el)
	}
	stop()
}

// TestRunNeverLoops: a token that is already expired when it arrives (a
// clock far behind the API server's) is not replaced in a tight loop.
func TestRunNeverLoops(t *testing.T) {
	path := kubeconfigFile(t)
	var fail atomic.Bool
	var asked atomic.Int64
	stop := runFor(t, Config{Kube: issuer(-time.Hour, &fail, &asked), Namespace: "kube-system", ServiceAccount: "cni", Kubeconfig: path})
	for deadline := time.Now().Add(5 * time.Second); token(t, path) != "token-1"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no token")
		}
	}
	time.Sleep(1500 * time.Millisecond) // a window in which to count requests, not a synchronisation
	if n := token(t, path); n != "token-2" && n != "token-3" {
		t.Errorf("after 1.5 s with expired tokens: %s, want at most one request a second", n)
	}
	stop()
}

func kubeconfigFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), cniinstall.KubeconfigName)
	if err := os.WriteFile(path, cniinstall.Kubeconfig("https://10.96.0.1:443", []byte("CA"), "pod-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	// What a writer killed between its temporary file and the rename left.
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), ".calico-cni-install-calico-kubeconfig-123"), []byte("live token"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runFor runs Run (with no logger) until the returned stop is called,
// and checks it then returns and removed the stale temporary file.
func runFor(t *testing.T, c Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, c)
	}()
	return func() {
		t.Helper()
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("Run did not stop with its context")
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(c.Kubeconfig), ".calico-cni-install-*")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	}
}

func TestNextRefresh(t *testing.T) {
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := NextRefresh(issued, issued.Add(24*time.Hour)); !got.Equal(issued.Add(6 * time.Hour)) {
		t.Errorf("a day's token is replaced at %v, want after 6 h", got)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
