// Package capturer runs one node's packet captures. For each
// PacketCapture whose window is open, every local pod of its namespace
// that its selector matches has its host-side interface captured
// (internal/capture/sniff, with the filters compiled to kernel BPF) into
// rotating pcap files (internal/capture/rotate) under
// Dir/<namespace>/<capture>/<pod>_<interface>.pcap. Pods that come and
// go during the window are followed; a capture's files go with it; the
// node's files and state are reported for the capture's status.
//
// The caller feeds it captures and local endpoints (from informers) and
// calls Reconcile after changes and at the time it returns.
package capturer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/bpf"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/capture/files"
	"github.com/calicong/calico/internal/capture/filter"
	"github.com/calicong/calico/internal/capture/rotate"
	"github.com/calicong/calico/internal/capture/sniff"
	"github.com/calicong/calico/internal/capture/window"
	"github.com/calicong/calico/internal/selector"
)

// Config is a node's capture settings (Felix's capture* parameters).
type Config struct {
	Node string
	// Dir is captureDir (/var/log/calico/pcap).
	Dir      string
	MaxSize  int64
	MaxAge   time.Duration
	MaxFiles int
	// Open opens a socket on an interface; sniff.Open by default (the
	// lab opens it in the node's network namespace).
	Open func(iface string, prog []bpf.Instruction) (*sniff.Socket, error)
	// Report writes the node's entry of a capture's status.
	Report func(ctx context.Context, namespace, name string, f v3.PacketCaptureFile) error
	Now    func() time.Time
	Log    *slog.Logger
}

// Endpoint is a local workload endpoint.
type Endpoint struct {
	Namespace, Pod, Interface string
	Labels                    map[string]string
}

// Capturer holds the node's captures, endpoints and capture sessions.
type Capturer struct {
	cfg Config

	mu        sync.Mutex
	captures  map[string]*v3.PacketCapture // namespace/name
	endpoints map[string]Endpoint          // namespace/pod
	sessions  map[string]*session          // namespace/name/pod
	reported  map[string]v3.PacketCaptureFile
	gone      map[string]bool // captures deleted, their files still to remove

	// Every session's packets written and packets the kernel dropped
	// because a reader was behind (its ring full), since start.
	written, dropped atomic.Uint64
}

// Counts are the packets written to capture files and the packets the
// kernel dropped because a capture's reader was behind, since start.
func (c *Capturer) Counts() (written, dropped uint64) { return c.written.Load(), c.dropped.Load() }

// New makes a capturer.
func New(cfg Config) *Capturer {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Capturer{cfg: cfg, captures: map[string]*v3.PacketCapture{}, endpoints: map[string]Endpoint{},
		sessions: map[string]*session{}, reported: map[string]v3.PacketCaptureFile{}, gone: map[string]bool{}}
}

// SetCapture adds or updates a capture.
func (c *Capturer) SetCapture(pc *v3.PacketCapture) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := pc.Namespace + "/" + pc.Name
	if old := c.captures[k]; old != nil && old.UID != pc.UID {
		c.gone[k] = true // a new capture of the same name starts afresh
	}
	c.captures[k] = pc.DeepCopy()
}

// DeleteCapture removes a capture; Reconcile stops it and deletes its
// files.
func (c *Capturer) DeleteCapture(namespace, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := namespace + "/" + name
	delete(c.captures, k)
	c.gone[k] = true
}

// SetEndpoint adds or updates a local endpoint.
func (c *Capturer) SetEndpoint(ep Endpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endpoints[ep.Namespace+"/"+ep.Pod] = ep
}

// DeleteEndpoint removes a local endpoint.
func (c *Capturer) DeleteEndpoint(namespace, pod string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.endpoints, namespace+"/"+pod)
}

// Dir is where a capture's files are on this node.
func (c *Capturer) Dir(namespace, name string) string {
	return filepath.Join(c.cfg.Dir, namespace, name)
}

