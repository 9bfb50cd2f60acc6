package manifests_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/calicong/calico/internal/admission"
	"github.com/calicong/calico/internal/admission/register"
	"github.com/calicong/calico/internal/lab"
	"github.com/calicong/calico/internal/labtest"
	"github.com/calicong/calico/internal/manifests"
)

var testLab *labtest.Lab

func TestMain(m *testing.M) { os.Exit(labtest.Main(m, &testLab)) }

func TestCommittedManifestsAreCurrent(t *testing.T) {
	files, err := manifests.Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("..", "..", "manifests", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("manifests/%s is not what internal/manifests generates (run `make manifests`): %v", name, err)
		}
	}
}

// TestAPIServerManifest: the API server accepts the manifest, and
// calico-apiserver does all it does with exactly the manifest's RBAC:
// it provisions its Secret, registers its webhooks and answers reviews
// that need SubjectAccessReviews and policy lists.
func TestAPIServerManifest(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	bin, err := labtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kube := testLab.Client.Kube
	kubectl := func(args ...string) (string, error) {
		out, err := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", testLab.Config.KubeconfigPath()}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := kubectl("apply", "--dry-run=server", "-f", filepath.Join("..", "..", "manifests", "calico-apiserver.yaml")); err != nil {
		t.Fatalf("the API server refuses the manifest: %v\n%s", err, out)
	}

	// The RBAC for real, and calico-apiserver as its ServiceAccount.
	applyRBAC(t, bin, manifests.APIServerRBAC())
	saConfig := kubeconfigAs(t, manifests.APIServerName)
	// It will re-point the lab's webhook configurations at its Service,
	// which has no endpoints here: the lab's are restored afterwards.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = kube.CoreV1().Secrets(manifests.Namespace).Delete(ctx, manifests.APIServerSecret, metav1.DeleteOptions{})
		if err := lab.RegisterWebhooks(ctx, testLab.Config, testLab.Client); err != nil {
			t.Errorf("restoring the lab's webhooks: %v", err)
		}
	})
	ports, err := labtest.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range manifests.APIServerArgs() {
		switch {
		case strings.HasPrefix(a, "--secure-port="):
			a = fmt.Sprintf("--secure-port=127.0.0.1:%d", ports[0])
		case strings.HasPrefix(a, "--health-addr="):
			a = fmt.Sprintf("--health-addr=127.0.0.1:%d", ports[1])
		}
		args = append(args, a)
	}
	labtest.StartProcess(t, "calico-apiserver", exec.Command(filepath.Join(bin, "calico-apiserver"), append(args, "--kubeconfig", saConfig)...))

	var s []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && s == nil; time.Sleep(100 * time.Millisecond) {
		if sec, err := kube.CoreV1().Secrets(manifests.Namespace).Get(ctx, manifests.APIServerSecret, metav1.GetOptions{}); err == nil {
			s = sec.Data[register.KeyCA]
		}
	}
	if s == nil {
		t.Fatal("no certificate Secret")
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		v, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, admission.WebhookName, metav1.GetOptions{})
		if err == nil && v.Webhooks[0].ClientConfig.Service != nil && bytes.Equal(v.Webhooks[0].ClientConfig.CABundle, s) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks not registered against the Service: %v", err)
		}
	}
	// A review for a user with no tier rights needs SubjectAccessReviews.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: manifests.APIServerName + "." + manifests.Namespace + ".svc"}}}
	review := func(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		t.Helper()
		body, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req})
		resp, err := client.Post(fmt.Sprintf("https://127.0.0.1:%d%s", ports[0], admission.PathValidate), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out admissionv1.AdmissionReview
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil {
			t.Fatalf("review: %v", err)
		}
		return out.Response
	}
	policy := []byte(`{"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy","metadata":{"name":"p","namespace":"default"},"spec":{"tier":"default","selector":"all()","types":["Ingress"]}}`)
	r := review(&admissionv1.AdmissionRequest{UID: "1", Operation: admissionv1.Create, Name: "p", Namespace: "default",
		Kind: metav1.GroupVersionKind{Group: "projectcalico.org", Version: "v3", Kind: "NetworkPolicy"}, Object: runtime.RawExtension{Raw: policy},
		UserInfo: authenticationv1.UserInfo{Username: "nobody"}})
	if r.Allowed || r.Result == nil || !strings.Contains(r.Result.Message, `User "nobody" cannot get tiers`) {
		t.Errorf("review needing SubjectAccessReviews: %+v", r.Result)
	}
	// Deleting a tier needs the policy lists.
	tier := []byte(`{"apiVersion":"projectcalico.org/v3","kind":"Tier","metadata":{"name":"manifest-test"},"spec":{"order":5}}`)
	r = review(&admissionv1.AdmissionRequest{UID: "2", Operation: admissionv1.Delete, Name: "manifest-test",
		Kind: metav1.GroupVersionKind{Group: "projectcalico.org", Version: "v3", Kind: "Tier"}, OldObject: runtime.RawExtension{Raw: tier},
		UserInfo: authenticationv1.UserInfo{Username: "admin", Groups: []string{"system:masters"}}})
	if !r.Allowed {
		t.Errorf("deleting an empty tier as its RBAC allows: %+v", r.Result)
	}
}

