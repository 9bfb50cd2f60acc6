// Package nft keeps a desired nftables table and programs the kernel to
// match it, in atomic transactions that touch only what changed.
//
// The table is ours alone: anything in it is ours, and nothing outside it
// is ever read or changed. Callers describe chains (as lists of rules in
// nft syntax), sets and verdict maps; Table records what changed since
// the last successful commit, and Script turns those changes into one
// `nft -f` transaction:
//
//	declare new sets, maps and chains
//	→ add set and map elements (chains they jump to exist now)
//	→ rewrite changed chains (flush + add rules)
//	→ delete stale elements
//	→ flush and delete stale chains (nothing refers to them any more)
//	→ delete stale sets and maps
//
// After a failure, or when the kernel's content is not known (at start-up,
// when an earlier run may have left a table), the next script rewrites
// every chain, set and map in the same single transaction, so packets see
// either the old rules or the new ones, never a mixture or an empty table.
package nft

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// BaseChain hooks a chain into the packet path.
type BaseChain struct {
	Type     string // filter, nat, route
	Hook     string // prerouting, input, forward, output, postrouting
	Priority string // e.g. "filter", "raw", "-150"
	Policy   string // accept or drop; "" for accept
}

// Chain is a chain and its rules, in nft syntax. The comment tells users
// what a chain with a hashed name is for; it must not change for a given
// chain name (nft keeps the first one).
type Chain struct {
	Base    *BaseChain
	Comment string
	Rules   []string
}

func (c *Chain) equal(o *Chain) bool {
	if (c.Base == nil) != (o.Base == nil) || (c.Base != nil && *c.Base != *o.Base) || c.Comment != o.Comment {
		return false
	}
	return slices.Equal(c.Rules, o.Rules)
}

// Set is a named set; Type is its nft type ("ipv4_addr",
// "ipv4_addr . inet_proto . inet_service", ...).
type Set struct {
	Type     string
	Interval bool
	elements map[string]struct{}
}

// Map is a verdict map ("ifname : verdict").
type Map struct {
	Type     string
	elements map[string]string // key → verdict, as desired
	kernel   map[string]string // as last committed
}

// Table is the desired content of one nftables table, with the changes
// since the last commit.
type Table struct {
	family, name string

	chains map[string]*Chain
	sets   map[string]*Set
	maps   map[string]*Map

	// Pending changes.
	dirtyChains  map[string]struct{} // set or deleted
	newSets      map[string]struct{}
	deletedSets  map[string]*Set
	addedElems   map[string]map[string]struct{}
	deletedElems map[string]map[string]struct{}
	newMaps      map[string]struct{}
	deletedMaps  map[string]*Map
	dirtyKeys    map[string]map[string]struct{} // map → keys that may differ from the kernel
	// resetSets and resetMaps are rewritten whole (declared, flushed and
	// filled again): repairs of what the kernel lost or had changed.
	resetSets map[string]struct{}
	resetMaps map[string]struct{}
	// verified holds the kernel's fingerprint of each object as the last
	// Check found it, matching what was committed; an object changed
	// since has none until the next Check.
	verified Kernel
	// generation counts commits; changedAt says at which one each object
	// was last written (or deleted), and fullAt the last full rewrite, so
	// a Check of a listing taken before a commit leaves what that commit
	// wrote alone. Entries no Check can need any more are pruned.
	generation, fullAt uint64
	changedAt          struct{ chains, sets, maps map[string]uint64 }
	// full means the kernel's content is unknown: rewrite everything.
	full bool
	// stale lists objects found in the kernel at start-up, to delete if not
	// wanted.
	staleChains, staleSets, staleMaps map[string]struct{}
}

// NewTable returns an empty desired table. Until the first commit its
// script rewrites everything.
func NewTable(family, name string) *Table {
	t := &Table{family: family, name: name, chains: map[string]*Chain{}, sets: map[string]*Set{}, maps: map[string]*Map{}}
	t.resetPending()
	t.resetVerified()
	t.full = true
	return t
}

