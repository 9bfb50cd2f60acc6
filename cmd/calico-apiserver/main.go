// Command calico-apiserver serves Calico's admission webhooks
// (internal/admission) over HTTPS: /mutate defaults projectcalico.org
// objects as calicoctl does, /validate runs the full validator and
// Calico's tier-scoped RBAC, asking the API server with
// SubjectAccessReviews. The API server calls it through a
// MutatingWebhookConfiguration and a ValidatingWebhookConfiguration
// (failurePolicy Fail) carrying its CA bundle. At start-up, once it
// serves, it gives policies stored without their projectcalico.org/tier
// label (or with a wrong one) the right label (internal/admission/migrate),
// retrying until that is done.
//
// Flags: --secure-port (5443); the serving certificate either from
// --tls-cert-file and --tls-private-key-file (re-read when they change,
// so rotated certificates are picked up) or from --cert-secret NS/NAME
// (created with a CA of its own when missing, for clusters without a
// certificate manager), with --register to create or update the webhook
// configurations pointing at --service with that CA; --kubeconfig
// (in-cluster when empty); --health-addr (:9095, /liveness and
// /readiness).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/admission"
	"github.com/calicong/calico/internal/admission/migrate"
	"github.com/calicong/calico/internal/admission/register"
	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

func main() { os.Exit(run()) }

func run() int {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (in-cluster config when empty)")
	addr := flag.String("secure-port", "5443", "HTTPS port, or host:port")
	flag.StringVar(&o.certFile, "tls-cert-file", "", "serving certificate (PEM), re-read when it changes")
	flag.StringVar(&o.keyFile, "tls-private-key-file", "", "serving key (PEM)")
	flag.StringVar(&o.certSecret, "cert-secret", "", "NAMESPACE/NAME of a Secret holding the serving certificate, created (with a CA of its own) when missing; instead of the files")
	flag.StringVar(&o.service, "service", "kube-system/calico-apiserver", "NAMESPACE/NAME of the Service the API server reaches the webhooks through")
	flag.BoolVar(&o.register, "register", false, "create or update the webhook configurations (the Service and the CA of --cert-secret)")
	flag.StringVar(&o.webhookName, "webhook-name", admission.WebhookName, "name of the webhook configurations")
	flag.StringVar(&o.healthAddr, "health-addr", ":9095", "address for /liveness and /readiness")
	printVersion := buildinfo.VersionFlag("calico-apiserver")
	flag.Parse()
	printVersion()
	o.addr = listenAddr(*addr)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := serve(o, log); err != nil {
		log.Error("calico-apiserver failed", "err", err)
		return 1
	}
	return 0
}

type options struct {
	kubeconfig, addr, healthAddr string
	certFile, keyFile            string
	certSecret, service          string
	register                     bool
	webhookName                  string
}

func listenAddr(a string) string {
	for _, c := range a {
		if c < '0' || c > '9' {
			return a
		}
	}
	return ":" + a
}

func splitName(flagName, v string) (ns, name string, err error) {
	ns, name, ok := strings.Cut(v, "/")
	if !ok || ns == "" || name == "" {
		return "", "", fmt.Errorf("--%s %q: want NAMESPACE/NAME", flagName, v)
	}
	return ns, name, nil
}

func serve(o options, log *slog.Logger) error {
	files := o.certFile != "" || o.keyFile != ""
	switch {
	case files && o.certSecret != "":
		return errors.New("give either --tls-cert-file and --tls-private-key-file, or --cert-secret, not both")
	case files && (o.certFile == "" || o.keyFile == ""):
		return errors.New("--tls-cert-file and --tls-private-key-file go together")
	case !files && o.certSecret == "":
		return errors.New("a serving certificate is needed (the API server only calls webhooks over HTTPS): --tls-cert-file and --tls-private-key-file, or --cert-secret")
	case o.register && o.certSecret == "":
		return errors.New("--register needs --cert-secret, whose CA goes into the webhook configurations")
	}
	client, err := datastore.Connect(o.kubeconfig)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	if files {
		if getCert, err = tlsauth.ServingCertificate(o.certFile, o.keyFile); err != nil {
			return err
		}
	} else {
		ns, name, err := splitName("cert-secret", o.certSecret)
		if err != nil {
			return err
		}
		svcNS, svc, err := splitName("service", o.service)
		if err != nil {
			return err
		}
		if ns != svcNS {
			return fmt.Errorf("--cert-secret %s and --service %s: the Secret belongs in the Service's namespace", o.certSecret, o.service)
		}
		cert, caPEM, err := register.Certificate(ctx, client.Kube, ns, name, svc)
		if err != nil {
			return err
		}
		getCert = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }
		if o.register {
			port, err := servicePort(o.addr)
			if err != nil {
				return err
			}
			base := admissionregistrationv1.WebhookClientConfig{CABundle: caPEM,
				Service: &admissionregistrationv1.ServiceReference{Namespace: svcNS, Name: svc, Port: &port}}
			if err := register.Webhooks(ctx, client.Kube, o.webhookName, base); err != nil {
				return fmt.Errorf("registering the webhooks: %w", err)
			}
			log.Info("webhook configurations registered", "name", o.webhookName, "service", o.service)
		}
	}

	h := &admission.Handler{Authz: sar{client}, Policies: tierPolicies{client}}
	agg := health.New(nil)
	agg.Register(healthWebhook, 0)
	agg.Report(healthWebhook, health.Report{Live: true, Detail: "the HTTPS listener is not open yet"})
	go health.Serve(ctx, o.healthAddr, agg.Handler(), log)

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("--secure-port: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCert}}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	var serving atomic.Bool
	serving.Store(true)
	go reportReadiness(ctx, agg, &serving, getCert, 2*time.Second)
	// Policies stored without their tier label (or with a wrong one) get
	// it. Its patches pass through these webhooks: it starts once they
	// listen, and retries until the CRDs, RBAC and webhooks are in place.
	go func() { _, _ = migrate.Run(ctx, client, log, time.Second, 30*time.Second) }()
	log.Info("calico-apiserver serving admission webhooks", "addr", ln.Addr().String())
	err = srv.ServeTLS(ln, "", "")
	serving.Store(false)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// healthWebhook is the readiness part of the webhook server.
const healthWebhook = "webhook"

// reportReadiness keeps the webhook's readiness true only while its HTTPS
// listener serves and its certificate loads and is within its validity
// period (a rotated certificate is read again), checking every interval.
func reportReadiness(ctx context.Context, agg *health.Aggregator, serving *atomic.Bool, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		r := health.Report{Live: true, Ready: true}
		if problem := servingProblem(serving.Load(), getCert, time.Now()); problem != "" {
			r.Ready, r.Detail = false, problem
		}
		agg.Report(healthWebhook, r)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// servingProblem says why the webhook cannot serve, or "".
func servingProblem(serving bool, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), now time.Time) string {
	if !serving {
		return "the HTTPS listener is closed"
	}
	cert, err := getCert(nil)
	if err != nil {
		return "serving certificate: " + err.Error()
	}
	if cert == nil || len(cert.Certificate) == 0 {
		return "no serving certificate"
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return "serving certificate: " + err.Error()
	}
	switch {
	case now.Before(leaf.NotBefore):
		return fmt.Sprintf("the serving certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	case now.After(leaf.NotAfter):
		return fmt.Sprintf("the serving certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return ""
}

// servicePort is the Service port the webhooks are registered with: the
// one this process listens on (the Service maps it 1:1).
func servicePort(addr string) (int32, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return 0, fmt.Errorf("--secure-port %q: %w", addr, err)
	}
	return int32(n), nil
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
