package server

import "math"

// Limits are the bounds of the connection limit.
type Limits struct {
	Lower, Upper int // defaults 400 and 10000
}

// MaxConnections is the connection limit of one Typha in a cluster of
// nodes nodes served by typhas replicas, with syncerTypes connections per
// node: enough for every node's clients spread over all replicas but one
// (so a rolling restart fits), plus 20% headroom, never below Lower nor
// above Upper. A lone Typha takes the upper limit.
func MaxConnections(syncerTypes, nodes, typhas int, l Limits) int {
	if l.Lower <= 0 {
		l.Lower = 400
	}
	if l.Upper <= 0 {
		l.Upper = 10000
	}
	if typhas <= 1 {
		return l.Upper
	}
	target := int(math.Ceil(float64(syncerTypes) * (1 + float64(nodes)*1.2/float64(typhas-1))))
	return min(max(target, l.Lower), l.Upper)
}