func (t *Table) resetPending() {
	t.dirtyChains = map[string]struct{}{}
	t.newSets = map[string]struct{}{}
	t.deletedSets = map[string]*Set{}
	t.addedElems = map[string]map[string]struct{}{}
	t.deletedElems = map[string]map[string]struct{}{}
	t.newMaps = map[string]struct{}{}
	t.deletedMaps = map[string]*Map{}
	t.dirtyKeys = map[string]map[string]struct{}{}
	t.resetSets = map[string]struct{}{}
	t.resetMaps = map[string]struct{}{}
}

func (t *Table) resetVerified() {
	t.verified = Kernel{Chains: map[string]Fingerprint{}, Sets: map[string]Fingerprint{}, Maps: map[string]Fingerprint{}}
	t.changedAt.chains, t.changedAt.sets, t.changedAt.maps = map[string]uint64{}, map[string]uint64{}, map[string]uint64{}
}

// Generation identifies the last commit; a Check of a listing read after
// it is exact, and one read before it leaves what later commits wrote
// alone.
func (t *Table) Generation() uint64 { return t.generation }

// Family and Name identify the table.
func (t *Table) Family() string { return t.family }
func (t *Table) Name() string   { return t.name }

// SetChain sets a chain's rules (and hook, for base chains).
func (t *Table) SetChain(name string, c *Chain) {
	if old, ok := t.chains[name]; ok && old.equal(c) {
		return
	}
	t.chains[name] = c
	t.dirtyChains[name] = struct{}{}
}

// DeleteChain removes a chain.
func (t *Table) DeleteChain(name string) {
	if _, ok := t.chains[name]; !ok {
		return
	}
	delete(t.chains, name)
	t.dirtyChains[name] = struct{}{}
}

// Chain returns a chain's desired content.
func (t *Table) Chain(name string) (*Chain, bool) {
	c, ok := t.chains[name]
	return c, ok
}

// ChainNames lists the desired chains, sorted.
func (t *Table) ChainNames() []string { return slices.Sorted(maps.Keys(t.chains)) }

// EnsureSet declares a set. Declaring an existing set again with another
// type replaces it (its elements are lost).
func (t *Table) EnsureSet(name, typ string, interval bool) {
	if s, ok := t.sets[name]; ok {
		if s.Type == typ && s.Interval == interval {
			return
		}
		t.DeleteSet(name)
	}
	t.sets[name] = &Set{Type: typ, Interval: interval, elements: map[string]struct{}{}}
	t.newSets[name] = struct{}{}
}

// DeleteSet removes a set.
func (t *Table) DeleteSet(name string) {
	s, ok := t.sets[name]
	if !ok {
		return
	}
	delete(t.sets, name)
	delete(t.addedElems, name)
	delete(t.deletedElems, name)
	if _, isNew := t.newSets[name]; isNew {
		delete(t.newSets, name)
		return
	}
	t.deletedSets[name] = s
}

// AddElements adds elements (nft syntax) to a declared set.
func (t *Table) AddElements(name string, elems ...string) {
	s := t.sets[name]
	for _, e := range elems {
		if _, ok := s.elements[e]; ok {
			continue
		}
		s.elements[e] = struct{}{}
		if d := t.deletedElems[name]; d != nil {
			if _, ok := d[e]; ok {
				delete(d, e)
				continue
			}
		}
		addTo(t.addedElems, name, e)
	}
}

// DeleteElements removes elements from a set.
func (t *Table) DeleteElements(name string, elems ...string) {
	s := t.sets[name]
	if s == nil {
		return
	}
	for _, e := range elems {
		if _, ok := s.elements[e]; !ok {
			continue
		}
		delete(s.elements, e)
		if a := t.addedElems[name]; a != nil {
			if _, ok := a[e]; ok {
				delete(a, e)
				continue
			}
		}
		addTo(t.deletedElems, name, e)
	}
}

