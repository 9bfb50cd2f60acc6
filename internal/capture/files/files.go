// Package files is a node's capture file service and its client. calico-node
// serves the pcap files under its captureDir over mutual TLS, and the
// packet capture API (internal/capture/service) reads and deletes them
// through it:
//
//	GET    /captures/<namespace>/<name>         the capture's files: [{name, size, modTime}]
//	GET    /captures/<namespace>/<name>/<file>  one file, as large as it was when opened
//	DELETE /captures/<namespace>/<name>         the capture's files; 409 while it captures
//
// Errors are JSON {"error": "..."}. Names are checked before any path is
// built, so a request never reaches outside the capture's directory.
package files

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/calicong/calico/internal/httpjson"
)

// File is one pcap file of a capture on a node.
type File struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
}

// Server serves the files under Dir (Dir/<namespace>/<name>/*.pcap).
type Server struct {
	Dir string
	// Capturing says whether a capture's files are still being written
	// (a delete then is refused); nil: never.
	Capturing func(namespace, name string) bool
	// Deleted is told after a capture's files were deleted (the node
	// reports its status again); may be nil.
	Deleted func(namespace, name string)
}

// Handler is the service's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /captures/{namespace}/{name}", s.list)
	mux.HandleFunc("GET /captures/{namespace}/{name}/{file}", s.file)
	mux.HandleFunc("DELETE /captures/{namespace}/{name}", s.delete)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}

// nameRE is a Kubernetes namespace or object name (DNS subdomain).
var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

// fileRE is a capture file's name: <pod>_<interface>[.<seconds>].pcap.
var fileRE = regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9_.]*\.pcap$`)

// dir checks the request's namespace and name and returns their
// directory.
func (s *Server) dir(w http.ResponseWriter, r *http.Request) (ns, name, dir string, ok bool) {
	ns, name = r.PathValue("namespace"), r.PathValue("name")
	for _, v := range []struct{ what, val string }{{"namespace", ns}, {"name", name}} {
		if !nameRE.MatchString(v.val) || strings.Contains(v.val, "..") {
			httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("%s %q is not a valid Kubernetes name", v.what, v.val))
			return "", "", "", false
		}
	}
	return ns, name, filepath.Join(s.Dir, ns, name), true
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	_, _, dir, ok := s.dir(w, r)
	if !ok {
		return
	}
	files, err := List(dir)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(files)
}

// List is the pcap files in dir, by name; none if dir does not exist.
func List(dir string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []File{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []File{}
	for _, e := range entries {
		if !e.Type().IsRegular() || !fileRE.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // went meanwhile (rotated away)
		}
		out = append(out, File{Name: e.Name(), Size: info.Size(), ModTime: info.ModTime().UTC()})
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	_, _, dir, ok := s.dir(w, r)
	if !ok {
		return
	}
	name := r.PathValue("file")
	if !fileRE.MatchString(name) || strings.Contains(name, "..") {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("%q is not a capture file's name", name))
		return
	}
	f, err := os.Open(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("no file %s (rotated away, or deleted)", name))
		return
	}
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	// The file being written grows; what it held when opened ends at a
	// packet's end (internal/capture/rotate writes packets whole).
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Length", fmt.Sprint(info.Size()))
	w.Header().Set("Last-Modified", info.ModTime().UTC().Format(http.TimeFormat))
	_, _ = io.Copy(w, io.LimitReader(f, info.Size()))
}

// Deleted is a delete's answer.
type Deleted struct {
	Files int `json:"files"`
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	ns, name, dir, ok := s.dir(w, r)
	if !ok {
		return
	}
	if s.Capturing != nil && s.Capturing(ns, name) {
		httpjson.Error(w, http.StatusConflict, fmt.Sprintf("capture %s/%s is still capturing on this node; move its endTime to the past to stop it, then delete its files", ns, name))
		return
	}
	files, err := List(dir)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	if s.Deleted != nil {
		s.Deleted(ns, name)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Deleted{Files: len(files)})
}

// ErrNotFound is a file that is not there (any more).
var ErrNotFound = errors.New("not found")

// StatusError is the service's refusal: its status code and message.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// Client reaches nodes' file services.
type Client struct {
	// HTTP carries the requests (mutual TLS in a cluster).
	HTTP *http.Client
}

func (c *Client) do(ctx context.Context, method, base string, path ...string) (*http.Response, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	u = u.JoinPath(append([]string{"captures"}, path...)...)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound && len(path) == 3 {
			return nil, ErrNotFound
		}
		var e httpjson.ErrorBody
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		return nil, &StatusError{Code: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}

// List is a capture's files on the node at base (https://host:port).
func (c *Client) List(ctx context.Context, base, namespace, name string) ([]File, error) {
	resp, err := c.do(ctx, http.MethodGet, base, namespace, name)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []File
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("reading the file list: %w", err)
	}
	return out, nil
}

// Open reads one file; ErrNotFound if it went since it was listed. The
// caller closes the body.
func (c *Client) Open(ctx context.Context, base, namespace, name, file string) (io.ReadCloser, int64, error) {
	resp, err := c.do(ctx, http.MethodGet, base, namespace, name, file)
	if err != nil {
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

// Delete deletes a capture's files on the node; it returns how many
// there were.
func (c *Client) Delete(ctx context.Context, base, namespace, name string) (int, error) {
	resp, err := c.do(ctx, http.MethodDelete, base, namespace, name)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var d Deleted
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return 0, fmt.Errorf("reading the delete's answer: %w", err)
	}
	return d.Files, nil
}
