package cnitoken

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// TestRunRefreshesOnSchedule: with tokens living 800 ms, Run replaces
// them every 200 ms (a quarter of the lifetime), each a new one.
func TestRunRefreshesOnSchedule(t *testing.T) {
	var fail atomic.Bool
	var asked atomic.Int64
	path := filepath.Join(t.TempDir(), cniinstall.KubeconfigName)
	if err := os.WriteFile(path, cniinstall.Kubeconfig("https://10.96.0.1:443", []byte("CA"), "pod-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Config{Kube: issuer(800*time.Millisecond, &fail, &asked), Namespace: "kube-system", ServiceAccount: "cni",
			Kubeconfig: path, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	start := time.Now()
	for deadline := start.Add(5 * time.Second); token(t, path) != "token-5"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("token %s after 5 s", token(t, path))
		}
	}
	// token-1 at once, then four refreshes 200 ms apart.
	if el := time.Since(start); el < 700*time.Millisecond || el > 2*time.Second {
		t.Errorf("five tokens took %v, want about 800 ms", el)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not stop with its context")
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
