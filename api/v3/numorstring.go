package v3

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Port is a port number, an inclusive "min:max" port range or the name of a
// port declared by the endpoint (a Kubernetes port name, at most 15
// characters).
//
// +kubebuilder:validation:XIntOrString
// +kubebuilder:validation:Type=""
// +kubebuilder:validation:MaxLength=15
type Port struct {
	MinPort  uint16 `json:"-"`
	MaxPort  uint16 `json:"-"`
	PortName string `json:"-"`
}

// SinglePort returns a Port matching exactly one port number.
func SinglePort(p uint16) Port { return Port{MinPort: p, MaxPort: p} }

// PortRange returns a Port matching min..max inclusive.
func PortRange(min, max uint16) (Port, error) {
	if min > max {
		return Port{}, fmt.Errorf("port range %d:%d has its minimum above its maximum", min, max)
	}
	return Port{MinPort: min, MaxPort: max}, nil
}

// NamedPort returns a Port that refers to an endpoint's named port.
func NamedPort(name string) Port { return Port{PortName: name} }

var (
	digitsRegex    = regexp.MustCompile(`^[0-9]+$`)
	portRangeRegex = regexp.MustCompile(`^([0-9]+):([0-9]+)$`)
	portNameRegex  = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
)

// ParsePort parses the string form of a port: "80", "8000:8080" or a name.
func ParsePort(s string) (Port, error) {
	p := portFromString(s)
	return p, p.Validate()
}

// portFromString converts without failing; see the Port doc comment.
func portFromString(s string) Port {
	if digitsRegex.MatchString(s) {
		if n, err := strconv.ParseUint(s, 10, 16); err == nil {
			return SinglePort(uint16(n))
		}
		return Port{PortName: s}
	}
	if m := portRangeRegex.FindStringSubmatch(s); m != nil {
		lo, err1 := strconv.ParseUint(m[1], 10, 16)
		hi, err2 := strconv.ParseUint(m[2], 10, 16)
		if err1 == nil && err2 == nil && lo <= hi {
			return Port{MinPort: uint16(lo), MaxPort: uint16(hi)}
		}
	}
	return Port{PortName: s}
}

// IsNamed reports whether p refers to a named port.
func (p Port) IsNamed() bool { return p.PortName != "" }

// IsRange reports whether p is a numeric range of more than one port.
func (p Port) IsRange() bool { return p.PortName == "" && p.MinPort != p.MaxPort }

// IsSingle reports whether p is a single port number.
func (p Port) IsSingle() bool { return p.PortName == "" && p.MinPort == p.MaxPort }

// Validate reports whether p is a port number, a range with min <= max or a valid
// port name, and if not, what would be accepted.
func (p Port) Validate() error {
	if p.PortName == "" {
		if p.MinPort > p.MaxPort {
			return fmt.Errorf("port range %d:%d has its minimum above its maximum; use \"min:max\" with min <= max", p.MinPort, p.MaxPort)
		}
		return nil
	}
	s := p.PortName
	if digitsRegex.MatchString(s) {
		return fmt.Errorf("port %s is out of range; a port number must be 0-65535", s)
	}
	if m := portRangeRegex.FindStringSubmatch(s); m != nil {
		lo, err1 := strconv.ParseUint(m[1], 10, 16)
		hi, err2 := strconv.ParseUint(m[2], 10, 16)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("port range %s is out of range; both ends must be 0-65535", s)
		}
		if lo > hi {
			return fmt.Errorf("port range %s has its minimum above its maximum; use \"min:max\" with min <= max", s)
		}
	}
	// A name must contain a letter: Kubernetes port names do, so a name without
	// one could never match, and it is more likely a mistyped number.
	if !portNameRegex.MatchString(s) || !strings.ContainsFunc(s, isLetter) {
		return fmt.Errorf("%q is not a port: use a number 0-65535, a range \"min:max\" or a port name of 1-128 letters, digits, '_', '.' or '-' with at least one letter", s)
	}
	return nil
}

func isLetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

// String returns "80", "8000:8080" or the port name.
func (p Port) String() string {
	switch {
	case p.PortName != "":
		return p.PortName
	case p.MinPort == p.MaxPort:
		return strconv.FormatUint(uint64(p.MinPort), 10)
	default:
		return fmt.Sprintf("%d:%d", p.MinPort, p.MaxPort)
	}
}

// MarshalJSON writes a single port as a number and everything else as a string.
func (p Port) MarshalJSON() ([]byte, error) {
	if p.IsSingle() {
		return json.Marshal(p.MinPort)
	}
	return json.Marshal(p.String())
}

// UnmarshalJSON accepts a number or a string; a string of digits is read as a
// single port.
//
// Decoding is deliberately lenient: a well-formed JSON number or string always
// decodes, and a value that is neither a valid port, a valid range nor a plausible
// name is kept verbatim in PortName. Validation (Port.Validate, and the
// validation package) then reports it with its field path instead of a
// whole-object decode failure, and a list read from the API server never fails
// because of one bad object.
func (p *Port) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("decode port: %w", err)
		}
		*p = portFromString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("decode port: expected a number or a string, got %s", b)
	}
	*p = portFromString(n.String())
	return nil
}

// Protocol names accepted in rules. They are case-sensitive, as in Calico.
const (
	ProtocolTCP     = "TCP"
	ProtocolUDP     = "UDP"
	ProtocolICMP    = "ICMP"
	ProtocolICMPv6  = "ICMPv6"
	ProtocolSCTP    = "SCTP"
	ProtocolUDPLite = "UDPLite"
)

// protocolNumbers maps each protocol name to its IANA number.
var protocolNumbers = map[string]uint8{
	ProtocolTCP:     6,
	ProtocolUDP:     17,
	ProtocolICMP:    1,
	ProtocolICMPv6:  58,
	ProtocolSCTP:    132,
	ProtocolUDPLite: 136,
}

// ProtocolNames returns the accepted protocol names.
func ProtocolNames() []string {
	return []string{ProtocolTCP, ProtocolUDP, ProtocolICMP, ProtocolICMPv6, ProtocolSCTP, ProtocolUDPLite}
}

// NumOrStringType tells which member of a number-or-string value is set.
type NumOrStringType int

const (
	NumOrStringNum NumOrStringType = iota
	NumOrStringString
)

// Protocol is an IP protocol, by name (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite)
// or by number (1-255).
//
// +kubebuilder:validation:XIntOrString
// +kubebuilder:validation:Type=""
type Protocol struct {
	Type   NumOrStringType `json:"-"`
	NumVal uint8           `json:"-"`
	StrVal string          `json:"-"`
}

// ProtocolFromInt returns a numeric Protocol.
func ProtocolFromInt(n uint8) Protocol { return Protocol{Type: NumOrStringNum, NumVal: n} }

// ProtocolFromString returns a named Protocol; a known name in any case is
// converted to its canonical spelling ("tcp" becomes "TCP").
func ProtocolFromString(s string) Protocol {
	for _, n := range ProtocolNames() {
		if strings.EqualFold(n, s) {
			return Protocol{Type: NumOrStringString, StrVal: n}
		}
	}
	return Protocol{Type: NumOrStringString, StrVal: s}
}

// String returns the name or the decimal number.
func (p Protocol) String() string {
	if p.Type == NumOrStringString {
		return p.StrVal
	}
	return strconv.FormatUint(uint64(p.NumVal), 10)
}

// Number returns the IANA protocol number for a numeric protocol or a known name.
func (p Protocol) Number() (uint8, bool) {
	if p.Type == NumOrStringNum {
		return p.NumVal, true
	}
	n, ok := protocolNumbers[p.StrVal]
	return n, ok
}

// SupportsPorts reports whether rules with this protocol may match on ports
// (TCP, UDP and SCTP, by name or number).
func (p Protocol) SupportsPorts() bool {
	n, ok := p.Number()
	return ok && (n == 6 || n == 17 || n == 132)
}

