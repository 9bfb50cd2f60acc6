package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/calicong/calico/internal/proc"
)

// startTimeout bounds how long one component may take to become healthy.
const startTimeout = 90 * time.Second

// supervisor runs the control plane's processes, restarts any that die and
// records what it is doing in status.json.
type supervisor struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client

	mu     sync.Mutex
	status Status
	procs  map[string]*exec.Cmd
	nodes  []component // the node agents, once started
}

// Supervise runs the lab's control plane in the foreground until ctx is
// cancelled, then stops every component in reverse start order. It is the
// body of the hidden `calico-lab supervise` command that `Up` starts in the
// background.
func Supervise(ctx context.Context, cfg Config, log *slog.Logger) error {
	client, err := healthClient(cfg)
	if err != nil {
		return err
	}
	s := &supervisor{cfg: cfg, log: log, client: client, procs: map[string]*exec.Cmd{}}
	s.status = Status{SupervisorPID: os.Getpid(), Phase: PhaseStarting}
	comps := components(cfg)
	for _, c := range comps {
		s.status.Components = append(s.status.Components, ComponentStatus{Name: c.name, State: "pending", Since: time.Now()})
	}
	if err := writeFile(cfg.supervisorPIDFile(), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return err
	}
	// Holds from `calico-lab stop` end with the supervisor that honoured
	// them.
	if err := os.RemoveAll(cfg.heldDir()); err != nil {
		return err
	}
	s.save()

	var wg sync.WaitGroup
	defer func() {
		s.setPhase(PhaseStopping, "")
		for i := len(comps) - 1; i >= 0; i-- {
			s.stop(comps[i].name)
		}
		wg.Wait()
		s.save()
	}()

	for _, c := range comps {
		exited, err := s.start(c)
		if err == nil {
			err = s.waitHealthy(ctx, c, exited)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.update(c.name, func(cs *ComponentStatus) { cs.State = "failed" })
			s.setPhase(PhaseFailed, err.Error())
			return err
		}
		s.update(c.name, func(cs *ComponentStatus) { cs.State = "running"; cs.Since = time.Now() })
		log.Info("component ready", "component", c.name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.keepRunning(ctx, c, exited)
		}()
	}
	s.setPhase(PhaseRunning, "")
	go s.runNodes(ctx, &wg)
	<-ctx.Done()
	// Nodes go first: their pods are unwired while the API server is
	// still there.
	s.mu.Lock()
	nodes := s.nodes
	s.mu.Unlock()
	var sw sync.WaitGroup
	for _, c := range nodes {
		sw.Go(func() { s.stop(c.name) })
	}
	sw.Wait()
	return nil
}

// runNodes starts a node agent per sandbox node once `up` has made the
// nodes (nodes.json appears after the Calico resources are installed),
// all at once, and keeps them running.
func (s *supervisor) runNodes(ctx context.Context, wg *sync.WaitGroup) {
	if s.cfg.Nodes == 0 {
		return
	}
	var rec *nodesRecord
	for rec == nil {
		var err error
		if rec, err = readNodes(s.cfg); err != nil {
			s.log.Error("reading the nodes", "err", err)
		}
		if rec != nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	comps := nodeComponents(s.cfg, rec)
	s.mu.Lock()
	s.nodes = comps
	for _, c := range comps {
		s.status.Components = append(s.status.Components, ComponentStatus{Name: c.name, State: "pending", Since: time.Now()})
	}
	s.mu.Unlock()
	s.save()
	for _, c := range comps {
		wg.Go(func() {
			exited, err := s.start(c)
			if err == nil {
				err = s.waitHealthy(ctx, c, exited)
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Error("node agent failed to start; retrying", "node", c.name, "err", err)
				s.update(c.name, func(cs *ComponentStatus) { cs.State, cs.LastExit = "restarting", err.Error() })
				s.stop(c.name)
				var ok bool
				if exited, ok = s.restart(ctx, c); !ok {
					return
				}
			}
			s.update(c.name, func(cs *ComponentStatus) { cs.State = "running"; cs.Since = time.Now() })
			s.keepRunning(ctx, c, exited)
		})
	}
}

// start launches a component. The returned channel yields its exit error.
func (s *supervisor) start(c component) (<-chan error, error) {
	logFile, err := os.OpenFile(s.cfg.logPath(c.name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.cfg.KubeBinary, append([]string{c.name}, c.args...)...)
	if c.binary != "" {
		cmd = exec.Command(c.binary, c.args...)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The marker lets calico-lab tell the lab's processes from others by
	// what they run with, whatever their arguments (componentIsOurs).
	cmd.Env = append(append(os.Environ(), c.env...), componentMarker(s.cfg, c.name))
	// Components die with the supervisor, even if it is killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	waited, err := proc.Start(cmd, syscall.SIGKILL)
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", c.name, err)
	}
	s.mu.Lock()
	s.procs[c.name] = cmd
	s.mu.Unlock()
	s.update(c.name, func(cs *ComponentStatus) { cs.PID = cmd.Process.Pid; cs.State = "starting"; cs.Since = time.Now() })
	exited := make(chan error, 1)
	go func() {
		err := <-waited
		logFile.Close()
		exited <- err
	}()
	return exited, nil
}

func (s *supervisor) waitHealthy(ctx context.Context, c component, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("%s exited during start-up (%v); see %s", c.name, err, s.cfg.logPath(c.name))
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy after %v (last check: %v); see %s", c.name, startTimeout, lastErr, s.cfg.logPath(c.name))
		case <-tick.C:
			err := s.check(ctx, c.health)
			if err == nil {
				s.update(c.name, func(cs *ComponentStatus) { cs.LastCheck = "" })
				return nil
			}
			if lastErr == nil || err.Error() != lastErr.Error() {
				s.update(c.name, func(cs *ComponentStatus) { cs.LastCheck = err.Error() })
			}
			lastErr = err
		}
	}
}

