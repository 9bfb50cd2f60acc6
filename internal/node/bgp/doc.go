// Package bgp is confd's logic: from the datastore's BGP configuration,
// BGP peers and filters, nodes, IP pools and this node's IPAM blocks it
// computes the node's BGP sessions and renders them as BIRD 2
// configuration (bird.cfg, which includes bird6.cfg for IPv6). It is pure:
// reading the datastore, writing files and driving BIRD are elsewhere
// (internal/confd, internal/bird).
package bgp
