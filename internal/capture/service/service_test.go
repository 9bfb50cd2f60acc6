package service_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/capture/files"
	"github.com/calicong/calico/internal/capture/service"
	"github.com/calicong/calico/internal/kubeauth"
)

// checker knows two tokens: "reader" may get files, "nobody" nothing.
type checker struct{ asked []kubeauth.Access }

func (c *checker) Authenticate(_ context.Context, token string) (kubeauth.User, error) {
	switch token {
	case "reader", "nobody":
		return kubeauth.User{Name: token}, nil
	}
	return kubeauth.User{}, kubeauth.ErrInvalidToken
}

func (c *checker) Authorize(_ context.Context, u kubeauth.User, a kubeauth.Access) (bool, error) {
	c.asked = append(c.asked, a)
	return u.Name == "reader", nil
}

type fixture struct {
	h     http.Handler
	pc    *v3.PacketCapture
	dirs  map[string]string // node -> capture dir
	check *checker
}

// newFixture: capture ns1/cap with files on node-a (web-1) and node-b
// (web-2, one rotated file too), each node's file service real.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dirs: map[string]string{}, check: &checker{}}
	f.pc = &v3.PacketCapture{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "cap"}}
	urls := map[string]string{}
	for node, names := range map[string][]string{"node-a": {"web-1_cali1.pcap"}, "node-b": {"web-2_cali2.1700000000.pcap", "web-2_cali2.pcap"}} {
		root := t.TempDir()
		dir := filepath.Join(root, "ns1", "cap")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("pcap of "+node+"/"+n), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		f.dirs[node] = dir
		fs := &files.Server{Dir: root}
		srv := httptest.NewServer(fs.Handler())
		t.Cleanup(srv.Close)
		urls[node] = srv.URL
		f.pc.Status.Files = append(f.pc.Status.Files, v3.PacketCaptureFile{Node: node, State: v3.PacketCaptureStateFinished})
	}
	h, err := service.New(service.Config{
		Checker: f.check,
		Capture: func(_ context.Context, ns, name string) (*v3.PacketCapture, error) {
			if ns == "ns1" && name == "cap" {
				return f.pc, nil
			}
			return nil, service.ErrNotFound
		},
		NodeURL: func(_ context.Context, node string) (string, error) {
			if u, ok := urls[node]; ok {
				return u, nil
			}
			return "", service.ErrNotFound
		},
		Files: &files.Client{},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

func do(h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func errorOf(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return e.Error
}

// TestDownload: the zip holds every node's files with their bytes, and
// the grant asked for is get on packetcaptures/files of that capture.
func TestDownload(t *testing.T) {
	f := newFixture(t)
	w := do(f.h, "GET", "/download/ns1/cap/files.zip", "reader")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/zip" {
		t.Fatalf("download: %d %s", w.Code, w.Body.String())
	}
	zr, err := zip.NewReader(bytes.NewReader(w.Body.Bytes()), int64(w.Body.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		got[zf.Name] = string(b)
	}
	want := map[string]string{
		"web-1_cali1.pcap":            "pcap of node-a/web-1_cali1.pcap",
		"web-2_cali2.1700000000.pcap": "pcap of node-b/web-2_cali2.1700000000.pcap",
		"web-2_cali2.pcap":            "pcap of node-b/web-2_cali2.pcap",
	}
	if len(got) != len(want) {
		t.Fatalf("zip holds %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	a := f.check.asked[0]
	if a.Group != "projectcalico.org" || a.Resource != "packetcaptures" || a.Subresource != "files" || a.Verb != "get" || a.Namespace != "ns1" || a.Name != "cap" {
		t.Errorf("asked %+v", a)
	}
}

// TestRefusals: no credentials 401, a bad token 401, no grant 403 (before
// the capture's existence is told), no capture 404, a capture without
// files 404 saying its state.
func TestRefusals(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		method, path, token string
		code                int
		msg                 string
	}{
		{"GET", "/download/ns1/cap/files.zip", "", 401, "no credentials"},
		{"GET", "/download/ns1/cap/files.zip", "forged", 401, "not valid"},
		{"GET", "/download/ns1/cap/files.zip", "nobody", 403, `user "nobody" cannot get packetcaptures/files "cap" in the namespace "ns1"`},
		{"GET", "/download/ns1/other/files.zip", "nobody", 403, "cannot get"},
		{"DELETE", "/files/ns1/cap", "nobody", 403, `cannot delete packetcaptures/files "cap"`},
		{"GET", "/download/ns1/other/files.zip", "reader", 404, `no PacketCapture "other" in the namespace "ns1"`},
		{"GET", "/files/ns1/cap", "reader", 404, "no route GET /files/ns1/cap"},
	} {
		w := do(f.h, c.method, c.path, c.token)
		if w.Code != c.code || !strings.Contains(errorOf(t, w), c.msg) {
			t.Errorf("%s %s as %q: %d %q, want %d with %q", c.method, c.path, c.token, w.Code, errorOf(t, w), c.code, c.msg)
		}
	}
	f.pc.Status.Files = []v3.PacketCaptureFile{{Node: "node-a", State: v3.PacketCaptureStateScheduled}}
	for _, d := range f.dirs {
		os.RemoveAll(d)
	}
	w := do(f.h, "GET", "/download/ns1/cap/files.zip", "reader")
	if w.Code != 404 || !strings.Contains(errorOf(t, w), "has no files (node-a: Scheduled)") {
		t.Errorf("no files: %d %s", w.Code, w.Body.String())
	}
}

// TestDelete: refused while a node captures; afterwards every node's
// files go, and the answer counts them per node.
func TestDelete(t *testing.T) {
	f := newFixture(t)
	f.pc.Status.Files[1].State = v3.PacketCaptureStateCapturing
	w := do(f.h, "DELETE", "/files/ns1/cap", "reader")
	if w.Code != 409 || !strings.Contains(errorOf(t, w), "still capturing on node node-b") {
		t.Fatalf("delete while capturing: %d %s", w.Code, w.Body.String())
	}
	for _, d := range f.dirs {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("a refused delete removed %s: %v", d, err)
		}
	}
	f.pc.Status.Files[1].State = v3.PacketCaptureStateFinished
	w = do(f.h, "DELETE", "/files/ns1/cap", "reader")
	if w.Code != 200 {
		t.Fatalf("delete: %d %s", w.Code, w.Body.String())
	}
	var res service.DeleteResult
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.Nodes["node-a"] != 1 || res.Nodes["node-b"] != 2 {
		t.Errorf("delete answered %s (%v)", w.Body.String(), err)
	}
	for n, d := range f.dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s's files are still there: %v", n, err)
		}
	}
}

// TestFileServiceRefusesPathsOutside: names that are not Kubernetes names
// or capture files never become paths.
func TestFileServiceRefusesPathsOutside(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "secret.pcap"), []byte("x"), 0o644)
	h := (&files.Server{Dir: root, Capturing: func(ns, name string) bool { return name == "busy" }}).Handler()
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/captures/ns1/..%2f..%2fetc", 400},
		{"GET", "/captures/ns1/Cap", 400},
		{"GET", "/captures/ns1/cap/..%2fsecret.pcap", 400},
		{"GET", "/captures/ns1/cap/passwd", 400},
		{"GET", "/captures/ns1/cap/a.pcap", 404},
		{"GET", "/captures/ns1/cap", 200},
		{"DELETE", "/captures/ns1/busy", 409},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if w.Code != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, w.Code, w.Body.String(), c.code)
		}
	}
}
