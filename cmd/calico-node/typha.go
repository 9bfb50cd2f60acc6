package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/typha/client"
	"github.com/calicong/calico/internal/typha/discovery"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

// typhaSettings is how calico-node reaches Typha, from Felix's variables:
// FELIX_TYPHAADDR or FELIX_TYPHAK8SSERVICENAME (+ FELIX_TYPHAK8SNAMESPACE,
// default kube-system); FELIX_TYPHACAFILE, FELIX_TYPHACERTFILE,
// FELIX_TYPHAKEYFILE with FELIX_TYPHACN and/or FELIX_TYPHAURISAN for
// mutual TLS; FELIX_TYPHAREADTIMEOUT (seconds, default 30).
type typhaSettings struct {
	Discovery   discovery.Config
	TLS         *tls.Config
	ReadTimeout time.Duration
}

// typhaFromEnv returns nil settings when Typha is not configured.
func typhaFromEnv(getenv func(string) string, kube kubernetes.Interface, node string) (*typhaSettings, error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	service := env("FELIX_TYPHAK8SSERVICENAME")
	if strings.EqualFold(service, "none") {
		service = "" // as Calico's manifests write "no Typha"
	}
	d := discovery.Config{Static: env("FELIX_TYPHAADDR"), Kube: kube, Service: service,
		Namespace: env("FELIX_TYPHAK8SNAMESPACE"), Node: node}
	files := tlsauth.Files{CAFile: env("FELIX_TYPHACAFILE"), CertFile: env("FELIX_TYPHACERTFILE"), KeyFile: env("FELIX_TYPHAKEYFILE")}
	id := tlsauth.Identity{CN: env("FELIX_TYPHACN"), URISAN: env("FELIX_TYPHAURISAN")}
	if !d.Enabled() {
		if files != (tlsauth.Files{}) || id != (tlsauth.Identity{}) {
			return nil, errors.New("FELIX_TYPHA* TLS settings are set but neither FELIX_TYPHAADDR nor FELIX_TYPHAK8SSERVICENAME says where Typha is")
		}
		return nil, nil
	}
	if d.Static != "" {
		if _, err := discovery.ParseStatic(d.Static); err != nil {
			return nil, fmt.Errorf("FELIX_TYPHAADDR: %w", err)
		}
	}
	s := &typhaSettings{Discovery: d, ReadTimeout: 30 * time.Second}
	if v := env("FELIX_TYPHAREADTIMEOUT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("FELIX_TYPHAREADTIMEOUT=%q: want a number of seconds, at least 1", v)
		}
		s.ReadTimeout = time.Duration(n) * time.Second
	}
	if files != (tlsauth.Files{}) || id != (tlsauth.Identity{}) {
		if files.CAFile == "" || files.CertFile == "" || files.KeyFile == "" {
			return nil, errors.New("TLS to Typha needs all of FELIX_TYPHACAFILE, FELIX_TYPHACERTFILE and FELIX_TYPHAKEYFILE")
		}
		if id == (tlsauth.Identity{}) {
			return nil, errors.New("TLS to Typha needs FELIX_TYPHACN or FELIX_TYPHAURISAN: the identity Typha's certificate must show")
		}
		var err error
		if s.TLS, err = tlsauth.Client(files, id); err != nil {
			return nil, fmt.Errorf("TLS to Typha: %w", err)
		}
	}
	return s, nil
}

// newClient makes a Typha client of one syncer type.
func (s *typhaSettings) newClient(syncerType, node string, cb model.SyncerCallbacks, log *slog.Logger) *client.Client {
	return client.New(client.Config{
		SyncerType: syncerType, Hostname: node, Info: "calico-node " + buildinfo.Version,
		Addresses: s.Discovery.Addresses, TLS: s.TLS, ReadTimeout: s.ReadTimeout,
		Log: log.With("component", "typha-client", "syncer", syncerType),
	}, cb)
}

// sources runs several sources as one felix.Source.
type sources []interface{ Run(context.Context) error }

func (ss sources) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(ss))
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Go(func() {
			errs[i] = s.Run(ctx)
			cancel() // one ending ends all
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
