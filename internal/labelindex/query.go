package labelindex

import (
	"iter"
	"slices"

	"github.com/calicong/calico/internal/selector"
)

// The queries are for tools and tests. They use their own scratch space, so
// they may be nested, but the index must not change while one is running.

// Matches returns the items that selector sel currently matches, in no
// particular order. It evaluates sel only against candidate items, like
// UpdateSelector does.
func (x *Index[I, S]) Matches(sel S) iter.Seq[I] {
	return func(yield func(I) bool) {
		s, ok := x.selIDs[sel]
		if !ok {
			return
		}
		r := *x.sels.at(s)
		v := &view{st: &x.st}
		x.forEachGroup(&r, func(g uint32) bool {
			x.groupView(g, v)
			if !r.sel.EvaluateLabels(v) {
				return true
			}
			for it := x.groups.at(g).items; it != 0; it = x.items.at(it).next {
				if !yield(x.items.at(it).id) {
					return false
				}
			}
			return true
		})
	}
}

// SelectorsMatching returns the selectors that currently match item id, in
// no particular order.
func (x *Index[I, S]) SelectorsMatching(id I) iter.Seq[S] {
	return func(yield func(S) bool) {
		it, _ := x.findItem(id)
		if it == 0 {
			return
		}
		v := &view{st: &x.st}
		x.groupView(x.items.at(it).group, v)
		candidates := v.appendSels(slices.Clone(x.scan))
		for _, s := range candidates {
			r := x.sels.at(s)
			if r.sel.EvaluateLabels(v) && !yield(r.id) {
				return
			}
		}
	}
}

// Labels returns the effective labels of item id: its own, and those of its
// parents that it does not have itself, earlier parents first. The result is
// a copy.
func (x *Index[I, S]) Labels(id I) (selector.Labels, bool) {
	it, _ := x.findItem(id)
	if it == 0 {
		return nil, false
	}
	v := &view{st: &x.st}
	x.groupView(x.items.at(it).group, v)
	m := selector.Map{}
	v.effective(func(t uint32) {
		tm := x.st.terms.at(t)
		m[tm.key] = tm.val
	})
	return m, true
}

// Len returns the number of items and of selectors in the index.
func (x *Index[I, S]) Len() (items, selectors int) {
	return x.itemChains.n, len(x.selIDs)
}