func (s *supervisor) check(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	return nil
}

// keepRunning restarts a component whenever it exits, backing off while it
// keeps failing, and not while `calico-lab stop` holds it.
func (s *supervisor) keepRunning(ctx context.Context, c component, exited <-chan error) {
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-exited:
			if ctx.Err() != nil {
				return
			}
			if s.cfg.held(c.name) {
				s.log.Info("component stopped by calico-lab stop", "component", c.name)
				s.update(c.name, func(cs *ComponentStatus) {
					cs.State, cs.PID, cs.LastExit, cs.Since = "stopped", 0, "stopped by calico-lab stop", time.Now()
				})
				if !s.waitReleased(ctx, c.name) {
					return
				}
				s.log.Info("component started by calico-lab start", "component", c.name)
				s.update(c.name, func(cs *ComponentStatus) { cs.State = "starting" })
				break
			}
			s.log.Warn("component exited; restarting", "component", c.name, "err", err)
			s.update(c.name, func(cs *ComponentStatus) {
				cs.State, cs.PID, cs.LastExit = "restarting", 0, fmt.Sprint(err)
				cs.Restarts++
			})
		}
		var ok bool
		if exited, ok = s.restart(ctx, c); !ok {
			return
		}
		s.update(c.name, func(cs *ComponentStatus) { cs.State = "running"; cs.Since = time.Now() })
	}
}

// waitReleased waits until `calico-lab start` lifts the hold on a
// component; false if ctx ends first.
func (s *supervisor) waitReleased(ctx context.Context, name string) bool {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for s.cfg.held(name) {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// restart starts c again until it is healthy, backing off between tries. It
// returns false if ctx ends first.
func (s *supervisor) restart(ctx context.Context, c component) (<-chan error, bool) {
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
		exited, err := s.start(c)
		if err == nil {
			if err = s.waitHealthy(ctx, c, exited); err == nil {
				return exited, true
			}
			s.stop(c.name)
		}
		if ctx.Err() != nil {
			return nil, false
		}
		s.log.Error("restart failed", "component", c.name, "err", err)
		s.update(c.name, func(cs *ComponentStatus) { cs.State, cs.LastExit = "restarting", err.Error(); cs.Restarts++ })
	}
}

// stop terminates a component's process group gracefully.
func (s *supervisor) stop(name string) {
	s.mu.Lock()
	cmd := s.procs[name]
	delete(s.procs, name)
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	pid := cmd.Process.Pid
	stopPID(pid, 15*time.Second, sameProcess(pid))
	s.update(name, func(cs *ComponentStatus) { cs.State, cs.PID = "stopped", 0 })
}

func (s *supervisor) update(name string, f func(*ComponentStatus)) {
	s.mu.Lock()
	for i := range s.status.Components {
		if s.status.Components[i].Name == name {
			f(&s.status.Components[i])
		}
	}
	s.mu.Unlock()
	s.save()
}

func (s *supervisor) setPhase(p Phase, msg string) {
	s.mu.Lock()
	s.status.Phase, s.status.Message = p, msg
	s.mu.Unlock()
	s.save()
}

func (s *supervisor) save() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeStatus(s.cfg, &s.status); err != nil {
		s.log.Error("write status", "err", err)
	}
}

// healthClient trusts the lab CA and presents the administrator's
// certificate, which every health endpoint accepts.
func healthClient(cfg Config) (*http.Client, error) {
	caPEM, err := os.ReadFile(cfg.pkiPath("ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no certificate in lab CA file")
	}
	cert, err := tls.LoadX509KeyPair(cfg.pkiPath("apiserver-client.crt"), cfg.pkiPath("apiserver-client.key"))
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
			DisableKeepAlives: true,
		},
	}, nil
}
