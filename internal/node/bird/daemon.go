// Package bird runs and drives a BIRD 2 daemon: it installs a new
// configuration only after BIRD's own parser accepts it, reloads it in
// place through the control socket (sessions whose settings did not
// change stay up), restarts BIRD if it dies, and reads its state
// ("show protocols") for status reports.
package bird

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/calicong/calico/internal/node/bgp"
	"github.com/calicong/calico/internal/proc"
)

// Config places the daemon.
type Config struct {
	// Binary is the bird executable (default "bird" on $PATH).
	Binary string
	// ConfigDir holds bird.cfg and bird6.cfg; BIRD runs there.
	ConfigDir string
	// RunDir holds BIRD's control socket (bird2.ctl) and the one for
	// other tools (bird.ctl, see CompatSocket).
	RunDir string
	Log    *slog.Logger
	// Output, if set, hears each line BIRD writes (its log), besides
	// the log (calico-node keeps them as BGP logs).
	Output func(line string)
	// RestartBackoff is the first wait before restarting a BIRD that died
	// (default 1s, doubling to 30s).
	RestartBackoff time.Duration
	// GracefulStop stops BIRD with its `graceful restart` command rather
	// than SIGTERM: its peers keep this node's routes, as stale, for their
	// graceful-restart time instead of withdrawing them, and the kernel
	// keeps the routes BIRD installed (persist). The next BIRD (in the
	// same RunDir) starts in graceful-restart recovery (-R), so it prunes
	// none of them before its sessions have resent theirs, or 30 s have
	// passed: traffic flows while calico-node restarts.
	GracefulStop bool
}

// Daemon is one BIRD process and its configuration.
type Daemon struct {
	cfg       Config
	mu        sync.Mutex
	installed bool
	running   bool
	ready     chan struct{} // closed when a configuration is first installed
	restarts  int
}

// MainFile is the configuration BIRD is started with.
const MainFile = "bird.cfg"

// New makes a daemon; nothing runs until Run.
func New(cfg Config) *Daemon {
	if cfg.Binary == "" {
		cfg.Binary = "bird"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.RestartBackoff == 0 {
		cfg.RestartBackoff = time.Second
	}
	return &Daemon{cfg: cfg, ready: make(chan struct{})}
}

// Socket is the path of BIRD's own control socket.
func (d *Daemon) Socket() string { return filepath.Join(d.cfg.RunDir, DaemonSocketName) }

// CompatSocket is the control socket for other tools (bird.ctl), relayed
// to BIRD's with its tables' headings as BIRD 1.x prints them.
func (d *Daemon) CompatSocket() string { return filepath.Join(d.cfg.RunDir, CompatSocketName) }

// Restarts counts how often BIRD was started again after dying.
func (d *Daemon) Restarts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restarts
}

// Apply installs a configuration: it is written to a staging directory,
// checked by BIRD's parser (bird -p), moved into place and, if BIRD runs,
// loaded with "configure". A configuration BIRD rejects is not installed:
// the one running stays.
//
// The configuration can hold BGP passwords from Secrets: its directory is
// 0700 (made so if it exists with another mode) and its files 0600.
func (d *Daemon) Apply(ctx context.Context, c *bgp.Config) error {
	if err := os.MkdirAll(d.cfg.ConfigDir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(d.cfg.ConfigDir, 0o700); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(d.cfg.ConfigDir, ".staging-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	files := map[string]string{MainFile: c.Main, bgp.IPv6File: c.IPv6}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(stage, name), []byte(text), 0o600); err != nil {
			return err
		}
	}
	check := exec.CommandContext(ctx, d.cfg.Binary, "-p", "-c", MainFile)
	check.Dir = stage
	if out, err := check.CombinedOutput(); err != nil {
		return fmt.Errorf("BIRD rejects the new configuration (the running one stays): %v: %s", err, out)
	}
	// bird6.cfg first: bird.cfg includes it.
	for _, name := range []string{bgp.IPv6File, MainFile} {
		if err := os.Rename(filepath.Join(stage, name), filepath.Join(d.cfg.ConfigDir, name)); err != nil {
			return err
		}
	}
	d.mu.Lock()
	first, running := !d.installed, d.running
	d.installed = true
	d.mu.Unlock()
	if first {
		close(d.ready)
	}
	if !running {
		return nil // Run starts BIRD with it
	}
	if err := Configure(ctx, d.Socket(), ""); err != nil {
		return fmt.Errorf("reloading BIRD: %w", err)
	}
	return nil
}

