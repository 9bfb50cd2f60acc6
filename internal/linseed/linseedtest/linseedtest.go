// Package linseedtest runs a real Linseed API (its handler over an
// embedded SQLite store) for the tests of its clients: every token is
// valid and allowed everything, so the tests are of the clients, not of
// Linseed's checks (which internal/linseed/api tests).
package linseedtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/linseed/client"
	"github.com/calicong/calico/internal/linseed/store/sqlite"
)

type allowAll struct{}

func (allowAll) Authenticate(context.Context, string) (api.User, error) {
	return api.User{Name: "system:serviceaccount:calico-system:test"}, nil
}

func (allowAll) Authorize(context.Context, api.User, string, string) (bool, error) { return true, nil }

// New starts Linseed for the test and returns a client of it.
func New(t testing.TB) *client.Client {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "logs.db")})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Store: st, Authn: allowAll{}, Authz: allowAll{}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("test-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &client.Client{URL: srv.URL, Cluster: api.DefaultCluster, TokenFile: tok, HTTP: &http.Client{}}
}
