// Package domainname is the grammar and matching of the domain names that
// egress rules allow (destination.domains, a network set's
// allowedEgressDomains), as Calico Enterprise defines them:
//
//   - a name without a wildcard matches exactly that name ("example.com"
//     does not match "www.example.com");
//   - a "*" as the first label matches one or more labels there:
//     "*.example.com" matches "www.example.com" and "a.b.example.com" but
//     not "example.com". A "*" anywhere else ("a.*.b", "www.*.com") is
//     refused: a wildcard in the middle of a name is too easy to get
//     wrong ("www.*.com" would allow "www.evil.example.com"), and the
//     leading form is what Calico's documentation uses throughout.
//
// Names compare without case and without a trailing dot. It is pure: no
// resolving, no I/O.
package domainname

import (
	"fmt"
	"strings"
)

// Canonical is a name as names are compared: lower case, without the
// trailing dot.
func Canonical(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// Pattern is a parsed domain name or wildcard.
type Pattern struct {
	// before and after are the labels around the wildcard; with no
	// wildcard, before holds every label.
	before, after []string
	wildcard      bool
}

// Parse checks a domain name or wildcard, and says what is wrong with it.
func Parse(s string) (Pattern, error) {
	name := Canonical(s)
	if name == "" {
		return Pattern{}, fmt.Errorf("empty domain name")
	}
	if len(name) > 253 {
		return Pattern{}, fmt.Errorf("%q is longer than the 253 characters a domain name may have", s)
	}
	labels := strings.Split(name, ".")
	var p Pattern
	for i, l := range labels {
		if l == "*" {
			if p.wildcard {
				return Pattern{}, fmt.Errorf("%q has more than one \"*\": a name may have one wildcard", s)
			}
			if i > 0 {
				return Pattern{}, fmt.Errorf("%q: a wildcard must be the first label, as in \"*.example.com\"", s)
			}
			p.wildcard = true
			p.before, p.after = labels[:i], nil
			continue
		}
		if err := checkLabel(l); err != nil {
			return Pattern{}, fmt.Errorf("%q: %w", s, err)
		}
		if p.wildcard {
			p.after = append(p.after, l)
		}
	}
	if !p.wildcard {
		p.before = labels
	}
	if p.wildcard && len(p.before)+len(p.after) == 0 {
		return Pattern{}, fmt.Errorf("%q would match every name: give at least one label besides \"*\"", s)
	}
	return p, nil
}

// checkLabel is RFC 1123's label: letters, digits and inner hyphens, 1 to
// 63 of them; underscores are allowed too (SRV-style names resolve).
func checkLabel(l string) error {
	switch {
	case l == "":
		return fmt.Errorf("an empty label (two dots in a row, or a leading dot)")
	case len(l) > 63:
		return fmt.Errorf("label %q is longer than 63 characters", l)
	case strings.Contains(l, "*"):
		return fmt.Errorf("label %q: \"*\" must be a whole label, as in \"*.example.com\"", l)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("label %q has %q: use letters, digits and hyphens", l, c)
		}
	}
	return nil
}

// Wildcard says whether the pattern has a "*".
func (p Pattern) Wildcard() bool { return p.wildcard }

// String is the pattern in its normal form: lower case, no trailing dot.
func (p Pattern) String() string {
	if !p.wildcard {
		return strings.Join(p.before, ".")
	}
	parts := append(append(append([]string{}, p.before...), "*"), p.after...)
	return strings.Join(parts, ".")
}

// Match says whether a name (as a DNS answer has it, any case, with or
// without the trailing dot) is one the pattern allows.
func (p Pattern) Match(name string) bool {
	name = Canonical(name)
	if !p.wildcard {
		return name == strings.Join(p.before, ".")
	}
	labels := strings.Split(name, ".")
	// The wildcard takes one label or more.
	if len(labels) < len(p.before)+len(p.after)+1 {
		return false
	}
	for i, l := range p.before {
		if labels[i] != l {
			return false
		}
	}
	tail := labels[len(labels)-len(p.after):]
	for i, l := range p.after {
		if tail[i] != l {
			return false
		}
	}
	return true
}
