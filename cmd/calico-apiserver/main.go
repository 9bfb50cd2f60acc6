// Command calico-apiserver serves Calico's admission webhooks
// (internal/admission) over HTTPS: /mutate defaults projectcalico.org
// objects as calicoctl does, /validate runs the full validator and
// Calico's tier-scoped RBAC, asking the API server with
// SubjectAccessReviews. The API server calls it through a
// MutatingWebhookConfiguration and a ValidatingWebhookConfiguration
// (failurePolicy Fail) carrying its CA bundle.
//
// Flags: --secure-port (5443), --tls-cert-file and --tls-private-key-file
// (re-read when they change, so rotated certificates are picked up),
// --kubeconfig (in-cluster when empty), --health-addr (:9095, /liveness
// and /readiness).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/admission"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

func main() { os.Exit(run()) }

func run() int {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (in-cluster config when empty)")
	addr := flag.String("secure-port", "5443", "HTTPS port, or host:port")
	certFile := flag.String("tls-cert-file", "", "serving certificate (PEM)")
	keyFile := flag.String("tls-private-key-file", "", "serving key (PEM)")
	healthAddr := flag.String("health-addr", ":9095", "address for /liveness and /readiness")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := serve(*kubeconfig, listenAddr(*addr), *certFile, *keyFile, *healthAddr, log); err != nil {
		log.Error("calico-apiserver failed", "err", err)
		return 1
	}
	return 0
}

func listenAddr(a string) string {
	for _, c := range a {
		if c < '0' || c > '9' {
			return a
		}
	}
	return ":" + a
}

func serve(kubeconfig, addr, certFile, keyFile, healthAddr string, log *slog.Logger) error {
	if certFile == "" || keyFile == "" {
		return errors.New("--tls-cert-file and --tls-private-key-file are required: the API server only calls webhooks over HTTPS")
	}
	getCert, err := tlsauth.ServingCertificate(certFile, keyFile)
	if err != nil {
		return err
	}
	client, err := datastore.Connect(kubeconfig)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	h := &admission.Handler{Authz: sar{client}, Policies: tierPolicies{client}}
	agg := health.New(nil)
	agg.Report("webhook", health.Report{Live: true, Ready: true})
	go health.Serve(ctx, healthAddr, agg.Handler(), log)

	srv := &http.Server{Addr: addr, Handler: logged(h, log), ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCert}}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("calico-apiserver serving admission webhooks", "addr", addr)
	if err := srv.ListenAndServeTLS("", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// logged logs refused requests.
func logged(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		log.Debug("review", "path", r.URL.Path, "ms", time.Since(start).Milliseconds())
	})
}

// sar asks the API server whether a user may do something.
type sar struct{ c *datastore.Client }

func (s sar) Allowed(ctx context.Context, u authenticationv1.UserInfo, a admission.Access) (bool, error) {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Group: v3.GroupName, Resource: a.Resource, Name: a.Name, Namespace: a.Namespace, Verb: a.Verb,
		},
	}}
	out, err := s.c.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return out.Status.Allowed, nil
}

// tierPolicies counts a tier's policies of every kind.
type tierPolicies struct{ c *datastore.Client }

func (p tierPolicies) InTier(ctx context.Context, tier string) (int, error) {
	ps, err := p.c.PoliciesInTier(ctx, tier)
	return len(ps), err
}
