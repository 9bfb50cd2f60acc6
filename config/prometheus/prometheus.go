// Package prometheus embeds Calico's Prometheus rules (calico-rules.yml:
// the recording rules and alerts operators need), so that the lab and
// the manifests ship exactly the file `promtool test rules` checks.
package prometheus

import _ "embed"

// Rules is calico-rules.yml.
//
//go:embed calico-rules.yml
var Rules []byte
