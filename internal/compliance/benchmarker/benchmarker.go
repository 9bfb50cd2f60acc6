// Package benchmarker runs the CIS Kubernetes Benchmark (internal/compliance/cis)
// on one node, periodically, and writes each run's results to Linseed's
// /compliance/benchmarks as Calico Enterprise's benchmarker does: one
// document per node and run, with the benchmark's version, the node's
// Kubernetes version, and every test's status.
//
// It sees the node through NodeHost: the node's file system under a root
// (the DaemonSet mounts the host's / at /host) and its processes through
// a /proc (the DaemonSet shares the host's PID namespace).
package benchmarker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/calicong/calico/internal/compliance/cis"
	"github.com/calicong/calico/internal/linseed/api"
)

// BulkPath is where Linseed takes benchmark results.
const BulkPath = "/compliance/benchmarks/bulk"

// DefaultPeriod is how often the benchmark runs.
const DefaultPeriod = time.Hour

// Executables are the program names each component runs as; a process
// is a component's when its program is one of these, or its first
// argument is (a multi-call binary, as hyperkube was).
var Executables = map[string][]string{
	"apiserver":         {"kube-apiserver"},
	"controllermanager": {"kube-controller-manager"},
	"scheduler":         {"kube-scheduler"},
	"etcd":              {"etcd"},
	"kubelet":           {"kubelet"},
	"proxy":             {"kube-proxy"},
}

// NodeHost is a node seen from the benchmarker.
type NodeHost struct {
	// Root is where the node's file system is ("/", or "/host").
	Root string
	// Proc is the node's /proc.
	Proc string
	// CmdlineFilter, when set, must be in a process's command line for
	// it to count (the lab's processes name its state directory).
	CmdlineFilter string

	users, groups map[int]string
}

// Files implements cis.Host: the files under Root a path or glob names,
// with their owners by the node's names for them.
func (h *NodeHost) Files(pattern string) ([]cis.File, error) {
	matches, err := filepath.Glob(filepath.Join(h.Root, pattern))
	if err != nil {
		return nil, err
	}
	if h.users == nil {
		h.users = readIDs(filepath.Join(h.Root, "etc/passwd"))
		h.groups = readIDs(filepath.Join(h.Root, "etc/group"))
	}
	var out []cis.File
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil {
			continue
		}
		f := cis.File{Path: strings.TrimPrefix(m, strings.TrimSuffix(h.Root, "/")), Mode: fi.Mode().Perm()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			f.Owner, f.Group = name(h.users, int(st.Uid)), name(h.groups, int(st.Gid))
		}
		out = append(out, f)
	}
	return out, nil
}

func name(names map[int]string, id int) string {
	if n, ok := names[id]; ok {
		return n
	}
	if id == 0 {
		return "root"
	}
	return strconv.Itoa(id)
}

// readIDs reads /etc/passwd or /etc/group: name:x:id:...
func readIDs(path string) map[int]string {
	out := map[int]string{}
	data, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 {
			continue
		}
		if id, err := strconv.Atoi(f[2]); err == nil {
			if _, seen := out[id]; !seen {
				out[id] = f[0]
			}
		}
	}
	return out
}

// ReadFile implements cis.Host.
func (h *NodeHost) ReadFile(path string) ([]byte, error) {
	return os.ReadFile(filepath.Join(h.Root, path))
}

// Process implements cis.Host: the first process, by PID, running the
// component.
func (h *NodeHost) Process(component string) ([]string, bool) {
	names := Executables[component]
	entries, err := os.ReadDir(h.Proc)
	if err != nil {
		return nil, false
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(h.Proc, e.Name(), "cmdline"))
		if err != nil || len(data) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		if h.CmdlineFilter != "" && !strings.Contains(string(data), h.CmdlineFilter) {
			continue
		}
		for _, n := range names {
			if filepath.Base(argv[0]) == n {
				return argv[1:], true
			}
			if len(argv) > 1 && argv[1] == n {
				return argv[2:], true
			}
		}
	}
	return nil, false
}

// Benchmarker runs the benchmark on a node every period.
type Benchmarker struct {
	Node      string
	Benchmark *cis.Benchmark
	Host      cis.Host
	Options   cis.Options
	// KubernetesVersion is the node's (the API server's, when unknown).
	KubernetesVersion func(ctx context.Context) (string, error)
	Linseed           interface {
		Bulk(ctx context.Context, method, path string, records []any) (api.BulkResponse, error)
	}
	Period  time.Duration
	Log     *slog.Logger
	Metrics *Metrics
}

// Once runs the benchmark and writes its result.
func (b *Benchmarker) Once(ctx context.Context) (*cis.Result, error) {
	r := &cis.Result{Version: b.Benchmark.Version, Type: "kube", NodeName: b.Node, Timestamp: time.Now().UTC(),
		Tests: cis.Run(b.Benchmark, b.Host, b.Options)}
	if r.Tests == nil {
		r.Tests = []cis.Test{}
	}
	if b.KubernetesVersion != nil {
		v, err := b.KubernetesVersion(ctx)
		if err != nil {
			r.Error = fmt.Sprintf("the Kubernetes version: %v", err)
		}
		r.KubernetesVersion = v
	}
	if len(r.Tests) == 0 && r.Error == "" {
		r.Error = "no section of the benchmark applies to this node: no control-plane process, and no kubelet"
	}
	if _, err := b.Linseed.Bulk(ctx, "POST", BulkPath, []any{r}); err != nil {
		return r, fmt.Errorf("writing the results to Linseed: %w", err)
	}
	b.Metrics.record(r)
	return r, nil
}

// Run benchmarks at once and then every period, until ctx ends.
func (b *Benchmarker) Run(ctx context.Context) {
	period := b.Period
	if period <= 0 {
		period = DefaultPeriod
	}
	for {
		r, err := b.Once(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.Metrics.failed()
			b.Log.Warn("benchmark failed; retrying next period", "err", err)
		} else {
			s := cis.Count(r.Tests, true)
			b.Log.Info("benchmark", "version", r.Version, "pass", s.Pass, "fail", s.Fail, "info", s.Info)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
	}
}
