package calc

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	v3 "github.com/calicong/calico/api/v3"
	"github.com/calicong/calico/internal/domainname"
	"github.com/calicong/calico/internal/proto"
	"github.com/calicong/calico/internal/selector"
)

// ipSetKind says how an IP set's members are computed.
type ipSetKind uint8

const (
	// setSelector: the addresses of every endpoint and network set the
	// selector matches.
	setSelector ipSetKind = iota
	// setNamedPort: (address, protocol, port) of matching endpoints that
	// declare the named port.
	setNamedPort
	// setService: (address, protocol, port) of a Service's endpoints.
	setService
	// setServiceNoPort: the addresses of a Service's endpoints.
	setServiceNoPort
	// setDomains: the addresses DNS answers gave for these domain names.
	// They are learned on each node, from the answers its workloads
	// receive; the graph knows none, so until a node adds them the set
	// is empty and a rule naming domains allows nothing.
	setDomains
)

// ipSetSpec defines an IP set. Equal definitions have equal IDs, so rules
// that select the same things share one set.
type ipSetSpec struct {
	id   string
	kind ipSetKind
	sel  *selector.Selector // setSelector, setNamedPort
	// egress (setSelector) is an egress rule's destination: matching
	// network sets' allowedEgressDomains count, as answered.
	egress   bool
	protocol uint8                // setNamedPort
	portName string               // setNamedPort
	svc      string               // setService*: "<namespace>/<name>"
	patterns []domainname.Pattern // setDomains: by normal form, sorted
}

func (s *ipSetSpec) setType() proto.IPSetType {
	if s.kind == setNamedPort || s.kind == setService {
		return proto.IPSetIPPort
	}
	return proto.IPSetNet
}

func shortHash(parts ...string) string {
	h := sha256.New224()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:24]
}

// renderer turns rules into dataplane rules, sharing parsed selectors and
// IP set definitions between all the rules that use equal ones.
type renderer struct {
	selectors interner[selector.Selector]
	specs     interner[ipSetSpec]
	sides     interner[proto.RuleSide]
	// keepSource keeps the rule as written in each rendered rule.
	keepSource bool
}

// parse parses a selector, or returns the shared copy of an equal one.
func (r *renderer) parse(text string) (*selector.Selector, error) {
	if s := r.selectors.get(text); s != nil {
		return s, nil
	}
	s, err := selector.Parse(text)
	if err != nil {
		return nil, err
	}
	return r.selectors.put(text, s), nil
}

// derived returns the shared selector built by make under key.
func (r *renderer) derived(key string, make func() (*selector.Selector, error)) (*selector.Selector, error) {
	if s := r.selectors.get(key); s != nil {
		return s, nil
	}
	s, err := make()
	if err != nil {
		return nil, err
	}
	return r.selectors.put(key, s), nil
}

func (r *renderer) spec(s *ipSetSpec) *ipSetSpec {
	if old := r.specs.get(s.id); old != nil {
		return old
	}
	return r.specs.put(s.id, s)
}

func (r *renderer) selectorSet(sel *selector.Selector, egress bool) *ipSetSpec {
	id := sel.UniqueID()
	if egress {
		id = "egress:" + id
	}
	if old := r.specs.get(id); old != nil {
		return old
	}
	return r.specs.put(id, &ipSetSpec{id: id, kind: setSelector, sel: sel, egress: egress})
}

func (r *renderer) namedPortSet(sel *selector.Selector, protocol uint8, name string) *ipSetSpec {
	id := "n:" + shortHash(sel.UniqueID(), strconv.Itoa(int(protocol)), name)
	return r.spec(&ipSetSpec{id: id, kind: setNamedPort, sel: sel, protocol: protocol, portName: name})
}

func (r *renderer) serviceSet(ns, name string, withPorts bool) *ipSetSpec {
	svc := ns + "/" + name
	if withPorts {
		return r.spec(&ipSetSpec{id: "svc:" + shortHash(svc), kind: setService, svc: svc})
	}
	return r.spec(&ipSetSpec{id: "svcnoport:" + shortHash(svc), kind: setServiceNoPort, svc: svc})
}