// SetElements makes a set hold exactly elems.
func (t *Table) SetElements(name string, elems []string) {
	want := make(map[string]struct{}, len(elems))
	for _, e := range elems {
		want[e] = struct{}{}
	}
	var del []string
	for e := range t.sets[name].elements {
		if _, ok := want[e]; !ok {
			del = append(del, e)
		}
	}
	t.DeleteElements(name, del...)
	t.AddElements(name, elems...)
}

// Elements lists a set's desired elements, sorted.
func (t *Table) Elements(name string) []string {
	if s := t.sets[name]; s != nil {
		return slices.Sorted(maps.Keys(s.elements))
	}
	return nil
}

// SetNames lists the desired sets, sorted.
func (t *Table) SetNames() []string { return slices.Sorted(maps.Keys(t.sets)) }

// EnsureMap declares a verdict map.
func (t *Table) EnsureMap(name, typ string) {
	if m, ok := t.maps[name]; ok && m.Type == typ {
		return
	}
	if old, ok := t.maps[name]; ok {
		t.deletedMaps[name] = old
	}
	t.maps[name] = &Map{Type: typ, elements: map[string]string{}, kernel: map[string]string{}}
	t.newMaps[name] = struct{}{}
}

// DeleteMap removes a map.
func (t *Table) DeleteMap(name string) {
	m, ok := t.maps[name]
	if !ok {
		return
	}
	delete(t.maps, name)
	delete(t.dirtyKeys, name)
	if _, isNew := t.newMaps[name]; isNew {
		delete(t.newMaps, name)
		return
	}
	t.deletedMaps[name] = m
}

// SetMapElement maps key to a verdict (e.g. `"cali1234" : goto fw-cali1234`).
func (t *Table) SetMapElement(name, key, verdict string) {
	m := t.maps[name]
	if v, ok := m.elements[key]; ok && v == verdict {
		return
	}
	m.elements[key] = verdict
	addTo(t.dirtyKeys, name, key)
}

// DeleteMapElement removes a key from a map.
func (t *Table) DeleteMapElement(name, key string) {
	m := t.maps[name]
	if m == nil {
		return
	}
	if _, ok := m.elements[key]; !ok {
		return
	}
	delete(m.elements, key)
	addTo(t.dirtyKeys, name, key)
}

// mapChanges works out the element deletions and additions that bring a
// map from its committed content to the desired one (nft cannot change an
// element in place: a changed key is deleted and added).
func (t *Table) mapChanges(name string) (del, add []string) {
	m := t.maps[name]
	for _, k := range slices.Sorted(maps.Keys(t.dirtyKeys[name])) {
		kv, inKernel := m.kernel[k]
		dv, desired := m.elements[k]
		if inKernel && (!desired || kv != dv) {
			del = append(del, k)
		}
		if desired && (!inKernel || kv != dv) {
			add = append(add, k+" : "+dv)
		}
	}
	return del, add
}

// MapElements returns a map's desired elements.
func (t *Table) MapElements(name string) map[string]string {
	if m := t.maps[name]; m != nil {
		return maps.Clone(m.elements)
	}
	return nil
}

func keySet[V any](m map[string]V) map[string]struct{} {
	out := make(map[string]struct{}, len(m))
	for k := range m {
		out[k] = struct{}{}
	}
	return out
}

func addTo(m map[string]map[string]struct{}, name, e string) {
	s := m[name]
	if s == nil {
		s = map[string]struct{}{}
		m[name] = s
	}
	s[e] = struct{}{}
}

// Existing tells the table what the kernel holds now (at start-up), so
// that the next script deletes what is no longer wanted.
func (t *Table) Existing(k *Kernel) {
	t.full = true
	t.staleChains, t.staleSets, t.staleMaps = map[string]struct{}{}, map[string]struct{}{}, map[string]struct{}{}
	for c := range k.Chains {
		t.staleChains[c] = struct{}{}
	}
	for s := range k.Sets {
		t.staleSets[s] = struct{}{}
	}
	for m := range k.Maps {
		t.staleMaps[m] = struct{}{}
	}
}

