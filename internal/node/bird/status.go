package bird

import (
	"context"
	"net/netip"
	"strings"
)

// DaemonStatus is "show status".
type DaemonStatus struct {
	Version, RouterID, LastBoot, LastReconfiguration string
}

// Status reads the daemon's status.
func Status(ctx context.Context, socket string) (DaemonStatus, error) {
	rep, err := Command(ctx, socket, "show status")
	if err != nil {
		return DaemonStatus{}, err
	}
	var s DaemonStatus
	for _, l := range rep.Lines {
		t := strings.TrimSpace(l.Text)
		switch {
		case strings.HasPrefix(t, "BIRD "):
			s.Version = strings.TrimPrefix(t, "BIRD ")
		case strings.HasPrefix(t, "Router ID is "):
			s.RouterID = strings.TrimPrefix(t, "Router ID is ")
		case strings.HasPrefix(t, "Last reboot on "):
			s.LastBoot = strings.TrimPrefix(t, "Last reboot on ")
		case strings.HasPrefix(t, "Last reconfiguration on "):
			s.LastReconfiguration = strings.TrimPrefix(t, "Last reconfiguration on ")
		}
	}
	return s, nil
}

// Session is one BGP protocol of BIRD.
type Session struct {
	Name string
	// State is the protocol's (up, start, down); BGPState the session's
	// (Established, Active, Connect, Idle, ...).
	State, BGPState string
	Since           string
	Neighbor        netip.Addr
	Info            string
}

// Established tells whether the session is up.
func (s Session) Established() bool { return s.BGPState == "Established" }

// Sessions lists BIRD's BGP sessions.
func Sessions(ctx context.Context, socket string) ([]Session, error) {
	rep, err := Command(ctx, socket, "show protocols all")
	if err != nil {
		return nil, err
	}
	var out []Session
	var cur *Session
	for _, l := range rep.Lines {
		if l.Code == 1002 {
			cur = nil
			f := strings.Fields(l.Text)
			if len(f) >= 4 && f[1] == "BGP" {
				p := parseProtocolLine(l.Text)
				out = append(out, Session{Name: p.Name, State: p.State, Since: p.Since, Info: p.Info})
				cur = &out[len(out)-1]
			}
			continue
		}
		if cur == nil || l.Code != 1006 {
			continue
		}
		key, val, ok := strings.Cut(strings.TrimSpace(l.Text), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "BGP state":
			cur.BGPState = val
		case "Neighbor address":
			if a, err := netip.ParseAddr(val); err == nil {
				cur.Neighbor = a
			}
		}
	}
	return out, nil
}

func parseProtocolLine(text string) Protocol {
	f := strings.Fields(text)
	p := Protocol{Name: f[0], Proto: f[1], Table: f[2], State: f[3]}
	rest := f[4:]
	// Since is a date and a time ("2026-12-04 10:11:12") or just one.
	if len(rest) >= 2 && strings.Count(rest[0], "-") == 2 && strings.Contains(rest[1], ":") {
		p.Since, rest = rest[0]+" "+rest[1], rest[2:]
	} else if len(rest) >= 1 {
		p.Since, rest = rest[0], rest[1:]
	}
	p.Info = strings.Join(rest, " ")
	return p
}

// Route is one route of "show route".
type Route struct {
	Destination netip.Prefix
	// Protocol is the BIRD protocol the route came from; Primary marks the
	// route BIRD chose (the one it exports to the kernel).
	Protocol string
	Primary  bool
	Gateway  netip.Addr
	// Interface is the outgoing interface; Kind is blackhole, unicast,
	// unreachable, ...
	Interface, Kind string
}

// Routes lists BIRD's routes, every candidate of every destination.
func Routes(ctx context.Context, socket string) ([]Route, error) {
	rep, err := Command(ctx, socket, "show route")
	if err != nil {
		return nil, err
	}
	var out []Route
	var dst netip.Prefix
	for _, l := range rep.Lines {
		if l.Code != 1007 {
			continue
		}
		text := l.Text
		trimmed := strings.TrimSpace(text)
		if strings.HasPrefix(trimmed, "Table ") {
			continue
		}
		if strings.HasPrefix(trimmed, "via ") || strings.HasPrefix(trimmed, "dev ") {
			if len(out) == 0 {
				continue
			}
			r := &out[len(out)-1]
			f := strings.Fields(trimmed)
			for i := 0; i+1 < len(f); i++ {
				switch f[i] {
				case "via":
					if a, err := netip.ParseAddr(f[i+1]); err == nil {
						r.Gateway = a
					}
				case "on", "dev":
					r.Interface = f[i+1]
				}
			}
			continue
		}
		f := strings.Fields(trimmed)
		if len(f) == 0 {
			continue
		}
		// A line starting with a prefix begins a destination; one starting
		// with a route kind is another candidate for it.
		if p, err := netip.ParsePrefix(f[0]); err == nil && !strings.HasPrefix(text, " ") && !strings.HasPrefix(text, "\t") {
			dst, f = p, f[1:]
		}
		if !dst.IsValid() || len(f) == 0 {
			continue
		}
		r := Route{Destination: dst, Kind: f[0]}
		for i, x := range f {
			switch {
			case strings.HasPrefix(x, "[") && r.Protocol == "":
				r.Protocol = strings.TrimSuffix(strings.TrimPrefix(x, "["), "]")
			case x == "*" && i > 0:
				r.Primary = true
			}
		}
		out = append(out, r)
	}
	return out, nil
}
