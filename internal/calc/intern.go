package calc

import "weak"

// interner shares equal immutable values (parsed selectors, IP set
// definitions) between the policies that use them, without keeping any
// alive: it holds weak pointers, and forgets entries whose values were
// collected. This keeps memory proportional to the distinct selectors in
// use, not to the number of rules.
type interner[T any] struct {
	m        map[string]weak.Pointer[T]
	nextScan int
}

func (in *interner[T]) get(key string) *T {
	if p, ok := in.m[key]; ok {
		return p.Value()
	}
	return nil
}

func (in *interner[T]) put(key string, v *T) *T {
	if in.m == nil {
		in.m = map[string]weak.Pointer[T]{}
		in.nextScan = 1024
	}
	in.m[key] = weak.Make(v)
	if len(in.m) >= in.nextScan {
		// Drop entries whose values are gone; amortised over growth.
		for k, p := range in.m {
			if p.Value() == nil {
				delete(in.m, k)
			}
		}
		in.nextScan = max(1024, 2*len(in.m))
	}
	return v
}
