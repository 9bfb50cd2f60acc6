// Package discovery finds Typha for its clients: a static list of
// addresses (FELIX_TYPHAADDR), or the ready endpoints of Typha's Service
// read from its EndpointSlices (FELIX_TYPHAK8SSERVICENAME). Endpoints on
// the client's own node come first, the rest are shuffled so clients
// spread across replicas.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// PortName is the name of Typha's port in its Service.
const PortName = "calico-typha"

// DefaultPort is Typha's port.
const DefaultPort = 5473

// Endpoint is one Typha replica.
type Endpoint struct {
	Addr string // host:port
	Node string // the node it runs on, if known
}

// Config says where Typha is.
type Config struct {
	// Static is a comma-separated list of host:port (or host, taking the
	// default port). When set, the Service is not read.
	Static string
	// Kube, Namespace and Service name Typha's Service.
	Kube      kubernetes.Interface
	Namespace string
	Service   string
	// Node is the client's node: its local replica is preferred.
	Node string
}

// Enabled reports whether the configuration names Typha at all.
func (c Config) Enabled() bool { return c.Static != "" || c.Service != "" }

// Endpoints lists the replicas in the order a client should try them.
func (c Config) Endpoints(ctx context.Context) ([]Endpoint, error) {
	if c.Static != "" {
		return ParseStatic(c.Static)
	}
	if c.Kube == nil || c.Service == "" {
		return nil, errors.New("typha discovery: no addresses and no Service configured")
	}
	ns := c.Namespace
	if ns == "" {
		ns = "kube-system"
	}
	list, err := c.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + c.Service,
	})
	if err != nil {
		return nil, fmt.Errorf("typha discovery: listing the endpoints of service %s/%s: %w", ns, c.Service, err)
	}
	eps := FromSlices(list.Items)
	if len(eps) == 0 {
		return nil, fmt.Errorf("typha discovery: service %s/%s has no ready endpoints with port %q", ns, c.Service, PortName)
	}
	return Order(eps, c.Node, rand.Shuffle), nil
}

// Addresses is Endpoints reduced to addresses, in a client's
// Config.Addresses shape.
func (c Config) Addresses(ctx context.Context) ([]string, error) {
	eps, err := c.Endpoints(ctx)
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.Addr
	}
	return out, err
}

// ParseStatic parses "host:port,host:port" (a bare host takes the default
// port).
func ParseStatic(s string) ([]Endpoint, error) {
	var out []Endpoint
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			if net.ParseIP(a) == nil && strings.Contains(a, ":") {
				return nil, fmt.Errorf("typha address %q: %v", a, err)
			}
			host, port = a, strconv.Itoa(DefaultPort)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("typha address %q: bad port %q", a, port)
		}
		out = append(out, Endpoint{Addr: net.JoinHostPort(host, port)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("typha address %q names no address", s)
	}
	return out, nil
}

// FromSlices extracts the ready endpoints that serve the Typha port.
func FromSlices(slices []discoveryv1.EndpointSlice) []Endpoint {
	var out []Endpoint
	for _, es := range slices {
		var port int32
		for _, p := range es.Ports {
			if p.Port == nil {
				continue
			}
			if (p.Name != nil && *p.Name == PortName) || (len(es.Ports) == 1 && port == 0) {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			node := ""
			if ep.NodeName != nil {
				node = *ep.NodeName
			}
			for _, a := range ep.Addresses {
				out = append(out, Endpoint{Addr: net.JoinHostPort(a, strconv.Itoa(int(port))), Node: node})
			}
		}
	}
	return out
}

// Order puts the endpoints on node first and shuffles the rest (each group
// with shuffle, rand.Shuffle outside tests).
func Order(eps []Endpoint, node string, shuffle func(n int, swap func(i, j int))) []Endpoint {
	var local, remote []Endpoint
	for _, e := range eps {
		if node != "" && e.Node == node {
			local = append(local, e)
		} else {
			remote = append(remote, e)
		}
	}
	for _, g := range [][]Endpoint{local, remote} {
		shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
	}
	return append(local, remote...)
}
