// Package kubeauth checks the callers of the enterprise layer's APIs the
// way the Kubernetes API server would: a bearer token through a
// TokenReview, an action through a SubjectAccessReview. Kubernetes RBAC
// is the only source of truth; answers are cached briefly (30 s, 5 s for
// a refusal) so that a busy client does not cost one review per request.
package kubeauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// User is an authenticated caller.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// Access is an action to authorise: verb on resource (and name) in an
// API group, in a namespace or cluster-wide.
type Access struct {
	Group, Resource, Verb, Name, Namespace string
}

// ErrInvalidToken: the token is not valid (a 401).
var ErrInvalidToken = errors.New("the token is not valid")

// Checker asks the API server.
type Checker struct {
	client kubernetes.Interface
	// Audiences the token must be for (none: the API server's).
	audiences []string
	now       func() time.Time

	mu     sync.Mutex
	tokens map[[32]byte]tokenEntry
	access map[string]accessEntry
}

type tokenEntry struct {
	user    User
	ok      bool
	expires time.Time
}

type accessEntry struct {
	allowed bool
	expires time.Time
}

// Cache lifetimes and bound.
const (
	allowTTL   = 30 * time.Second
	denyTTL    = 5 * time.Second
	maxEntries = 10000
)

// New makes a checker.
func New(client kubernetes.Interface, audiences ...string) *Checker {
	return &Checker{client: client, audiences: audiences, now: time.Now,
		tokens: map[[32]byte]tokenEntry{}, access: map[string]accessEntry{}}
}

// Authenticate reviews a token.
func (c *Checker) Authenticate(ctx context.Context, token string) (User, error) {
	key := sha256.Sum256([]byte(token))
	now := c.now()
	c.mu.Lock()
	if e, ok := c.tokens[key]; ok && now.Before(e.expires) {
		c.mu.Unlock()
		if !e.ok {
			return User{}, ErrInvalidToken
		}
		return e.user, nil
	}
	c.mu.Unlock()
	tr, err := c.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: c.audiences}}, metav1.CreateOptions{})
	if err != nil {
		return User{}, fmt.Errorf("TokenReview: %w", err)
	}
	e := tokenEntry{ok: tr.Status.Authenticated, expires: now.Add(allowTTL)}
	if e.ok {
		u := tr.Status.User
		e.user = User{Name: u.Username, UID: u.UID, Groups: u.Groups, Extra: map[string][]string{}}
		for k, v := range u.Extra {
			e.user.Extra[k] = v
		}
	} else {
		e.expires = now.Add(denyTTL)
	}
	c.mu.Lock()
	if len(c.tokens) >= maxEntries {
		clear(c.tokens)
	}
	c.tokens[key] = e
	c.mu.Unlock()
	if !e.ok {
		return User{}, ErrInvalidToken
	}
	return e.user, nil
}

// Authorize reviews an action.
func (c *Checker) Authorize(ctx context.Context, u User, a Access) (bool, error) {
	groups := slices.Clone(u.Groups)
	slices.Sort(groups)
	key := strings.Join([]string{u.Name, u.UID, strings.Join(groups, ","), a.Group, a.Resource, a.Verb, a.Name, a.Namespace}, "\x00")
	now := c.now()
	c.mu.Lock()
	if e, ok := c.access[key]; ok && now.Before(e.expires) {
		c.mu.Unlock()
		return e.allowed, nil
	}
	c.mu.Unlock()
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = v
	}
	sar, err := c.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: u.Name, UID: u.UID, Groups: u.Groups, Extra: extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Group: a.Group, Resource: a.Resource, Verb: a.Verb, Name: a.Name, Namespace: a.Namespace,
			},
		}}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("SubjectAccessReview: %w", err)
	}
	e := accessEntry{allowed: sar.Status.Allowed, expires: now.Add(allowTTL)}
	if !e.allowed {
		e.expires = now.Add(denyTTL)
	}
	c.mu.Lock()
	if len(c.access) >= maxEntries {
		clear(c.access)
	}
	c.access[key] = e
	c.mu.Unlock()
	return e.allowed, nil
}
