// Package httpjson writes the JSON error body that the console, the
// packet capture API and the nodes' capture file services share:
// {"error": "what was wrong"}, with the status code, never cached.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the error's JSON.
type ErrorBody struct {
	Error string `json:"error"`
}

// Error writes code and {"error": msg}.
func Error(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "<token>" reads as written
	_ = enc.Encode(ErrorBody{Error: msg})
}
