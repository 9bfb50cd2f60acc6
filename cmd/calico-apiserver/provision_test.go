package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calicong/calico/internal/admission/register"
	"github.com/calicong/calico/internal/lab/labtest"
)

// TestSelfProvisioning runs calico-apiserver as the manifests do on a
// cluster without a certificate manager: it creates its certificate
// Secret, registers the webhook configurations against its Service with
// that CA, and serves the certificate for the Service's DNS names; a
// restart reuses the Secret. Bad flag combinations are refused before
// anything is touched.
func TestSelfProvisioning(t *testing.T) {
	bin := labtest.Bin(t)
	ctx := context.Background()
	kube := testLab.Client.Kube
	const secret, hooks = "calico-apiserver-provision-test", "calico-apiserver-provision-test"
	t.Cleanup(func() {
		_ = kube.CoreV1().Secrets("kube-system").Delete(context.Background(), secret, metav1.DeleteOptions{})
		_ = register.Unregister(context.Background(), kube, hooks)
	})
	ports, err := labtest.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--kubeconfig", testLab.Config.KubeconfigPath(), "--secure-port", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--health-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--cert-secret", "kube-system/" + secret,
		"--service", "kube-system/calico-apiserver", "--webhook-name", hooks, "--register"}
	start := func() func() {
		p := labtest.StartProcess(t, "calico-apiserver", exec.Command(filepath.Join(bin, "calico-apiserver"), args...))
		stop := func() { _ = p.Stop() }
		// Serving once the certificate verifies for the Service's name.
		var lastErr error
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if lastErr = verifyServing(ctx, ports[0], secret); lastErr == nil {
				return stop
			}
		}
		stop()
		t.Fatalf("not serving a verifiable certificate: %v\n%s", lastErr, p.Logs.String())
		return nil
	}
	stop := start()
	s, err := kube.CoreV1().Secrets("kube-system").Get(ctx, secret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vwc, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, hooks, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Out of the API server's path at once: the Service has no endpoints
	// here, and failurePolicy Fail would stop every Calico write.
	_ = register.Unregister(ctx, kube, hooks)
	cc := vwc.Webhooks[0].ClientConfig
	if !bytes.Equal(cc.CABundle, s.Data[register.KeyCA]) || cc.Service == nil || cc.Service.Name != "calico-apiserver" ||
		cc.Service.Namespace != "kube-system" || cc.Service.Path == nil || *cc.Service.Path != "/validate" || *cc.Service.Port != int32(ports[0]) {
		t.Errorf("validating webhook client config: %+v", cc)
	}
	stop()
	// A restart keeps the certificate.
	stop = start()
	stop()
	again, err := kube.CoreV1().Secrets("kube-system").Get(ctx, secret, metav1.GetOptions{})
	if err != nil || !bytes.Equal(again.Data[register.KeyCert], s.Data[register.KeyCert]) {
		t.Errorf("the restart replaced the certificate (%v)", err)
	}
	_ = register.Unregister(ctx, kube, hooks)

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--register"}, "a serving certificate is needed"},
		{[]string{"--tls-cert-file", "/x", "--tls-private-key-file", "/y", "--register"}, "--register needs --cert-secret"},
		{[]string{"--cert-secret", "nope"}, "want NAMESPACE/NAME"},
		{[]string{"--cert-secret", "default/x", "--service", "kube-system/calico-apiserver"}, "the Secret belongs in the Service's namespace"},
	} {
		out, err := exec.Command(filepath.Join(bin, "calico-apiserver"), append([]string{"--kubeconfig", testLab.Config.KubeconfigPath()}, bad.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), bad.want) {
			t.Errorf("%v: %v\n%s", bad.args, err, out)
		}
	}
}

// verifyServing dials the webhook as the API server would, by the
// Service's name, trusting the Secret's CA.
func verifyServing(ctx context.Context, port int, secret string) error {
	s, err := testLab.Client.Kube.CoreV1().Secrets("kube-system").Get(ctx, secret, metav1.GetOptions{})
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.Data[register.KeyCA])
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: pool, ServerName: "calico-apiserver.kube-system.svc"})
	if err != nil {
		return err
	}
	return c.Close()
}
