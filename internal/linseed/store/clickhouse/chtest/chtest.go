// Package chtest runs a real ClickHouse server (Debian's
// clickhouse-server) for tests: a private instance on loopback ports,
// with its data in a temporary directory, stopped and removed afterwards.
package chtest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/calicong/calico/internal/chserver"
)

// Server is a running ClickHouse.
type Server struct {
	// Addr is the native protocol's address, HTTPAddr the HTTP one's.
	Addr, HTTPAddr string
	dir            string
	cmd            *exec.Cmd
	exited         chan struct{}
}

// Binary is the server's executable.
const Binary = chserver.Binary

// Available says whether the server is installed.
func Available() bool {
	_, err := exec.LookPath(Binary)
	return err == nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts a server with its data under a new temporary directory.
func Start() (*Server, error) { return StartIn("") }

// StartIn starts a server with its data under a new directory in parent
// (the system's temporary directory when "").
func StartIn(parent string) (*Server, error) {
	bin, err := exec.LookPath(Binary)
	if err != nil {
		return nil, fmt.Errorf("%s is not installed (apt-get install clickhouse-server): %w", Binary, err)
	}
	dir, err := os.MkdirTemp(parent, "cngt-clickhouse-")
	if err != nil {
		return nil, err
	}
	tcp, err1 := freePort()
	httpPort, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	config, err := chserver.WriteConfig(dir, tcp, httpPort)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, "--config-file="+config)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	out.Close()
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", tcp), HTTPAddr: fmt.Sprintf("127.0.0.1:%d", httpPort), dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.HTTPAddr + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			stdout, _ := os.ReadFile(filepath.Join(dir, "stdout.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("clickhouse-server exited at start:\n%s%s", tail(stdout), tail(log))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("clickhouse-server did not answer /ping within 30s")
		}
	}
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// Stop stops the server and removes its data.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	}
	os.RemoveAll(s.dir)
}

// Run starts a server for a test or benchmark and stops it when tb ends.
// Without ClickHouse installed it skips tb, or fails it where the
// prerequisites must be there (CALICO_BIN set, as in CI).
func Run(tb testing.TB) *Server {
	tb.Helper()
	if !Available() {
		if os.Getenv("CALICO_BIN") != "" {
			tb.Fatalf("%s is not installed; make deps installs it", Binary)
		}
		tb.Skipf("%s is not installed", Binary)
	}
	srv, err := Start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Stop)
	return srv
}
