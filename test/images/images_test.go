package images

import (
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"go.yaml.in/yaml/v3"
)

// root is the repository's root, from this package.
const root = "../.."

// buildStage is the stage every binary comes from; outDir where it puts
// them (make build-product BIN=/out).
const (
	buildStage = "build"
	outDir     = "/out"
	// webStage builds the console's bundle, which calico-manager embeds.
	webStage = "web"
)

// image is one final stage: what it is built from and what it holds.
type image struct {
	name, base string
	// files are the absolute paths the stage copies from the build stage.
	files      []string
	user       string
	entrypoint []string
	runs       []string
}

func dockerfile(t *testing.T) (build instructions.Stage, images map[string]*image) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	images = map[string]*image{}
	found := false
	for _, s := range stages {
		if s.Name == buildStage {
			build, found = s, true
			for _, c := range s.Commands {
				if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" && cp.From != webStage {
					t.Errorf("the build stage copies from %q: only the console's bundle (stage %s) comes from elsewhere", cp.From, webStage)
				}
			}
			continue
		}
		if s.Name == webStage {
			continue // the console's bundle, built into the build stage's binaries
		}
		img := &image{name: s.Name, base: s.BaseName}
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.CopyCommand:
				if c.From != buildStage {
					t.Errorf("stage %s: %s copies from %q, not from the build stage: every file in an image is one make build produces", s.Name, c, c.From)
					continue
				}
				dest := c.DestPath
				for _, src := range c.SourcePaths {
					if strings.HasSuffix(dest, "/") {
						img.files = append(img.files, path.Join(dest, path.Base(src)))
					} else {
						img.files = append(img.files, dest)
					}
				}
			case *instructions.UserCommand:
				img.user = c.User
			case *instructions.EntrypointCommand:
				img.entrypoint = c.CmdLine
			case *instructions.RunCommand:
				img.runs = append(img.runs, strings.Join(c.CmdLine, " "))
			}
		}
		images[s.Name] = img
	}
	if !found {
		t.Fatalf("Dockerfile has no stage named %q", buildStage)
	}
	return build, images
}

// TestBuildStageRunsMakeBuild: the build stage runs `make build-product`
// into /out with the VERSION build argument, on the Go release go.mod
// names, and `make build` runs the very same go build command.
func TestBuildStageRunsMakeBuild(t *testing.T) {
	build, _ := dockerfile(t)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil || !strings.HasPrefix(build.BaseName, "golang:"+string(goVersion[1])+"-") {
		t.Errorf("the build stage is %s; go.mod wants Go %s (golang:%s-...)", build.BaseName, goVersion[1], goVersion[1])
	}
	var argVersion, runsMake bool
	for _, c := range build.Commands {
		switch c := c.(type) {
		case *instructions.ArgCommand:
			for _, a := range c.Args {
				argVersion = argVersion || a.Key == "VERSION"
			}
		case *instructions.RunCommand:
			words := strings.Fields(strings.Join(c.CmdLine, " "))
			if slices.Equal(words, []string{"make", "build-product", "BIN=" + outDir, "VERSION=${VERSION}"}) {
				if !argVersion {
					t.Errorf("%s comes before ARG VERSION: the binaries would say \"dev\"", c)
				}
				runsMake = true
			}
		}
	}
	if !runsMake {
		t.Fatalf("the build stage does not run `make build-product BIN=%s VERSION=${VERSION}`", outDir)
	}
	goBuild := func(target string) string {
		out, err := exec.Command("make", "-n", "-C", root, target, "BIN="+outDir, "VERSION=v9.9.9-test").CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %s: %v\n%s", target, err, out)
		}
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, " build ") && strings.Contains(l, "./cmd/...") {
				lines = append(lines, strings.TrimSpace(l))
			}
		}
		if len(lines) != 1 {
			t.Fatalf("make -n %s runs %d go builds of ./cmd/..., want 1:\n%s", target, len(lines), out)
		}
		return lines[0]
	}
	product, all := goBuild("build-product"), goBuild("build")
	if product != all {
		t.Errorf("the image's build and make build differ:\n  image:      %s\n  make build: %s", product, all)
	}
	if !strings.Contains(product, "buildinfo.Version=v9.9.9-test") {
		t.Errorf("make build-product does not stamp VERSION: %s", product)
	}
	// Static binaries: the build runs with cgo off, whatever the machine.
	out, err := exec.Command("make", "-s", "-C", root, "--eval=print-cgo: ; @echo $$CGO_ENABLED", "print-cgo").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Errorf("make does not export CGO_ENABLED=0 to its builds: %q %v", out, err)
	}
}

// TestImagesHoldWhatMakeBuildProduces: every file an image copies is a
// product binary (cmd/<name>) that make build put in bin/, statically
// linked, since the images have no C library and the CNI plugins run on
// any host.
func TestImagesHoldWhatMakeBuildProduces(t *testing.T) {
	bin := os.Getenv("CALICO_BIN")
	if bin == "" {
		t.Skip("CALICO_BIN is not set: run through make test")
	}
	_, images := dockerfile(t)
	for _, img := range images {
		if len(img.files) == 0 {
			t.Errorf("image %s holds no program", img.name)
		}
		for _, f := range img.files {
			name := path.Base(f)
			if st, err := os.Stat(filepath.Join(root, "cmd", name)); err != nil || !st.IsDir() {
				t.Errorf("image %s: %s is not a product binary (no cmd/%s)", img.name, f, name)
				continue
			}
			e, err := elf.Open(filepath.Join(bin, name))
			if err != nil {
				t.Errorf("image %s: %s: make build produced no such binary: %v", img.name, f, err)
				continue
			}
			for _, p := range e.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("image %s: %s is dynamically linked", img.name, name)
				}
			}
			e.Close()
		}
	}
	// calico-node's image carries what the agent runs.
	node, ok := images["node"]
	if !ok {
		t.Fatal("no node target")
	}
	run := strings.Join(node.runs, "\n")
	for _, pkg := range []string{"nftables", "bird2"} {
		if !regexp.MustCompile(`apt-get install [^\n]*\b` + pkg + `\b`).MatchString(run) {
			t.Errorf("the node image does not install %s", pkg)
		}
	}
}

