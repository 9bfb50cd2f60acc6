package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/compliance/report"
	"github.com/calicong/calico/internal/kubeauth"
	"github.com/calicong/calico/internal/linseed/linseedtest"
)

// checker: "auditor" may get the report demo-inventory and its type;
// "outsider" nothing.
type checker struct{}

func (checker) Authenticate(_ context.Context, tok string) (kubeauth.User, error) {
	switch tok {
	case "auditor", "outsider":
		return kubeauth.User{Name: tok}, nil
	}
	return kubeauth.User{}, kubeauth.ErrInvalidToken
}

func (checker) Authorize(_ context.Context, u kubeauth.User, a kubeauth.Access) (bool, error) {
	return u.Name == "auditor" && a.Verb == "get" && a.Group == "projectcalico.org" &&
		((a.Resource == "globalreports" && a.Name == "demo-inventory") || (a.Resource == "globalreporttypes" && a.Name == "inventory")), nil
}

// TestServer: the auditor lists the report with its summary and
// downloads, reads it, and downloads a rendered CSV; the outsider sees
// no report and cannot download one; a bad token is a 401.
func TestServer(t *testing.T) {
	ctx := context.Background()
	ls := linseedtest.New(t)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	d := report.ReportData{ReportName: "demo-inventory", ReportTypeName: "inventory", StartTime: t0, EndTime: t0.Add(time.Hour), GenerationTime: t0.Add(2 * time.Hour),
		ReportTypeSpec: v3.ReportTypeSpec{DownloadTemplates: []v3.ReportTemplate{{Name: "endpoints.csv", Description: "each endpoint",
			Template: "endpoint,ingressProtected\n{{ range .Endpoints }}{{ csv .Endpoint }},{{ .IngressProtected }}\n{{ end }}"}}},
		Endpoints:        []report.Endpoint{{Endpoint: report.ResourceID{Kind: "Pod", Name: "db-0", Namespace: "demo"}, IngressProtected: true}},
		EndpointsSummary: report.EndpointsSummary{NumTotal: 1, NumIngressProtected: 1}}
	stored := report.Stored{ID: "demo-inventory_1", ReportData: d, UISummary: `{"total": 1}`}
	if _, err := ls.Bulk(ctx, "POST", "/compliance/reports/bulk", []any{stored}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Config{Checker: checker{}, Linseed: ls}))
	defer srv.Close()
	get := func(tok, path string) (int, string, http.Header) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String(), resp.Header
	}
	code, body, _ := get("auditor", "/compliance/reports")
	var list struct{ Reports []Summary }
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Reports) != 1 || string(list.Reports[0].UISummary) != `{"total":1}` ||
		list.Reports[0].Downloads[0].URL != "/compliance/reports/demo-inventory_1/download/endpoints.csv" {
		t.Fatalf("the auditor's list: %d %s", code, body)
	}
	if code, body, _ := get("auditor", "/compliance/reports/demo-inventory_1"); code != 200 || !strings.Contains(body, `"numIngressProtected":1`) {
		t.Errorf("the report: %d %s", code, body)
	}
	code, body, hdr := get("auditor", "/compliance/reports/demo-inventory_1/download/endpoints.csv")
	if code != 200 || body != "endpoint,ingressProtected\nPod(demo/db-0),true\n" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") ||
		!strings.Contains(hdr.Get("Content-Disposition"), "demo-inventory_1-endpoints.csv") {
		t.Errorf("the download: %d %q %v", code, body, hdr)
	}
	if code, body, _ := get("auditor", "/compliance/reports/demo-inventory_1/download/nope.csv"); code != 404 || !strings.Contains(body, "no download") {
		t.Errorf("an unknown download: %d %s", code, body)
	}
	if code, body, _ := get("outsider", "/compliance/reports"); code != 200 || !strings.Contains(body, `"reports":[]`) {
		t.Errorf("the outsider's list: %d %s", code, body)
	}
	if code, _, _ := get("outsider", "/compliance/reports/demo-inventory_1/download/endpoints.csv"); code != 404 {
		t.Errorf("the outsider's download: %d", code)
	}
	if code, _, _ := get("forged", "/compliance/reports"); code != 401 {
		t.Errorf("a forged token: %d", code)
	}
}
