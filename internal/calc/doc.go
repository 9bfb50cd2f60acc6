// Package calc is the calculation graph: it turns the datastore's key/value
// stream (internal/model) into what one node must enforce, as dataplane
// messages (internal/proto), and answers "which policy decided this packet"
// on the same state (Evaluate).
//
// It is pure and synchronous: no I/O, no goroutines, no clocks. OnUpdates
// records changes cheaply (indexing labels and marking things dirty); Flush
// does the rest and sends messages in dependency order. Feeding the same
// final datastore state by any path gives the same dataplane state.
//
// Pipeline:
//
//	updates ─► endpoints, network sets ─► setIndex (all of them; selectors of active IP sets)
//	        │                           └► polIndex (local endpoints; every policy's selector)
//	        ├► policies, tiers, profiles
//	        └► EndpointSlices (services rules)
//	Flush: active policies/profiles rendered (rules → IP set references),
//	       IP sets referenced/unreferenced, endpoints' tiers resolved,
//	       messages: sets → policies/profiles → endpoints → removals reversed → InSync
//
// See docs/calc.md for the contract and the semantics of tiers, policies,
// profiles, namespace and service account selectors, and staged policies.
package calc
