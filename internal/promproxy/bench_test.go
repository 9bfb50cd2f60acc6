package promproxy

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkOverhead is the proxy's own cost per query: one client, a
// trivial upstream, an allowed user with cached answers; compare
// direct and proxy.
func BenchmarkOverhead(b *testing.B) {
	body := []byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`)
	srv, upstream, _ := newProxy(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	client := &http.Client{}
	for _, tc := range []struct{ name, url string }{{"direct", upstream}, {"proxy", srv.URL}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest("GET", tc.url+"/api/v1/query?query=up", nil)
				req.Header.Set("Authorization", "Bearer reader")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}
