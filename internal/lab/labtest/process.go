package labtest

import (
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/calicong/calico/internal/proc"
)

// LogBuffer collects a process's output while a test reads it.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Process is a program a test runs: its output is kept, it dies with the
// test (SIGKILL at cleanup, and with the test binary), and its output is
// logged if the test failed.
type Process struct {
	Cmd  *exec.Cmd
	Logs LogBuffer
	done chan struct{}
	err  error
}

// StartProcess starts cmd (its stdout and stderr go to Logs) and arranges
// its end.
func StartProcess(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.Logs, &p.Logs
	exited, err := proc.Start(cmd, syscall.SIGKILL)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = <-exited
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s:\n%s", name, p.Logs.String())
		}
	})
	return p
}

// Done is closed when the process has exited; Err is then its exit.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit (valid once Done is closed).
func (p *Process) Err() error { return p.err }

// Kill ends the process at once and waits for it.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Stop sends SIGTERM and waits for the process to exit.
func (p *Process) Stop() error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	return p.err
}
