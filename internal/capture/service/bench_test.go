package service_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/capture/files"
	"github.com/calicong/calico/internal/capture/service"
	"github.com/calicong/calico/internal/pki"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

// BenchmarkDownload: the zip of 100 MB of captures (two nodes, five
// 10 MB files each), as a client receives it from the API over HTTPS,
// the API reading each node's file service over mutual TLS, as in a
// cluster (issue 26: make bench reports the rate).
func BenchmarkDownload(b *testing.B) {
	dir := b.TempDir()
	ca, _, err := pki.NewAuthority("bench-ca")
	if err != nil {
		b.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			b.Fatal(err)
		}
		return p
	}
	caFile := write("ca.crt", ca.CertPEM)
	issue := func(name string, req pki.Request) tlsauth.Files {
		crt, key, err := ca.Issue(req)
		if err != nil {
			b.Fatal(err)
		}
		return tlsauth.Files{CAFile: caFile, CertFile: write(name+".crt", crt), KeyFile: write(name+".key", key)}
	}
	nodeFiles := issue("node", pki.Request{CommonName: "calico-node-files", Server: true})
	apiClient := issue("api-client", pki.Request{CommonName: "calico-packetcapture", Client: true})

	const perFile, filesPerNode = 10 << 20, 5
	chunk := make([]byte, perFile)
	if _, err := rand.Read(chunk); err != nil {
		b.Fatal(err)
	}
	pc := &v3.PacketCapture{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "big"}}
	urls := map[string]string{}
	for _, node := range []string{"node-a", "node-b"} {
		root := filepath.Join(dir, node)
		capDir := filepath.Join(root, "ns1", "big")
		if err := os.MkdirAll(capDir, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range filesPerNode {
			if err := os.WriteFile(filepath.Join(capDir, fmt.Sprintf("%s-pod-%d_cali%d.pcap", node, i, i)), chunk, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		tc, err := tlsauth.Server(nodeFiles, tlsauth.Identity{CN: "calico-packetcapture"})
		if err != nil {
			b.Fatal(err)
		}
		// Not httptest's StartTLS: it would serve its own certificate.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: (&files.Server{Dir: root}).Handler()}
		go srv.Serve(tls.NewListener(ln, tc))
		defer srv.Close()
		urls[node] = "https://" + ln.Addr().String()
		pc.Status.Files = append(pc.Status.Files, v3.PacketCaptureFile{Node: node, State: v3.PacketCaptureStateFinished})
	}
	nodeTLS, err := tlsauth.Client(apiClient, tlsauth.Identity{CN: "calico-node-files"})
	if err != nil {
		b.Fatal(err)
	}
	h, err := service.New(service.Config{
		Checker: &checker{},
		Capture: func(context.Context, string, string) (*v3.PacketCapture, error) { return pc, nil },
		NodeURL: func(_ context.Context, node string) (string, error) { return urls[node], nil },
		Files:   &files.Client{HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: nodeTLS}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	api := httptest.NewTLSServer(h)
	defer api.Close()
	client := api.Client()
	client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}

	total := int64(2 * filesPerNode * perFile)
	b.SetBytes(total)
	b.ResetTimer()
	for range b.N {
		req, _ := http.NewRequest("GET", api.URL+"/download/ns1/big/files.zip", nil)
		req.Header.Set("Authorization", "Bearer reader")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || n < total {
			b.Fatalf("download: %d, %d bytes of %d, %v", resp.StatusCode, n, total, err)
		}
	}
}
