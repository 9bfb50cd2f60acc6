package selector

import (
	"slices"
	"strconv"
	"strings"
	"sync"
)

// MaxLabelLen is the longest label name the language accepts.
const MaxLabelLen = 512

// MaxDepth bounds both how deeply parentheses may nest in the input and how
// deeply "&&"/"||" groups may nest in the parsed selector (and so in its
// canonical form, where every group is in parentheses). The parser,
// evaluation and printing recurse once per level, so without a bound a
// selector made of a megabyte of "(" would use gigabytes of stack and crash
// the process. Real selectors nest a few levels; this limit is not part of
// Calico's language.
const MaxDepth = 1000

// isLabelChar marks the bytes that may appear in a label: [a-zA-Z0-9_./-].
var isLabelChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_./-" {
		t[c] = true
	}
	return t
}()

// Messages for what the parser expected; the found part is added by fail.
const (
	expectOperand  = "expected a label, has(), all(), global(), ! or ("
	expectOperator = `expected "==", "!=", "in", "not in", "contains", "starts with" or "ends with" after label `
	expectEnd      = `expected "&&", "||" or end of selector`
	expectClose    = `expected "&&", "||" or ")"`
)

// pnode is a node as built by the parser, in post-order: operands are added
// before the node that uses them. build turns the finished tree into the
// pre-order form of node.
type pnode struct {
	op     op
	groups uint16 // deepest nesting of &&/|| groups in the subtree
	size   int32  // nodes in the subtree once built, itself included
	a, b   int32  // opNot: a is the operand; opAnd/opOr: kids[a:b]; label tests: a is the leaf
}

// span is the text src[from:to] of the input.
type span struct{ from, to int32 }

// pleaf is a leaf as built by the parser; a set is strs[a:b]. Like all the
// parser's scratch data it holds offsets rather than strings, so that filling
// it in involves no pointer writes (which cost a write barrier while the
// garbage collector runs).
type pleaf struct {
	label, value span
	a, b         int32
}

// parser is a recursive-descent parser working directly on the input bytes;
// labels and values are substrings of the input. Its buffers are reused
// through parserPool, so parsing allocates only the finished Selector.
type parser struct {
	src    string
	pos    int
	depth  int // parentheses open at pos
	nodes  []pnode
	leaves []pleaf // in the order of the text
	stack  []int32 // operands of the &&/|| groups being parsed
	kids   []int32 // operands of finished groups
	strs   []span  // members of in/not in sets
	err    *ParseError
}

var parserPool = sync.Pool{New: func() any { return new(parser) }}

// maxPooledNodes stops a parser that grew on a huge selector from being kept.
const maxPooledNodes = 4096

// Parse parses a selector. A blank selector is all(). Errors are *ParseError.
func Parse(s string) (*Selector, error) {
	if strings.Trim(s, " \t") == "" {
		return &Selector{}, nil
	}
	p := parserPool.Get().(*parser)
	p.src, p.pos = s, 0
	sel, err := p.parse()
	p.reset()
	if cap(p.nodes) <= maxPooledNodes && cap(p.leaves) <= maxPooledNodes && cap(p.strs) <= maxPooledNodes {
		parserPool.Put(p)
	}
	if err != nil {
		return nil, err
	}
	return sel, nil
}

// reset empties the buffers and drops the input so the pool does not keep it.
func (p *parser) reset() {
	p.nodes, p.leaves, p.stack, p.kids, p.strs = p.nodes[:0], p.leaves[:0], p.stack[:0], p.kids[:0], p.strs[:0]
	p.src, p.err, p.depth = "", nil, 0
}

func (p *parser) parse() (*Selector, error) {
	root := p.parseOr()
	if root >= 0 && p.pos < len(p.src) {
		p.fail(p.pos, expectEnd)
	}
	if p.err != nil {
		return nil, p.err
	}
	return p.build(root), nil
}

// The parse functions return the index of the node they built, or -1 after
// recording an error in p.err. Each one leaves p.pos after any whitespace
// that follows what it parsed.