// domainSet is the set of the addresses the domains resolve to.
func (r *renderer) domainSet(domains []string) (*ipSetSpec, error) {
	byName := map[string]domainname.Pattern{}
	for _, d := range domains {
		p, err := domainname.Parse(d)
		if err != nil {
			return nil, err
		}
		byName[p.String()] = p
	}
	norm := slices.Sorted(maps.Keys(byName))
	patterns := make([]domainname.Pattern, len(norm))
	for i, d := range norm {
		patterns[i] = byName[d]
	}
	return r.spec(&ipSetSpec{id: "dom:" + shortHash(norm...), kind: setDomains, patterns: patterns}), nil
}

// namespaceSelector turns a namespace selector into an endpoint selector:
// namespace labels are inherited with the "pcns." prefix; "global()" means
// not namespaced at all; anything else only matches namespaced things.
func (r *renderer) namespaceSelector(nsSel string) (*selector.Selector, error) {
	return r.derived("ns\x00"+nsSel, func() (*selector.Selector, error) {
		s, err := selector.Parse(nsSel)
		if err != nil {
			return nil, err
		}
		if !s.UsesGlobal() {
			return selector.And(hasNamespace, s.PrefixLabels(v3.NamespaceLabelPrefix)), nil
		}
		if s.String() == "global()" {
			return notNamespaced, nil
		}
		// global() combined with namespace terms: it stands for "no
		// namespace" inside the expression.
		canon := s.PrefixLabels(v3.NamespaceLabelPrefix).String()
		return selector.Parse(strings.ReplaceAll(canon, "global()", "!has("+v3.LabelNamespace+")"))
	})
}

var (
	hasNamespace  = selector.MustParse("has(" + v3.LabelNamespace + ")")
	notNamespaced = selector.MustParse("!has(" + v3.LabelNamespace + ")")
)

func (r *renderer) namespaceIs(ns string) *selector.Selector {
	s, _ := r.derived("nsis\x00"+ns, func() (*selector.Selector, error) {
		return selector.Parse(v3.LabelNamespace + " == " + quote(ns))
	})
	return s
}

func (r *renderer) and(parts ...*selector.Selector) *selector.Selector {
	switch len(parts) {
	case 0:
		return selector.And()
	case 1:
		return parts[0]
	}
	var key strings.Builder
	key.WriteString("and")
	for _, p := range parts {
		key.WriteByte(0)
		key.WriteString(p.UniqueID())
	}
	s, _ := r.derived(key.String(), func() (*selector.Selector, error) { return selector.And(parts...), nil })
	return s
}

func quote(v string) string {
	if strings.Contains(v, `"`) {
		return "'" + v + "'"
	}
	return `"` + v + `"`
}

// renderRules converts rules and appends the IP sets they use to sets.
// namespace is the owning policy's ("" for global policies and profiles).
func (r *renderer) renderRules(namespace string, rules []v3.Rule, egress bool, sets map[string]*ipSetSpec) ([]*proto.Rule, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	out := make([]*proto.Rule, 0, len(rules))
	for i := range rules {
		pr, err := r.renderRule(namespace, &rules[i], i, egress, sets)
		if err != nil {
			return nil, fmt.Errorf("rule %d: %w", i, err)
		}
		out = append(out, pr)
	}
	return out, nil
}

