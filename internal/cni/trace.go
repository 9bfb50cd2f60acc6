package cni

import (
	"log/slog"
	"net/http"
	"time"
)

// requestLog logs every API request at debug level with its status and
// duration: with log_level debug an operator sees where an ADD's time
// went.
type requestLog struct {
	next http.RoundTripper
	log  *slog.Logger
}

func (r requestLog) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := r.next.RoundTrip(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	r.log.Debug("api request", "method", req.Method, "url", req.URL.RequestURI(), "status", status,
		"ms", float64(time.Since(start).Microseconds())/1000, "err", err)
	return resp, err
}
