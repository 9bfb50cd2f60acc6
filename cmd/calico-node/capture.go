package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/cache"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/capture/capturer"
	"github.com/calicong/calico/internal/capture/files"
	"github.com/calicong/calico/internal/daemon"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/felixconfig"
	"github.com/calicong/calico/internal/model"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

// packetCapture runs this node's PacketCaptures
// (docs/packet-capture.md). Its endpoints are the node's workload
// endpoints from Felix's stream (it is one of the stream's consumers, so
// it needs no watch of its own on pods); an informer on PacketCaptures
// feeds it the captures. Reconcile runs after each change and when a
// window opens or closes; the node writes its own entry of each
// capture's status.
type packetCapture struct {
	node string
	dir  string
	c    *capturer.Capturer
	kick chan struct{}
	mu   sync.Mutex
	pods map[model.Key]string // workload endpoint -> pod
}

// newPacketCapture makes the node's capturer; its endpoints arrive
// through OnUpdates once it is among Felix's stream's consumers.
func newPacketCapture(fc *felixconfig.Config, node string, client *datastore.Client, reg prometheus.Registerer, log *slog.Logger) *packetCapture {
	log = log.With("component", "packet-capture")
	s := fc.Spec
	kind, _ := v3.KindFor("PacketCapture")
	c := capturer.New(capturer.Config{Node: node, Dir: *s.CaptureDir, MaxSize: int64(*s.CaptureMaxSizeBytes),
		MaxAge: time.Duration(*s.CaptureRotationSeconds) * time.Second, MaxFiles: *s.CaptureMaxFiles, Log: log,
		Report: func(ctx context.Context, ns, name string, f v3.PacketCaptureFile) error {
			return reportCapture(ctx, client, kind, ns, name, f)
		}})
	// Metrics when Felix serves them (reg is nil otherwise).
	if reg != nil {
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "felix_capture_packets_total", Help: "Packets written to packet capture files."},
				func() float64 { w, _ := c.Counts(); return float64(w) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "felix_capture_dropped_packets_total",
				Help: "Packets a capture lost because its reader was behind (its ring was full)."},
				func() float64 { _, d := c.Counts(); return float64(d) }))
	}
	return &packetCapture{node: node, dir: *s.CaptureDir, c: c, kick: make(chan struct{}, 1), pods: map[model.Key]string{}}
}

func (p *packetCapture) changed() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// OnStatusUpdated: nothing waits for the stream's sync; endpoints start
// their sessions as they arrive.
func (p *packetCapture) OnStatusUpdated(model.SyncStatus) {}

// OnUpdates takes this node's workload endpoints (with an address) from
// Felix's stream.
func (p *packetCapture) OnUpdates(us []model.Update) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, u := range us {
		if u.Key.Kind != model.KindWorkloadEndpoint {
			continue
		}
		wep, ok := u.Value.(*v3.WorkloadEndpoint)
		if ok && wep.Spec.Node == p.node && len(wep.Spec.IPNetworks) > 0 {
			p.pods[u.Key] = wep.Spec.Pod
			p.c.SetEndpoint(capturer.Endpoint{Namespace: wep.Namespace, Pod: wep.Spec.Pod, Interface: wep.Spec.InterfaceName, Labels: wep.Labels})
			n++
		} else if pod, known := p.pods[u.Key]; known {
			delete(p.pods, u.Key)
			p.c.DeleteEndpoint(u.Key.Namespace, pod)
			n++
		}
	}
	if n > 0 {
		p.changed()
	}
}