func (p *parser) parseOr() int32 {
	p.skipSpace()
	start := p.pos
	first := p.parseAnd()
	if first < 0 || !p.at("||") {
		return first
	}
	base := len(p.stack)
	p.stack = append(p.stack, first)
	for p.at("||") {
		p.pos += 2
		k := p.parseAnd()
		if k < 0 {
			return -1
		}
		p.stack = append(p.stack, k)
	}
	return p.group(opOr, base, start)
}

func (p *parser) parseAnd() int32 {
	p.skipSpace()
	start := p.pos
	first := p.parseOp()
	if first < 0 || !p.at("&&") {
		return first
	}
	base := len(p.stack)
	p.stack = append(p.stack, first)
	for p.at("&&") {
		p.pos += 2
		k := p.parseOp()
		if k < 0 {
			return -1
		}
		p.stack = append(p.stack, k)
	}
	return p.group(opAnd, base, start)
}

// group turns the operands pushed since base into one &&/|| node; start is
// where the group's text begins.
func (p *parser) group(o op, base, start int) int32 {
	size, groups := int32(1), uint16(0)
	for _, k := range p.stack[base:] {
		size += p.nodes[k].size
		groups = max(groups, p.nodes[k].groups)
	}
	if groups++; groups > MaxDepth {
		p.err = &ParseError{Selector: p.src, Pos: start,
			Msg: "expected at most " + strconv.Itoa(MaxDepth) + ` nested "&&"/"||" groups, found more`}
		return -1
	}
	a := int32(len(p.kids))
	p.kids = append(p.kids, p.stack[base:]...)
	p.stack = p.stack[:base]
	return p.add(pnode{op: o, groups: groups, size: size, a: a, b: int32(len(p.kids))})
}

func (p *parser) parseOp() int32 {
	negate := false
	p.skipSpace()
	for p.pos < len(p.src) && p.src[p.pos] == '!' {
		negate = !negate
		p.pos++
		p.skipSpace()
	}
	rest := p.src[p.pos:]
	var i int32
	switch {
	case rest == "":
		return p.fail(p.pos, expectOperand)
	case rest[0] == '(':
		if p.depth == MaxDepth {
			p.err = &ParseError{Selector: p.src, Pos: p.pos,
				Msg: "expected at most " + strconv.Itoa(MaxDepth) + " nested parentheses, found more"}
			return -1
		}
		p.depth++
		p.pos++
		if i = p.parseOr(); i < 0 {
			return -1
		}
		if !p.at(")") {
			return p.fail(p.pos, expectClose)
		}
		p.pos++
		p.depth--
	case strings.HasPrefix(rest, "has("):
		p.pos += len("has(")
		p.skipSpace()
		if p.pos >= len(p.src) || !isLabelChar[p.src[p.pos]] {
			return p.fail(p.pos, `expected a label inside "has()"`)
		}
		label, ok := p.label()
		if !ok {
			return -1
		}
		p.skipSpace()
		if !p.at(")") {
			return p.fail(p.pos, `expected ")" after "has(`+p.text(label)+`"`)
		}
		p.pos++
		i = p.addLeaf(opHas, pleaf{label: label})
	case strings.HasPrefix(rest, "all("):
		if i = p.emptyCall(opAll, "all("); i < 0 {
			return -1
		}
	case strings.HasPrefix(rest, "global("):
		if i = p.emptyCall(opGlobal, "global("); i < 0 {
			return -1
		}
	case isLabelChar[rest[0]]:
		if i = p.parseComparison(); i < 0 {
			return -1
		}
	case rest[0] == '"' || rest[0] == '\'':
		start := p.pos
		if _, ok := p.str("", ""); !ok {
			return -1 // unterminated: reported where the string starts
		}
		p.fail(start, expectOperand)
		p.err.Msg += " (a value must follow a label and an operator)"
		return -1
	default:
		return p.fail(p.pos, expectOperand)
	}
	p.skipSpace()
	if negate {
		i = p.negate(i)
	}
	return i
}

