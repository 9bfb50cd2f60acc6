// Package webhooks delivers security events to SecurityEventWebhooks:
// Generic (the event as JSON), Slack (a message) and Alertmanager (an
// alert). Each webhook reads the events its query selects in the order
// they were written (generated_time), delivers them one at a time,
// retrying a failure with back-off, and records in its status how far it
// has got, so delivery is at least once and resumes where it stopped
// after a restart.
package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/calicong/calico/internal/intrusion/events"
)

// Consumers.
const (
	Generic      = "Generic"
	Slack        = "Slack"
	Alertmanager = "Alertmanager"
)

// request is what a consumer sends for an event.
func request(ctx context.Context, consumer string, cfg map[string]string, e events.Event) (*http.Request, error) {
	u := cfg["url"]
	var body any
	switch consumer {
	case Generic:
		body = e
	case Slack:
		body = slackMessage(e)
	case Alertmanager:
		body = alertmanagerAlerts(e)
		if p, err := url.Parse(u); err == nil && (p.Path == "" || p.Path == "/") {
			u = strings.TrimSuffix(u, "/") + "/api/v2/alerts"
		}
	default:
		return nil, fmt.Errorf("consumer %q: Generic, Slack or Alertmanager", consumer)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "calico-intrusion-detection")
	if consumer == Generic {
		// Receivers may deduplicate a retried delivery by it.
		req.Header.Set("X-Calico-Event-Id", e.ID)
	}
	return req, nil
}

// send makes one delivery; anything but a 2xx answer is a failure.
func send(client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s answered %s: %s", req.URL.Redacted(), resp.Status, strings.TrimSpace(string(b)))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return nil
}

func slackMessage(e events.Event) map[string]any {
	var b strings.Builder
	fmt.Fprintf(&b, "*Security event* (%s, severity %d)\n%s", e.Type, e.Severity, e.Description)
	if e.Origin != "" {
		fmt.Fprintf(&b, "\nFrom: %s", e.Origin)
	}
	if src := side(e.SourceNamespace, e.SourceName, e.SourceNameAggr, e.SourceIP); src != "" {
		fmt.Fprintf(&b, "\nSource: %s", src)
	}
	if dst := side(e.DestNamespace, e.DestName, e.DestNameAggr, e.DestIP); dst != "" {
		fmt.Fprintf(&b, "\nDestination: %s", dst)
	}
	fmt.Fprintf(&b, "\nAt: %s", time.Unix(e.Time, 0).UTC().Format(time.RFC3339))
	return map[string]any{"text": b.String()}
}

func side(ns, name, aggr, ip string) string {
	if name == "" {
		name = aggr
	}
	switch {
	case ns != "" && name != "":
		return ns + "/" + name
	case name != "":
		return name
	}
	return ip
}

// alertmanagerAlerts is Alertmanager's v2 API body: one alert, labelled
// so that Alertmanager groups events of a rule or feed together.
func alertmanagerAlerts(e events.Event) []map[string]any {
	labels := map[string]string{"alertname": e.Type, "origin": e.Origin, "severity": fmt.Sprint(e.Severity), "event_id": e.ID}
	for k, v := range map[string]string{"source_namespace": e.SourceNamespace, "dest_namespace": e.DestNamespace, "host": e.Host} {
		if v != "" {
			labels[k] = v
		}
	}
	return []map[string]any{{
		"labels":      labels,
		"annotations": map[string]string{"description": e.Description, "summary": e.Description},
		"startsAt":    time.Unix(e.Time, 0).UTC().Format(time.RFC3339),
	}}
}