// applyRBAC creates a component's ServiceAccount and roles for real.
func applyRBAC(t *testing.T, _ string, objs []runtime.Object) {
	t.Helper()
	y, err := manifests.YAML("", objs)
	if err != nil {
		t.Fatal(err)
	}
	testLab.Apply(t, y)
}

// kubeconfigAs runs as a component's ServiceAccount.
func kubeconfigAs(t *testing.T, serviceAccount string) string {
	return testLab.KubeconfigAs(t, "system:serviceaccount:"+manifests.Namespace+":"+serviceAccount)
}

// TestTyphaManifest: the API server accepts the manifest, and
// calico-typha, with exactly its RBAC, gets both syncers in sync and
// computes its connection limit from the node and endpoint counts.
func TestTyphaManifest(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	bin, err := labtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", testLab.Config.KubeconfigPath(), "apply", "--dry-run=server",
		"-f", filepath.Join("..", "..", "manifests", "calico-typha.yaml")).CombinedOutput()
	if err != nil {
		t.Fatalf("the API server refuses the manifest: %v\n%s", err, out)
	}
	applyRBAC(t, bin, manifests.TyphaRBAC())
	ports, err := labtest.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "calico-typha"), "--kubeconfig", kubeconfigAs(t, manifests.TyphaName))
	cmd.Env = os.Environ()
	for _, e := range manifests.TyphaEnv() {
		cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
	}
	cmd.Env = append(cmd.Env, "TYPHA_SERVERHOST=127.0.0.1", fmt.Sprintf("TYPHA_SERVERPORT=%d", ports[0]),
		"TYPHA_HEALTHHOST=127.0.0.1", fmt.Sprintf("TYPHA_HEALTHPORT=%d", ports[1]), "TYPHA_PROMETHEUSMETRICSENABLED=false")
	typha := labtest.StartProcess(t, "calico-typha", cmd)
	logs := &typha.Logs
	ready := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !ready; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readiness", ports[1]))
		if err == nil {
			ready = resp.StatusCode == http.StatusOK
			resp.Body.Close()
		}
	}
	if !ready {
		t.Fatal("calico-typha with its manifest's RBAC never became ready")
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !strings.Contains(logs.String(), "connection limit"); time.Sleep(100 * time.Millisecond) {
	}
	if l := logs.String(); strings.Contains(l, "forbidden") || strings.Contains(l, "cannot compute the connection limit") || !strings.Contains(l, "connection limit") {
		t.Errorf("calico-typha lacked a permission:\n%s", l)
	}
}

// TestEveryManifestIsAccepted applies every file of manifests/ to the
// lab's API server as a server-side dry run.
func TestEveryManifestIsAccepted(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	bin, err := labtest.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	files, err := manifests.Files()
	if err != nil {
		t.Fatal(err)
	}
	for name := range files {
		out, err := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", testLab.Config.KubeconfigPath(), "apply", "--dry-run=server",
			"-f", filepath.Join("..", "..", "manifests", name)).CombinedOutput()
		if err != nil {
			t.Errorf("the API server refuses manifests/%s: %v\n%s", name, err, out)
		}
	}
}
