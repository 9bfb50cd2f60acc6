// Package cnitoken keeps the token in the CNI plugins' kubeconfig valid.
//
// The plugins run on the host, outside any pod, so nothing rotates a
// projected service-account token for them. calico-node (with
// CALICO_MANAGE_CNI=true) and calico-cni-install therefore ask the API
// server for a token of the plugins' own ServiceAccount (TokenRequest,
// 24 h by default) and rewrite the kubeconfig calico-cni-install wrote,
// keeping its server and CA, through a temporary file and a rename. A new
// token is requested when a quarter of the current one's lifetime has
// passed, so a calico-node that is down for a while leaves the plugins
// most of a day before their token expires.
package cnitoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/calicong/calico/internal/cniinstall"
)

// DefaultServiceAccount is the CNI plugins' ServiceAccount in the manifests.
const DefaultServiceAccount = "calico-cni-plugin"

// DefaultValidity is the lifetime asked for each token.
const DefaultValidity = 24 * time.Hour

// Config says whose token to request and which kubeconfig to keep.
type Config struct {
	Kube kubernetes.Interface
	// Namespace and ServiceAccount name the plugins' ServiceAccount.
	Namespace, ServiceAccount string
	// Kubeconfig is the plugins' kubeconfig (calico-cni-install's
	// calico-kubeconfig, as mounted where this runs).
	Kubeconfig string
	// Validity is the lifetime asked for (DefaultValidity); the API
	// server may grant another, and the refresh follows what it grants.
	Validity time.Duration
	// Log may be nil (nothing is logged).
	Log *slog.Logger
}

// attemptTimeout bounds one request and write, so a hung request cannot
// stop the refreshes.
const attemptTimeout = 30 * time.Second

// minWait is the shortest time between two requests, whatever lifetime
// the API server grants (a clock skewed against it must not make a loop).
const minWait = time.Second

// Request asks the API server for a token of the ServiceAccount.
func Request(ctx context.Context, c Config) (token string, expires time.Time, err error) {
	validity := c.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	secs := int64(validity / time.Second)
	tr, err := c.Kube.CoreV1().ServiceAccounts(c.Namespace).CreateToken(ctx, c.ServiceAccount,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", c.Namespace, c.ServiceAccount, err)
	}
	expires = tr.Status.ExpirationTimestamp.Time
	if s := tr.Spec.ExpirationSeconds; s != nil && *s > 0 {
		// The lifetime granted, on this node's clock.
		expires = time.Now().Add(time.Duration(*s) * time.Second)
	}
	return tr.Status.Token, expires, nil
}

// ErrNoKubeconfig is returned while the kubeconfig to update does not
// exist yet (calico-cni-install has not run on this node).
var ErrNoKubeconfig = errors.New("the CNI kubeconfig does not exist yet")

// Refresh writes a new token into the kubeconfig and returns when it
// expires. The kubeconfig must exist: its server and CA are kept.
func Refresh(ctx context.Context, c Config) (time.Time, error) {
	server, ca, err := readKubeconfig(c.Kubeconfig)
	if err != nil {
		return time.Time{}, err
	}
	token, expires, err := Request(ctx, c)
	if err != nil {
		return time.Time{}, err
	}
	if _, err := cniinstall.WriteFile(c.Kubeconfig, cniinstall.Kubeconfig(server, ca, token), 0o600); err != nil {
		return time.Time{}, fmt.Errorf("writing %s: %w", c.Kubeconfig, err)
	}
	return expires, nil
}

// readKubeconfig returns the server and CA of the kubeconfig's current
// context.
func readKubeconfig(path string) (server string, ca []byte, err error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "", nil, fmt.Errorf("%w: %s", ErrNoKubeconfig, path)
	}
	if err != nil {
		return "", nil, err
	}
	kc, err := clientcmd.Load(data)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	ctx, ok := kc.Contexts[kc.CurrentContext]
	if !ok {
		return "", nil, fmt.Errorf("%s: no current context", path)
	}
	cl, ok := kc.Clusters[ctx.Cluster]
	if !ok || cl.Server == "" {
		return "", nil, fmt.Errorf("%s: context %q names no cluster with a server", path, kc.CurrentContext)
	}
	return cl.Server, cl.CertificateAuthorityData, nil
}

// NextRefresh is when to replace a token issued at issued that expires at
// expires: after a quarter of its lifetime.
func NextRefresh(issued, expires time.Time) time.Time {
	return issued.Add(expires.Sub(issued) / 4)
}

// Run keeps the kubeconfig's token fresh until ctx ends. Failures are
// retried from 5 s, doubling up to 5 min; a refresh is never later than
// NextRefresh of the last token.
func Run(ctx context.Context, c Config) {
	const minRetry, maxRetry = 5 * time.Second, 5 * time.Minute
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	// Temporary files a killed writer left hold live tokens.
	cniinstall.RemoveStale(filepath.Dir(c.Kubeconfig))
	retry := minRetry
	for {
		issued := time.Now()
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		expires, err := Refresh(actx, c)
		cancel()
		var wait time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.Log.Warn("CNI token refresh failed; retrying", "err", err, "retryIn", retry)
			wait, retry = retry, min(2*retry, maxRetry)
		} else {
			c.Log.Info("CNI token refreshed", "serviceAccount", c.Namespace+"/"+c.ServiceAccount, "expires", expires.UTC().Format(time.RFC3339))
			retry = minRetry
			wait = max(time.Until(NextRefresh(issued, expires)), minWait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
