package validation

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	v3 "github.com/calicong/calico/api/v3"
)

// validatePacketCapture: the selector parses; each filter's protocol is
// known and its ports are numbers or "min:max" ranges, for a protocol
// with ports; the end is not before the start.
func validatePacketCapture(c *v3.PacketCapture) field.ErrorList {
	errs := validateMeta(&c.ObjectMeta, true, subdomainName)
	s, p := c.Spec, specPath
	errs = append(errs, validateSelector(p.Child("selector"), s.Selector, false)...)
	for i, r := range s.Filters {
		fp := p.Child("filters").Index(i)
		if r.Protocol != nil {
			if err := r.Protocol.Validate(); err != nil {
				errs = append(errs, field.Invalid(fp.Child("protocol"), r.Protocol.String(), err.Error()))
				continue
			}
		}
		for j, port := range r.Ports {
			pp := fp.Child("ports").Index(j)
			if err := port.Validate(); err != nil {
				errs = append(errs, field.Invalid(pp, port.String(), err.Error()))
			} else if port.IsNamed() {
				errs = append(errs, field.Invalid(pp, port.String(), "named ports are not supported in packet capture: use a number or a range \"min:max\""))
			}
		}
		if len(r.Ports) > 0 {
			n, ok := uint8(0), false
			if r.Protocol != nil {
				n, ok = r.Protocol.Number()
			}
			if !ok || !(n == 6 || n == 17 || n == 132 || n == 136) {
				what := "no protocol"
				if r.Protocol != nil {
					what = "protocol " + r.Protocol.String()
				}
				errs = append(errs, field.Invalid(fp.Child("ports"), fmt.Sprint(len(r.Ports), " ports"),
					fmt.Sprintf("ports need a protocol with ports (TCP, UDP, SCTP or UDPLite); this filter has %s", what)))
			}
		}
	}
	if s.StartTime != nil && s.EndTime != nil && s.EndTime.Before(s.StartTime) {
		errs = append(errs, field.Invalid(p.Child("endTime"), s.EndTime.UTC().Format("2006-01-02T15:04:05Z"),
			fmt.Sprintf("is before startTime (%s)", s.StartTime.UTC().Format("2006-01-02T15:04:05Z"))))
	}
	return errs
}
