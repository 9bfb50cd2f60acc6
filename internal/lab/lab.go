package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/calicong/calico/internal/manifests"
)

// ErrNotUp is returned by commands that need a running lab.
var ErrNotUp = errors.New("the lab is not up (start it with `calico-lab up`)")

// upTimeout bounds the whole bring-up when the caller's context has no
// deadline of its own. On an idle machine a lab of three nodes is up in
// well under a minute; the margin is for machines busy with other work
// (CI runs several labs' test packages at once).
const upTimeout = 5 * time.Minute

// Up creates and starts a lab and returns once the control plane is ready
// and the Calico resources are installed. If the lab is already up it says
// so and changes nothing. On failure nothing is left running.
func Up(ctx context.Context, cfg Config, out io.Writer) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if pid := supervisorPID(cfg); pid != 0 {
		fmt.Fprintf(out, "The lab is already up (state in %s, supervisor PID %d); nothing changed.\nRun `calico-lab down` first to start a new one.\n", cfg.StateDir, pid)
		return nil
	}
	if exists(cfg.configFile()) {
		fmt.Fprintf(out, "Cleaning up the remains of a lab that is no longer running in %s.\n", cfg.StateDir)
		if err := Down(ctx, cfg, io.Discard); err != nil {
			return fmt.Errorf("clean up old lab: %w", err)
		}
	} else if entries, _ := os.ReadDir(cfg.StateDir); len(entries) > 0 {
		return fmt.Errorf("state directory %s is not empty and does not hold a lab; choose another with --state-dir", cfg.StateDir)
	}
	if err := cfg.checkPorts(); err != nil {
		return err
	}

	start := time.Now()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, upTimeout)
		defer cancel()
	}
	if err := os.MkdirAll(cfg.path("logs"), 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	// lab.json marks the directory as a lab's: Down only removes
	// directories that carry it.
	data, _ := json.MarshalIndent(cfg, "", "  ")
	if err := writeFile(cfg.configFile(), data, 0o600); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			stopSupervisor(cfg)
			err = fmt.Errorf("%w\nLogs are in %s; `calico-lab down` removes them", err, cfg.path("logs"))
		}
	}()
	if err := generateFiles(cfg); err != nil {
		return fmt.Errorf("generate certificates and kubeconfigs: %w", err)
	}
	if err := startSupervisor(cfg); err != nil {
		return err
	}
	if err := waitRunning(ctx, cfg, out, start); err != nil {
		return err
	}
	if err := install(ctx, cfg, out); err != nil {
		return fmt.Errorf("install Calico resources: %w", err)
	}
	if cfg.Nodes > 0 {
		if _, err := createNodes(cfg); err != nil {
			return fmt.Errorf("create the sandbox nodes: %w", err)
		}
		if err := waitNodes(ctx, cfg, out, start); err != nil {
			return err
		}
		if err := installClusterDNS(ctx, cfg, out, start); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "The lab is up (%.1fs).\n", time.Since(start).Seconds())
	if cfg.Nodes > 0 {
		tok, _ := os.ReadFile(cfg.AdminTokenFile())
		fmt.Fprintf(out, "\nThe console is at %s (the lab's CA: %s). Log in as the lab's administrator with this token\n(also in %s, and MANAGER_TOKEN in `calico-lab env`):\n\n%s\n\n",
			cfg.ManagerURL(), cfg.CAPath(), cfg.AdminTokenFile(), strings.TrimSpace(string(tok)))
	}
	return nil
}

// waitNodes follows the supervisor's status until every node agent is
// ready: the node registered, calico-node ready on it.
func waitNodes(ctx context.Context, cfg Config, out io.Writer, start time.Time) error {
	want := map[string]bool{"calico-kube-controllers": true}
	if cfg.ManagerPort != 0 {
		want[manifests.ManagerName] = true
	}
	for i := range cfg.Nodes {
		want[NodeName(i)] = true
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		st, _ := ReadStatus(cfg)
		if st != nil {
			for _, c := range st.Components {
				if want[c.Name] && c.State == "running" {
					delete(want, c.Name)
					fmt.Fprintf(out, "  %-24s ready (%.1fs)\n", c.Name, time.Since(start).Seconds())
				}
			}
			if len(want) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			var names []string
			for n := range want {
				names = append(names, n)
			}
			return fmt.Errorf("nodes %v not ready in time; see %s and %s", names, cfg.path("logs"), cfg.path("nodes"))
		case <-tick.C:
		}
	}
}