// Check compares what the kernel held when k was listed, as of commit
// asOf (Generation before the listing), with what was committed, and
// schedules a repair of every object that differs: a chain is rewritten,
// a set or map flushed and filled again, an object that is not ours
// deleted, and a missing table rewritten whole; the next Script does it
// in one transaction. It returns what it found, for the log.
//
// An object is compared with its fingerprint from the last Check that
// found it right; one changed since is compared by its rule or element
// count, and its fingerprint taken from then on. Objects with changes
// still pending, or committed after asOf, are left alone (the listing may
// not show them yet); nothing is checked while a full rewrite is pending
// or after one that came after asOf.
func (t *Table) Check(k *Kernel, asOf uint64) []string {
	if t.full || asOf < t.fullAt {
		return nil
	}
	defer t.pruneChangedAt(asOf)
	if !k.Exists {
		if asOf < t.generation {
			return nil // a later commit failed on the missing table, or made it anew
		}
		t.Failed()
		return []string{fmt.Sprintf("table %s %s is missing", t.family, t.name)}
	}
	var found []string
	// ok reports whether one object is as committed.
	ok := func(kind, name string, want int, pending bool, have Fingerprint, present bool, verified map[string]Fingerprint) bool {
		v, known := verified[name]
		switch {
		case t.changedSince(kind, name, asOf):
			return true // written after the listing; verified next time
		case !known && pending:
			return true // its pending change rewrites it; verified next time
		case !present:
			found = append(found, fmt.Sprintf("%s %s is missing", kind, name))
		case known && v != have:
			found = append(found, fmt.Sprintf("%s %s was changed", kind, name))
		case !known && have.Count != want:
			found = append(found, fmt.Sprintf("%s %s holds %d entries, want %d", kind, name, have.Count, want))
		default:
			verified[name] = have
			return true
		}
		delete(verified, name)
		return false
	}
	for _, name := range t.ChainNames() {
		_, pending := t.dirtyChains[name]
		have, present := k.Chains[name]
		if !ok("chain", name, len(t.chains[name].Rules), pending, have, present, t.verified.Chains) {
			t.dirtyChains[name] = struct{}{}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.sets)) {
		_, added := t.addedElems[name]
		_, deleted := t.deletedElems[name]
		_, isNew := t.newSets[name]
		if isNew {
			continue
		}
		have, present := k.Sets[name]
		if !ok("set", name, len(t.sets[name].elements), added || deleted, have, present, t.verified.Sets) {
			t.resetSets[name] = struct{}{}
			delete(t.addedElems, name)
			delete(t.deletedElems, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.maps)) {
		_, dirty := t.dirtyKeys[name]
		if _, isNew := t.newMaps[name]; isNew {
			continue
		}
		have, present := k.Maps[name]
		if !ok("map", name, len(t.maps[name].elements), dirty, have, present, t.verified.Maps) {
			t.resetMaps[name] = struct{}{}
			delete(t.dirtyKeys, name)
		}
	}
	// Objects that are not ours, in our table (or ours, deleted after the
	// listing).
	for _, name := range slices.Sorted(maps.Keys(k.Chains)) {
		_, pending := t.dirtyChains[name]
		if _, want := t.chains[name]; !want && !pending && !t.changedSince("chain", name, asOf) {
			found = append(found, fmt.Sprintf("chain %s is not ours", name))
			t.dirtyChains[name] = struct{}{}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(k.Sets)) {
		_, pending := t.deletedSets[name]
		if _, want := t.sets[name]; !want && !pending && !t.changedSince("set", name, asOf) {
			found = append(found, fmt.Sprintf("set %s is not ours", name))
			t.deletedSets[name] = &Set{}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(k.Maps)) {
		_, pending := t.deletedMaps[name]
		if _, want := t.maps[name]; !want && !pending && !t.changedSince("map", name, asOf) {
			found = append(found, fmt.Sprintf("map %s is not ours", name))
			t.deletedMaps[name] = &Map{}
		}
	}
	return found
}

// changedSince reports whether an object was written or deleted by a
// commit after asOf.
func (t *Table) changedSince(kind, name string, asOf uint64) bool {
	switch kind {
	case "chain":
		return t.changedAt.chains[name] > asOf
	case "set":
		return t.changedAt.sets[name] > asOf
	}
	return t.changedAt.maps[name] > asOf
}

// pruneChangedAt forgets what no later Check can need: listings are
// taken after asOf from now on.
func (t *Table) pruneChangedAt(asOf uint64) {
	for _, m := range []map[string]uint64{t.changedAt.chains, t.changedAt.sets, t.changedAt.maps} {
		for n, g := range m {
			if g <= asOf {
				delete(m, n)
			}
		}
	}
}

// Dirty reports whether there is anything to program.
func (t *Table) Dirty() bool {
	return t.full || len(t.dirtyChains) > 0 || len(t.newSets) > 0 || len(t.deletedSets) > 0 ||
		len(t.addedElems) > 0 || len(t.deletedElems) > 0 || len(t.newMaps) > 0 || len(t.deletedMaps) > 0 ||
		len(t.dirtyKeys) > 0 || len(t.resetSets) > 0 || len(t.resetMaps) > 0
}

// Committed records that the last script was applied.
func (t *Table) Committed() {
	for name, m := range t.maps {
		if _, reset := t.resetMaps[name]; reset || t.full {
			m.kernel = maps.Clone(m.elements)
		}
	}
	t.generation++
	if t.full {
		t.resetVerified()
		t.fullAt = t.generation
	}
	for n := range t.dirtyChains {
		delete(t.verified.Chains, n)
		t.changedAt.chains[n] = t.generation
	}
	for _, changed := range []map[string]struct{}{t.newSets, t.resetSets, keySet(t.addedElems), keySet(t.deletedElems), keySet(t.deletedSets)} {
		for n := range changed {
			delete(t.verified.Sets, n)
			t.changedAt.sets[n] = t.generation
		}
	}
	for _, changed := range []map[string]struct{}{t.newMaps, t.resetMaps, keySet(t.dirtyKeys), keySet(t.deletedMaps)} {
		for n := range changed {
			delete(t.verified.Maps, n)
			t.changedAt.maps[n] = t.generation
		}
	}
	for name, keys := range t.dirtyKeys {
		m := t.maps[name]
		for k := range keys {
			if v, ok := m.elements[k]; ok {
				m.kernel[k] = v
			} else {
				delete(m.kernel, k)
			}
		}
	}
	t.resetPending()
	t.full = false
	t.staleChains, t.staleSets, t.staleMaps = nil, nil, nil
}

// Failed records that the last script was not applied (or not known to
// be): the next one rewrites everything.
func (t *Table) Failed() {
	t.resetPending()
	t.full = true
}

// elementBatch bounds the elements per command, keeping lines short.
const elementBatch = 1000

// Script renders the pending changes as one nft transaction.
func (t *Table) Script() string {
	var b strings.Builder
	tbl := t.family + " " + t.name
	fmt.Fprintf(&b, "add table %s\n", tbl)
	if t.full {
		t.fullScript(&b, tbl)
		return b.String()
	}
	// Declarations.
	for _, n := range slices.Sorted(maps.Keys(t.newSets)) {
		writeSetDecl(&b, tbl, n, t.sets[n])
	}
	for _, n := range slices.Sorted(maps.Keys(t.newMaps)) {
		fmt.Fprintf(&b, "add map %s %s { type %s; }\n", tbl, n, t.maps[n].Type)
	}
	for _, n := range slices.Sorted(maps.Keys(t.resetSets)) {
		writeSetDecl(&b, tbl, n, t.sets[n])
		fmt.Fprintf(&b, "flush set %s %s\n", tbl, n)
	}
	for _, n := range slices.Sorted(maps.Keys(t.resetMaps)) {
		fmt.Fprintf(&b, "add map %s %s { type %s; }\n", tbl, n, t.maps[n].Type)
		fmt.Fprintf(&b, "flush map %s %s\n", tbl, n)
	}
	var rewrite, remove []string
	for _, n := range slices.Sorted(maps.Keys(t.dirtyChains)) {
		if _, ok := t.chains[n]; ok {
			rewrite = append(rewrite, n)
		} else {
			remove = append(remove, n)
		}
	}
	for _, n := range rewrite {
		writeChainDecl(&b, tbl, n, t.chains[n])
	}
	// Elements.
	for _, n := range slices.Sorted(maps.Keys(t.addedElems)) {
		writeElements(&b, "add", tbl, n, slices.Sorted(maps.Keys(t.addedElems[n])))
	}
	for _, n := range slices.Sorted(maps.Keys(t.resetSets)) {
		writeElements(&b, "add", tbl, n, slices.Sorted(maps.Keys(t.sets[n].elements)))
	}
	for _, n := range slices.Sorted(maps.Keys(t.resetMaps)) {
		writeElements(&b, "add", tbl, n, t.mapElements(n))
	}
	for _, n := range slices.Sorted(maps.Keys(t.dirtyKeys)) {
		if _, isNew := t.newMaps[n]; isNew {
			t.maps[n].kernel = map[string]string{}
		}
		del, add := t.mapChanges(n)
		writeElements(&b, "delete", tbl, n, del)
		writeElements(&b, "add", tbl, n, add)
	}
	// Chain contents.
	for _, n := range rewrite {
		writeChainRules(&b, tbl, n, t.chains[n], true)
	}
	for _, n := range slices.Sorted(maps.Keys(t.deletedElems)) {
		writeElements(&b, "delete", tbl, n, slices.Sorted(maps.Keys(t.deletedElems[n])))
	}
	// Removals.
	for _, n := range remove {
		fmt.Fprintf(&b, "flush chain %s %s\n", tbl, n)
	}
	for _, n := range remove {
		fmt.Fprintf(&b, "delete chain %s %s\n", tbl, n)
	}
	for _, n := range slices.Sorted(maps.Keys(t.deletedMaps)) {
		fmt.Fprintf(&b, "delete map %s %s\n", tbl, n)
	}
	for _, n := range slices.Sorted(maps.Keys(t.deletedSets)) {
		fmt.Fprintf(&b, "delete set %s %s\n", tbl, n)
	}
	return b.String()
}

// mapElements renders all of a map's desired elements.
func (t *Table) mapElements(name string) []string {
	m := t.maps[name]
	var elems []string
	for _, k := range slices.Sorted(maps.Keys(m.elements)) {
		elems = append(elems, k+" : "+m.elements[k])
	}
	return elems
}

// fullScript rewrites everything: the kernel may hold anything of ours.
func (t *Table) fullScript(b *strings.Builder, tbl string) {
	chains := t.ChainNames()
	for _, n := range slices.Sorted(maps.Keys(t.sets)) {
		writeSetDecl(b, tbl, n, t.sets[n])
		fmt.Fprintf(b, "flush set %s %s\n", tbl, n)
	}
	for _, n := range slices.Sorted(maps.Keys(t.maps)) {
		fmt.Fprintf(b, "add map %s %s { type %s; }\n", tbl, n, t.maps[n].Type)
		fmt.Fprintf(b, "flush map %s %s\n", tbl, n)
	}
	for _, n := range chains {
		writeChainDecl(b, tbl, n, t.chains[n])
	}
	for _, n := range slices.Sorted(maps.Keys(t.sets)) {
		writeElements(b, "add", tbl, n, slices.Sorted(maps.Keys(t.sets[n].elements)))
	}
	for _, n := range slices.Sorted(maps.Keys(t.maps)) {
		writeElements(b, "add", tbl, n, t.mapElements(n))
	}
	for _, n := range chains {
		writeChainRules(b, tbl, n, t.chains[n], true)
	}
	// Stale objects from an earlier run.
	var stale []string
	for n := range t.staleChains {
		if _, ok := t.chains[n]; !ok {
			stale = append(stale, n)
		}
	}
	slices.Sort(stale)
	for _, n := range stale {
		fmt.Fprintf(b, "flush chain %s %s\n", tbl, n)
	}
	for _, n := range stale {
		fmt.Fprintf(b, "delete chain %s %s\n", tbl, n)
	}
	for _, n := range slices.Sorted(maps.Keys(t.staleMaps)) {
		if _, ok := t.maps[n]; !ok {
			fmt.Fprintf(b, "delete map %s %s\n", tbl, n)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(t.staleSets)) {
		if _, ok := t.sets[n]; !ok {
			fmt.Fprintf(b, "delete set %s %s\n", tbl, n)
		}
	}
}

func writeSetDecl(b *strings.Builder, tbl, name string, s *Set) {
	flags := ""
	if s.Interval {
		flags = " flags interval;"
	}
	fmt.Fprintf(b, "add set %s %s { type %s;%s }\n", tbl, name, s.Type, flags)
}

func writeChainDecl(b *strings.Builder, tbl, name string, c *Chain) {
	if c.Base == nil {
		if c.Comment != "" {
			fmt.Fprintf(b, "add chain %s %s { comment %q; }\n", tbl, name, c.Comment)
			return
		}
		fmt.Fprintf(b, "add chain %s %s\n", tbl, name)
		return
	}
	policy := c.Base.Policy
	if policy == "" {
		policy = "accept"
	}
	fmt.Fprintf(b, "add chain %s %s { type %s hook %s priority %s; policy %s; }\n", tbl, name, c.Base.Type, c.Base.Hook, c.Base.Priority, policy)
}

func writeChainRules(b *strings.Builder, tbl, name string, c *Chain, flush bool) {
	if flush {
		fmt.Fprintf(b, "flush chain %s %s\n", tbl, name)
	}
	for _, r := range c.Rules {
		fmt.Fprintf(b, "add rule %s %s %s\n", tbl, name, r)
	}
}

func writeElements(b *strings.Builder, verb, tbl, name string, elems []string) {
	for len(elems) > 0 {
		n := min(len(elems), elementBatch)
		fmt.Fprintf(b, "%s element %s %s { %s }\n", verb, tbl, name, strings.Join(elems[:n], ", "))
		elems = elems[n:]
	}
}

// ElementChanges returns the pending changes when they are nothing but
// elements added to and deleted from sets the kernel has (a DNS
// answer's addresses, a pod's address): those can be written without a
// script (NetlinkElements). ok is false when anything else is pending,
// or nothing is.
func (t *Table) ElementChanges() (add, del map[string][]string, ok bool) {
	if t.full || len(t.dirtyChains)+len(t.newSets)+len(t.deletedSets)+len(t.newMaps)+len(t.deletedMaps)+len(t.dirtyKeys)+
		len(t.resetSets)+len(t.resetMaps)+len(t.staleChains)+len(t.staleSets)+len(t.staleMaps) > 0 {
		return nil, nil, false
	}
	collect := func(m map[string]map[string]struct{}) map[string][]string {
		out := map[string][]string{}
		for name, elems := range m {
			if len(elems) > 0 {
				out[name] = slices.Sorted(maps.Keys(elems))
			}
		}
		return out
	}
	add, del = collect(t.addedElems), collect(t.deletedElems)
	return add, del, len(add)+len(del) > 0
}

// SetDecl is a desired set's declaration.
func (t *Table) SetDecl(name string) (typ string, interval, ok bool) {
	s := t.sets[name]
	if s == nil {
		return "", false, false
	}
	return s.Type, s.Interval, true
}
