package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/calicong/calico/internal/model"
)

// A KV batch payload is the entry count as a uvarint followed by that many
// entries. An entry is the update type (one byte), the key's kind,
// namespace and name and the revision (each a uvarint length and bytes),
// then the value: uvarint(len+1) and the encoded value, or 0 for none.
//
// Entries are self-contained, so Typha encodes each update once with
// AppendEntry and builds any number of batches by concatenating them.

// AppendEntry appends one encoded entry.
func AppendEntry(dst []byte, t model.UpdateType, key model.Key, revision string, value []byte, hasValue bool) []byte {
	dst = append(dst, byte(t))
	dst = appendString(dst, key.Kind)
	dst = appendString(dst, key.Namespace)
	dst = appendString(dst, key.Name)
	dst = appendString(dst, revision)
	if !hasValue {
		return append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(value))+1)
	return append(dst, value...)
}

// AppendKVsFrame appends one KVs frame holding the given entries.
func AppendKVsFrame(dst []byte, entries [][]byte) []byte {
	return AppendKVsFrameAs(dst, entries, model.UpdateTypeUnknown)
}

// AppendKVsFrameAs is AppendKVsFrame with every entry's update type
// replaced by t (unless t is UpdateTypeUnknown).
func AppendKVsFrameAs(dst []byte, entries [][]byte, t model.UpdateType) []byte {
	n := binary.AppendUvarint(nil, uint64(len(entries)))
	size := len(n)
	for _, e := range entries {
		size += len(e)
	}
	dst = append(dst, byte(MsgKVs))
	dst = binary.AppendUvarint(dst, uint64(size))
	dst = append(dst, n...)
	for _, e := range entries {
		at := len(dst)
		dst = append(dst, e...)
		if t != model.UpdateTypeUnknown && len(e) > 0 {
			dst[at] = byte(t)
		}
	}
	return dst
}

// AppendStatusFrame appends one Status frame.
func AppendStatusFrame(dst []byte, s model.SyncStatus) []byte {
	return AppendFrame(dst, MsgStatus, []byte{byte(s)})
}

// Entry is one decoded entry. Its slices point into the frame's payload.
type Entry struct {
	Type     model.UpdateType
	Key      model.Key
	Revision string
	Value    []byte
	HasValue bool
	// Raw is the whole encoded entry, e.g. for hashing.
	Raw []byte
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("typha wire: malformed message")

// Entries calls fn for each entry of a KVs payload, in order.
func Entries(payload []byte, fn func(Entry) error) error {
	n, k := binary.Uvarint(payload)
	if k <= 0 {
		return fmt.Errorf("%w: bad entry count", ErrMalformed)
	}
	p := payload[k:]
	for i := uint64(0); i < n; i++ {
		start := p
		var e Entry
		if len(p) < 1 {
			return fmt.Errorf("%w: entry %d truncated", ErrMalformed, i)
		}
		e.Type = model.UpdateType(p[0])
		p = p[1:]
		var err error
		var kind, ns, name, rev []byte
		if kind, p, err = readString(p); err != nil {
			return fmt.Errorf("%w: entry %d kind", err, i)
		}
		rest := p
		if ns, p, err = readString(p); err != nil {
			return fmt.Errorf("%w: entry %d namespace", err, i)
		}
		if name, p, err = readString(p); err != nil {
			return fmt.Errorf("%w: entry %d name", err, i)
		}
		if rev, p, err = readString(p); err != nil {
			return fmt.Errorf("%w: entry %d revision", err, i)
		}
		// One allocation for namespace, name and revision, which share it.
		all := string(rest[:len(rest)-len(p)])
		field := func(b []byte) string {
			off := cap(rest) - cap(b) // b is a subslice of rest
			return all[off : off+len(b)]
		}
		e.Key.Kind = internKind(kind)
		e.Key.Namespace, e.Key.Name, e.Revision = field(ns), field(name), field(rev)
		vl, k := binary.Uvarint(p)
		if k <= 0 || (vl > 0 && vl-1 > uint64(len(p)-k)) {
			return fmt.Errorf("%w: entry %d value length", ErrMalformed, i)
		}
		p = p[k:]
		if vl > 0 {
			e.HasValue = true
			e.Value = p[:vl-1]
			p = p[vl-1:]
		}
		e.Raw = start[:len(start)-len(p)]
		if err := fn(e); err != nil {
			return err
		}
	}
	if len(p) != 0 {
		return fmt.Errorf("%w: %d bytes after the last entry", ErrMalformed, len(p))
	}
	return nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func readString(p []byte) (s, rest []byte, err error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return nil, nil, ErrMalformed
	}
	return p[k : k+int(n)], p[k+int(n):], nil
}

// kinds are the kinds the syncers send; their names are not allocated per
// entry.
var kinds = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{model.KindWorkloadEndpoint, model.KindProfile, model.KindKubernetesNetworkPolicy,
		model.KindEndpointSlice, model.KindNode, "Tier", "NetworkPolicy", "GlobalNetworkPolicy", "StagedNetworkPolicy",
		"StagedGlobalNetworkPolicy", "StagedKubernetesNetworkPolicy", "NetworkSet", "GlobalNetworkSet", "HostEndpoint",
		"IPPool", "FelixConfiguration", "ClusterInformation", "BGPConfiguration", "IPAMBlock", "BGPPeer", "BGPFilter"} {
		m[k] = k
	}
	return m
}()

func internKind(b []byte) string {
	if k, ok := kinds[string(b)]; ok { // no allocation for the lookup
		return k
	}
	return string(b)
}
