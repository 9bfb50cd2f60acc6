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
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
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

// Access is an action to authorise: verb on resource (its subresource,
// and name) in an API group, in a namespace or cluster-wide.
type Access struct {
	Group, Resource, Subresource, Verb, Name, Namespace string
}

// BearerToken is the token of a request's "Authorization: Bearer <token>"
// header (the scheme in any case, as RFC 7235 has it); "" if there is
// none.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// ErrInvalidToken: the token is not valid (a 401).
var ErrInvalidToken = errors.New("the token is not valid")

// Checker asks the API server.
type Checker struct {
	client kubernetes.Interface
	// Audiences the token must be for (none: the API server's).
	audiences []string
	now       func() time.Time

	allowTTL, denyTTL time.Duration

	mu     sync.Mutex
	tokens map[[32]byte]tokenEntry
	access map[string]accessEntry
	// flight makes concurrent misses for one token or access share one
	// review: a dashboard's burst of queries costs one.
	flight singleflight.Group

	reviews struct{ tokens, access atomic.Int64 }
}

// Option adjusts a checker.
type Option func(*Checker)

// WithTTL sets how long an answer is kept: allow for a valid token or an
// allowed action, deny for a refusal. A revoked grant stops working
// within allow.
func WithTTL(allow, deny time.Duration) Option {
	return func(c *Checker) { c.allowTTL, c.denyTTL = allow, deny }
}

// Reviews returns how many TokenReviews and SubjectAccessReviews the
// checker has sent.
func (c *Checker) Reviews() (tokens, access int64) {
	return c.reviews.tokens.Load(), c.reviews.access.Load()
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

// Default cache lifetimes, and the cache's bound.
const (
	allowTTL   = 30 * time.Second
	denyTTL    = 5 * time.Second
	maxEntries = 10000
)

// New makes a checker for tokens of the given audiences (none: the API
// server's).
func New(client kubernetes.Interface, audiences []string, opts ...Option) *Checker {
	c := &Checker{client: client, audiences: audiences, now: time.Now, allowTTL: allowTTL, denyTTL: denyTTL,
		tokens: map[[32]byte]tokenEntry{}, access: map[string]accessEntry{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Authenticate reviews a token.
func (c *Checker) Authenticate(ctx context.Context, token string) (User, error) {
	key := sha256.Sum256([]byte(token))
	now := c.now()
	if e, ok := c.cachedToken(key); ok {
		if !e.ok {
			return User{}, ErrInvalidToken
		}
		return e.user, nil
	}
	v, err, _ := c.flight.Do("t\x00"+string(key[:]), func() (any, error) {
		// A flight that ended between our look and this one has
		// already answered.
		if e, ok := c.cachedToken(key); ok {
			return e, nil
		}
		c.reviews.tokens.Add(1)
		ctx, cancel := reviewContext(ctx)
		defer cancel()
		tr, err := c.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: c.audiences}}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("TokenReview: %w", err)
		}
		e := tokenEntry{ok: tr.Status.Authenticated, expires: now.Add(c.allowTTL)}
		if e.ok {
			u := tr.Status.User
			e.user = User{Name: u.Username, UID: u.UID, Groups: u.Groups, Extra: map[string][]string{}}
			for k, v := range u.Extra {
				e.user.Extra[k] = v
			}
		} else {
			e.expires = now.Add(c.denyTTL)
		}
		c.mu.Lock()
		if len(c.tokens) >= maxEntries {
			clear(c.tokens)
		}
		c.tokens[key] = e
		c.mu.Unlock()
		return e, nil
	})
	if err != nil {
		return User{}, err
	}
	if e := v.(tokenEntry); e.ok {
		return e.user, nil
	}
	return User{}, ErrInvalidToken
}

func (c *Checker) cachedToken(key [32]byte) (tokenEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.tokens[key]
	return e, ok && c.now().Before(e.expires)
}

func (c *Checker) cachedAccess(key string) (accessEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.access[key]
	return e, ok && c.now().Before(e.expires)
}

// reviewContext is a shared review's: the first caller giving up must
// not fail the others waiting for the same answer.
func reviewContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// Authorize reviews an action.
func (c *Checker) Authorize(ctx context.Context, u User, a Access) (bool, error) {
	groups := slices.Clone(u.Groups)
	slices.Sort(groups)
	key := strings.Join([]string{u.Name, u.UID, strings.Join(groups, ","), a.Group, a.Resource, a.Subresource, a.Verb, a.Name, a.Namespace}, "\x00")
	now := c.now()
	if e, ok := c.cachedAccess(key); ok {
		return e.allowed, nil
	}
	v, err, _ := c.flight.Do("a\x00"+key, func() (any, error) {
		// A flight that ended between our look and this one has
		// already answered.
		if e, ok := c.cachedAccess(key); ok {
			return e.allowed, nil
		}
		c.reviews.access.Add(1)
		ctx, cancel := reviewContext(ctx)
		defer cancel()
		extra := map[string]authorizationv1.ExtraValue{}
		for k, v := range u.Extra {
			extra[k] = v
		}
		sar, err := c.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: u.Name, UID: u.UID, Groups: u.Groups, Extra: extra,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Verb: a.Verb, Name: a.Name, Namespace: a.Namespace,
				},
			}}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("SubjectAccessReview: %w", err)
		}
		e := accessEntry{allowed: sar.Status.Allowed, expires: now.Add(c.allowTTL)}
		if !e.allowed {
			e.expires = now.Add(c.denyTTL)
		}
		c.mu.Lock()
		if len(c.access) >= maxEntries {
			clear(c.access)
		}
		c.access[key] = e
		c.mu.Unlock()
		return e.allowed, nil
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}
