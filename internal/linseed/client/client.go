// Package client calls Linseed's API as a component does: over mutual
// TLS, with the component's ServiceAccount token as its bearer token
// (re-read from its file on every call, so a rotated token is picked
// up), for one cluster (x-cluster-id). Reads are a path and a JSON body;
// writes are NDJSON bulk requests.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/calicong/calico/internal/linseed/api"
	"github.com/calicong/calico/internal/typha/tlsauth"
)

// Client is one component's connection to Linseed.
type Client struct {
	URL       string // https://host:port, without /api/v1
	Cluster   string
	TokenFile string
	HTTP      *http.Client
}

// Error is Linseed's own refusal of a request.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

// Files are where a component's Linseed settings come from.
type Files struct {
	URL                string
	CA, Cert, Key      string
	TokenFile, Cluster string
	Timeout            time.Duration
}

// FromEnv reads LINSEED_URL, LINSEED_CA, LINSEED_CLIENT_CERT,
// LINSEED_CLIENT_KEY, LINSEED_TOKEN and CLUSTER_ID, with def's values for
// those unset, and makes the client. An error names the variable.
func FromEnv(def Files) (*Client, error) {
	get := func(name, d string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return d
	}
	f := Files{URL: get("LINSEED_URL", def.URL), CA: get("LINSEED_CA", def.CA), Cert: get("LINSEED_CLIENT_CERT", def.Cert),
		Key: get("LINSEED_CLIENT_KEY", def.Key), TokenFile: get("LINSEED_TOKEN", def.TokenFile), Cluster: get("CLUSTER_ID", def.Cluster),
		Timeout: def.Timeout}
	return New(f)
}

// New makes a client from its files.
func New(f Files) (*Client, error) {
	if !strings.HasPrefix(f.URL, "https://") {
		return nil, fmt.Errorf("LINSEED_URL %q: an https:// URL (Linseed requires mutual TLS)", f.URL)
	}
	ca, err := tlsauth.LoadCA(f.CA)
	if err != nil {
		return nil, fmt.Errorf("LINSEED_CA: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("LINSEED_CLIENT_CERT/LINSEED_CLIENT_KEY: %w", err)
	}
	if _, err := os.Stat(f.TokenFile); err != nil {
		return nil, fmt.Errorf("LINSEED_TOKEN: %w", err)
	}
	if f.Timeout <= 0 {
		f.Timeout = 30 * time.Second
	}
	if f.Cluster == "" {
		f.Cluster = api.DefaultCluster
	}
	return &Client{URL: f.URL, Cluster: f.Cluster, TokenFile: f.TokenFile,
		HTTP: &http.Client{Timeout: f.Timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: ca, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}}}, nil
}

// Post sends a read (or any JSON request) and decodes the answer into out
// (nil: discarded).
func (c *Client) Post(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, "application/json", b, out)
}

// Bulk sends records, one JSON document per line, with method (POST
// writes; PUT dismisses and DELETE deletes events, given {"id"}), and
// returns Linseed's account of them. A record Linseed refused is an
// error naming the first refusal.
func (c *Client) Bulk(ctx context.Context, method, path string, records []any) (api.BulkResponse, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range records {
		if err := enc.Encode(r); err != nil {
			return api.BulkResponse{}, err
		}
	}
	var res api.BulkResponse
	if err := c.do(ctx, method, path, "application/x-ndjson", buf.Bytes(), &res); err != nil {
		return res, err
	}
	if res.Failed > 0 {
		msg := ""
		if len(res.Errors) > 0 {
			msg = fmt.Sprintf(": line %d: %s", res.Errors[0].Line, res.Errors[0].Reason)
		}
		return res, fmt.Errorf("linseed refused %d of %d records%s", res.Failed, res.Total, msg)
	}
	return res, nil
}

// Each reads every page of a list endpoint, calling f with each record
// (as Linseed encoded it) until f fails or the pages end. The next page
// is read while f works through the current one.
func (c *Client) Each(ctx context.Context, path string, p api.Params, f func(json.RawMessage) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		page api.List
		err  error
	}
	pages := make(chan result, 1)
	go func() {
		defer close(pages)
		for {
			var r result
			r.err = c.Post(ctx, path, p, &r.page)
			select {
			case pages <- r:
			case <-ctx.Done():
				return
			}
			if r.err != nil || r.page.AfterKey == nil || len(r.page.Items) == 0 {
				return
			}
			p.AfterKey = r.page.AfterKey
		}
	}()
	for r := range pages {
		if r.err != nil {
			return r.err
		}
		for _, it := range r.page.Items {
			if err := f(it); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	tok, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return fmt.Errorf("the token for Linseed: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.URL, "/")+"/api/v1"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	if c.Cluster != "" {
		req.Header.Set("x-cluster-id", c.Cluster)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &Error{Status: resp.StatusCode, Message: msg}
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
