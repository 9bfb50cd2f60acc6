package ipam

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// BlockName is the object name of the block with this CIDR
// ("10.65.0.0/26" → "10-65-0-0-26").
func BlockName(cidr netip.Prefix) string {
	return strings.NewReplacer(".", "-", ":", "-", "/", "-").Replace(cidr.Masked().String())
}

// AffinityName is the object name of a node's affinity to a block.
func AffinityName(node string, cidr netip.Prefix) string {
	return safeName(node + "-" + BlockName(cidr))
}

// LabelNode is the label naming the node on its block affinities, so
// that a node's affinities are listed without reading everyone's.
const LabelNode = "projectcalico.org/node"

// NodeLabelValue is the value of LabelNode for a node: its name, or a hash
// of a name too long (or otherwise unfit) for a label value. Affinities
// are still matched on spec.node: the label only narrows the list.
func NodeLabelValue(node string) string {
	if len(validation.IsValidLabelValue(node)) == 0 && node != "" {
		return node
	}
	sum := sha256.Sum256([]byte(node))
	return "h-" + hex.EncodeToString(sum[:20])
}

// HandleName is the object name of a handle.
func HandleName(handle string) string { return safeName(strings.ToLower(handle)) }

// safeName keeps a name that is a valid object name, and replaces any
// other by a hash of it.
func safeName(s string) string {
	if len(validation.IsDNS1123Subdomain(s)) == 0 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h-" + hex.EncodeToString(sum[:20])
}
