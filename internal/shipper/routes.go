package shipper

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Linseed's bulk paths.
const (
	FlowsPath     = "/flows/logs/bulk"
	DNSPath       = "/dns/logs/bulk"
	BGPPath       = "/bgp/logs/bulk"
	AuditEEPath   = "/audit/logs/ee/bulk"
	AuditKubePath = "/audit/logs/kube/bulk"
)

// To sends every line to one path, as it is.
func To(path string) func([]byte) (string, []byte) {
	return func(l []byte) (string, []byte) { return path, l }
}

// CalicoAPIGroup is the API group whose audit events are Calico's own
// (audit_ee); the others are Kubernetes' (audit_kube).
const CalicoAPIGroup = "projectcalico.org"

// AuditRoute sends an audit event about a Calico resource to audit_ee,
// any other to audit_kube.
func AuditRoute(l []byte) (string, []byte) {
	var ev struct {
		ObjectRef *struct {
			APIGroup string `json:"apiGroup"`
		} `json:"objectRef"`
	}
	if json.Unmarshal(l, &ev) == nil && ev.ObjectRef != nil && ev.ObjectRef.APIGroup == CalicoAPIGroup {
		return AuditEEPath, l
	}
	return AuditKubePath, l
}

// HTTPSender posts to Linseed with a bearer token read from a file at
// every request (projected ServiceAccount tokens are rotated) and the
// cluster's x-cluster-id. Client is expected to present the component's
// client certificate (mutual TLS).
type HTTPSender struct {
	// URL is Linseed's base URL (https://host:port).
	URL       string
	Client    *http.Client
	TokenFile string
	// Cluster is sent as x-cluster-id when not empty.
	Cluster string
}

// Send posts one NDJSON body.
func (h *HTTPSender) Send(ctx context.Context, path string, body []byte) (Response, error) {
	token, err := os.ReadFile(h.TokenFile)
	if err != nil {
		return Response{}, fmt.Errorf("reading the token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(h.URL, "/")+"/api/v1"+path, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	if h.Cluster != "" {
		req.Header.Set("x-cluster-id", h.Cluster)
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Response{}, err
	}
	out := Response{Status: resp.StatusCode}
	var decoded struct {
		Total     int         `json:"total"`
		Succeeded int         `json:"succeeded"`
		Failed    int         `json:"failed"`
		Error     string      `json:"error"`
		Errors    []LineError `json:"errors"`
	}
	if json.Unmarshal(b, &decoded) == nil {
		out.Total, out.Succeeded, out.Failed, out.Error, out.Errors = decoded.Total, decoded.Succeeded, decoded.Failed, decoded.Error, decoded.Errors
	} else if resp.StatusCode != 200 {
		out.Error = strings.TrimSpace(string(b))
	}
	return out, nil
}
