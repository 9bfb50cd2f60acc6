package nft

import (
	"context"
	"strings"
	"testing"

	"github.com/calicong/calico/internal/lab/netnstest"
)

func apply(t *testing.T, r Runner, tbl *Table) {
	t.Helper()
	script := tbl.Script()
	if err := r.Apply(context.Background(), script); err != nil {
		tbl.Failed()
		t.Fatalf("apply: %v\nscript:\n%s", err, script)
	}
	tbl.Committed()
}

func list(t *testing.T, r Runner) string {
	t.Helper()
	out, err := r.List(context.Background(), "inet", "calico")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIncrementalChangesReachTheKernel(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.New(t, "nft")
	r := Runner{Prefix: netnstest.Exec(ns)}
	tbl := NewTable("inet", "calico")
	tbl.EnsureSet("s1", "ipv4_addr", true)
	tbl.AddElements("s1", "10.0.0.1", "10.1.0.0/16")
	tbl.EnsureMap("dispatch", "ifname : verdict")
	tbl.SetChain("ep-a", &Chain{Rules: []string{"ip saddr @s1 accept", "drop"}})
	tbl.SetMapElement("dispatch", `"cali-a"`, "goto ep-a")
	tbl.SetChain("filter-forward", &Chain{Base: &BaseChain{Type: "filter", Hook: "forward", Priority: "filter"}, Rules: []string{"iifname vmap @dispatch"}})
	apply(t, r, tbl)
	got := list(t, r)
	for _, want := range []string{"10.1.0.0/16", `"cali-a" : goto ep-a`, "ip saddr @s1 accept", "type filter hook forward priority filter; policy accept;"} {
		if !strings.Contains(got, want) {
			t.Errorf("kernel lacks %q:\n%s", want, got)
		}
	}

	// An incremental step: new chain and element, a changed chain, a
	// removed chain (still referenced by the map until its element goes),
	// set elements both ways.
	tbl.SetChain("ep-b", &Chain{Rules: []string{"accept"}})
	tbl.SetMapElement("dispatch", `"cali-b"`, "goto ep-b")
	tbl.DeleteMapElement("dispatch", `"cali-a"`)
	tbl.DeleteChain("ep-a")
	tbl.AddElements("s1", "10.2.0.1")
	tbl.DeleteElements("s1", "10.0.0.1")
	script := tbl.Script()
	if strings.Contains(script, "ep-b") && !strings.Contains(script, "flush chain inet calico ep-a") {
		t.Errorf("deleting a chain must flush it first:\n%s", script)
	}
	if strings.Contains(script, "filter-forward") {
		t.Errorf("an unchanged chain was rewritten:\n%s", script)
	}
	apply(t, r, tbl)
	got = list(t, r)
	if strings.Contains(got, "ep-a") || strings.Contains(got, "10.0.0.1,") || !strings.Contains(got, "10.2.0.1") || !strings.Contains(got, `"cali-b" : goto ep-b`) {
		t.Errorf("after the incremental step:\n%s", got)
	}

	// A map element that changes verdict, and one added then removed in
	// the same step (which must not reach the kernel at all).
	tbl.SetChain("ep-c", &Chain{Rules: []string{"drop"}})
	tbl.SetMapElement("dispatch", `"cali-b"`, "goto ep-c")
	tbl.SetMapElement("dispatch", `"cali-x"`, "goto ep-c")
	tbl.DeleteMapElement("dispatch", `"cali-x"`)
	apply(t, r, tbl)
	if got = list(t, r); !strings.Contains(got, `"cali-b" : goto ep-c`) || strings.Contains(got, "cali-x") {
		t.Errorf("after changing a map element:\n%s", got)
	}

	// Nothing changed: nothing but the idempotent table declaration.
	if s := tbl.Script(); strings.Count(s, "\n") != 1 {
		t.Errorf("script with no changes:\n%s", s)
	}
}

func TestStartOverAnExistingTable(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.New(t, "nft")
	r := Runner{Prefix: netnstest.Exec(ns)}
	old := NewTable("inet", "calico")
	old.EnsureSet("gone", "ipv4_addr", false)
	old.EnsureSet("kept", "ipv4_addr", false)
	old.AddElements("kept", "10.0.0.1", "10.0.0.2")
	old.EnsureMap("dispatch", "ifname : verdict")
	old.SetChain("stale", &Chain{Rules: []string{"ip saddr @gone drop"}})
	old.SetMapElement("dispatch", `"cali-old"`, "goto stale")
	old.SetChain("kept-chain", &Chain{Rules: []string{"jump stale"}})
	apply(t, r, old)

	// A new process: it knows only what the kernel lists.
	k, err := r.Read(context.Background(), "inet", "calico")
	if err != nil {
		t.Fatal(err)
	}
	if !k.Exists || len(k.Chains) != 2 || len(k.Sets) != 2 || len(k.Maps) != 1 {
		t.Fatalf("existing: %+v", k)
	}
	tbl := NewTable("inet", "calico")
	tbl.Existing(k)
	tbl.EnsureSet("kept", "ipv4_addr", false)
	tbl.AddElements("kept", "10.0.0.2", "10.0.0.3")
	tbl.EnsureMap("dispatch", "ifname : verdict")
	tbl.SetChain("kept-chain", &Chain{Rules: []string{"accept"}})
	apply(t, r, tbl)
	got := list(t, r)
	for _, gone := range []string{"stale", "set gone", "cali-old", "10.0.0.1"} {
		if strings.Contains(got, gone) {
			t.Errorf("%q survived the rewrite:\n%s", gone, got)
		}
	}
	if !strings.Contains(got, "10.0.0.3") || !strings.Contains(got, "chain kept-chain {\n\t\taccept") {
		t.Errorf("after the rewrite:\n%s", got)
	}
	if k, err := r.Read(context.Background(), "inet", "nosuch"); err != nil || k.Exists || k.Chains != nil {
		t.Errorf("a missing table reads as %+v, %v", k, err)
	}
}
