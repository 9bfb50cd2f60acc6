package nft

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/calicong/calico/internal/lab/netnstest"
)

// check reads the kernel and runs Table.Check.
func check(t *testing.T, r Runner, tbl *Table) []string {
	t.Helper()
	asOf := tbl.Generation()
	k, err := r.Read(context.Background(), "inet", "calico")
	if err != nil {
		t.Fatal(err)
	}
	return tbl.Check(k, asOf)
}

// nftIn runs one nft command in the namespace, as an intruder would.
func nftIn(t *testing.T, r Runner, args ...string) {
	t.Helper()
	argv := append(append(slices.Clone(r.Prefix), "nft"), args...)
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("nft %v: %v: %s", args, err, out)
	}
}

func repairTable() *Table {
	tbl := NewTable("inet", "calico")
	tbl.EnsureSet("s4", "ipv4_addr", true)
	tbl.AddElements("s4", "10.0.0.1", "10.1.0.0/16", "10.2.0.0/24")
	tbl.EnsureSet("s6", "ipv6_addr", true)
	tbl.AddElements("s6", "fd00::1", "fd00:1::/64")
	tbl.EnsureSet("ports", "ipv4_addr . inet_proto . inet_service", false)
	tbl.AddElements("ports", "10.0.0.1 . 6 . 80", "10.0.0.2 . 17 . 53")
	tbl.EnsureMap("dispatch", "ifname : verdict")
	tbl.SetChain("ep-a", &Chain{Comment: "endpoint a", Rules: []string{
		"ct state established,related accept",
		"meta nfproto ipv4 ip saddr != { 10.0.0.1, 10.0.0.5 } counter drop comment \"spoofed source\"",
		"ip saddr @s4 tcp dport { 80, 443 } counter accept",
		"ip saddr . meta l4proto . th dport @ports accept",
		"ip6 saddr @s6 accept",
		"meta mark & 0x00010000 == 0x00010000 return",
		"counter drop",
	}})
	tbl.SetChain("ep-b", &Chain{Rules: []string{"accept"}})
	tbl.SetMapElement("dispatch", `"cali-a"`, "goto ep-a")
	tbl.SetMapElement("dispatch", `"cali-b"`, "goto ep-b")
	tbl.SetChain("filter-forward", &Chain{Base: &BaseChain{Type: "filter", Hook: "forward", Priority: "filter"}, Rules: []string{"iifname vmap @dispatch", "oifname vmap @dispatch"}})
	return tbl
}

