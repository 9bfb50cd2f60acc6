package cis

import (
	"fmt"
	"io/fs"

	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// File is what a node shows of one file.
type File struct {
	Path         string
	Mode         fs.FileMode // permission bits
	Owner, Group string      // by name (or number, when the node has no name for it)
}

// Host is what the benchmark looks at on a node.
type Host interface {
	// Files are the files a path, or a glob, names (none when there are
	// none).
	Files(pattern string) ([]File, error)
	// ReadFile reads a file (a component's config file).
	ReadFile(path string) ([]byte, error)
	// Process is the command line of the component's running process,
	// its arguments after the program's name.
	Process(component string) (args []string, ok bool)
}

// Options choose what runs.
type Options struct {
	// Paths override the benchmark's default paths by variable name.
	Paths map[string]string
	// Targets, when set, are the only components whose sections run
	// (kube-bench's targets); others are judged by what the node runs.
	Targets []string
}

// Result is one node's run of a benchmark, as Linseed's
// /compliance/benchmarks stores it (Calico Enterprise's Benchmarks
// document).
type Result struct {
	Version           string    `json:"version"`
	KubernetesVersion string    `json:"kubernetesVersion"`
	Type              string    `json:"type"`
	NodeName          string    `json:"node_name"`
	Timestamp         time.Time `json:"timestamp"`
	Error             string    `json:"error,omitempty"`
	Tests             []Test    `json:"tests"`
}

// Test is one check's result, with Calico Enterprise's field names.
type Test struct {
	Section     string `json:"section"`
	SectionDesc string `json:"section_desc"`
	TestNumber  string `json:"test_number"`
	TestDesc    string `json:"test_desc"`
	TestInfo    string `json:"test_info"`
	Status      string `json:"status"`
	Scored      bool   `json:"scored"`
}

// Run evaluates every section that applies to the host: a section
// applies when its component runs there (for the kubelet: or its config
// file exists) and, with targets given, is one of them.
func Run(b *Benchmark, h Host, opt Options) []Test {
	paths := map[string]string{}
	for k, v := range b.Paths {
		paths[k] = v
	}
	for k, v := range opt.Paths {
		if v != "" {
			paths[k] = v
		}
	}
	// Each component is looked for once per run (many sections share
	// one, and finding a process reads the node's whole process table).
	found := map[string]*component{}
	var out []Test
	for _, s := range b.Sections {
		if len(opt.Targets) > 0 && !slices.Contains(opt.Targets, s.Component) {
			continue
		}
		comp, ok := found[s.Component]
		if !ok {
			comp = lookup(h, s.Component, paths)
			found[s.Component] = comp
		}
		if comp == nil {
			continue
		}
		for _, c := range s.Checks {
			status, info := check(c, h, paths, *comp)
			if status == Fail && c.Remediation != "" {
				info += " Remediation: " + c.Remediation
			}
			out = append(out, Test{Section: s.ID, SectionDesc: s.Text, TestNumber: c.ID, TestDesc: c.Text,
				TestInfo: strings.TrimSpace(info), Status: status, Scored: c.Scored})
		}
	}
	return out
}

// lookup finds a component on the node: its process's flags and, for
// the kubelet, its config file (its --config, else the benchmark's
// path). nil if the node has none of it.
func lookup(h Host, name string, paths map[string]string) *component {
	args, running := h.Process(name)
	comp := &component{args: args}
	if name != "kubelet" {
		if !running {
			return nil
		}
		return comp
	}
	file := flagValue(args, "--config")
	if file == "" {
		file = paths["kubeletConfig"]
	}
	if data, err := h.ReadFile(file); err == nil {
		comp.config = map[string]any{}
		if err := yaml.Unmarshal(data, &comp.config); err != nil {
			comp.configErr = fmt.Errorf("%s: %w", file, err)
		}
	}
	if !running && comp.config == nil && comp.configErr == nil {
		return nil
	}
	return comp
}

// component is a running component's flags and config file.
type component struct {
	args      []string
	config    map[string]any
	configErr error
}

func check(c Check, h Host, paths map[string]string, comp component) (string, string) {
	switch {
	case c.File != nil:
		return checkFile(c.File, h, paths)
	case len(c.Settings) > 0:
		var found []string
		for _, st := range c.Settings {
			ok, desc := checkSetting(st, comp)
			if !ok {
				return Fail, desc + "."
			}
			found = append(found, desc)
		}
		return Pass, strings.Join(found, "; ") + "."
	default:
		return Info, "A manual check: review it by hand."
	}
}

func checkFile(t *FileTest, h Host, paths map[string]string) (string, string) {
	p := t.Path
	if v := pathVariable(p); v != "" {
		p = paths[v] + strings.TrimPrefix(p, "$"+v)
	}
	files, err := h.Files(p)
	if err != nil {
		return Info, fmt.Sprintf("%s: %v", p, err)
	}
	if len(files) == 0 {
		return Info, fmt.Sprintf("%s: not found on this node.", p)
	}
	max, _ := parseMode(t.Mode)
	for _, f := range files {
		if t.Mode != "" && f.Mode&^max != 0 {
			return Fail, fmt.Sprintf("%s has mode %03o; at most %s.", f.Path, f.Mode, t.Mode)
		}
		if t.Owner != "" && f.Owner+":"+f.Group != t.Owner {
			return Fail, fmt.Sprintf("%s is owned by %s:%s; want %s.", f.Path, f.Owner, f.Group, t.Owner)
		}
	}
	what := "mode"
	if t.Mode == "" {
		what = "owner"
	}
	if len(files) == 1 {
		return Pass, fmt.Sprintf("%s: %s as required.", files[0].Path, what)
	}
	return Pass, fmt.Sprintf("%s: %d files, each's %s as required.", p, len(files), what)
}

// checkSetting tells whether a setting holds, and says what was found.
func checkSetting(st Setting, comp component) (bool, string) {
	name := st.Flag
	value, given := "", false
	if st.Flag != "" {
		value, given = lookupFlag(comp.args, st.Flag)
	}
	if !given && st.Config != "" {
		if comp.configErr != nil {
			return false, comp.configErr.Error()
		}
		value, given = lookupConfig(comp.config, st.Config)
		if given || name == "" {
			name = st.Config
		}
	}
	source := "is " + strconv.Quote(value)
	if !given {
		source = "is not set"
		if st.Default != nil && st.Op != "set" && st.Op != "unset" {
			value, given = *st.Default, true
			source = fmt.Sprintf("is not set (default %q)", value)
		}
	}
	var ok bool
	switch st.Op {
	case "set":
		ok = given
	case "unset":
		ok = !given
	case "eq":
		ok = given && value == st.Value
	case "noteq":
		ok = !given || value != st.Value
	case "has":
		ok = given && slices.Contains(strings.Split(value, ","), st.Value)
	case "nothas":
		ok = !given || !slices.Contains(strings.Split(value, ","), st.Value)
	case "gte", "lte":
		v, err1 := strconv.ParseFloat(value, 64)
		w, err2 := strconv.ParseFloat(st.Value, 64)
		ok = given && err1 == nil && err2 == nil && (st.Op == "gte" && v >= w || st.Op == "lte" && v <= w)
	}
	desc := fmt.Sprintf("%s %s", name, source)
	if !ok {
		desc += "; " + want(st)
	}
	return ok, desc
}

func want(st Setting) string {
	switch st.Op {
	case "set":
		return "it must be set"
	case "unset":
		return "it must not be set"
	case "eq":
		return "want " + strconv.Quote(st.Value)
	case "noteq":
		return "must not be " + strconv.Quote(st.Value)
	case "has":
		return "must include " + st.Value
	case "nothas":
		return "must not include " + st.Value
	case "gte":
		return "want at least " + st.Value
	default:
		return "want at most " + st.Value
	}
}

// lookupFlag finds a flag given as --flag=value, --flag value, or a
// bare --flag (true). The last one given wins, as with Go's flags.
func lookupFlag(args []string, flag string) (string, bool) {
	value, given := "", false
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			value, given = v, true
		} else if a == flag {
			value, given = "true", true
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				value = args[i+1]
			}
		}
	}
	return value, given
}

func flagValue(args []string, flag string) string {
	v, _ := lookupFlag(args, flag)
	return v
}

// lookupConfig finds a dotted key in a config file's document.
func lookupConfig(doc map[string]any, key string) (string, bool) {
	var cur any = doc
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = m[part]; !ok {
			return "", false
		}
	}
	switch v := cur.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ","), true
	default:
		return fmt.Sprint(v), true
	}
}

func parseMode(s string) (fs.FileMode, error) {
	if s == "" {
		return 0o777, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("%q: octal permission bits such as 600", s)
	}
	return fs.FileMode(m), nil
}

// Summary counts a node's results.
type Summary struct{ Pass, Fail, Info, Total int }

// Count counts results, leaving out unscored tests unless asked.
func Count(tests []Test, includeUnscored bool) Summary {
	var s Summary
	for _, t := range tests {
		if !t.Scored && !includeUnscored {
			continue
		}
		s.Total++
		switch t.Status {
		case Pass:
			s.Pass++
		case Fail:
			s.Fail++
		default:
			s.Info++
		}
	}
	return s
}
