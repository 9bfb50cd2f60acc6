// Command calicoq answers questions about Calico policy: which endpoints a
// selector or policy selects, which policies apply to an endpoint, and
// which policy would allow or drop a packet.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/calicong/calico/internal/query"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := query.Run(ctx, os.Args[1:], query.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}
