package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Name       string
	Doc        string
	Deps       []string
	Imports    []string
	Standard   bool
	Dir        string
}

func listPackages(t *testing.T, patterns ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json=ImportPath,Name,Doc,Deps,Imports,Standard,Dir"}, patterns...)...)
	cmd.Dir = "../.."
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(out)
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// pure lists packages of pure logic. Those that use Kubernetes API types
// get net/http transitively through k8s.io/apimachinery, which is harmless;
// clients, kernel access and subprocesses are not.
var pure = map[string][]string{
	"github.com/calicong/calico/internal/selector":                 append([]string{"net/http"}, ioPackages...),
	"github.com/calicong/calico/internal/model":                    append([]string{"net/http"}, ioPackages...),
	"github.com/calicong/calico/internal/conversion":               ioPackages,
	"github.com/calicong/calico/api/v3":                            ioPackages,
	"github.com/calicong/calico/api/v3/validation":                 ioPackages,
	"github.com/calicong/calico/internal/calc":                     ioPackages,
	"github.com/calicong/calico/internal/felixconfig":              ioPackages,
	"github.com/calicong/calico/internal/proto":                    append([]string{"net/http"}, ioPackages...),
	"github.com/calicong/calico/internal/labelindex":               append([]string{"net/http"}, ioPackages...),
	"github.com/calicong/calico/internal/node/bgp":                 ioPackages,
	"github.com/calicong/calico/internal/typha/wire":               ioPackages,
	"github.com/calicong/calico/internal/typha/snapcache":          ioPackages,
	"github.com/calicong/calico/internal/kubecontrollers/kcconfig": ioPackages,
	"github.com/calicong/calico/internal/node/flowlogs":            ioPackages,
	"github.com/calicong/calico/internal/node/flowlogs/event":      ioPackages,
	"github.com/calicong/calico/internal/node/flowlogs/lookup":     ioPackages,
	"github.com/calicong/calico/internal/node/flowlogs/logfile":    ioPackages,
	"github.com/calicong/calico/internal/domainname":               ioPackages,
	"github.com/calicong/calico/internal/dnscache":                 ioPackages,
	"github.com/calicong/calico/internal/node/dnssnoop":            ioPackages,
	"github.com/calicong/calico/internal/node/dnslogs":             ioPackages,
	"github.com/calicong/calico/internal/capture/filter":           ioPackages,
	"github.com/calicong/calico/internal/capture/window":           ioPackages,
}

var ioPackages = []string{
	"k8s.io/client-go",
	"github.com/vishvananda/netlink",
	"github.com/google/nftables",
	"sigs.k8s.io/knftables",
	"os/exec",
}

func TestPurePackagesImportNoIO(t *testing.T) {
	var names []string
	for n := range pure {
		names = append(names, n)
	}
	for _, p := range listPackages(t, names...) {
		for _, d := range p.Deps {
			for _, f := range pure[p.ImportPath] {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s depends on %s; pure logic must not", p.ImportPath, d)
				}
			}
		}
	}
}

func TestSelectorUsesOnlyTheStandardLibrary(t *testing.T) {
	for _, p := range listPackages(t, "github.com/calicong/calico/internal/selector") {
		for _, d := range p.Deps {
			if !strings.Contains(strings.SplitN(d, "/", 2)[0], ".") {
				continue // standard library
			}
			t.Errorf("selector depends on %s", d)
		}
	}
}

func TestEveryPackageHasADoc(t *testing.T) {
	for _, p := range listPackages(t, "./...") {
		if p.Name == "main" && strings.Contains(p.ImportPath, "/cmd/") {
			if p.Doc == "" {
				t.Errorf("command %s has no doc comment", p.ImportPath)
			}
			continue
		}
		if p.Doc == "" {
			t.Errorf("package %s has no package doc comment", p.ImportPath)
		}
	}
}

// components lists the folders that belong to one component each, and
// the only packages outside the folder that may import them. Shared
// libraries live outside these folders; a component's parts stay its own
// (tests may import anything).
var components = map[string][]string{
	// calico-node's parts; calicoctl's `node status` talks to BIRD on the
	// node it runs on.
	"internal/node": {"cmd/calico-node", "internal/ctl"},
	// calico-kube-controllers' controllers.
	"internal/kubecontrollers": {"cmd/calico-kube-controllers"},
	// The lab and its test harness: no product binary may depend on it.
	"internal/lab": {"cmd/calico-lab"},
}

func TestComponentFoldersStayPrivate(t *testing.T) {
	const module = "github.com/calicong/calico/"
	within := func(path, folder string) bool {
		return path == module+folder || strings.HasPrefix(path, module+folder+"/")
	}
	for _, p := range listPackages(t, "./...") {
		for folder, allowed := range components {
			if within(p.ImportPath, folder) {
				continue
			}
			ok := false
			for _, a := range allowed {
				ok = ok || within(p.ImportPath, a)
			}
			if ok {
				continue
			}
			for _, d := range p.Imports {
				if within(d, folder) {
					t.Errorf("%s imports %s: %s/ belongs to %v", p.ImportPath, d, folder, allowed)
				}
			}
		}
	}
}