func (r *renderer) renderRule(namespace string, in *v3.Rule, index int, egress bool, sets map[string]*ipSetSpec) (*proto.Rule, error) {
	pr := &proto.Rule{Action: string(in.Action), Index: int32(index)}
	if in.IPVersion != nil {
		pr.IPVersion = uint8(*in.IPVersion)
	}
	if in.Protocol != nil {
		n, ok := in.Protocol.Number()
		if !ok {
			return nil, fmt.Errorf("protocol %q is not known", in.Protocol.String())
		}
		pr.Protocol = n
	}
	if in.NotProtocol != nil {
		n, ok := in.NotProtocol.Number()
		if !ok {
			return nil, fmt.Errorf("notProtocol %q is not known", in.NotProtocol.String())
		}
		pr.NotProtocol = n
	}
	if in.ICMP != nil && in.ICMP.Type != nil {
		pr.ICMP = &proto.ICMPMatch{Type: *in.ICMP.Type, Code: intOr(in.ICMP.Code, -1)}
	}
	if in.NotICMP != nil && in.NotICMP.Type != nil {
		pr.NotICMP = &proto.ICMPMatch{Type: *in.NotICMP.Type, Code: intOr(in.NotICMP.Code, -1)}
	}
	if in.HTTP != nil {
		h := &proto.HTTPMatch{Methods: in.HTTP.Methods}
		for _, p := range in.HTTP.Paths {
			h.Paths = append(h.Paths, proto.HTTPPath{Exact: p.Exact, Prefix: p.Prefix})
		}
		pr.HTTP = h
	}
	var err error
	if pr.Src, err = r.renderSide(namespace, &in.Source, pr.Protocol, false, false, sets); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if pr.Dst, err = r.renderSide(namespace, &in.Destination, pr.Protocol, true, egress, sets); err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	if r.keepSource {
		src := &proto.RuleSource{
			SrcSelector: in.Source.Selector, SrcNotSelector: in.Source.NotSelector, SrcNamespaceSelector: in.Source.NamespaceSelector,
			DstSelector: in.Destination.Selector, DstNotSelector: in.Destination.NotSelector, DstNamespaceSelector: in.Destination.NamespaceSelector,
		}
		if in.Source.ServiceAccounts != nil {
			src.SrcServiceAccounts = in.Source.ServiceAccounts.Names
		}
		if in.Destination.ServiceAccounts != nil {
			src.DstServiceAccounts = in.Destination.ServiceAccounts.Names
		}
		if in.Metadata != nil {
			src.Annotations = in.Metadata.Annotations
		}
		src.SrcPorts, src.SrcNotPorts = portStrings(in.Source.Ports), portStrings(in.Source.NotPorts)
		src.DstPorts, src.DstNotPorts = portStrings(in.Destination.Ports), portStrings(in.Destination.NotPorts)
		pr.Source = src
	}
	return pr, nil
}

