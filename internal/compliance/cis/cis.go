// Package cis is the CIS Kubernetes Benchmark as data, and its
// evaluation against what a node shows: the benchmarker gathers a node's
// files and processes (Host) and Run turns the benchmark's checks into
// results with Calico's status values (PASS, FAIL, INFO). Every check is
// data (benchmarks/*.yaml): an id, its text, whether it is scored, and
// how it is tested; nothing here knows a check by its number.
package cis

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Statuses, as Calico Enterprise's benchmark results have them.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Info = "INFO"
)

// Benchmark is one version of the CIS Kubernetes Benchmark.
type Benchmark struct {
	// Version is the benchmark's version ("1.9").
	Version string `json:"version"`
	// Paths are the default files and directories checks name as
	// $variables (kubeadm's layout); a benchmarker may override each.
	Paths    map[string]string `json:"paths"`
	Sections []Section         `json:"sections"`
}

// Section is a group of checks on one component (1.1 "Control Plane
// Node Configuration Files" on the API server's node, 4.2 "Kubelet" on
// every node with a kubelet).
type Section struct {
	ID   string `json:"id"`
	Text string `json:"text"`
	// Component is what must be on the node for the section to apply:
	// apiserver, controllermanager, scheduler, etcd (a running process),
	// kubelet (a running process or its config file), proxy.
	Component string  `json:"component"`
	Checks    []Check `json:"checks"`
}

// Check is one recommendation and how it is tested. A check with
// neither files nor settings is manual: its result is INFO.
type Check struct {
	ID     string `json:"id"`
	Text   string `json:"text"`
	Scored bool   `json:"scored"`
	// File tests a file's permissions and ownership.
	File *FileTest `json:"file,omitempty"`
	// Settings all must hold (a component's flags, or keys of its
	// config file).
	Settings []Setting `json:"settings,omitempty"`
	// Remediation is what to do about a failure.
	Remediation string `json:"remediation,omitempty"`
}

// FileTest checks every file that Path names (a $variable from the
// benchmark's paths may start it; a glob may end it). A file that does
// not exist gives INFO.
type FileTest struct {
	Path string `json:"path"`
	// Mode is the most permissive mode allowed, in octal ("600"): a
	// permission bit outside it fails.
	Mode string `json:"mode,omitempty"`
	// Owner is "user:group" by name ("root:root").
	Owner string `json:"owner,omitempty"`
}

// Setting tests one setting of the section's component: its command
// line flag, else (for the kubelet) a key of its config file, else its
// default.
type Setting struct {
	// Flag is the command line flag ("--anonymous-auth").
	Flag string `json:"flag,omitempty"`
	// Config is a dotted key of the component's config file
	// ("authentication.anonymous.enabled"), consulted when the flag is
	// not given.
	Config string `json:"config,omitempty"`
	// Op compares the setting's value with Value:
	//   eq, noteq          equal, not equal (a missing setting is not equal)
	//   has, nothas        a comma-separated value contains Value, or not
	//   set, unset         the setting is given, or not (Value unused)
	//   gte, lte           numbers: at least, at most
	Op    string `json:"op"`
	Value string `json:"value,omitempty"`
	// Default is the component's value when neither flag nor key is given.
	Default *string `json:"default,omitempty"`
}

//go:embed benchmarks/*.yaml
var builtin embed.FS

// Load reads the benchmarks shipped with this build, by version.
func Load() (map[string]*Benchmark, error) {
	out := map[string]*Benchmark{}
	err := fs.WalkDir(builtin, "benchmarks", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := builtin.ReadFile(p)
		if err != nil {
			return err
		}
		b, err := Parse(data)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		out[b.Version] = b
		return nil
	})
	return out, err
}

// Latest is the newest shipped benchmark.
func Latest() (*Benchmark, error) {
	all, err := Load()
	if err != nil {
		return nil, err
	}
	versions := make([]string, 0, len(all))
	for v := range all {
		versions = append(versions, v)
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("no benchmarks shipped")
	}
	sort.Slice(versions, func(i, j int) bool { return versionLess(versions[i], versions[j]) })
	return all[versions[len(versions)-1]], nil
}

func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		var x, y int
		fmt.Sscan(as[i], &x)
		fmt.Sscan(bs[i], &y)
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

// Components are what sections are checked on (and what TARGETS name).
var Components = []string{"apiserver", "controllermanager", "scheduler", "etcd", "kubelet", "proxy"}
var ops = map[string]bool{"eq": true, "noteq": true, "has": true, "nothas": true, "set": true, "unset": true, "gte": true, "lte": true}

// Parse reads and checks one benchmark.
func Parse(data []byte) (*Benchmark, error) {
	var b Benchmark
	if err := yaml.UnmarshalStrict(data, &b); err != nil {
		return nil, err
	}
	if b.Version == "" {
		return nil, fmt.Errorf("version: required")
	}
	seen := map[string]bool{}
	for _, s := range b.Sections {
		if !slices.Contains(Components, s.Component) {
			return nil, fmt.Errorf("section %s: component %q: one of apiserver, controllermanager, scheduler, etcd, kubelet, proxy", s.ID, s.Component)
		}
		for _, c := range s.Checks {
			where := fmt.Sprintf("check %s", c.ID)
			if c.ID == "" || !strings.HasPrefix(c.ID, s.ID+".") {
				return nil, fmt.Errorf("%s: its id must start with its section's (%s.)", where, s.ID)
			}
			if seen[c.ID] {
				return nil, fmt.Errorf("%s: a second check with this id", where)
			}
			seen[c.ID] = true
			if c.Text == "" {
				return nil, fmt.Errorf("%s: text: required", where)
			}
			if c.File != nil && len(c.Settings) > 0 {
				return nil, fmt.Errorf("%s: a file test or settings, not both", where)
			}
			if f := c.File; f != nil {
				if f.Path == "" || (f.Mode == "" && f.Owner == "") {
					return nil, fmt.Errorf("%s: file: a path, and a mode or an owner", where)
				}
				if f.Mode != "" {
					if _, err := parseMode(f.Mode); err != nil {
						return nil, fmt.Errorf("%s: file.mode: %w", where, err)
					}
				}
				if f.Owner != "" && !strings.Contains(f.Owner, ":") {
					return nil, fmt.Errorf("%s: file.owner %q: user:group", where, f.Owner)
				}
				if v := pathVariable(f.Path); v != "" && b.Paths[v] == "" {
					return nil, fmt.Errorf("%s: file.path names $%s, which paths does not define", where, v)
				}
			}
			for i, st := range c.Settings {
				if st.Flag == "" && st.Config == "" {
					return nil, fmt.Errorf("%s: settings[%d]: a flag or a config key", where, i)
				}
				if !ops[st.Op] {
					return nil, fmt.Errorf("%s: settings[%d].op %q: one of eq, noteq, has, nothas, set, unset, gte, lte", where, i, st.Op)
				}
				if st.Op != "set" && st.Op != "unset" && st.Value == "" {
					return nil, fmt.Errorf("%s: settings[%d]: op %s needs a value", where, i, st.Op)
				}
			}
		}
	}
	return &b, nil
}

// pathVariable is the $variable a path starts with, if any.
func pathVariable(p string) string {
	if !strings.HasPrefix(p, "$") {
		return ""
	}
	v, _, _ := strings.Cut(p[1:], "/")
	return v
}
