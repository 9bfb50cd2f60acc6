// Package cniinstall puts the CNI plugins and their configuration on a
// node, as calico-node's init container does: the calico and calico-ipam
// binaries into the host's CNI bin directory, a kubeconfig for them, and
// the network configuration list, last, so the kubelet never sees a
// configuration naming plugins that are not there yet.
//
// Every file is written to a temporary file in its directory and renamed
// into place, so a crash at any point leaves each file either as it was or
// complete; temporary files a crash left behind are removed by the next
// run. Files whose content is already right are not rewritten, so running
// it twice changes nothing.
package cniinstall

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

// Config says what to install where.
type Config struct {
	// Root is prefixed to BinDir and NetDir: the host's filesystem as
	// mounted in the container (/host), or / on the host itself.
	Root string
	// SourceBinDir holds the plugins to install (in the image).
	SourceBinDir string
	// BinDir and NetDir are the host's CNI directories (defaults
	// /opt/cni/bin and /etc/cni/net.d).
	BinDir, NetDir string
	// ConfName is the configuration's file name (10-calico.conflist).
	ConfName string
	// Template is the network configuration with the placeholders
	// __KUBERNETES_NODE_NAME__, __KUBECONFIG_FILEPATH__ and __CNI_MTU__.
	Template string
	NodeName string
	MTU      int
	// Kubeconfig is the plugins' kubeconfig content.
	Kubeconfig []byte
}

// Plugins are the binaries installed.
var Plugins = []string{"calico", "calico-ipam"}

// KubeconfigName is the plugins' kubeconfig in NetDir.
const KubeconfigName = "calico-kubeconfig"

// tmpPrefix marks this package's temporary files.
const tmpPrefix = ".calico-cni-install-"

// Result says which files were written (the others were already right).
type Result struct {
	Written   []string
	Unchanged []string
}

func (c *Config) defaults() {
	if c.BinDir == "" {
		c.BinDir = "/opt/cni/bin"
	}
	if c.NetDir == "" {
		c.NetDir = "/etc/cni/net.d"
	}
	if c.ConfName == "" {
		c.ConfName = "10-calico.conflist"
	}
	if c.MTU == 0 {
		c.MTU = 1500
	}
}

// Render fills the template's placeholders and checks the result is a
// CNI configuration list naming the calico plugin.
func Render(c Config) ([]byte, error) {
	c.defaults()
	if strings.TrimSpace(c.Template) == "" {
		return nil, errors.New("the network configuration template (CNI_NETWORK_CONFIG) is empty")
	}
	out := strings.NewReplacer(
		"__KUBERNETES_NODE_NAME__", c.NodeName,
		"__KUBECONFIG_FILEPATH__", filepath.Join(c.NetDir, KubeconfigName),
		"__CNI_MTU__", strconv.Itoa(c.MTU),
	).Replace(c.Template)
	list, err := libcni.ConfListFromBytes([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("the rendered network configuration is not a CNI configuration list: %w", err)
	}
	found := false
	for _, p := range list.Plugins {
		found = found || p.Network.Type == "calico"
	}
	if !found {
		return nil, errors.New("the network configuration names no plugin of type calico")
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(out), "", "  "); err != nil {
		return nil, err
	}
	pretty.WriteByte('\n')
	return pretty.Bytes(), nil
}

// Install installs the plugins, the kubeconfig and the configuration.
func Install(c Config) (Result, error) {
	c.defaults()
	var r Result
	conf, err := Render(c)
	if err != nil {
		return r, err
	}
	binDir, netDir := filepath.Join(c.Root, c.BinDir), filepath.Join(c.Root, c.NetDir)
	for _, d := range []string{binDir, netDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return r, err
		}
		RemoveStale(d)
	}
	for _, p := range Plugins {
		src, err := os.ReadFile(filepath.Join(c.SourceBinDir, p))
		if err != nil {
			return r, fmt.Errorf("plugin to install: %w", err)
		}
		if err := r.put(filepath.Join(binDir, p), src, 0o755); err != nil {
			return r, err
		}
	}
	if err := r.put(filepath.Join(netDir, KubeconfigName), c.Kubeconfig, 0o600); err != nil {
		return r, err
	}
	if err := r.put(filepath.Join(netDir, c.ConfName), conf, 0o644); err != nil {
		return r, err
	}
	return r, nil
}

// put writes data to path through a renamed temporary file, unless path
// already holds exactly data with that mode.
func (r *Result) put(path string, data []byte, mode os.FileMode) error {
	written, err := WriteFile(path, data, mode)
	if err != nil {
		return err
	}
	if written {
		r.Written = append(r.Written, path)
	} else {
		r.Unchanged = append(r.Unchanged, path)
	}
	return nil
}

// WriteFile puts data at path with mode through a temporary file in the
// same directory and a rename, so readers see the old file or the new
// one, never a part. A file that already holds exactly data with that
// mode is left alone (written is false).
func WriteFile(path string, data []byte, mode os.FileMode) (written bool, err error) {
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
		if st, err := os.Stat(path); err == nil && st.Mode().Perm() == mode {
			return false, nil
		}
	}
	return true, replace(path, data, mode)
}

func replace(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), tmpPrefix+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := io.Copy(tmp, bytes.NewReader(data)); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// RemoveStale deletes the temporary files an interrupted WriteFile left
// in dir.
func RemoveStale(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Kubeconfig is a kubeconfig for the plugins: the API server, its CA and
// a service-account token.
func Kubeconfig(server string, caPEM []byte, token string) []byte {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return []byte(fmt.Sprintf(`# Written by calico-cni-install for the calico CNI plugins.
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: calico
  user:
    token: %s
contexts:
- name: calico-context
  context:
    cluster: local
    user: calico
current-context: calico-context
`, q(server), q(b64(caPEM)), q(token)))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
