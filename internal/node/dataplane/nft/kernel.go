package nft

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
)

// Kernel is what the kernel holds of one table, summarised per object:
// enough to tell whether an object still holds what was programmed into
// it, not to rebuild it.
type Kernel struct {
	// Exists is false when the table is missing altogether.
	Exists bool
	Chains map[string]Fingerprint
	Sets   map[string]Fingerprint
	Maps   map[string]Fingerprint
}

// Fingerprint summarises one chain, set or map in the kernel's own
// notation: how many rules or elements it holds, and a hash of its
// declaration and content (rule order counts, element order does not;
// packet counters and element expiry times are left out).
type Fingerprint struct {
	Count int
	Hash  uint64
}

// counterValues and expiry change while traffic flows and time passes;
// they are not part of what was programmed.
var (
	counterValues = regexp.MustCompile(`"packets":\s*\d+,\s*"bytes":\s*\d+`)
	expiry        = regexp.MustCompile(`,?\s*"expires":\s*\d+`)
)

// ParseKernel reads `nft -j list table` output.
func ParseKernel(out []byte) (*Kernel, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, err
	}
	k := &Kernel{Exists: true, Chains: map[string]Fingerprint{}, Sets: map[string]Fingerprint{}, Maps: map[string]Fingerprint{}}
	type chainDigest struct {
		header string
		rules  [][]byte
	}
	chains := map[string]*chainDigest{}
	chainOf := func(name string) *chainDigest {
		c := chains[name]
		if c == nil {
			c = &chainDigest{}
			chains[name] = c
		}
		return c
	}
	for _, obj := range doc.Nftables {
		for kind, raw := range obj {
			switch kind {
			case "chain":
				var c struct {
					Name   string `json:"name"`
					Type   string `json:"type"`
					Hook   string `json:"hook"`
					Prio   any    `json:"prio"`
					Policy string `json:"policy"`
				}
				if err := json.Unmarshal(raw, &c); err != nil {
					return nil, fmt.Errorf("chain: %w", err)
				}
				chainOf(c.Name).header = fmt.Sprintf("%s %s %v %s", c.Type, c.Hook, c.Prio, c.Policy)
			case "rule":
				var r struct {
					Chain   string          `json:"chain"`
					Comment string          `json:"comment"`
					Expr    json.RawMessage `json:"expr"`
				}
				if err := json.Unmarshal(raw, &r); err != nil {
					return nil, fmt.Errorf("rule: %w", err)
				}
				body := counterValues.ReplaceAll(r.Expr, nil)
				c := chainOf(r.Chain)
				c.rules = append(c.rules, append(body, []byte("#"+r.Comment)...))
			case "set", "map":
				var s struct {
					Name  string            `json:"name"`
					Type  any               `json:"type"`
					Map   any               `json:"map"`
					Flags []string          `json:"flags"`
					Elem  []json.RawMessage `json:"elem"`
				}
				if err := json.Unmarshal(raw, &s); err != nil {
					return nil, fmt.Errorf("%s: %w", kind, err)
				}
				elems := make([][]byte, len(s.Elem))
				for i, e := range s.Elem {
					elems[i] = expiry.ReplaceAll(e, nil)
				}
				slices.SortFunc(elems, bytes.Compare)
				fp := fingerprint(fmt.Sprintf("%v %v %v", s.Type, s.Map, s.Flags), elems)
				if kind == "set" {
					k.Sets[s.Name] = fp
				} else {
					k.Maps[s.Name] = fp
				}
			}
		}
	}
	for name, c := range chains {
		k.Chains[name] = fingerprint(c.header, c.rules)
	}
	return k, nil
}

func fingerprint(header string, items [][]byte) Fingerprint {
	h := fnv.New64a()
	h.Write([]byte(header))
	for _, it := range items {
		h.Write([]byte{0})
		h.Write(it)
	}
	return Fingerprint{Count: len(items), Hash: h.Sum64()}
}
