package kubeauth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeAPI answers reviews after a delay: token "good" is alice, who may
// get pods; it counts the reviews.
func fakeAPI(delay time.Duration, allowed *atomic.Bool) (*fake.Clientset, *atomic.Int64, *atomic.Int64) {
	cs := fake.NewClientset()
	var tokens, access atomic.Int64
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		tokens.Add(1)
		time.Sleep(delay) // a slow API server, so that callers overlap
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
		if tr.Spec.Token == "good" {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "alice"}}
		}
		return true, tr, nil
	})
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		access.Add(1)
		time.Sleep(delay)
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		sar.Status.Allowed = allowed.Load() && sar.Spec.User == "alice" && sar.Spec.ResourceAttributes.Resource == "pods"
		return true, sar, nil
	})
	return cs, &tokens, &access
}

// TestSharedReviews: 50 concurrent callers with a token and an action
// not seen yet cost one TokenReview and one SubjectAccessReview, and the
// first caller giving up does not fail the others.
func TestSharedReviews(t *testing.T) {
	var allowed atomic.Bool
	allowed.Store(true)
	cs, tokens, access := fakeAPI(50*time.Millisecond, &allowed)
	c := New(cs, nil)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	var wg sync.WaitGroup
	var failures atomic.Int64
	for i := range 50 {
		ctx := context.Background()
		if i == 0 {
			ctx = cancelled
		}
		wg.Go(func() {
			u, err := c.Authenticate(ctx, "good")
			if err != nil {
				if i != 0 {
					failures.Add(1)
				}
				return
			}
			if ok, err := c.Authorize(ctx, u, Access{Resource: "pods", Verb: "get"}); (err != nil || !ok) && i != 0 {
				failures.Add(1)
			}
		})
	}
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of 49 callers failed", failures.Load())
	}
	if tokens.Load() != 1 || access.Load() != 1 {
		t.Errorf("50 concurrent callers cost %d TokenReviews and %d SubjectAccessReviews, want 1 and 1", tokens.Load(), access.Load())
	}
	if n, m := c.Reviews(); n != 1 || m != 1 {
		t.Errorf("Reviews() = %d, %d", n, m)
	}
}

// TestCacheLifetimes: an answer is kept for its TTL, a refusal for the
// shorter one; a revoked grant is refused once the allowed answer
// expires; a bad token is ErrInvalidToken.
func TestCacheLifetimes(t *testing.T) {
	var allowed atomic.Bool
	allowed.Store(true)
	cs, _, access := fakeAPI(0, &allowed)
	c := New(cs, nil, WithTTL(10*time.Second, 2*time.Second))
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	if _, err := c.Authenticate(ctx, "bad"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("a bad token: %v", err)
	}
	u, err := c.Authenticate(ctx, "good")
	if err != nil || u.Name != "alice" {
		t.Fatalf("%+v %v", u, err)
	}
	pods := Access{Resource: "pods", Verb: "get"}
	check := func(want bool, reviews int64) {
		t.Helper()
		ok, err := c.Authorize(ctx, u, pods)
		if err != nil || ok != want || access.Load() != reviews {
			t.Errorf("at %v: allowed %v (%v) after %d reviews, want %v after %d", now.Format("15:04:05"), ok, err, access.Load(), want, reviews)
		}
	}
	check(true, 1)
	allowed.Store(false) // the RoleBinding is deleted
	now = now.Add(9 * time.Second)
	check(true, 1) // still cached
	now = now.Add(2 * time.Second)
	check(false, 2) // expired: asked again, refused
	now = now.Add(time.Second)
	check(false, 2) // the refusal is cached...
	allowed.Store(true)
	now = now.Add(2 * time.Second)
	check(true, 3) // ...for the shorter lifetime
}