// TestCheckRepairsWhatWasChanged programs a table, changes the kernel
// behind its back in every way an operator or another program could, and
// requires each change to be found and undone in one transaction that
// touches only what differs; a table left alone is never "repaired".
func TestCheckRepairsWhatWasChanged(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.New(t, "nftfix")
	r := Runner{Prefix: netnstest.Exec(ns)}
	tbl := repairTable()
	apply(t, r, tbl)
	want := list(t, r)

	// Left alone: nothing to repair, first by counts (nothing verified
	// yet), then by fingerprints; an incremental change is verified by
	// count again and by fingerprint after.
	for i := 0; i < 2; i++ {
		if found := check(t, r, tbl); len(found) != 0 || tbl.Dirty() {
			t.Fatalf("check %d of an untouched table found %v", i, found)
		}
	}
	tbl.AddElements("s4", "10.3.0.1")
	tbl.SetChain("ep-b", &Chain{Rules: []string{"counter accept"}})
	apply(t, r, tbl)
	for i := 0; i < 2; i++ {
		if found := check(t, r, tbl); len(found) != 0 {
			t.Fatalf("check %d after an incremental change found %v", i, found)
		}
	}
	want = list(t, r)

	handleOf := func(chain, text string) string {
		t.Helper()
		argv := append(append(slices.Clone(r.Prefix), "nft"), "-a", "list", "chain", "inet", "calico", chain)
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, text) {
				return l[strings.LastIndex(l, " ")+1:]
			}
		}
		t.Fatalf("no rule %q in %s:\n%s", text, chain, out)
		return ""
	}
	cases := []struct {
		name    string
		tamper  func()
		finding string
		script  []string // what the repair must contain
		spared  []string // what it must leave alone
	}{
		{"set element deleted", func() { nftIn(t, r, "delete", "element", "inet", "calico", "s4", "{ 10.1.0.0/16 }") },
			"set s4 was changed", []string{"flush set inet calico s4", "10.1.0.0/16"}, []string{"chain inet calico ep-a", "set inet calico s6", "map inet calico dispatch"}},
		{"set element added", func() { nftIn(t, r, "add", "element", "inet", "calico", "s6", "{ fd00:9::9 }") },
			"set s6 was changed", []string{"flush set inet calico s6"}, []string{"chain inet calico ep-a", "set inet calico s4"}},
		{"rule replaced in place", func() {
			nftIn(t, r, "replace", "rule", "inet", "calico", "ep-a", "handle", handleOf("ep-a", "ip6 saddr @s6"), "accept")
		}, "chain ep-a was changed", []string{"flush chain inet calico ep-a", "ip6 saddr @s6 accept"}, []string{"chain inet calico ep-b", "set inet calico s4"}},
		{"chain flushed", func() { nftIn(t, r, "flush", "chain", "inet", "calico", "filter-forward") },
			"chain filter-forward was changed", []string{"iifname vmap @dispatch"}, []string{"chain inet calico ep-a", "set inet calico s4"}},
		{"map element deleted", func() { nftIn(t, r, "delete", "element", "inet", "calico", "dispatch", `{ "cali-b" }`) },
			"map dispatch was changed", []string{"flush map inet calico dispatch", `"cali-a" : goto ep-a`, `"cali-b" : goto ep-b`}, []string{"flush chain"}},
		{"foreign chain and set", func() {
			nftIn(t, r, "add", "chain", "inet", "calico", "intruder")
			nftIn(t, r, "add", "set", "inet", "calico", "intruders", "{ type ipv4_addr; }")
		}, "chain intruder is not ours", []string{"delete chain inet calico intruder", "delete set inet calico intruders"}, []string{"chain inet calico ep-a", "set inet calico s4"}},
		{"table deleted", func() { nftIn(t, r, "delete", "table", "inet", "calico") },
			"table inet calico is missing", []string{"add rule inet calico ep-a", "10.1.0.0/16"}, nil},
		{"ruleset flushed", func() { nftIn(t, r, "flush", "ruleset") },
			"table inet calico is missing", []string{"add rule inet calico filter-forward"}, nil},
	}
	for _, c := range cases {
		c.tamper()
		found := check(t, r, tbl)
		if !slices.Contains(found, c.finding) {
			t.Errorf("%s: check found %v, want %q", c.name, found, c.finding)
		}
		script := tbl.Script()
		for _, s := range c.script {
			if !strings.Contains(script, s) {
				t.Errorf("%s: repair lacks %q:\n%s", c.name, s, script)
			}
		}
		for _, s := range c.spared {
			if strings.Contains(script, s) {
				t.Errorf("%s: repair touches %q, which was intact:\n%s", c.name, s, script)
			}
		}
		apply(t, r, tbl)
		if got := list(t, r); got != want {
			t.Errorf("%s: after the repair the kernel holds\n%s\nwant\n%s", c.name, got, want)
		}
		for i := 0; i < 2; i++ {
			if found := check(t, r, tbl); len(found) != 0 {
				t.Errorf("%s: check %d after the repair found %v", c.name, i, found)
			}
		}
	}
}