// IsICMP reports whether p is ICMP (for IPv4), by name or number.
func (p Protocol) IsICMP() bool { n, ok := p.Number(); return ok && n == 1 }

// IsICMPv6 reports whether p is ICMPv6, by name or number.
func (p Protocol) IsICMPv6() bool { n, ok := p.Number(); return ok && n == 58 }

// IsTCP reports whether p is TCP, by name or number.
func (p Protocol) IsTCP() bool { n, ok := p.Number(); return ok && n == 6 }

// Validate reports whether p is a known protocol name or a number 1-255, and if
// not, what would be accepted.
func (p Protocol) Validate() error {
	if p.Type == NumOrStringNum {
		if p.NumVal == 0 {
			return fmt.Errorf("protocol number 0 is not allowed; use a number 1-255 or one of %s", strings.Join(ProtocolNames(), ", "))
		}
		return nil
	}
	if _, ok := protocolNumbers[p.StrVal]; ok {
		return nil
	}
	for _, n := range ProtocolNames() {
		if strings.EqualFold(n, p.StrVal) {
			return fmt.Errorf("protocol %q is not valid: names are case-sensitive, use %q", p.StrVal, n)
		}
	}
	if digitsRegex.MatchString(p.StrVal) {
		return fmt.Errorf("protocol number %s is out of range; use a number 1-255 or one of %s", p.StrVal, strings.Join(ProtocolNames(), ", "))
	}
	return fmt.Errorf("protocol %q is not valid; use one of %s or a number 1-255", p.StrVal, strings.Join(ProtocolNames(), ", "))
}

// MarshalJSON writes a number or a string.
func (p Protocol) MarshalJSON() ([]byte, error) {
	if p.Type == NumOrStringNum {
		return json.Marshal(p.NumVal)
	}
	return json.Marshal(p.StrVal)
}

// UnmarshalJSON accepts a number or a string; a string of digits that fits in a
// byte is read as a number. Like Port's, decoding is lenient: a number that does
// not fit in a byte is kept as a string so that validation can report it.
func (p *Protocol) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("decode protocol: %w", err)
		}
	} else {
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("decode protocol: expected a number or a string, got %s", b)
		}
		s = n.String()
	}
	if digitsRegex.MatchString(s) {
		if n, err := strconv.ParseUint(s, 10, 8); err == nil {
			*p = ProtocolFromInt(uint8(n))
			return nil
		}
	}
	*p = Protocol{Type: NumOrStringString, StrVal: s}
	return nil
}

// ASNumber is a BGP autonomous system number. In JSON it is a number; the
// "asdot" form "<high>.<low>" is also accepted on input, as Calico does.
//
// +kubebuilder:validation:Format=int64
// +kubebuilder:validation:Minimum=0
// +kubebuilder:validation:Maximum=4294967295
type ASNumber uint32

// ParseASNumber parses "64512" or the asdot form "1.10".
func ParseASNumber(s string) (ASNumber, error) {
	if hi, lo, ok := strings.Cut(s, "."); ok {
		h, err1 := strconv.ParseUint(hi, 10, 16)
		l, err2 := strconv.ParseUint(lo, 10, 16)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("AS number %q is not valid; use a number 0-4294967295 or the asdot form <0-65535>.<0-65535>", s)
		}
		return ASNumber(h<<16 | l), nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("AS number %q is not valid; use a number 0-4294967295 or the asdot form <0-65535>.<0-65535>", s)
	}
	return ASNumber(n), nil
}

// UnmarshalJSON accepts a number or a string in plain or asdot form.
func (a *ASNumber) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("decode AS number: %w", err)
		}
	}
	n, err := ParseASNumber(s)
	if err != nil {
		return err
	}
	*a = n
	return nil
}

// String returns the plain decimal form.
func (a ASNumber) String() string { return strconv.FormatUint(uint64(a), 10) }
