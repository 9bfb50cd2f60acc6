// Package selector implements the Calico label selector language: parsing,
// evaluation against a set of labels, and a canonical text form with a stable
// unique ID.
//
// # Grammar
//
// Precedence, from tightest to loosest, is "!", "&&", "||":
//
//	selector := ε | orExpr
//	orExpr   := andExpr ( "||" andExpr )*
//	andExpr  := op ( "&&" op )*
//	op       := "!"* ( "has(" LABEL ")" | "all()" | "global()" | "(" orExpr ")"
//	                 | LABEL ( "==" | "!=" | "contains" | "starts with" | "ends with" ) STRING
//	                 | LABEL ( "in" | "not in" ) "{" [ STRING ( "," STRING )* ] "}" )
//
// A LABEL is 1 to 512 characters from [a-zA-Z0-9_./-], so "app.kubernetes.io/name"
// is a single label. A STRING is enclosed in double or single quotes and has no
// escapes; the other quote character may appear inside it. Only space and tab
// are whitespace; it may appear between any two tokens and inside the
// parentheses of has(), all() and global(), but not before their "(".
// "startswith", "endswith" and
// "notin" are accepted spellings of "starts with", "ends with" and "not in".
// Operator words are only recognised straight after a label, so a label may be
// called "contains" or "in". A blank selector means all().
//
// Leading "!"s cancel in pairs and negate only the single operand that follows:
// `!a == "x" && b == "y"` is `(!(a == "x")) && b == "y"`.
//
// Unlike Calico, the parser limits nesting to MaxDepth levels, so that a
// hostile selector cannot exhaust the stack; real selectors never come close.
//
// Errors are reported as *ParseError with the byte offset where the problem
// was found, what was found there and what would have been accepted. A value
// on the left (`"x" == a`), an unquoted value (`a == b`), a bare label and a
// single "=", "&" or "|" are all errors.
//
// # Semantics
//
//   - a == "v" is true when label a is present with value v.
//   - a != "v" is true when a is absent or has another value.
//   - a in {..} is true when a is present and its value is in the set;
//     a not in {..} is true when a is absent or its value is not in the set.
//   - contains, starts with and ends with test the value of a present label;
//     they are false when the label is absent.
//   - has(a) is true when a is present, whatever its value (even "").
//   - all() and global() are always true. global() only means something when
//     a namespace selector is rewritten by a caller; UsesGlobal reports it.
//
// # Canonical form
//
// String returns a canonical form: every "&&" and "||" group is wrapped in
// parentheses, "!" is written directly before its operand, set members are
// sorted and de-duplicated, values are quoted with `"` unless they contain
// `"` (then with `'`), operator spellings are normalised ("startswith" becomes
// "starts with", "notin" becomes "not in") and a blank selector is "all()".
// Double negations and redundant parentheses are removed while parsing, so
// the canonical form parses back to a selector with the same canonical form.
// UniqueID is "s:" followed by the unpadded base64url SHA-224 of
// "s:"+String(); selectors that differ only in spelling share an ID.
//
// A *Selector is immutable once built and safe for concurrent use. Evaluating
// a selector does not allocate.
package selector
