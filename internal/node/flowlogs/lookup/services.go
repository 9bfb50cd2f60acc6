package lookup

import (
	"net/netip"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// Service is what flow logs say about the Service a flow went to.
type Service struct {
	Name, Namespace string
	// PortName is the Service port's name ("" for an unnamed port).
	PortName string
}

// Services maps a Service's cluster addresses (and external and load
// balancer addresses) and ports to the Service. The caller feeds it from
// an informer.
type Services struct {
	mu    sync.RWMutex
	ports map[serviceAddr]Service
	byKey map[string][]serviceAddr
}

type serviceAddr struct {
	addr  netip.Addr
	port  uint16
	proto uint8
}

// NewServices makes an empty index.
func NewServices() *Services {
	return &Services{ports: map[serviceAddr]Service{}, byKey: map[string][]serviceAddr{}}
}

// Set records a Service (added or changed).
func (s *Services) Set(svc *corev1.Service) {
	key := svc.Namespace + "/" + svc.Name
	var ips []string
	ips = append(ips, svc.Spec.ClusterIPs...)
	ips = append(ips, svc.Spec.ExternalIPs...)
	for _, in := range svc.Status.LoadBalancer.Ingress {
		ips = append(ips, in.IP)
	}
	var addrs []serviceAddr
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			continue
		}
		for _, p := range svc.Spec.Ports {
			addrs = append(addrs, serviceAddr{addr: a.Unmap(), port: uint16(p.Port), proto: protoNumber(p.Protocol)})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop(key)
	for i, a := range addrs {
		s.ports[a] = Service{Name: svc.Name, Namespace: svc.Namespace, PortName: svc.Spec.Ports[i%len(svc.Spec.Ports)].Name}
	}
	s.byKey[key] = addrs
}

// Delete forgets a Service.
func (s *Services) Delete(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop(namespace + "/" + name)
}

func (s *Services) drop(key string) {
	for _, a := range s.byKey[key] {
		delete(s.ports, a)
	}
	delete(s.byKey, key)
}

// Service names the Service at addr:port for protocol proto.
func (s *Services) Service(addr netip.Addr, port uint16, proto uint8) (Service, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	svc, ok := s.ports[serviceAddr{addr: addr.Unmap(), port: port, proto: proto}]
	return svc, ok
}

// Lookup implements flowlogs.Services.
func (s *Services) Lookup(addr netip.Addr, port uint16, proto uint8) (name, namespace, portName string, ok bool) {
	svc, ok := s.Service(addr, port, proto)
	return svc.Name, svc.Namespace, svc.PortName, ok
}

func protoNumber(p corev1.Protocol) uint8 {
	switch strings.ToUpper(string(p)) {
	case "UDP":
		return 17
	case "SCTP":
		return 132
	}
	return 6
}
