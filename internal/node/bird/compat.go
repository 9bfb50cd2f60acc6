package bird

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
)

// CompatSocketName is the control socket other tools dial: upstream
// Calico's calicoctl node status and birdcl scripts use
// /var/run/calico/bird.ctl. BIRD itself listens on DaemonSocketName.
const (
	CompatSocketName = "bird.ctl"
	DaemonSocketName = "bird2.ctl"
)

// serveCompat relays every connection to path to BIRD's own socket.
// Replies pass unchanged but for one line: the heading of a table
// (code 2002, "Name Proto Table State Since Info" from BIRD 2) is
// lower-cased as BIRD 1.x prints it, which upstream calicoctl's node
// status requires (calicoctl/calicoctl/commands/node/status.go,
// scanBIRDPeers). It serves until ctx ends.
func serveCompat(ctx context.Context, path, daemon string, log *slog.Logger) error {
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Go(func() {
			if err := relay(ctx, c, daemon); err != nil {
				log.Debug("BIRD control connection", "err", err)
			}
		})
	}
}

func relay(ctx context.Context, client net.Conn, daemon string) error {
	defer client.Close()
	var d net.Dialer
	bird, err := d.DialContext(ctx, "unix", daemon)
	if err != nil {
		// Say so as BIRD says an error, then hang up.
		_, _ = io.WriteString(client, "9999 BIRD is not running: "+err.Error()+"\n")
		return err
	}
	defer bird.Close()
	go func() {
		_, _ = io.Copy(bird, client)
		if c, ok := bird.(*net.UnixConn); ok {
			_ = c.CloseWrite()
		}
	}()
	r := bufio.NewReader(bird)
	for {
		line, err := r.ReadBytes('\n')
		if bytes.HasPrefix(line, []byte("2002-")) {
			line = append(line[:5], bytes.ToLower(line[5:])...)
		}
		if len(line) > 0 {
			if _, werr := client.Write(line); werr != nil {
				return werr
			}
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
