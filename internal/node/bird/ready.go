package bird

import (
	"fmt"
	"strings"
)

// Readiness judges a node's BGP the way an operator's readiness probe
// should: ready when every session BIRD was configured with is
// Established (a node with no peers is ready). The detail names the
// peers that are not, with the state each is stuck in.
func Readiness(sessions []Session) (ready bool, detail string) {
	var down []string
	for _, s := range sessions {
		if s.Established() {
			continue
		}
		who := s.Name
		if s.Neighbor.IsValid() {
			who = s.Neighbor.String()
		}
		state := s.BGPState
		if state == "" {
			state = s.State
		}
		down = append(down, fmt.Sprintf("%s (%s)", who, state))
	}
	if len(down) > 0 {
		return false, "BGP not established with " + strings.Join(down, ", ")
	}
	return true, fmt.Sprintf("%d BGP sessions established", len(sessions))
}