// Capturing reports whether any session of a capture is running: its
// files are still being written.
func (c *Capturer) Capturing(namespace, name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := namespace + "/" + name + "/"
	for k := range c.sessions {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// Reconcile starts and stops sessions as the captures, endpoints and
// clock say, removes deleted captures' files, and reports what changed.
// It returns when it must run again for a window to open or close (zero
// if no window will).
func (c *Capturer) Reconcile(ctx context.Context) time.Time {
	c.mu.Lock()
	now := c.cfg.Now()
	var next time.Time
	want := map[string]bool{}
	type job struct {
		pc  *v3.PacketCapture
		ep  Endpoint
		key string
	}
	var start []job
	// The captures that select a pod of this node, open or not: only
	// their nodes report them (report).
	selects := map[string]bool{}
	for k, pc := range c.captures {
		if n := window.Next(pc.Spec, now); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
		sel, err := selector.Parse(orAll(pc.Spec.Selector))
		if err != nil {
			continue // validation refuses these
		}
		open := window.Open(pc.Spec, now)
		for _, ep := range c.endpoints {
			if ep.Namespace != pc.Namespace || !sel.Evaluate(selector.Map(ep.Labels)) {
				continue
			}
			selects[k] = true
			if !open {
				break
			}
			sk := k + "/" + ep.Pod
			want[sk] = true
			if s := c.sessions[sk]; s == nil || s.uid != string(pc.UID) || s.iface != ep.Interface || !slices.Equal(s.filters, filterKey(pc)) {
				start = append(start, job{pc, ep, sk})
			}
		}
	}
	var stop []*session
	for sk, s := range c.sessions {
		if !want[sk] {
			stop = append(stop, s)
			delete(c.sessions, sk)
		}
	}
	for _, j := range start {
		if s := c.sessions[j.key]; s != nil {
			stop = append(stop, s)
		}
		c.sessions[j.key] = c.startSession(j.pc, j.ep)
	}
	gone := c.gone
	c.gone = map[string]bool{}
	c.mu.Unlock()

	for _, s := range stop {
		s.stop()
	}
	for k := range gone {
		c.mu.Lock()
		_, back := c.captures[k]
		c.mu.Unlock()
		if back {
			continue // re-created: its sessions run in the same directory
		}
		if err := os.RemoveAll(filepath.Join(c.cfg.Dir, k)); err != nil {
			c.cfg.Log.Warn("removing a deleted capture's files", "capture", k, "err", err)
		}
		c.mu.Lock()
		delete(c.reported, k)
		c.mu.Unlock()
	}
	c.report(ctx, now, selects)
	return next
}

// report writes each capture's entry for this node when it changed;
// selects are the captures that select one of its pods.
func (c *Capturer) report(ctx context.Context, now time.Time, selects map[string]bool) {
	c.mu.Lock()
	type entry struct {
		ns, name string
		f        v3.PacketCaptureFile
	}
	var changed []entry
	for k, pc := range c.captures {
		f := v3.PacketCaptureFile{Node: c.cfg.Node, Directory: c.Dir(pc.Namespace, pc.Name)}
		packets, failed := false, false
		for sk, s := range c.sessions {
			if strings.HasPrefix(sk, k+"/") {
				packets = packets || s.packets.Load() > 0
				failed = failed || s.failed()
			}
		}
		if list, err := files.List(f.Directory); err == nil {
			for _, fl := range list {
				f.FileNames = append(f.FileNames, fl.Name)
			}
			packets = packets || len(list) > 0
		}
		old, reported := c.reported[k]
		// Only the nodes a capture concerns write its status: those with
		// a pod it selects, or its files. A cluster's other nodes stay
		// out of it, so a capture costs writes per node it touches.
		if !reported && len(f.FileNames) == 0 && !selects[k] {
			continue
		}
		f.State = window.State(pc.Spec, now, packets, failed)
		if reported && old.State == f.State && slices.Equal(old.FileNames, f.FileNames) {
			continue
		}
		changed = append(changed, entry{pc.Namespace, pc.Name, f})
	}
	c.mu.Unlock()
	for _, e := range changed {
		if c.cfg.Report == nil {
			continue
		}
		if err := c.cfg.Report(ctx, e.ns, e.name, e.f); err != nil {
			c.cfg.Log.Warn("reporting a capture's status", "capture", e.ns+"/"+e.name, "err", err)
			continue
		}
		c.mu.Lock()
		c.reported[e.ns+"/"+e.name] = e.f
		c.mu.Unlock()
	}
}

// Stop ends every session (their files stay).
func (c *Capturer) Stop() {
	c.mu.Lock()
	all := c.sessions
	c.sessions = map[string]*session{}
	c.mu.Unlock()
	for _, s := range all {
		s.stop()
	}
}

func orAll(s string) string {
	if s == "" {
		return "all()"
	}
	return s
}

// filterKey identifies a capture's filters, to restart a session whose
// filters changed.
func filterKey(pc *v3.PacketCapture) []string {
	var out []string
	for _, r := range pc.Spec.Filters {
		k := ""
		if r.Protocol != nil {
			k = r.Protocol.String()
		}
		for _, p := range r.Ports {
			k += "," + p.String()
		}
		out = append(out, k)
	}
	return out
}

// session captures one endpoint for one capture.
type session struct {
	uid, iface string
	filters    []string
	done       chan struct{}
	stopped    chan struct{}
	packets    atomic.Int64
	dropped    atomic.Uint64
	err        atomic.Value // error
}

func (s *session) failed() bool { return s.err.Load() != nil }

func (s *session) stop() {
	close(s.done)
	<-s.stopped
}

func (c *Capturer) startSession(pc *v3.PacketCapture, ep Endpoint) *session {
	s := &session{uid: string(pc.UID), iface: ep.Interface, filters: filterKey(pc), done: make(chan struct{}), stopped: make(chan struct{})}
	log := c.cfg.Log.With("capture", pc.Namespace+"/"+pc.Name, "pod", ep.Pod, "interface", ep.Interface)
	fail := func(err error) {
		s.err.Store(err)
		log.Warn("capture failed", "err", err)
		close(s.stopped)
	}
	prog, err := filter.Compile(pc.Spec.Filters)
	if err != nil {
		fail(err)
		return s
	}
	open := c.cfg.Open
	if open == nil {
		open = sniff.Open
	}
	sock, err := open(ep.Interface, prog)
	if err != nil {
		fail(fmt.Errorf("capturing on %s: %w", ep.Interface, err))
		return s
	}
	w := &rotate.Writer{Dir: c.Dir(pc.Namespace, pc.Name), Base: ep.Pod + "_" + ep.Interface,
		MaxSize: c.cfg.MaxSize, MaxAge: c.cfg.MaxAge, MaxFiles: c.cfg.MaxFiles, SnapLen: filter.SnapLen}
	log.Info("capture started")
	go func() {
		defer close(s.stopped)
		defer sock.Close()
		defer w.Close()
		// The kernel's drops are read on quiet moments, every second
		// while busy, and at the end.
		drops := func() {
			if _, d, err := sock.Stats(); err == nil && d > 0 {
				c.dropped.Add(uint64(d))
				s.dropped.Add(uint64(d))
			}
		}
		lastDrops := time.Now()
		for {
			pkt, ci, err := sock.Next(s.done)
			if err != nil || time.Since(lastDrops) > time.Second {
				drops()
				lastDrops = time.Now()
			}
			if errors.Is(err, sniff.ErrClosed) {
				log.Info("capture stopped", "packets", s.packets.Load(), "dropped", s.dropped.Load())
				return
			}
			if errors.Is(err, sniff.ErrIdle) {
				// A quiet moment: what was captured reaches the file.
				if err := w.Flush(); err != nil {
					s.err.Store(err)
					return
				}
				continue
			}
			if err != nil {
				s.err.Store(err)
				log.Warn("capture failed", "err", err)
				return
			}
			if err := w.Write(ci, pkt); err != nil {
				s.err.Store(err)
				log.Warn("writing a capture", "err", err)
				return
			}
			s.packets.Add(1)
			c.written.Add(1)
		}
	}()
	return s
}
