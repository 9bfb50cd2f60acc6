// Package daemon is what the enterprise layer's daemons share: at start
// -version, a logger, a context cancelled by SIGINT or SIGTERM, and
// settings read from the environment; then serving HTTP until that
// context ends.
package daemon

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/calicong/calico/internal/buildinfo"
)

// Main parses the flags (-version prints the version and returns), then
// runs run until it returns or a signal cancels its context; a failure
// is logged as name's and exits 1.
func Main(name string, run func(ctx context.Context, log *slog.Logger) error) {
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Println(buildinfo.Version)
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, log)
	stop()
	if err != nil {
		log.Error(name+" failed", "err", err)
		os.Exit(1)
	}
}

// Env is the environment variable name, or def when it is unset or
// empty.
func Env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// ServeHTTP serves srv on ln until ctx ends, over TLS when srv has a
// TLS configuration; then it shuts srv down, giving requests in flight
// 10 s.
func ServeHTTP(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// Period is a positive duration from the environment variable name (def
// when unset), or an error that names the variable and an example.
func Period(name, def string) (time.Duration, error) {
	d, err := time.ParseDuration(Env(name, def))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q: a positive duration such as %s", name, os.Getenv(name), def)
	}
	return d, nil
}