func portStrings(ports []v3.Port) []string {
	var out []string
	for _, p := range ports {
		out = append(out, p.String())
	}
	return out
}

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// renderSide resolves one side of a rule; nil if it has no criteria. The
// positive selector combines selector, namespaceSelector and
// serviceAccounts. In a namespaced policy a side that selects endpoints
// without a namespaceSelector is limited to the policy's namespace.
// notSelector is a set of its own, and a packet must be outside it: unlike
// `selector: "!has(x)"`, it also matches addresses that are not endpoints.
func (r *renderer) renderSide(namespace string, e *v3.EntityRule, protocol uint8, dest, egress bool, sets map[string]*ipSetSpec) (*proto.RuleSide, error) {
	s := &proto.RuleSide{}
	empty := true
	var err error
	if s.Nets, err = parseNets(e.Nets); err != nil {
		return nil, fmt.Errorf("nets: %w", err)
	}
	if s.NotNets, err = parseNets(e.NotNets); err != nil {
		return nil, fmt.Errorf("notNets: %w", err)
	}
	empty = len(s.Nets) == 0 && len(s.NotNets) == 0
	if e.Services != nil {
		ns := e.Services.Namespace
		if ns == "" {
			ns = namespace
		}
		spec := r.serviceSet(ns, e.Services.Name, dest)
		sets[spec.id] = spec
		s.ServiceIPSetIDs = []string{spec.id}
		return s, nil
	}

	var parts []*selector.Selector
	selectsEndpoints := e.Selector != "" || e.NotSelector != "" || e.NamespaceSelector != "" || e.ServiceAccounts != nil
	if e.Selector != "" {
		sel, err := r.parse(e.Selector)
		if err != nil {
			return nil, fmt.Errorf("selector: %w", err)
		}
		parts = append(parts, sel)
	}
	switch {
	case e.NamespaceSelector != "":
		ns, err := r.namespaceSelector(e.NamespaceSelector)
		if err != nil {
			return nil, fmt.Errorf("namespaceSelector: %w", err)
		}
		parts = append(parts, ns)
	case namespace != "" && selectsEndpoints:
		parts = append(parts, r.namespaceIs(namespace))
	}
	if sa := e.ServiceAccounts; sa != nil {
		if len(sa.Names) > 0 {
			sel, err := r.derived("sa\x00"+strings.Join(sa.Names, "\x00"), func() (*selector.Selector, error) {
				return inSet(v3.LabelServiceAccount, sa.Names)
			})
			if err != nil {
				return nil, fmt.Errorf("serviceAccounts.names: %w", err)
			}
			parts = append(parts, sel)
		}
		if sa.Selector != "" {
			sel, err := r.derived("sasel\x00"+sa.Selector, func() (*selector.Selector, error) {
				s, err := selector.Parse(sa.Selector)
				if err != nil {
					return nil, err
				}
				return s.PrefixLabels(v3.ServiceAccountLabelPrefix), nil
			})
			if err != nil {
				return nil, fmt.Errorf("serviceAccounts.selector: %w", err)
			}
			parts = append(parts, sel)
		}
	}
	positive := r.and(parts...)
	if len(parts) > 0 {
		spec := r.selectorSet(positive, egress)
		sets[spec.id] = spec
		s.IPSetIDs = []string{spec.id}
		empty = false
	}
	if e.NotSelector != "" {
		sel, err := r.parse(e.NotSelector)
		if err != nil {
			return nil, fmt.Errorf("notSelector: %w", err)
		}
		spec := r.selectorSet(sel, false)
		sets[spec.id] = spec
		s.NotIPSetIDs = []string{spec.id}
		empty = false
	}
	if len(e.Domains) > 0 {
		// Validation keeps domains to destinations; a source naming
		// them would match nothing either way.
		spec, err := r.domainSet(e.Domains)
		if err != nil {
			return nil, fmt.Errorf("domains: %w", err)
		}
		sets[spec.id] = spec
		s.IPSetIDs = append(s.IPSetIDs, spec.id)
		empty = false
	}
	addPorts := func(ports []v3.Port, numeric *[]proto.PortRange, named *[]string) {
		for _, p := range ports {
			empty = false
			if p.IsNamed() {
				spec := r.namedPortSet(positive, protocol, p.PortName)
				sets[spec.id] = spec
				*named = append(*named, spec.id)
				continue
			}
			*numeric = append(*numeric, proto.PortRange{Min: p.MinPort, Max: p.MaxPort})
		}
	}
	addPorts(e.Ports, &s.Ports, &s.NamedPortIPSetIDs)
	addPorts(e.NotPorts, &s.NotPorts, &s.NotNamedPortIPSetIDs)
	if empty {
		return nil, nil
	}
	// The commonest side is "in this one set": share it between rules.
	if len(s.IPSetIDs) == 1 && len(s.Nets)+len(s.NotNets)+len(s.Ports)+len(s.NotPorts)+len(s.NotIPSetIDs)+
		len(s.NamedPortIPSetIDs)+len(s.NotNamedPortIPSetIDs)+len(s.ServiceIPSetIDs) == 0 {
		if shared := r.sides.get(s.IPSetIDs[0]); shared != nil {
			return shared, nil
		}
		return r.sides.put(s.IPSetIDs[0], s), nil
	}
	return s, nil
}

func parseNets(nets []string) ([]netip.Prefix, error) {
	if len(nets) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(nets))
	for _, n := range nets {
		p, err := parseNet(n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// parseNet accepts a CIDR or a bare address (a /32 or /128).
func parseNet(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func inSet(label string, values []string) (*selector.Selector, error) {
	q := make([]byte, 0, 64)
	q = append(q, label...)
	q = append(q, " in {"...)
	for i, v := range values {
		if i > 0 {
			q = append(q, ", "...)
		}
		q = append(q, quote(v)...)
	}
	q = append(q, '}')
	return selector.Parse(string(q))
}
