// Command calicoctl manages projectcalico.org/v3 resources.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/calicong/calico/internal/ctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ctl.Run(ctx, os.Args[1:], ctl.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}
