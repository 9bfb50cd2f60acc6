package manager

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

// LinseedClient reads Linseed as the manager: mutual TLS (the client's
// transport) and the manager's ServiceAccount token, re-read from its file
// on every call so a rotated token is picked up.
type LinseedClient struct {
	URL       string // https://host:port, without /api/v1
	Cluster   string
	TokenFile string
	HTTP      *http.Client
}

// LinseedError is Linseed's own refusal of a request.
type LinseedError struct {
	Status  int
	Message string
}

func (e *LinseedError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

// Post sends a read and decodes its answer into out.
func (c *LinseedClient) Post(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	tok, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return fmt.Errorf("the manager's token for Linseed: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/api/v1"+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
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
		return &LinseedError{Status: resp.StatusCode, Message: msg}
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
