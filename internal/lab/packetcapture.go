package lab

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/calicong/calico/internal/lab/multihost"
	"github.com/calicong/calico/internal/manifests"
)

// Packet capture in the lab (docs/packet-capture.md): each node's
// calico-node serves its capture files on the node's address, port 9900,
// with mutual TLS, as in a cluster. calico-packetcapture runs on the
// monitoring host, which reaches every node directly as a pod of the
// cluster would, and is relayed out to the lab host, where the console's
// /packet-capture/ and calicoctl reach it. It accepts Bearer tokens and,
// for calicoctl with the lab's kubeconfig, client certificates of the
// lab's CA.

var packetCaptureIdentity = serviceAccountIdentity(manifests.PacketCaptureName)

// captureFilesEnv is calico-node's file service settings on a lab node:
// the manifests' port, the lab's certificates.
func (c Config) captureFilesEnv() []string {
	return []string{
		"CAPTURE_FILES_CA_FILE=" + c.CAPath(),
		"CAPTURE_FILES_CERT_FILE=" + c.pkiPath("capture-files.crt"), "CAPTURE_FILES_KEY_FILE=" + c.pkiPath("capture-files.key"),
	}
}

type packetCaptureProc struct {
	binary string
	env    []string
}

// packetCaptureOnMonitoring relays the API out to the lab host and
// returns how to run it on the monitoring host h, with its health check
// registered on a; nil in a lab made before it existed.
func packetCaptureOnMonitoring(cfg Config, rec *nodesRecord, h *multihost.Host, a *agent) (*packetCaptureProc, error) {
	if rec.Monitoring.PacketCapture == 0 {
		return nil, nil
	}
	ip := h.IP.Addr().String()
	listen := net.JoinHostPort(ip, strconv.Itoa(manifests.PacketCapturePort))
	metrics := net.JoinHostPort(ip, strconv.Itoa(manifests.PacketCaptureMetrics))
	if err := h.Expose(fmt.Sprintf("127.0.0.1:%d", rec.Monitoring.PacketCapture), listen); err != nil {
		return nil, err
	}
	a.restart[manifests.PacketCaptureName] = make(chan struct{}, 1)
	a.checks[manifests.PacketCaptureName] = "http://" + metrics + "/health"
	return &packetCaptureProc{
		binary: filepath.Join(filepath.Dir(cfg.Executable), manifests.PacketCaptureName),
		env: []string{
			"LISTEN_ADDR=" + listen, "METRICS_LISTEN=" + metrics,
			"TLS_CERT_FILE=" + cfg.pkiPath("packetcapture.crt"), "TLS_KEY_FILE=" + cfg.pkiPath("packetcapture.key"),
			"CLIENT_CA_FILE=" + cfg.CAPath(),
			"NODE_FILES_PORT=" + strconv.Itoa(manifests.NodeCaptureFilesPort), "NODE_FILES_CA_FILE=" + cfg.CAPath(),
			"NODE_FILES_CERT_FILE=" + cfg.pkiPath("packetcapture-client.crt"), "NODE_FILES_KEY_FILE=" + cfg.pkiPath("packetcapture-client.key"),
			"NODE_FILES_CN=" + manifests.NodeCaptureFilesCN,
			"KUBECONFIG=" + cfg.componentKubeconfig(packetCaptureIdentity.file),
		},
	}, nil
}

// PacketCaptureURL is the packet capture API on the lab host ("" if the
// lab has none).
func (c Config) PacketCaptureURL() string {
	rec, err := readNodes(c)
	if err != nil || rec == nil || rec.Monitoring.PacketCapture == 0 {
		return ""
	}
	return fmt.Sprintf("https://127.0.0.1:%d", rec.Monitoring.PacketCapture)
}
