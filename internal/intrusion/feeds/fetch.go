// Package feeds keeps GlobalThreatFeeds: it pulls a feed's content over
// HTTP (conditionally, bounded in size, with its headers' values read
// from Secrets and ConfigMaps), parses it (internal/threatfeed), keeps an
// IPSet feed in its GlobalNetworkSet threatfeed.<name> (one write, owned
// by the feed so it goes with it), and reports in the feed's status. A
// pull that fails leaves the last good set in place and says why in
// status.errorConditions.
package feeds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DefaultMaxBytes bounds a feed's content (a 100,000-entry feed is a few
// MiB).
const DefaultMaxBytes = 64 << 20

// fetched is one pull's outcome.
type fetched struct {
	body               []byte
	etag, lastModified string
	notModified        bool
}

// errTooLarge is content past the bound.
var errTooLarge = errors.New("the feed is larger than the limit")

// fetch GETs url with headers; with the previous pull's ETag or
// Last-Modified it asks only for a change (304 Not Modified).
func fetch(ctx context.Context, client *http.Client, url string, headers map[string]string, etag, lastModified string, maxBytes int64) (fetched, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fetched{}, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastModified != "" {
		req.Header.Set("If-Modified-Since", lastModified)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fetched{}, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return fetched{notModified: true, etag: etag, lastModified: lastModified}, nil
	case resp.StatusCode != http.StatusOK:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return fetched{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return fetched{}, fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(body)) > maxBytes {
		return fetched{}, fmt.Errorf("GET %s: %w (%d bytes)", url, errTooLarge, maxBytes)
	}
	return fetched{body: body, etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified")}, nil
}
