package webhooks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/calicong/calico/internal/intrusion/events"
)

// TestConsumers: what each consumer sends for an event, and that a
// receiver's refusal is an error naming it.
func TestConsumers(t *testing.T) {
	port := int64(5432)
	e := events.Event{ID: "ev-1", Time: 1_800_000_000, Type: events.TypeSuspiciousFlow, Origin: "bad-ips", Severity: 100,
		Description: "tf/cli connected to 203.0.113.7", SourceNamespace: "tf", SourceName: "cli", DestIP: "203.0.113.7", DestPort: &port}
	var got struct {
		path string
		body []byte
	}
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path = r.URL.Path
		got.body, _ = io.ReadAll(r.Body)
		w.WriteHeader(status)
		_, _ = w.Write([]byte("nope"))
	}))
	defer srv.Close()
	deliver := func(consumer, url string) error {
		req, err := request(context.Background(), consumer, map[string]string{"url": url}, e)
		if err != nil {
			return err
		}
		return send(srv.Client(), req)
	}

	if err := deliver(Generic, srv.URL+"/hook"); err != nil {
		t.Fatal(err)
	}
	var generic events.Event
	if json.Unmarshal(got.body, &generic) != nil || generic.ID != "ev-1" || got.path != "/hook" {
		t.Errorf("Generic sent %s to %s", got.body, got.path)
	}

	if err := deliver(Slack, srv.URL+"/services/T0/B0/X"); err != nil {
		t.Fatal(err)
	}
	var slack struct{ Text string }
	if json.Unmarshal(got.body, &slack) != nil || !strings.Contains(slack.Text, "tf/cli connected") || !strings.Contains(slack.Text, "severity 100") ||
		!strings.Contains(slack.Text, "Source: tf/cli") {
		t.Errorf("Slack sent %s", got.body)
	}

	if err := deliver(Alertmanager, srv.URL); err != nil {
		t.Fatal(err)
	}
	var alerts []struct {
		Labels      map[string]string
		Annotations map[string]string
		StartsAt    string
	}
	if json.Unmarshal(got.body, &alerts) != nil || got.path != "/api/v2/alerts" || len(alerts) != 1 ||
		alerts[0].Labels["alertname"] != events.TypeSuspiciousFlow || alerts[0].Labels["source_namespace"] != "tf" ||
		alerts[0].Annotations["description"] != e.Description || alerts[0].StartsAt != "2027-01-15T08:00:00Z" {
		t.Errorf("Alertmanager got %s at %s", got.body, got.path)
	}

	status = http.StatusServiceUnavailable
	if err := deliver(Generic, srv.URL+"/hook"); err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "nope") {
		t.Errorf("a 503 from the receiver: %v", err)
	}
}