// TestFingerprintIgnoresCountersAndExpiry: traffic and time change what
// nft lists without anyone changing the table.
func TestFingerprintIgnoresCountersAndExpiry(t *testing.T) {
	listing := func(packets, bytes, expires string) []byte {
		return []byte(`{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "inet", "name": "calico", "handle": 1}},
{"set": {"family": "inet", "name": "s", "table": "calico", "type": "ipv4_addr", "handle": 2, "flags": ["timeout"], "elem": [{"elem": {"val": "10.0.0.1", "timeout": 60, "expires": ` + expires + `}}]}},
{"chain": {"family": "inet", "table": "calico", "name": "c", "handle": 3}},
{"rule": {"family": "inet", "table": "calico", "chain": "c", "handle": 4, "expr": [{"counter": {"packets": ` + packets + `, "bytes": ` + bytes + `}}, {"drop": null}]}}]}`)
	}
	a, err := ParseKernel(listing("0", "0", "59000"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseKernel(listing("1234", "99999", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Chains["c"] != b.Chains["c"] || a.Sets["s"] != b.Sets["s"] {
		t.Errorf("fingerprints differ with counters and expiry: %+v vs %+v", a, b)
	}
	if a.Chains["c"].Count != 1 || a.Sets["s"].Count != 1 {
		t.Errorf("counts: %+v", a)
	}
	c, _ := ParseKernel([]byte(strings.Replace(string(listing("0", "0", "1")), `{"drop": null}`, `{"accept": null}`, 1)))
	if c.Chains["c"] == a.Chains["c"] {
		t.Error("a changed verdict keeps its fingerprint")
	}
}

// TestCheckOfAnOlderListing: the listing is read without the dataplane's
// lock, so commits can land between it and Check. What they wrote (or
// deleted) is left alone, not "repaired" from the older listing; what
// someone else changed in untouched objects is still found.
func TestCheckOfAnOlderListing(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.New(t, "nftold")
	r := Runner{Prefix: netnstest.Exec(ns)}
	tbl := repairTable()
	tbl.SetChain("ep-c", &Chain{Rules: []string{"drop"}})
	apply(t, r, tbl)
	if found := check(t, r, tbl); len(found) != 0 {
		t.Fatalf("untouched: %v", found)
	}
	nftIn(t, r, "delete", "element", "inet", "calico", "s6", "{ fd00::1 }") // someone else
	asOf := tbl.Generation()
	old, err := r.Read(context.Background(), "inet", "calico")
	if err != nil {
		t.Fatal(err)
	}
	// Our own changes, committed after the listing.
	tbl.SetChain("ep-b", &Chain{Rules: []string{"counter", "accept"}})
	tbl.AddElements("s4", "10.9.0.1")
	tbl.SetMapElement("dispatch", `"cali-c"`, "goto ep-c")
	tbl.SetChain("ep-new", &Chain{Rules: []string{"accept"}})
	tbl.DeleteMapElement("dispatch", `"cali-b"`)
	tbl.DeleteChain("ep-b")
	apply(t, r, tbl)
	found := tbl.Check(old, asOf)
	if !slices.Equal(found, []string{"set s6 was changed"}) {
		t.Errorf("check of a listing older than our commit found %v, want only the foreign change to s6", found)
	}
	script := tbl.Script()
	for _, spared := range []string{"ep-new", "ep-b", "set inet calico s4", "map inet calico dispatch"} {
		if strings.Contains(script, spared) {
			t.Errorf("the repair touches %q, which we changed after the listing:\n%s", spared, script)
		}
	}
	apply(t, r, tbl)
	for i := 0; i < 2; i++ {
		if found := check(t, r, tbl); len(found) != 0 {
			t.Errorf("check %d after the repair found %v", i, found)
		}
	}
	// A listing older than a full rewrite says nothing.
	asOf = tbl.Generation()
	old, _ = r.Read(context.Background(), "inet", "calico")
	nftIn(t, r, "flush", "ruleset")
	tbl.Failed()
	apply(t, r, tbl)
	if found := tbl.Check(old, asOf); len(found) != 0 {
		t.Errorf("a listing older than a full rewrite found %v", found)
	}
}
