package manager

import (
	"crypto/sha256"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/calicong/calico/internal/datastore"
)

// userClientTTL is how long a user's client (and its connections) is
// kept for their next requests.
const (
	userClientTTL  = 5 * time.Minute
	maxUserClients = 200
)

// NewUserClients makes clients for users from the manager's own
// configuration: the same API server and CA, none of the manager's
// credentials, the user's token instead. A user's client is kept for a
// few minutes so that a page's burst of calls shares its connections.
func NewUserClients(base *rest.Config) UserClients {
	type entry struct {
		c       *datastore.Client
		expires time.Time
	}
	var mu sync.Mutex
	cache := map[[32]byte]entry{}
	return func(token string) (*datastore.Client, error) {
		key := sha256.Sum256([]byte(token))
		now := time.Now()
		mu.Lock()
		if e, ok := cache[key]; ok && now.Before(e.expires) {
			mu.Unlock()
			return e.c, nil
		}
		mu.Unlock()
		rc := rest.AnonymousClientConfig(base)
		rc.BearerToken = token
		c, err := datastore.New(rc)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if len(cache) >= maxUserClients {
			for k, e := range cache {
				if now.After(e.expires) {
					delete(cache, k)
				}
			}
			if len(cache) >= maxUserClients {
				clear(cache)
			}
		}
		cache[key] = entry{c: c, expires: now.Add(userClientTTL)}
		return c, nil
	}
}