// Run starts BIRD once a configuration is installed and keeps it running
// until ctx ends; then BIRD is stopped: for a graceful restart
// (Config.GracefulStop), or with SIGTERM, which tells its peers to
// withdraw this node's routes.
func (d *Daemon) Run(ctx context.Context) error {
	if _, err := exec.LookPath(d.cfg.Binary); err != nil {
		return fmt.Errorf("BIRD (%s) is not installed: %w", d.cfg.Binary, err)
	}
	select {
	case <-ctx.Done():
		return nil
	case <-d.ready:
	}
	if err := os.MkdirAll(d.cfg.RunDir, 0o755); err != nil {
		return err
	}
	compatDone := make(chan struct{})
	defer func() { <-compatDone }()
	go func() {
		defer close(compatDone)
		if err := serveCompat(ctx, d.CompatSocket(), d.Socket(), d.cfg.Log); err != nil {
			d.cfg.Log.Error("cannot serve BIRD's compatible control socket", "socket", d.CompatSocket(), "err", err)
		}
	}()
	backoff := d.cfg.RestartBackoff
	for {
		started := time.Now()
		err := d.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		d.cfg.Log.Error("BIRD exited; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		d.mu.Lock()
		d.restarts++
		d.mu.Unlock()
		if time.Since(started) > time.Minute {
			backoff = d.cfg.RestartBackoff
		} else {
			backoff = min(2*backoff, 30*time.Second)
		}
	}
}

func (d *Daemon) runOnce(ctx context.Context) error {
	_ = os.Remove(d.Socket())
	args := []string{"-f", "-c", MainFile, "-s", d.Socket(), "-P", filepath.Join(d.cfg.RunDir, "bird.pid")}
	if err := os.Remove(d.gracefulMarker()); err == nil {
		// The last BIRD stopped for a graceful restart: recover, so the
		// routes it left in the kernel stay until the sessions are back
		// and have resent theirs. A first start, or one after a crash,
		// syncs the kernel at once.
		args = append(args, "-R")
	}
	cmd := exec.Command(d.cfg.Binary, args...)
	cmd.Dir = d.cfg.ConfigDir
	// BIRD's output is logged line by line.
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	// BIRD goes with us if we die without stopping it.
	waited, err := proc.Start(cmd, syscall.SIGTERM)
	pw.Close()
	if err != nil {
		pr.Close()
		return fmt.Errorf("starting BIRD: %w", err)
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		d.logLines(pr)
		pr.Close()
	}()
	d.mu.Lock()
	d.running = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
	}()
	exited := make(chan error, 1)
	go func() {
		err := <-waited
		<-logged
		exited <- err
	}()
	// The configuration may have changed between installing and starting.
	go func() {
		if err := d.waitSocket(ctx); err == nil {
			_ = Configure(ctx, d.Socket(), "")
		}
	}()
	select {
	case err := <-exited:
		if err == nil {
			err = errors.New("exited with status 0")
		}
		return err
	case <-ctx.Done():
		d.stop(cmd.Process)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		return nil
	}
}

// stop asks BIRD to stop: through its control socket for a graceful
// restart, if configured and it answers, else with SIGTERM.
func (d *Daemon) stop(p *os.Process) {
	if d.cfg.GracefulStop {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := Command(ctx, d.Socket(), "graceful restart")
		if err == nil {
			if err := os.WriteFile(d.gracefulMarker(), nil, 0o644); err != nil {
				d.cfg.Log.Warn("cannot record the graceful restart; the next BIRD will not recover", "err", err)
			}
			d.cfg.Log.Info("BIRD stopping for a graceful restart: peers keep this node's routes meanwhile")
			return
		}
		d.cfg.Log.Warn("BIRD did not take the graceful restart; stopping it", "err", err)
	}
	_ = p.Signal(syscall.SIGTERM)
}

// gracefulMarker records, across calico-node restarts, that the last
// BIRD stopped for a graceful restart.
func (d *Daemon) gracefulMarker() string { return filepath.Join(d.cfg.RunDir, "bird.graceful-restart") }

// waitSocket waits for BIRD's control socket to answer.
func (d *Daemon) waitSocket(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := Command(cctx, d.Socket(), "show status")
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *Daemon) logLines(r io.Reader) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		d.cfg.Log.Info(s.Text(), "component", "bird")
		if d.cfg.Output != nil {
			d.cfg.Output(s.Text())
		}
	}
}
