package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Phase is the supervisor's overall state.
type Phase string

const (
	PhaseStarting Phase = "starting"
	PhaseRunning  Phase = "running"
	PhaseFailed   Phase = "failed"
	PhaseStopping Phase = "stopping"
)

// ComponentStatus is what the supervisor knows about one process.
type ComponentStatus struct {
	Name     string    `json:"name"`
	PID      int       `json:"pid,omitempty"`
	State    string    `json:"state"` // starting, running, restarting, failed, stopped
	Restarts int       `json:"restarts"`
	Since    time.Time `json:"since"`
	LastExit string    `json:"lastExit,omitempty"`
	// LastCheck is why the last health check of a starting component
	// failed.
	LastCheck string `json:"lastCheck,omitempty"`
}

// Status is the supervisor's report, kept in status.json.
type Status struct {
	SupervisorPID int               `json:"supervisorPID"`
	Phase         Phase             `json:"phase"`
	Message       string            `json:"message,omitempty"`
	Components    []ComponentStatus `json:"components"`
	Updated       time.Time         `json:"updated"`
}

// ReadStatus returns the supervisor's latest report.
func ReadStatus(cfg Config) (*Status, error) {
	data, err := os.ReadFile(cfg.statusFile())
	if err != nil {
		return nil, err
	}
	var st Status
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("read %s: %w", cfg.statusFile(), err)
	}
	return &st, nil
}

func writeStatus(cfg Config, st *Status) error {
	st.Updated = time.Now()
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(cfg.statusFile(), data, 0o600)
}

func readPIDFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return pid, nil
}

// processArgs returns the command line of a live process, or nil if there
// is no such process (or it is a zombie).
func processArgs(pid int) []string {
	if pid <= 0 {
		return nil
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
}

// isOurs tells whether pid is alive and still runs binary with all the
// given arguments: a recorded PID is only signalled after this check, so a
// PID reused by an unrelated process is never touched.
func isOurs(pid int, binary string, args ...string) bool {
	argv := processArgs(pid)
	if len(argv) == 0 || argv[0] != binary {
		return false
	}
	for _, want := range args {
		found := false
		for _, a := range argv[1:] {
			if a == want {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// componentMarker is the environment entry the supervisor starts a
// component with: its name and the lab's state directory.
func componentMarker(cfg Config, name string) string {
	return "CALICO_LAB_COMPONENT=" + name + "@" + cfg.StateDir
}

// hasEnv tells whether pid runs with the environment entry kv.
func hasEnv(pid int, kv string) bool {
	if pid <= 0 {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	for e := range strings.SplitSeq(string(data), "\x00") {
		if e == kv {
			return true
		}
	}
	return false
}

// componentIsOurs tells whether pid is still the lab's component of that
// name: a control-plane component of the kube-lab binary, a node agent,
// or calico-kube-controllers.
//
// Every test is specific to this lab's state directory: PIDs are reused
// quickly (pid_max may be 32768), and another lab on the machine runs
// the same binaries with the same component names.
func componentIsOurs(cfg Config, pid int, name string) bool {
	return hasEnv(pid, componentMarker(cfg, name)) ||
		(isOurs(pid, cfg.KubeBinary, name) && mentions(pid, cfg.StateDir)) ||
		isOurs(pid, cfg.Executable, "node-agent", "--state-dir="+cfg.StateDir, "--node="+name) ||
		isOurs(pid, filepath.Join(filepath.Dir(cfg.Executable), name), "--kubeconfig="+cfg.KubeconfigPath())
}

// mentions tells whether one of pid's arguments names a path under dir.
func mentions(pid int, dir string) bool {
	for _, a := range processArgs(pid) {
		if strings.Contains(a, dir+"/") {
			return true
		}
	}
	return false
}

// sameProcess is a stillOurs check for stopPID: pid still runs the
// command line it ran when first looked at (not a new process that was
// given the PID after it exited).
func sameProcess(pid int) func() bool {
	argv := processArgs(pid)
	return func() bool { return argv != nil && slices.Equal(processArgs(pid), argv) }
}

// supervisorPID returns the PID of this lab's running supervisor, or 0.
func supervisorPID(cfg Config) int {
	pid, err := readPIDFile(cfg.supervisorPIDFile())
	if err != nil {
		return 0
	}
	if !isOurs(pid, cfg.Executable, "supervise", "--state-dir="+cfg.StateDir) {
		return 0
	}
	return pid
}

// stopPID sends SIGTERM and waits up to grace for the process to exit, then
// kills it.
func stopPID(pid int, grace time.Duration, stillOurs func() bool) {
	if !stillOurs() {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !stillOurs() {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling a process we do not parent
	}
	if stillOurs() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
