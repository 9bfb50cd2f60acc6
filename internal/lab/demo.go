package lab

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	//go:embed demo/namespace.yaml
	demoNamespace []byte
	//go:embed demo/app.yaml
	demoApp []byte
	//go:embed demo/policy.yaml
	demoPolicy []byte
)

// Demo deploys the demo application and its policy with kubectl and
// calicoctl, as a user would, waits for its pods, and prints what to try.
func Demo(ctx context.Context, cfg Config, out io.Writer) error {
	l, err := openLab(cfg)
	if err != nil {
		return err
	}
	if l.rec == nil {
		return fmt.Errorf("%w: the demo needs sandbox nodes (calico-lab up --nodes 3)", ErrUsage)
	}
	dir := cfg.path("demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ns, app, policy := filepath.Join(dir, "namespace.yaml"), filepath.Join(dir, "app.yaml"), filepath.Join(dir, "policy.yaml")
	for f, data := range map[string][]byte{ns: demoNamespace, app: demoApp, policy: demoPolicy} {
		if err := os.WriteFile(f, data, 0o644); err != nil {
			return err
		}
	}
	bin := filepath.Dir(cfg.Executable)
	// The namespace, its policy, then its pods: no pod runs unprotected.
	for _, c := range [][]string{{"kubectl", "apply", "-f", ns}, {"calicoctl", "apply", "-f", policy}, {"kubectl", "apply", "-f", app}} {
		cmd := exec.CommandContext(ctx, filepath.Join(bin, c[0]), c[1:]...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+cfg.KubeconfigPath())
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(c, " "), err, b)
		}
	}
	start := time.Now()
	var pods []corev1.Pod
	for {
		list, err := l.kube.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{})
		if err == nil {
			pods = pods[:0]
			for _, p := range list.Items {
				if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
					pods = append(pods, p)
				}
			}
			if len(pods) == 5 {
				break
			}
		}
		if time.Since(start) > 2*time.Minute {
			return fmt.Errorf("the demo's pods are not running after 2 minutes (kubectl -n demo get pods)")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	first := func(app string) string {
		var names []string
		for _, p := range pods {
			if p.Labels["app"] == app {
				names = append(names, p.Name)
			}
		}
		slices.Sort(names)
		return "demo/" + names[0]
	}
	fe, be, db := first("frontend"), first("backend"), first("database")
	// The Services work once every node's kube-proxy has their endpoints:
	// the backend reaching the database's ClusterIP says so.
	dbSvc, err := l.kube.CoreV1().Services("demo").Get(ctx, "database", metav1.GetOptions{})
	if err != nil {
		return err
	}
	beSvc, err := l.kube.CoreV1().Services("demo").Get(ctx, "backend", metav1.GetOptions{})
	if err != nil {
		return err
	}
	for {
		r, err := Probe(ctx, cfg, be, dbSvc.Spec.ClusterIP, 5432, "tcp", time.Second)
		if err == nil && r.Connected {
			break
		}
		if time.Since(start) > 2*time.Minute {
			return fmt.Errorf("the database Service (%s:5432) does not answer the backend after 2 minutes", dbSvc.Spec.ClusterIP)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	fmt.Fprintf(out, `
The demo runs in namespace demo: a frontend, a backend and a database
(Deployments with Services, spread over the nodes), with policy in two
tiers (%s, %s). Try:

  kubectl get nodes -o wide
  kubectl -n demo get pods -o wide
  calicoctl get tiers
  calicoctl get globalnetworkpolicies -o wide
  calicoctl get networkpolicies -n demo -o wide
  calico-lab probe %s %s --port 8080     # allowed: frontend → backend
  calico-lab probe %s %s --port 8080     # the same through the backend Service's ClusterIP (kube-proxy)
  calico-lab probe %s %s --port 5432     # allowed: backend → database
  calico-lab probe %s %s --port 5432     # denied: the frontend may not reach the database
  calicoq trace --from %s --to %s --port 5432   # which policy decided
  kubectl -n demo label pod %s quarantine=true  # then probe again: the security tier cuts it off
  calico-lab exec node-1 -- calicoctl node status
  calico-lab logs calico-node --node node-1
`, app, policy, fe, be, fe, beSvc.Spec.ClusterIP, be, db, fe, db, fe, db, strings.TrimPrefix(be, "demo/"))
	if min(cfg.TyphaReplicas, cfg.Nodes) >= 2 {
		fmt.Fprintln(out, "  calico-lab restart calico-typha --node node-1   # its clients move to node-2's replica; probes keep their answers")
	}
	env := "calico-lab env"
	if cfg.StateDir != DefaultStateDir {
		env += " --state-dir " + cfg.StateDir
	}
	fmt.Fprintf(out, `
The nodes' flow logs reach Linseed, the log API, within about %s:

  eval "$(%s)"   # Linseed's URL, the lab's CA, a client certificate and a token
  curl -s --cacert $CALICO_LAB_CA --cert $LINSEED_CLIENT_CERT --key $LINSEED_CLIENT_KEY \
    -H "Authorization: Bearer $LINSEED_TOKEN" -H 'Content-Type: application/json' \
    $LINSEED_URL/api/v1/flows/logs -d '{"actions":["deny"],"namespace_matches":[{"type":"any","namespaces":["demo"]}]}'

Prometheus scrapes every component; query it through the RBAC-checking proxy:

  curl -s --cacert $CALICO_LAB_CA -H "Authorization: Bearer $PROMETHEUS_TOKEN" \
    $PROMETHEUS_URL/api/v1/query --data-urlencode 'query=sum by (policy, action) (cnx_policy_rule_packets{namespace="demo"})'
`, (2*cfg.flowLogsFlushInterval() + 2*time.Second).Round(time.Second), env)
	return nil
}