// emptyCall parses the rest of all() or global(); p.pos is at call.
func (p *parser) emptyCall(o op, call string) int32 {
	p.pos += len(call)
	p.skipSpace()
	if !p.at(")") {
		return p.fail(p.pos, `expected ")" after "`+call+`"`)
	}
	p.pos++
	return p.add(pnode{op: o, size: 1})
}

// negate wraps node i in a negation, or unwraps it if it is one already, so
// that `!(!x)` and `x` have the same canonical form.
func (p *parser) negate(i int32) int32 {
	if p.nodes[i].op == opNot {
		return p.nodes[i].a
	}
	return p.add(pnode{op: opNot, groups: p.nodes[i].groups, size: p.nodes[i].size + 1, a: i})
}

// parseComparison parses LABEL OPERATOR VALUE; p.pos is at the label.
func (p *parser) parseComparison() int32 {
	label, ok := p.label()
	if !ok {
		return -1
	}
	p.skipSpace()
	o, n := operatorAt(p.src[p.pos:])
	if n == 0 {
		return p.fail(p.pos, expectOperator+strconv.Quote(p.text(label)))
	}
	p.pos += n
	p.skipSpace()
	if o == opIn || o == opNotIn {
		return p.parseSet(o, label)
	}
	v, ok := p.str("expected a quoted string", opText[o])
	if !ok {
		return -1
	}
	return p.addLeaf(o, pleaf{label: label, value: v})
}

// operatorAt matches a comparison operator at the start of s and returns it
// with the number of bytes it takes, or 0 bytes if there is none. Operator
// words must not run on into a label ("inx" is not "in").
func operatorAt(s string) (op, int) {
	if len(s) < 2 {
		return 0, 0
	}
	switch s[0] {
	case '=':
		if s[1] == '=' {
			return opEq, 2
		}
	case '!':
		if s[1] == '=' {
			return opNe, 2
		}
	case 'c':
		return opContains, words(s, "contains", "")
	case 's':
		return opStartsWith, words(s, "starts", "with")
	case 'e':
		return opEndsWith, words(s, "ends", "with")
	case 'n':
		return opNotIn, words(s, "not", "in")
	case 'i':
		return opIn, words(s, "in", "")
	}
	return 0, 0
}

// words matches w1, optional whitespace and w2 at the start of s, followed by
// something other than a label character. It returns the length matched, or
// 0 if s does not match.
func words(s, w1, w2 string) int {
	if !strings.HasPrefix(s, w1) {
		return 0
	}
	n := len(w1)
	if w2 != "" {
		for n < len(s) && (s[n] == ' ' || s[n] == '\t') {
			n++
		}
		if !strings.HasPrefix(s[n:], w2) {
			return 0
		}
		n += len(w2)
	}
	if n < len(s) && isLabelChar[s[n]] {
		return 0
	}
	return n
}

// parseSet parses the "{...}" after in or not in.
func (p *parser) parseSet(o op, label span) int32 {
	if !p.at("{") {
		return p.fail(p.pos, `expected "{" after "`+opText[o]+`"`)
	}
	p.pos++
	p.skipSpace()
	start := len(p.strs)
	if !p.at("}") {
		expect, after := `expected a quoted string or "}"`, ""
		for {
			v, ok := p.str(expect, after)
			if !ok {
				return -1
			}
			p.strs = append(p.strs, v)
			p.skipSpace()
			if p.at("}") {
				break
			}
			if !p.at(",") {
				return p.fail(p.pos, `expected "," or "}" in set`)
			}
			p.pos++
			p.skipSpace()
			expect, after = "expected a quoted string", ","
		}
	}
	p.pos++
	src := p.src
	members := p.strs[start:]
	slices.SortFunc(members, func(x, y span) int {
		return strings.Compare(src[x.from:x.to], src[y.from:y.to])
	})
	members = slices.CompactFunc(members, func(x, y span) bool {
		return src[x.from:x.to] == src[y.from:y.to]
	})
	p.strs = p.strs[:start+len(members)]
	return p.addLeaf(o, pleaf{label: label, a: int32(start), b: int32(len(p.strs))})
}

