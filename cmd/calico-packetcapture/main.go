// Command calico-packetcapture is the packet capture API
// (internal/capture/service): it serves a PacketCapture's pcap files from
// every node as one streamed zip, and deletes them, to callers with `get`
// or `delete` on packetcaptures/files. It reaches each node's files
// through calico-node's capture file service, with mutual TLS.
//
// Configuration (environment):
//
//	LISTEN_ADDR                  where the API listens (:8444)
//	TLS_CERT_FILE, _KEY_FILE     serve HTTPS with these (re-read when they change); unset: HTTP
//	CLIENT_CA_FILE               also accept client certificates this CA signed (the cluster's client CA)
//	NODE_FILES_PORT              calico-node's capture file service port on each node (9900)
//	NODE_FILES_CA_FILE           the CA of the nodes' file service certificates
//	NODE_FILES_CERT_FILE, _KEY_FILE this service's client certificate towards the nodes
//	NODE_FILES_CN                the common name the nodes' certificates show (calico-node-files)
//	AUTH_CACHE_TTL               how long an allowed answer is kept (10s)
//	METRICS_LISTEN               metrics and /health over HTTP (:8445)
//	KUBECONFIG                   the cluster (in-cluster configuration when empty)
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/buildinfo"
	"github.com/calicong/calico/internal/capture/files"
	"github.com/calicong/calico/internal/capture/service"
	"github.com/calicong/calico/internal/daemon"
	"github.com/calicong/calico/internal/datastore"
	"github.com/calicong/calico/internal/health"
	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

func main() { daemon.Main("calico-packetcapture", run) }

func run(ctx context.Context, log *slog.Logger) error {
	ttl, err := daemon.Period("AUTH_CACHE_TTL", "10s")
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(daemon.Env("NODE_FILES_PORT", "9900"))
	if err != nil || port < 1 || port > 65535 {
		return fmt.Errorf("NODE_FILES_PORT %q: a port number", os.Getenv("NODE_FILES_PORT"))
	}
	certFile, keyFile := os.Getenv("TLS_CERT_FILE"), os.Getenv("TLS_KEY_FILE")
	if (certFile == "") != (keyFile == "") {
		return errors.New("TLS_CERT_FILE and TLS_KEY_FILE go together")
	}
	clientCA := os.Getenv("CLIENT_CA_FILE")
	if clientCA != "" && certFile == "" {
		return errors.New("CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE: client certificates come over HTTPS")
	}
	nodeTLS, err := tlsauth.Client(tlsauth.Files{CAFile: os.Getenv("NODE_FILES_CA_FILE"), CertFile: os.Getenv("NODE_FILES_CERT_FILE"),
		KeyFile: os.Getenv("NODE_FILES_KEY_FILE")}, tlsauth.Identity{CN: daemon.Env("NODE_FILES_CN", "calico-node-files")})
	if err != nil {
		return fmt.Errorf("NODE_FILES_CA_FILE, NODE_FILES_CERT_FILE, NODE_FILES_KEY_FILE: %w", err)
	}
	client, err := datastore.Connect(os.Getenv("KUBECONFIG"))
	if err != nil {
		return fmt.Errorf("connecting to the API server: %w", err)
	}
	kind, _ := v3.KindFor("PacketCapture")
	checker := kubeauth.New(client.Kube, nil, kubeauth.WithTTL(ttl, min(ttl, 5*time.Second)))
	h, err := service.New(service.Config{
		Checker: checker,
		Capture: func(ctx context.Context, ns, name string) (*v3.PacketCapture, error) {
			o, err := client.Get(ctx, kind, ns, name)
			if datastore.IsNotFound(err) {
				return nil, service.ErrNotFound
			}
			if err != nil {
				return nil, err
			}
			return o.(*v3.PacketCapture), nil
		},
		NodeURL: func(ctx context.Context, node string) (string, error) {
			n, err := client.Kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return "", service.ErrNotFound
			}
			if err != nil {
				return "", err
			}
			ip := nodeAddress(n)
			if ip == "" {
				return "", fmt.Errorf("node %s has no InternalIP or ExternalIP address", node)
			}
			return "https://" + net.JoinHostPort(ip, strconv.Itoa(port)), nil
		},
		Files: &files.Client{HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: nodeTLS, MaxIdleConnsPerHost: 4,
			ResponseHeaderTimeout: 30 * time.Second}}},
		Log: log,
	})
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for name, c := range map[string]struct {
		help string
		v    func() int64
	}{
		"calico_packetcapture_downloads_total":        {"Zip downloads started.", h.Stats.Downloads.Load},
		"calico_packetcapture_downloaded_bytes_total": {"Capture file bytes sent in zips.", h.Stats.DownloadedBytes.Load},
		"calico_packetcapture_deletes_total":          {"Captures whose files were deleted.", h.Stats.Deletes.Load},
		"calico_packetcapture_refused_total":          {"Requests refused with 401 or 403.", h.Stats.Refused.Load},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: c.help}, func() float64 { return float64(c.v()) }))
	}
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	metricsMux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	go health.Serve(ctx, daemon.Env("METRICS_LISTEN", ":8445"), metricsMux, log)

	listen := daemon.Env("LISTEN_ADDR", ":8444")
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR %s: %w", listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	if certFile != "" {
		getCert, err := tlsauth.ServingCertificate(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("TLS_CERT_FILE/TLS_KEY_FILE: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCert}
		if clientCA != "" {
			pool, err := tlsauth.LoadCA(clientCA)
			if err != nil {
				return fmt.Errorf("CLIENT_CA_FILE: %w", err)
			}
			srv.TLSConfig.ClientAuth, srv.TLSConfig.ClientCAs = tls.VerifyClientCertIfGiven, pool
		}
	}
	log.Info("calico-packetcapture serving", "addr", ln.Addr().String(), "nodeFilesPort", port, "version", buildinfo.Version)
	return daemon.ServeHTTP(ctx, srv, ln)
}

// nodeAddress is where a node is reached: its InternalIP, else its
// ExternalIP.
func nodeAddress(n *corev1.Node) string {
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for _, a := range n.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address
			}
		}
	}
	return ""
}
