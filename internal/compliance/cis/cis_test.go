package cis

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"
)

// TestShippedBenchmarks: every shipped benchmark parses, and each of its
// sections has checks.
func TestShippedBenchmarks(t *testing.T) {
	all, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no benchmarks shipped")
	}
	for v, b := range all {
		n := 0
		for _, s := range b.Sections {
			if len(s.Checks) == 0 {
				t.Errorf("%s: section %s has no checks", v, s.ID)
			}
			n += len(s.Checks)
		}
		t.Logf("benchmark %s: %d sections, %d checks", v, len(b.Sections), n)
	}
}

// host is a node as a map: files by path, processes by component.
type host struct {
	files map[string]File
	data  map[string]string
	procs map[string][]string
}

func (h host) Files(pattern string) ([]File, error) {
	var out []File
	for p, f := range h.files {
		if ok, _ := path.Match(pattern, p); ok {
			f.Path = p
			out = append(out, f)
		}
	}
	return out, nil
}

func (h host) ReadFile(p string) ([]byte, error) {
	if d, ok := h.data[p]; ok {
		return []byte(d), nil
	}
	return nil, fs.ErrNotExist
}

func (h host) Process(c string) ([]string, bool) { a, ok := h.procs[c]; return a, ok }

const testBenchmark = `
version: "0.1"
paths: {pki: /etc/kubernetes/pki, kubeletConfig: /var/lib/kubelet/config.yaml}
sections:
- id: "1.1"
  text: files
  component: apiserver
  checks:
  - {id: "1.1.1", text: keys, scored: true, file: {path: "$pki/*.key", mode: "600", owner: "root:root"}}
  - {id: "1.1.2", text: missing, scored: true, file: {path: "/nowhere", mode: "600"}}
- id: "1.2"
  text: API server
  component: apiserver
  checks:
  - {id: "1.2.1", text: anonymous, scored: true, settings: [{flag: --anonymous-auth, op: eq, value: "false", default: "true"}]}
  - {id: "1.2.2", text: authz, scored: true, settings: [{flag: --authorization-mode, op: has, value: RBAC}, {flag: --authorization-mode, op: nothas, value: AlwaysAllow}]}
  - {id: "1.2.3", text: audit age, scored: true, settings: [{flag: --audit-log-maxage, op: gte, value: "30"}]}
  - {id: "1.2.4", text: token file, scored: true, settings: [{flag: --token-auth-file, op: unset}]}
  - {id: "1.2.5", text: ciphers, scored: false}
- id: "4.2"
  text: Kubelet
  component: kubelet
  checks:
  - {id: "4.2.1", text: anonymous, scored: true, settings: [{flag: --anonymous-auth, config: authentication.anonymous.enabled, op: eq, value: "false", default: "true"}]}
  - {id: "4.2.2", text: read-only port, scored: true, settings: [{flag: --read-only-port, config: readOnlyPort, op: eq, value: "0", default: "0"}]}
`

func statuses(tests []Test) string {
	var b strings.Builder
	for _, t := range tests {
		fmt.Fprintf(&b, "%s=%s ", t.TestNumber, t.Status)
	}
	return strings.TrimSpace(b.String())
}

func TestRun(t *testing.T) {
	b, err := Parse([]byte(testBenchmark))
	if err != nil {
		t.Fatal(err)
	}
	h := host{
		files: map[string]File{
			"/etc/kubernetes/pki/ca.key": {Mode: 0o600, Owner: "root", Group: "root"},
			"/etc/kubernetes/pki/sa.key": {Mode: 0o400, Owner: "root", Group: "root"},
		},
		procs: map[string][]string{"apiserver": {"--anonymous-auth=false", "--authorization-mode=Node,RBAC", "--audit-log-maxage", "7"}},
	}
	// No kubelet: its section does not apply.
	got := statuses(Run(b, h, Options{}))
	if want := "1.1.1=PASS 1.1.2=INFO 1.2.1=PASS 1.2.2=PASS 1.2.3=FAIL 1.2.4=PASS 1.2.5=INFO"; got != want {
		t.Errorf("control plane:\n got %s\nwant %s", got, want)
	}

	// A key readable by its group fails, and says which and why.
	h.files["/etc/kubernetes/pki/sa.key"] = File{Mode: 0o640, Owner: "root", Group: "root"}
	res := Run(b, h, Options{})
	if res[0].Status != Fail || !strings.Contains(res[0].TestInfo, "/etc/kubernetes/pki/sa.key has mode 640; at most 600") {
		t.Errorf("loosened key: %+v", res[0])
	}

	// A kubelet known by its config file alone: the file's keys count,
	// and a key not given falls back to the default.
	h.data = map[string]string{"/var/lib/kubelet/config.yaml": "authentication:\n  anonymous:\n    enabled: true\n"}
	got = statuses(Run(b, h, Options{Targets: []string{"kubelet"}}))
	if want := "4.2.1=FAIL 4.2.2=PASS"; got != want {
		t.Errorf("kubelet: got %s, want %s", got, want)
	}
	// A flag overrides the config file; its --config names the file.
	h.procs["kubelet"] = []string{"--config=/etc/kubelet.yaml", "--anonymous-auth=false"}
	got = statuses(Run(b, h, Options{Targets: []string{"kubelet"}}))
	if want := "4.2.1=PASS 4.2.2=PASS"; got != want {
		t.Errorf("kubelet with flags: got %s, want %s", got, want)
	}

	if s := Count(Run(b, h, Options{}), false); s != (Summary{Pass: 5, Fail: 2, Info: 1, Total: 8}) {
		t.Errorf("count: %+v", s)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`version: "1"
sections: [{id: "1", text: x, component: kubectl, checks: []}]`, `component "kubectl"`},
		{`version: "1"
sections: [{id: "1", text: x, component: etcd, checks: [{id: "2.1", text: t}]}]`, "check 2.1: its id must start with its section's (1.)"},
		{`version: "1"
sections: [{id: "1", text: x, component: etcd, checks: [{id: "1.1", text: t, settings: [{flag: --x, op: like, value: y}]}]}]`, `settings[0].op "like"`},
		{`version: "1"
sections: [{id: "1", text: x, component: etcd, checks: [{id: "1.1", text: t, file: {path: "$nope/x", mode: "600"}}]}]`, "names $nope"},
		{`version: "1"
sections: [{id: "1", text: x, component: etcd, checks: [{id: "1.1", text: t, file: {path: "/x", mode: "999"}}]}]`, "octal"},
	} {
		_, err := Parse([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.doc, err, c.want)
		}
	}
}
