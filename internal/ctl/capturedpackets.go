package ctl

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/datastore"
)

// capturedPackets are the flags of `calicoctl captured-packets`.
type capturedPackets struct {
	o             *options
	namespace     string
	allNamespaces bool
	dir           string
	url           string
}

// captureURLEnv names the packet capture API's address when --url does
// not (`calico-lab env` sets it).
const captureURLEnv = "CALICO_PACKETCAPTURE_URL"

func newCapturedPacketsCommand(o *options) *cobra.Command {
	cp := &capturedPackets{o: o}
	cmd := &cobra.Command{
		Use:   "captured-packets",
		Short: "Copy or delete the files of a PacketCapture",
		Long: "captured-packets reaches every node's files of a PacketCapture through the packet capture API (calico-packetcapture),\n" +
			"as the user of the kubeconfig: its token or client certificate, which needs get (copy) or delete (clean) on\n" +
			"packetcaptures/files in the capture's namespace. The API's address is --url, else $" + captureURLEnv + ".",
	}
	copyCmd := &cobra.Command{
		Use:   "copy NAME",
		Short: "Copy a capture's pcap files from every node into a directory",
		Args:  exactlyOneName,
		RunE:  func(cmd *cobra.Command, args []string) error { return cp.run(cmd.Context(), args[0], cp.copy) },
	}
	copyCmd.Flags().StringVarP(&cp.dir, "destination", "d", ".", "the directory to copy into (with -A, a directory per namespace in it)")
	cleanCmd := &cobra.Command{
		Use:   "clean NAME",
		Short: "Delete a finished capture's pcap files on every node",
		Args:  exactlyOneName,
		RunE:  func(cmd *cobra.Command, args []string) error { return cp.run(cmd.Context(), args[0], cp.clean) },
	}
	for _, c := range []*cobra.Command{copyCmd, cleanCmd} {
		c.Flags().StringVarP(&cp.namespace, "namespace", "n", "default", "the capture's namespace")
		c.Flags().BoolVarP(&cp.allNamespaces, "all-namespaces", "A", false, "the captures of that name in every namespace")
		c.Flags().StringVar(&cp.url, "url", "", "the packet capture API (default $"+captureURLEnv+")")
	}
	cmd.AddCommand(copyCmd, cleanCmd)
	return cmd
}

func exactlyOneName(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("give exactly one PacketCapture name (got %d arguments)", len(args))
	}
	return nil
}

// api is the packet capture API as the kubeconfig's user.
type captureAPI struct {
	base *url.URL
	http *http.Client
}

func (cp *capturedPackets) api() (*captureAPI, *datastore.Client, error) {
	raw := cp.url
	if raw == "" {
		raw = os.Getenv(captureURLEnv)
	}
	if raw == "" {
		return nil, nil, fmt.Errorf("the packet capture API's address is not known: give --url or set %s (calico-lab env sets it)", captureURLEnv)
	}
	base, err := url.Parse(raw)
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, nil, fmt.Errorf("packet capture API address %q: an https://host:port URL", raw)
	}
	cfg, err := datastore.LoadConfig(cp.o.kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	// The kubeconfig's credentials and CA, towards the API instead of
	// the API server.
	tr, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("the kubeconfig's credentials: %w", err)
	}
	c, err := cp.o.getClient()
	if err != nil {
		return nil, nil, err
	}
	return &captureAPI{base: base, http: &http.Client{Transport: tr}}, c, nil
}

// run resolves the captures (one, or that name in every namespace) and
// acts on each; a capture that fails does not stop the others, and the
// exit code says so.
func (cp *capturedPackets) run(ctx context.Context, name string, act func(context.Context, *captureAPI, string, string) error) error {
	api, c, err := cp.api()
	if err != nil {
		return err
	}
	namespaces := []string{cp.namespace}
	if cp.allNamespaces {
		kind, _ := v3.KindFor("PacketCapture")
		objs, err := c.List(ctx, kind, "")
		if err != nil {
			return fmt.Errorf("listing PacketCaptures: %w", err)
		}
		namespaces = nil
		for _, o := range objs {
			if o.GetName() == name {
				namespaces = append(namespaces, o.GetNamespace())
			}
		}
		if len(namespaces) == 0 {
			return fmt.Errorf("no PacketCapture %q in any namespace", name)
		}
		sort.Strings(namespaces)
	}
	failed := 0
	for _, ns := range namespaces {
		if err := act(ctx, api, ns, name); err != nil {
			fmt.Fprintf(cp.o.ErrOut, "Error: %s/%s: %v\n", ns, name, err)
			failed++
		}
	}
	if failed > 0 {
		return errProblems
	}
	return nil
}

// call sends a request and returns the response, or the API's refusal as
// an error.
func (a *captureAPI) call(ctx context.Context, method string, p ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base.JoinPath(p...).String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the packet capture API does not answer: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e struct{ Error string }
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(body))
	}
	return nil, fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)
}

func (cp *capturedPackets) copy(ctx context.Context, api *captureAPI, ns, name string) error {
	dir := cp.dir
	if cp.allNamespaces {
		dir = filepath.Join(dir, ns)
	}
	resp, err := api.call(ctx, http.MethodGet, "download", ns, name, "files.zip")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// A zip is read from its end, so it lands in a file first, beside
	// where its files go.
	tmp, err := os.CreateTemp(dir, ".captured-packets-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	size, err := io.Copy(tmp, resp.Body)
	if err != nil {
		return fmt.Errorf("downloading: %w", err)
	}
	names, err := unzipFlat(tmp, size, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(cp.o.Out, "Copied %d files of %s/%s to %s:\n", len(names), ns, name, dir)
	for _, n := range names {
		fmt.Fprintf(cp.o.Out, "  %s\n", n)
	}
	return nil
}

// unzipFlat writes a capture zip's files into dir. Entries are plain
// file names; any other (a path, "..") is refused, so nothing is written
// outside dir. Each file is written beside its place and renamed there.
func unzipFlat(r io.ReaderAt, size int64, dir string) ([]string, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("the download is not a whole zip: %w", err)
	}
	var names []string
	for _, zf := range zr.File {
		if zf.Name != path.Base(zf.Name) || zf.Name == ".." || zf.Name == "." || strings.ContainsAny(zf.Name, `/\`) {
			return names, fmt.Errorf("the zip holds %q, which is not a file name", zf.Name)
		}
		if err := writeEntry(zf, filepath.Join(dir, zf.Name)); err != nil {
			return names, err
		}
		names = append(names, zf.Name)
	}
	return names, nil
}

func writeEntry(zf *zip.File, dst string) error {
	rc, err := zf.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.CreateTemp(filepath.Dir(dst), ".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", zf.Name, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}

func (cp *capturedPackets) clean(ctx context.Context, api *captureAPI, ns, name string) error {
	resp, err := api.call(ctx, http.MethodDelete, "files", ns, name)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Nodes map[string]int `json:"nodes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	total, parts := 0, []string{}
	for node, n := range out.Nodes {
		total += n
		parts = append(parts, fmt.Sprintf("%s: %d", node, n))
	}
	sort.Strings(parts)
	msg := fmt.Sprintf("Deleted %d files of %s/%s", total, ns, name)
	if len(parts) > 0 {
		msg += " (" + strings.Join(parts, ", ") + ")"
	}
	fmt.Fprintln(cp.o.Out, msg)
	return nil
}