// start watches the PacketCaptures, runs Reconcile, and serves the
// files.
func (p *packetCapture) start(ctx context.Context, client *datastore.Client, log *slog.Logger) error {
	log = log.With("component", "packet-capture")
	c, changed := p.c, p.changed
	kind, _ := v3.KindFor("PacketCapture")
	captures := cache.NewSharedIndexInformer(client.ListWatch(kind, ""), kind.New(), 0, cache.Indexers{})
	if _, err := captures.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { c.SetCapture(o.(*v3.PacketCapture)); changed() },
		UpdateFunc: func(_, o any) { c.SetCapture(o.(*v3.PacketCapture)); changed() },
		DeleteFunc: func(o any) {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			if pc, ok := o.(*v3.PacketCapture); ok {
				c.DeleteCapture(pc.Namespace, pc.Name)
				changed()
			}
		},
	}); err != nil {
		return err
	}
	go captures.RunWithContext(ctx)
	go func() {
		defer c.Stop()
		if !cache.WaitForCacheSync(ctx.Done(), captures.HasSynced) {
			return
		}
		// Files are reported as they grow, so a capture's status names
		// them while it runs.
		const resync = 10 * time.Second
		for {
			next := c.Reconcile(ctx)
			wait := resync
			if !next.IsZero() {
				wait = min(wait, max(time.Until(next), 0))
			}
			select {
			case <-ctx.Done():
				return
			case <-p.kick:
			case <-time.After(wait):
			}
		}
	}()
	if err := serveCaptureFiles(ctx, c, p.dir, changed, log); err != nil {
		return err
	}
	log.Info("packet capture running", "directory", p.dir)
	return nil
}

// serveCaptureFiles serves the node's capture files to the packet
// capture API (internal/capture/files) with mutual TLS, when
// CAPTURE_FILES_CERT_FILE is set:
//
//	CAPTURE_FILES_LISTEN     where (:9900)
//	CAPTURE_FILES_CA_FILE    the CA of the API's client certificate
//	CAPTURE_FILES_CERT_FILE, _KEY_FILE the service's certificate
//	CAPTURE_FILES_CLIENT_CN  the common name the API's certificate shows (calico-packetcapture)
func serveCaptureFiles(ctx context.Context, c *capturer.Capturer, dir string, changed func(), log *slog.Logger) error {
	certFile := os.Getenv("CAPTURE_FILES_CERT_FILE")
	if certFile == "" {
		log.Info("capture files are not served: CAPTURE_FILES_CERT_FILE is not set")
		return nil
	}
	// The manifests mount an optional Secret: without it the node still
	// captures, and says why its files cannot be fetched.
	if _, err := os.Stat(certFile); errors.Is(err, fs.ErrNotExist) {
		log.Warn("capture files are not served: no certificate (create the Secret calico-node-capture-tls)", "file", certFile)
		return nil
	}
	tc, err := tlsauth.Server(tlsauth.Files{CAFile: os.Getenv("CAPTURE_FILES_CA_FILE"), CertFile: certFile,
		KeyFile: os.Getenv("CAPTURE_FILES_KEY_FILE")}, tlsauth.Identity{CN: daemon.Env("CAPTURE_FILES_CLIENT_CN", "calico-packetcapture")})
	if err != nil {
		return fmt.Errorf("CAPTURE_FILES_*: %w", err)
	}
	listen := daemon.Env("CAPTURE_FILES_LISTEN", ":9900")
	fsrv := &files.Server{Dir: dir, Capturing: c.Capturing, Deleted: func(string, string) { changed() }}
	srv := &http.Server{Handler: fsrv.Handler(), TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	// The port may still be held for a moment by the calico-node this one
	// replaces: capture goes on meanwhile, and the files are served once
	// the port is free.
	go func() {
		var ln net.Listener
		for warned := false; ; warned = true {
			var err error
			if ln, err = net.Listen("tcp", listen); err == nil {
				break
			}
			if !warned {
				log.Warn("capture files not served yet; trying again every 2s", "addr", listen, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
		log.Info("serving capture files", "addr", ln.Addr().String())
		if err := daemon.ServeHTTP(ctx, srv, ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("capture file service stopped", "err", err)
		}
	}()
	return nil
}

// reportCapture writes this node's entry of a capture's status, leaving
// other nodes' entries alone.
func reportCapture(ctx context.Context, client *datastore.Client, kind v3.KindInfo, ns, name string, f v3.PacketCaptureFile) error {
	err := client.ChangeStatus(ctx, kind, ns, name, func(o v3.Object) {
		pc := o.(*v3.PacketCapture)
		files := pc.Status.Files[:0:0]
		for _, e := range pc.Status.Files {
			if e.Node != f.Node {
				files = append(files, e)
			}
		}
		pc.Status.Files = append(files, f)
	})
	if datastore.IsNotFound(err) {
		return nil // deleted meanwhile
	}
	return err
}