// label scans a label; p.pos is at its first character.
func (p *parser) label() (span, bool) {
	start := p.pos
	for p.pos < len(p.src) && isLabelChar[p.src[p.pos]] {
		p.pos++
	}
	if n := p.pos - start; n > MaxLabelLen {
		p.fail(start, "label "+quoteShort(p.src[start:p.pos])+" is "+strconv.Itoa(n)+
			" characters long, expected at most "+strconv.Itoa(MaxLabelLen))
		return span{}, false
	}
	return span{int32(start), int32(p.pos)}, true
}

// str scans a quoted string and returns its contents. For the error when
// there is no string, expect says what the caller wanted and after (if not
// empty) the token it follows; they are only joined on that path so that
// parsing does not allocate messages it never uses.
func (p *parser) str(expect, after string) (span, bool) {
	if p.pos >= len(p.src) || (p.src[p.pos] != '"' && p.src[p.pos] != '\'') {
		msg := expect
		if after != "" {
			msg += ` after "` + after + `"`
		}
		msg += ", found " + describeAt(p.src, p.pos)
		if p.pos < len(p.src) && isLabelChar[p.src[p.pos]] {
			msg += " (values must be quoted)"
		}
		p.err = &ParseError{Selector: p.src, Pos: p.pos, Msg: msg}
		return span{}, false
	}
	q := p.src[p.pos]
	end := strings.IndexByte(p.src[p.pos+1:], q)
	if end < 0 {
		p.err = &ParseError{Selector: p.src, Pos: p.pos,
			Msg: "unterminated string: expected a closing " + string(q) + ", found end of selector"}
		return span{}, false
	}
	v := span{int32(p.pos + 1), int32(p.pos + 1 + end)}
	p.pos += end + 2
	return v, true
}

func (p *parser) text(s span) string { return p.src[s.from:s.to] }

func (p *parser) add(n pnode) int32 {
	p.nodes = append(p.nodes, n)
	return int32(len(p.nodes) - 1)
}

func (p *parser) addLeaf(o op, l pleaf) int32 {
	p.leaves = append(p.leaves, l)
	return p.add(pnode{op: o, size: 1, a: int32(len(p.leaves) - 1)})
}

func (p *parser) at(tok string) bool { return strings.HasPrefix(p.src[p.pos:], tok) }

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

// fail records an error at pos: expect, then what was found there.
func (p *parser) fail(pos int, expect string) int32 {
	p.err = &ParseError{Selector: p.src, Pos: pos, Msg: expect + ", found " + describeAt(p.src, pos)}
	return -1
}

// build copies the tree rooted at root into a new Selector, in pre-order.
// Every leaf is reachable from the root (only negations are ever dropped), so
// all of them are copied, in order.
func (p *parser) build(root int32) *Selector {
	sel := &Selector{
		nodes:  make([]node, p.nodes[root].size),
		leaves: make([]leaf, len(p.leaves)),
	}
	var pool []string
	if len(p.strs) > 0 {
		pool = make([]string, len(p.strs))
		for i, m := range p.strs {
			pool[i] = p.text(m)
		}
	}
	for i, pl := range p.leaves {
		l := &sel.leaves[i]
		l.label, l.value = p.text(pl.label), p.text(pl.value)
		if pl.b > pl.a {
			l.set = pool[pl.a:pl.b:pl.b]
		}
	}
	p.emit(sel.nodes, 0, root)
	return sel
}

// emit writes node i and its operands to out, starting at out[at], and
// returns the index after them.
func (p *parser) emit(out []node, at int, i int32) int {
	pn := p.nodes[i]
	out[at] = node{op: pn.op, size: pn.size}
	next := at + 1
	switch {
	case pn.op == opNot:
		next = p.emit(out, next, pn.a)
	case pn.op == opAnd || pn.op == opOr:
		for _, k := range p.kids[pn.a:pn.b] {
			next = p.emit(out, next, k)
		}
	case pn.op.hasLabel():
		out[at].leaf = pn.a
	}
	return next
}
