package ipam

import (
	"crypto/sha256"
	"crypto/sha3"
	"encoding/base32"
	"encoding/hex"
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	v3 "github.com/calicong/calico/api/v3"
)

// BlockName is the object name of the block with this CIDR
// ("10.65.0.0/26" → "10-65-0-0-26").
func BlockName(cidr netip.Prefix) string {
	return strings.NewReplacer(".", "-", ":", "-", "/", "-").Replace(cidr.Masked().String())
}

// AffinityName is the object name of an owner's affinity to a block
// (node is an assignment's Node: a node name, or VirtualPrefix and a
// virtual owner's name). It is Calico's, so that Calico's IPAM, which
// reads, confirms and deletes affinities by name, finds ours:
// "<owner name>-<block name>", and for a name of 253 characters or more
// the owner's name cut short and a hash added, as
// libcalico-go/lib/backend/k8s/resources/ipam_affinity_v1.go parseKey
// does. Should that not be a valid object name (never for a node's name),
// a hash of it is used instead.
func AffinityName(node string, cidr netip.Prefix) string {
	_, owner := ownerOf(node)
	block := BlockName(cidr)
	name := owner + "-" + block
	if len(name) >= 253 {
		sum := sha256.Sum256([]byte(owner + "+" + block))
		name = owner[:252-len(block)-13] + "-" + block + "-" + hex.EncodeToString(sum[:])[:11]
	}
	return safeName(name)
}

// The labels Calico's IPAM puts on every BlockAffinity and lists a host's
// affinities by (api/pkg/apis/projectcalico/v3 constants.go).
const (
	// LabelHostnameHash is HostnameHash(spec.node).
	LabelHostnameHash = "projectcalico.org/hostname-hash"
	// LabelAffinityType is spec.type: "host" or "virtual".
	LabelAffinityType = "projectcalico.org/affinity-type"
	// LabelIPVersion is "4" or "6", the family of spec.cidr.
	LabelIPVersion = "projectcalico.org/ip-version"
)

var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// HostnameHash is the value of LabelHostnameHash for an owner's name: the
// unpadded standard base32 of its SHA3-256 (52 characters, so any name
// fits a label value), as libcalico-go/lib/backend/model
// block_affinity.go hashHostnameForLabel.
func HostnameHash(name string) string {
	sum := sha3.Sum256([]byte(name))
	return base32NoPad.EncodeToString(sum[:])
}

// affinityLabels are Calico's labels for an affinity of this owner name,
// type and CIDR.
func affinityLabels(owner, typ, cidr string) map[string]string {
	version := "4"
	if strings.Contains(cidr, ":") {
		version = "6"
	}
	return map[string]string{LabelHostnameHash: HostnameHash(owner), LabelAffinityType: typ, LabelIPVersion: version}
}

// ensureAffinityLabels gives an affinity Calico's labels (keeping any
// others), as libcalico-go/lib/backend/model block_affinity.go
// EnsureBlockAffinityLabelsV3, after setting an empty spec.type to
// "host" (which is what Calico reads it as). It reports whether it changed
// anything.
func ensureAffinityLabels(a *v3.BlockAffinity) bool {
	changed := false
	if a.Spec.Type == "" {
		a.Spec.Type, changed = "host", true
	}
	for k, v := range affinityLabels(a.Spec.Node, a.Spec.Type, a.Spec.CIDR) {
		if cur, ok := a.Labels[k]; ok && cur == v {
			continue
		}
		if a.Labels == nil {
			a.Labels = map[string]string{}
		}
		a.Labels[k], changed = v, true
	}
	return changed
}

// calicoSelector is the label selector of an owner's affinities (node as
// in AffinityName): its hostname hash and affinity type, as Calico's
// IPAM lists them (libcalico-go/lib/backend/model block_affinity.go
// CalculateBlockAffinityLabelSelector, from ipam_block_reader_writer.go
// getAffineBlocks), less the IP version, since one list serves both
// families.
func calicoSelector(node string) string {
	typ, owner := ownerOf(node)
	return LabelAffinityType + "=" + typ + "," + LabelHostnameHash + "=" + HostnameHash(owner)
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
