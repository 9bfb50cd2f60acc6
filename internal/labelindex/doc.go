// Package labelindex tells which selectors match which labelled items, where
// items inherit labels from parents, and reports every change as it happens.
//
// It is the core of the policy engine: items are endpoints, parents are the
// profiles they inherit labels from (the namespace profile kns.<ns> gives
// every pod in it labels pcns.<k>=<v>), and selectors come from policies and
// rules. An item's effective labels are its own, then those of its parents in
// the order given; its own labels win over its parents', and earlier parents
// win over later ones. A parent that does not exist (yet, or any more) gives
// no labels.
//
// # Contract
//
// After any sequence of calls, the pairs reported started and not since
// stopped are exactly {(s, i) : selector s evaluates true on item i's
// effective labels}. Callbacks run synchronously inside the Update and Delete
// methods, only on real changes, and a pair changes at most once per call.
// Replacing an item's labels and parents with equal ones, or a selector with
// one of the same UniqueID, reports nothing and evaluates nothing. The
// callbacks must not call back into the index. The index is for one
// goroutine (the caller serialises); it starts none and takes no locks, and
// for a given sequence of calls it makes the same callbacks in the same
// order.
//
// # Data structures
//
// Everything is held in tables of small records addressed by dense uint32
// numbers (table), so that most records contain no pointers for the garbage
// collector to scan, and links between records cost 4 bytes. Lookups by key
// (items by ID, groups, label sets) use hash chains (chains) threaded through
// a 4-byte field of the records, with one or two 4-byte buckets per record,
// rather than Go maps, which cost 10 to 40 bytes per entry for these keys.
//
//   - Strings: label keys and values are interned in one table, reference
//     counted by the terms and selectors that use them and freed with the
//     last of them. Values such as pod-template-hash change with every
//     rollout, so a table that never forgot would grow for as long as the
//     process runs.
//   - Terms (postings): a value term is a label (k, v); it lists the label
//     sets that contain it, as an unordered []uint32. A key term is a key k
//     on its own; it lists the value terms of k rather than sets, so a set
//     is posted once per label, and the sets with key k are those of the
//     value terms of k. Value terms are found by a map from (k, v), key
//     terms from the string k. Each term also has a reach: for a value term
//     the number of groups that get it from their own labels or from a
//     parent (an estimate, as it ignores shadowing), for a key term the sum
//     over its values; and the selectors indexed under it. A term lives
//     while it lists anything.
//   - Label sets: each distinct set of labels is stored once, as a run of
//     8-byte pairs (value term, position of the set in that term's list),
//     sorted by key string, and shared by every item and parent with
//     exactly those labels (the pods of a Deployment share one). Joining a
//     term is an append and leaving it a swap with the last entry, fixing
//     the moved set's position: O(1) whatever the size of the term. The
//     pairs of all sets live in one arena of 64 KiB chunks, a set holding
//     the offset and length of its run; freed runs are reused by sets of
//     the same length, and the arena is compacted when idle space outgrows
//     the pairs in use. Keys and values are read from the terms (their
//     string numbers from a dense slice beside them). Sets are found by an
//     order-independent hash of their term numbers, kept in the set, so
//     looking up a map's labels needs no sorting. A set lives while a group
//     or a parent uses it.
//   - Parent lists: each distinct, de-duplicated list of parents is stored
//     once (all the pods of a namespace and service account share one).
//   - Groups: items with the same own label set and the same parent list have
//     the same effective labels, so they form a group; selectors are
//     evaluated once per group, never once per item. Items are linked into
//     their group's list, groups into the lists of their own label set and
//     of their parent list (intrusive doubly-linked lists: O(1) to join or
//     leave, no allocation, 8 bytes per member).
//   - Items: a 20-byte record (with uint32 IDs) holding the ID, the group
//     and the list links, found by hashing the ID with maphash.Comparable.
//     No labels are stored per item. Postings hold label sets rather than
//     items, so they cost nothing per item, and an item that moves between
//     existing label sets touches none.
//   - Selectors: each is indexed by one label it requires, chosen from
//     selector.Restrictions when it is added: the one whose terms reach the
//     fewest groups, under the key term of k if it only needs k present or
//     under the value terms (k, v) for each allowed value. Selectors with no
//     required label (all(), a != "x", !has(a)) go on a scan list.
//     Selectors whose restrictions contradict each other are not indexed at
//     all: they match nothing. The other restrictions are kept as filters.
//
// With the engine's endpoints (eight labels each, almost every one with a
// label set and group of its own) this comes to about 160 bytes per item:
// per label set 64 bytes of pairs, about 35 of postings (8 entries and the
// slack of growing slices), 24 for the set and 32 for its group; 20 per
// item; and 4 to 8 bytes of hash buckets per set, group and item.
//
// The match relation itself is not stored. Every change works out what
// changed by evaluating candidates before and after it; the query methods
// recompute it.
//
// # Finding candidates
//
// A selector can only match a group that has its index label, and the
// groups with label k are those whose own label set is in a value term of
// k, plus those that inherit k from a parent whose label set is in such a
// term (and have no own k and no earlier parent with k, which also means
// each group is found once). Adding, replacing or deleting a selector walks
// these, and skips the groups of an own label set that one of its filters
// rules out, without evaluating them.
//
// An item can only match a selector indexed under one of its effective
// labels, or on the scan list. Changing an item evaluates those selectors for
// its old and its new labels; nothing else can change.
//
// Changing a parent's labels re-evaluates exactly the groups whose parent
// list includes it, each once, and reports changes for their items.
//
// # Complexity
//
// With L labels per item, P parents, E effective labels, C candidate
// selectors (scan list plus those indexed under the old and new effective
// labels), and eval the cost of one selector evaluation (a binary search of
// short label sets per label test):
//
//   - UpdateLabels: O(L log L + P + E + C·eval) plus one callback per change;
//     O(L + P) with no allocation when nothing changed. Creating a new label
//     set adds O(L log L), and allocates only when a table, the arena or a
//     posting list needs another chunk or more room.
//   - DeleteLabels: O(E + C·eval).
//   - UpdateParentLabels, DeleteParentLabels: O(L log L) plus, for each group
//     that lists the parent, O(E + C·eval).
//   - UpdateSelector, DeleteSelector: O(sets in the chosen terms × filters +
//     groups reached · eval) plus one callback per item that changes; for a
//     selector on the scan list, every group is evaluated.
//   - Matches: as UpdateSelector. SelectorsMatching: O(E + C·eval).
//     Labels: O(E).
//
// Hash chains and the pair arena resize inside the call that crosses their
// threshold: a chain table doubles when it has more entries than buckets,
// shrinks when it has eight times fewer, and the arena is compacted when its
// idle pairs outnumber those in use. Each is O(size) once and O(1) amortised
// per call, like the growth of a Go map.
//
// The index chooses a selector's label once, when the selector is added; if
// the items change a lot afterwards the choice may no longer be the best,
// which costs time, never correctness.
package labelindex
