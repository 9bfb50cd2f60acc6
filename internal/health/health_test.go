package health

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAggregation(t *testing.T) {
	now := time.Unix(1000, 0)
	a := New(func() time.Time { return now })
	a.Register("graph", 30*time.Second)
	a.Register("dataplane", 0)
	h := a.Handler()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get("/readiness"); code != 503 {
		t.Errorf("ready before any report: %d", code)
	}
	a.Report("graph", Report{Live: true, Ready: true})
	a.Report("dataplane", Report{Live: true, Ready: false, Detail: "not in sync"})
	if code, body := get("/readiness"); code != 503 || !strings.Contains(body, "not in sync") {
		t.Errorf("readiness %d %s", code, body)
	}
	if code, _ := get("/liveness"); code != 200 {
		t.Errorf("liveness %d", code)
	}
	a.Report("dataplane", Report{Live: true, Ready: true})
	if code, _ := get("/readiness"); code != 200 {
		t.Errorf("readiness %d", code)
	}
	now = now.Add(31 * time.Second) // the graph stops reporting
	if code, body := get("/liveness"); code != 503 || !strings.Contains(body, "no report for 31s") {
		t.Errorf("liveness after a stall: %d %s", code, body)
	}
}

func TestRegisterAgainKeepsTheLastReport(t *testing.T) {
	a := New(nil)
	a.Register("gc", time.Minute)
	a.Report("gc", Report{Live: true, Ready: true})
	a.Register("gc", 2*time.Minute) // restarted with new settings
	if st := a.Status(); !st.Live || !st.Ready {
		t.Fatalf("re-registering lost the report: %+v", st)
	}
}

// A daemon serves its endpoints before its parts register: until one
// does, it is live (starting) but not ready.
func TestNothingRegisteredIsNotReady(t *testing.T) {
	a := New(nil)
	if st := a.Status(); st.Ready || !st.Live {
		t.Errorf("with no parts: %+v, want live and not ready", st)
	}
	a.Report("webhook", Report{Live: true, Ready: true})
	if st := a.Status(); !st.Ready {
		t.Errorf("with a ready part: %+v", st)
	}
}