// startSupervisor runs `calico-lab supervise` in its own session so that
// it outlives this command.
func startSupervisor(cfg Config) error {
	logFile, err := os.OpenFile(cfg.logPath("supervisor"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(cfg.Executable, "supervise", "--state-dir="+cfg.StateDir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	// Reap it if it exits while we are still here; otherwise init will.
	go cmd.Wait()
	return nil
}

// waitRunning follows the supervisor's status until every component is
// ready, printing each as it becomes ready.
func waitRunning(ctx context.Context, cfg Config, out io.Writer, start time.Time) error {
	reported := map[string]bool{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		st, _ := ReadStatus(cfg)
		if st != nil {
			for _, c := range st.Components {
				if c.State == "running" && !reported[c.Name] {
					reported[c.Name] = true
					fmt.Fprintf(out, "  %-24s ready (%.1fs)\n", c.Name, time.Since(start).Seconds())
				}
			}
			switch st.Phase {
			case PhaseRunning:
				return nil
			case PhaseFailed:
				return fmt.Errorf("control plane failed to start: %s%s", st.Message, logTail(cfg, failed(st)))
			}
			if processArgs(st.SupervisorPID) == nil {
				return fmt.Errorf("supervisor exited unexpectedly; see %s", cfg.logPath("supervisor"))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("control plane not ready in time: %w%s", ctx.Err(), notReady(cfg, st))
		case <-tick.C:
		}
	}
}

// failed returns the name of the component that failed, if any.
func failed(st *Status) string {
	for _, c := range st.Components {
		if c.State == "failed" {
			return c.Name
		}
	}
	return ""
}

// notReady says which components were not ready when the bring-up gave
// up, how long each had been in its state and why its last health check
// failed, with the log of the first one still starting.
func notReady(cfg Config, st *Status) string {
	if st == nil {
		return " (the supervisor wrote no status)"
	}
	var b strings.Builder
	first := ""
	for _, c := range st.Components {
		if c.State == "running" {
			continue
		}
		fmt.Fprintf(&b, "\n  %s: %s", c.Name, c.State)
		if !c.Since.IsZero() && c.State != "pending" {
			fmt.Fprintf(&b, " for %s", time.Since(c.Since).Round(time.Second))
		}
		if c.LastCheck != "" {
			fmt.Fprintf(&b, " (last health check: %s)", c.LastCheck)
		}
		if c.LastExit != "" {
			fmt.Fprintf(&b, " (last exit: %s)", c.LastExit)
		}
		if first == "" && c.State != "pending" {
			first = c.Name
		}
	}
	return b.String() + logTail(cfg, first)
}

// logTail returns the last lines of a component's log.
func logTail(cfg Config, name string) string {
	if name == "" {
		return ""
	}
	f, err := os.Open(cfg.logPath(name))
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 15 {
			lines = lines[1:]
		}
	}
	return "\nLast lines of " + cfg.logPath(name) + ":\n  " + strings.Join(lines, "\n  ")
}

// stopSupervisor stops the supervisor (which stops its components) and
// then any component it left behind.
func stopSupervisor(cfg Config) (stopped bool) {
	st, _ := ReadStatus(cfg)
	if pid := supervisorPID(cfg); pid != 0 {
		stopped = true
		stopPID(pid, 60*time.Second, func() bool {
			return isOurs(pid, cfg.Executable, "supervise", "--state-dir="+cfg.StateDir)
		})
	}
	if st == nil {
		return stopped
	}
	for _, c := range st.Components {
		pid := c.PID
		ours := func() bool { return componentIsOurs(cfg, pid, c.Name) }
		if ours() {
			stopped = true
			stopPID(pid, 30*time.Second, ours)
		}
	}
	return stopped
}

// Down stops everything the lab runs and removes all of its state.
func Down(ctx context.Context, cfg Config, out io.Writer) error {
	if !exists(cfg.configFile()) {
		if entries, _ := os.ReadDir(cfg.StateDir); len(entries) > 0 {
			return fmt.Errorf("%s does not hold a lab (no lab.json); not touching it", cfg.StateDir)
		}
		fmt.Fprintln(out, "The lab is not up; nothing to do.")
		return nil
	}
	// Use the configuration the lab was started with, so the right
	// processes are found even if flags differ now.
	if saved, err := LoadConfig(cfg.StateDir); err == nil && saved.StateDir == cfg.StateDir {
		cfg = saved
	}
	stopped := stopSupervisor(cfg)
	if err := removeNodes(cfg); err != nil {
		return fmt.Errorf("remove the sandbox nodes: %w", err)
	}
	if err := os.RemoveAll(cfg.StateDir); err != nil {
		return fmt.Errorf("remove %s: %w", cfg.StateDir, err)
	}
	if stopped {
		fmt.Fprintf(out, "The lab is down; removed %s.\n", cfg.StateDir)
	} else {
		fmt.Fprintf(out, "Removed the remains of a stopped lab in %s.\n", cfg.StateDir)
	}
	return nil
}

// PrintStatus describes what the lab runs: every component (the
// control plane, calico-kube-controllers, each node's agent and what the
// agent runs in the node: calico-node, kube-proxy, calico-typha) with its
// PID, restarts and readiness; format "json" prints the StatusReport. It
// returns ErrNotUp if the lab is not running, and an error if it is not
// running well.
func PrintStatus(ctx context.Context, cfg Config, out io.Writer, format string) error {
	rep, err := Report(ctx, cfg)
	if err != nil {
		return err
	}
	switch format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	case "", "table":
		fmt.Fprintf(out, "Lab:        %s (state in %s, supervisor PID %d)\n", rep.Phase, rep.StateDir, rep.SupervisorPID)
		fmt.Fprintf(out, "API server: %s\n", rep.APIServer)
		fmt.Fprintf(out, "Kubeconfig: %s\n\n", rep.Kubeconfig)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "COMPONENT\tNODE\tPID\tSTATE\tRESTARTS\tREADY\tSINCE")
		for _, c := range rep.Components {
			pid, node, ready, since := "-", "-", "yes", "-"
			if c.PID != 0 {
				pid = fmt.Sprint(c.PID)
			}
			if c.Node != "" {
				node = c.Node
			}
			if !c.Ready {
				ready = "no"
				if c.Detail != "" {
					ready = "no: " + firstLine(c.Detail)
				}
			}
			if !c.Since.IsZero() {
				since = time.Since(c.Since).Round(time.Second).String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", c.Name, node, pid, c.State, c.Restarts, ready, since)
		}
		tw.Flush()
	default:
		return fmt.Errorf("%w: -o %q: use table or json", ErrUsage, format)
	}
	if rep.Phase != PhaseRunning {
		return fmt.Errorf("the lab is %s: %s", rep.Phase, rep.Message)
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// ComponentReport is one process the lab runs, where, and whether it is
// ready.
type ComponentReport struct {
	Name string `json:"name"`
	// Node is the sandbox node it runs in ("" for the control plane and
	// what runs beside it on the host).
	Node     string    `json:"node,omitempty"`
	PID      int       `json:"pid,omitempty"`
	State    string    `json:"state"`
	Restarts int       `json:"restarts"`
	Ready    bool      `json:"ready"`
	Detail   string    `json:"detail,omitempty"` // why it is not ready
	Since    time.Time `json:"since,omitzero"`
}

// StatusReport is `calico-lab status`.
type StatusReport struct {
	Phase         Phase             `json:"phase"`
	Message       string            `json:"message,omitempty"`
	StateDir      string            `json:"stateDir"`
	SupervisorPID int               `json:"supervisorPID"`
	APIServer     string            `json:"apiServer"`
	Kubeconfig    string            `json:"kubeconfig"`
	Components    []ComponentReport `json:"components"`
}

// Report gathers the status: the supervisor's record of its processes,
// their readiness asked now, and each node agent's own components.
func Report(ctx context.Context, cfg Config) (*StatusReport, error) {
	pid := supervisorPID(cfg)
	if pid == 0 {
		return nil, ErrNotUp
	}
	// The running lab's own settings (its ports), not the command line's.
	cfg, err := LoadConfig(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	st, err := ReadStatus(cfg)
	if err != nil {
		return nil, err
	}
	rec, err := readNodes(cfg)
	if err != nil {
		return nil, err
	}
	health := map[string]string{}
	cs := components(cfg)
	if rec != nil {
		cs = append(cs, nodeComponents(cfg, rec)...)
	}
	for _, c := range cs {
		health[c.name] = c.health
	}
	client, err := healthClient(cfg)
	if err != nil {
		return nil, err
	}
	check := func(url string) error {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(cctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	}
	rep := &StatusReport{Phase: st.Phase, Message: st.Message, StateDir: cfg.StateDir, SupervisorPID: pid,
		APIServer: cfg.APIServerURL(), Kubeconfig: cfg.KubeconfigPath()}
	for _, c := range st.Components {
		r := ComponentReport{Name: c.Name, PID: c.PID, State: c.State, Restarts: c.Restarts, Since: c.Since, Detail: c.LastExit}
		port, isNode := 0, false
		if rec != nil {
			port, isNode = rec.AgentPorts[c.Name]
			if c.Name == monitoringName {
				port, isNode = rec.Monitoring.Agent, true
			}
		}
		if isNode && c.Name != monitoringName {
			r.Name, r.Node = "node-agent", c.Name
		}
		if url := health[c.Name]; url != "" && c.State == "running" {
			if err := check(url); err != nil {
				r.Detail = err.Error()
			} else {
				r.Ready, r.Detail = true, ""
			}
		}
		rep.Components = append(rep.Components, r)
		if !isNode {
			continue
		}
		var inNode []ComponentReport
		err := func() error {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(cctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/components", port), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return json.NewDecoder(resp.Body).Decode(&inNode)
		}()
		if err != nil {
			rep.Components = append(rep.Components, ComponentReport{Name: "calico-node", Node: c.Name, State: "unknown",
				Detail: "the node agent does not answer: " + err.Error()})
			continue
		}
		rep.Components = append(rep.Components, inNode...)
	}
	return rep, nil
}

// Env prints the shell commands that point kubectl and calicoctl at the
// lab, Linseed's users at its log API and Prometheus's at the Prometheus
// API service (with the lab's ports, as it was started).
func Env(cfg Config, out io.Writer) error {
	if supervisorPID(cfg) == 0 {
		return ErrNotUp
	}
	if saved, err := LoadConfig(cfg.StateDir); err == nil {
		cfg = saved
	}
	fmt.Fprintf(out, "export KUBECONFIG=%s\n", cfg.KubeconfigPath())
	fmt.Fprintf(out, "export CALICO_LAB_CA=%s\n", cfg.CAPath())
	fmt.Fprintf(out, "export LINSEED_URL=%s\n", cfg.LinseedURL())
	fmt.Fprintf(out, "export LINSEED_CLIENT_CERT=%s\n", cfg.LinseedClientCert())
	fmt.Fprintf(out, "export LINSEED_CLIENT_KEY=%s\n", cfg.LinseedClientKey())
	if tok, err := os.ReadFile(cfg.LinseedTokenFile()); err == nil {
		fmt.Fprintf(out, "export LINSEED_TOKEN=%s\n", strings.TrimSpace(string(tok)))
	}
	if rec, _ := readNodes(cfg); rec != nil && cfg.ManagerPort != 0 {
		fmt.Fprintf(out, "export MANAGER_URL=%s\n", cfg.ManagerURL())
		if tok, err := os.ReadFile(cfg.AdminTokenFile()); err == nil {
			fmt.Fprintf(out, "export MANAGER_TOKEN=%s\n", strings.TrimSpace(string(tok)))
		}
	}
	if url := cfg.PacketCaptureURL(); url != "" {
		fmt.Fprintf(out, "export CALICO_PACKETCAPTURE_URL=%s\n", url)
	}
	if url := cfg.PrometheusURL(); url != "" {
		fmt.Fprintf(out, "export PROMETHEUS_URL=%s\n", url)
		if tok, err := os.ReadFile(cfg.PrometheusTokenFile()); err == nil {
			fmt.Fprintf(out, "export PROMETHEUS_TOKEN=%s\n", strings.TrimSpace(string(tok)))
		}
	}
	return nil
}
