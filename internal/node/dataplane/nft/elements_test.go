package nft

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/calicong/calico/internal/lab/netnstest"
)

// TestNetlinkElements: element changes written over netlink are what nft
// lists afterwards, in interval and plain sets of both families; what it
// cannot write is refused before anything is written.
func TestNetlinkElements(t *testing.T) {
	netnstest.Require(t)
	ns := netnstest.New(t, "nftel")
	r := Runner{Prefix: netnstest.Exec(ns)}
	ctx := context.Background()
	tbl := NewTable("inet", "eltest")
	tbl.EnsureSet("v4", "ipv4_addr", true)
	tbl.EnsureSet("v6", "ipv6_addr", true)
	tbl.EnsureSet("plain", "ipv4_addr", false)
	tbl.EnsureSet("ports", "ipv4_addr . inet_proto . inet_service", false)
	tbl.AddElements("v4", "10.0.0.0/24", "192.0.2.1")
	if err := r.Apply(ctx, tbl.Script()); err != nil {
		t.Fatal(err)
	}
	tbl.Committed()

	elements := func(set string) []string {
		out, err := r.List(ctx, "inet", "eltest")
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(out, "set "+set+" {")
		body, _, _ := strings.Cut(rest, "}")
		_, list, ok := strings.Cut(body, "elements = {")
		if !ok {
			return nil
		}
		var es []string
		for _, e := range strings.Split(list, ",") {
			if e = strings.TrimSpace(e); e != "" {
				es = append(es, e)
			}
		}
		slices.Sort(es)
		return es
	}
	w := NetlinkElements{NetNS: ns}
	tbl.AddElements("v4", "192.0.2.10", "192.0.2.11")
	tbl.DeleteElements("v4", "192.0.2.1")
	tbl.AddElements("v6", "2001:db8::7")
	tbl.AddElements("plain", "198.51.100.1")
	add, del, ok := tbl.ElementChanges()
	if !ok {
		t.Fatal("only elements changed, but ElementChanges says otherwise")
	}
	if err := w.Apply("inet", "eltest", tbl.SetDecl, add, del); err != nil {
		t.Fatal(err)
	}
	tbl.Committed()
	for set, want := range map[string][]string{"v4": {"10.0.0.0/24", "192.0.2.10", "192.0.2.11"}, "v6": {"2001:db8::7"}, "plain": {"198.51.100.1"}} {
		if got := elements(set); !slices.Equal(got, want) {
			t.Errorf("set %s: nft lists %v, want %v", set, got, want)
		}
	}
	// A script writes the next change to the same sets as before.
	tbl.DeleteElements("v4", "192.0.2.10")
	if err := r.Apply(ctx, tbl.Script()); err != nil {
		t.Fatalf("a script after netlink writes: %v", err)
	}
	tbl.Committed()
	if got := elements("v4"); !slices.Equal(got, []string{"10.0.0.0/24", "192.0.2.11"}) {
		t.Errorf("after the script: %v", got)
	}

	// Not for netlink: a prefix, a concatenation, a new set.
	for what, change := range map[string]func(){
		"a prefix":        func() { tbl.AddElements("v4", "10.1.0.0/16") },
		"a concatenation": func() { tbl.AddElements("ports", "10.0.0.1 . 6 . 80") },
	} {
		change()
		add, del, ok := tbl.ElementChanges()
		if !ok {
			t.Fatalf("%s: not element changes", what)
		}
		if err := w.Apply("inet", "eltest", tbl.SetDecl, add, del); !errors.Is(err, ErrElementsUnsupported) {
			t.Errorf("%s: %v, want ErrElementsUnsupported", what, err)
		}
		if err := r.Apply(ctx, tbl.Script()); err != nil {
			t.Fatal(err)
		}
		tbl.Committed()
	}
	tbl.EnsureSet("new", "ipv4_addr", true)
	tbl.AddElements("v4", "192.0.2.99")
	if _, _, ok := tbl.ElementChanges(); ok {
		t.Error("a new set counts as element changes")
	}
}