// TestMakeImagesBuildsEveryTarget: make images builds each final stage.
func TestMakeImagesBuildsEveryTarget(t *testing.T) {
	_, images := dockerfile(t)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^IMAGES\s*:=\s*(.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile has no IMAGES list")
	}
	listed := strings.Fields(string(m[1]))
	var targets []string
	for name := range images {
		targets = append(targets, name)
	}
	slices.Sort(listed)
	slices.Sort(targets)
	if !slices.Equal(listed, targets) {
		t.Errorf("make images builds %v; the Dockerfile's targets are %v", listed, targets)
	}
}

// container is what the manifests say of one container.
type container struct {
	Name    string           `yaml:"name"`
	Image   string           `yaml:"image"`
	Command []string         `yaml:"command"`
	Args    []string         `yaml:"args"`
	Sec     *securityContext `yaml:"securityContext"`
}

// securityContext is the part of a pod's or container's that says as
// whom it runs.
type securityContext struct {
	RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
	RunAsUser    *int64 `yaml:"runAsUser"`
}

type workload struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Template struct {
			Spec struct {
				InitContainers  []container      `yaml:"initContainers"`
				Containers      []container      `yaml:"containers"`
				SecurityContext *securityContext `yaml:"securityContext"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestManifestsRunTheseImages: every container in manifests/ names one of
// the Dockerfile's targets, runs a program that image holds, and, if it
// must not run as root without saying as whom, gets a numeric non-root
// USER from the image (a kubelet cannot check a user name).
func TestManifestsRunTheseImages(t *testing.T) {
	_, images := dockerfile(t)
	files, err := filepath.Glob(filepath.Join(root, "manifests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	seen := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var w workload
			if err := dec.Decode(&w); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("%s: %v", f, err)
			}
			if w.Kind != "Deployment" && w.Kind != "DaemonSet" {
				continue
			}
			ps := w.Spec.Template.Spec
			for _, c := range append(ps.InitContainers, ps.Containers...) {
				seen++
				where := filepath.Base(f) + ": " + w.Kind + " " + w.Metadata.Name + ", container " + c.Name
				if upstream(c.Image) {
					continue // not ours to build
				}
				target, ok := imageTarget(c.Image)
				img := images[target]
				if !ok || img == nil {
					t.Errorf("%s: image %s is not calicong/<target>:<tag> for a Dockerfile target", where, c.Image)
					continue
				}
				prog := img.entrypoint
				if len(c.Command) > 0 {
					prog = c.Command
				}
				if len(prog) == 0 || !slices.Contains(img.files, prog[0]) {
					t.Errorf("%s: runs %v, which image %s does not hold (it has %v)", where, prog, target, img.files)
				}
				for _, a := range c.Args {
					if dir, ok := strings.CutPrefix(a, "--source-dir="); ok {
						for _, p := range []string{"calico", "calico-ipam"} {
							if !slices.Contains(img.files, path.Join(dir, p)) {
								t.Errorf("%s: installs the CNI plugins from %s, but image %s has no %s there", where, dir, target, p)
							}
						}
					}
				}
				nonRoot := c.Sec != nil && c.Sec.RunAsNonRoot != nil && *c.Sec.RunAsNonRoot
				user := c.Sec != nil && c.Sec.RunAsUser != nil
				if pod := ps.SecurityContext; pod != nil {
					nonRoot = nonRoot || (pod.RunAsNonRoot != nil && *pod.RunAsNonRoot)
					user = user || pod.RunAsUser != nil
				}
				if nonRoot && !user {
					uid, err := strconv.Atoi(strings.Split(img.user, ":")[0])
					if err != nil || uid == 0 {
						t.Errorf("%s: must run as non-root without a runAsUser, but image %s's USER is %q (want a numeric, non-zero uid)", where, target, img.user)
					}
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("the manifests have no containers")
	}
}

func imageTarget(image string) (string, bool) {
	repo, _, ok := strings.Cut(image, ":")
	target, found := strings.CutPrefix(repo, "calicong/")
	return target, ok && found
}

// TestEveryBinaryReportsItsVersion: each program make build produced
// says the version make stamped (CALICO_VERSION, set by make test).
func TestEveryBinaryReportsItsVersion(t *testing.T) {
	bin, version := os.Getenv("CALICO_BIN"), os.Getenv("CALICO_VERSION")
	if bin == "" || version == "" {
		t.Skip("CALICO_BIN and CALICO_VERSION are not set: run through make test")
	}
	cmds, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		args := []string{"--version"}
		if c.Name() == "calicoctl" || c.Name() == "calicoq" {
			args = []string{"version"}
		}
		cmd := exec.Command(filepath.Join(bin, c.Name()), args...)
		// calicoctl also asks the cluster; none is configured here.
		cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), version) {
			t.Errorf("%s %s does not report version %s:\n%s", c.Name(), strings.Join(args, " "), version, out)
		}
	}
}

// upstream says whether an image is a third party's that the manifests
// run as published: Prometheus (calico-prometheus.yaml), at a pinned
// release.
func upstream(image string) bool {
	repo, tag, ok := strings.Cut(image, ":")
	return ok && tag != "" && tag != "latest" && repo == "quay.io/prometheus/prometheus"
}
