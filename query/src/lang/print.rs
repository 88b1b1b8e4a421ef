//! A parsed query back to query-language text: what [`super::parser::parse`] reads back
//! as the same tree.
//!
//! Other query forms (the Elasticsearch DSL) are translated to an [`ast::Node`](Node)
//! and printed here, so every form runs through the one parser and compiler and a value
//! can never be read as syntax: every character of a value or name that the parser could
//! take for an operator is escaped.

use super::ast::{Leaf, Node, Value, WildPart};
use std::ops::Bound;

/// The query text for `node`. Compound parts are parenthesised, so the tree comes back
/// with the same shape; leaf positions are not kept.
pub fn to_query_string(node: &Node) -> String {
    let mut out = String::new();
    node_into(node, &mut out);
    out
}

fn node_into(node: &Node, out: &mut String) {
    match node {
        Node::All => out.push('*'),
        Node::Leaf(leaf) => leaf_into(leaf, out),
        Node::Not(inner) => {
            out.push_str("NOT ");
            atom_into(inner, out);
        }
        Node::And(items) | Node::Or(items) => {
            let op = if matches!(node, Node::And(_)) {
                " AND "
            } else {
                " OR "
            };
            match items.as_slice() {
                // An empty AND is everything, an empty OR nothing; the parser makes neither.
                [] if matches!(node, Node::And(_)) => out.push('*'),
                [] => out.push_str("NOT *"),
                items => {
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(op);
                        }
                        atom_into(item, out);
                    }
                }
            }
        }
    }
}

/// A part that must stay one unit next to an operator.
fn atom_into(node: &Node, out: &mut String) {
    match node {
        Node::And(items) | Node::Or(items) if items.len() != 1 => {
            out.push('(');
            node_into(node, out);
            out.push(')');
        }
        Node::And(items) | Node::Or(items) => atom_into(&items[0], out),
        other => node_into(other, out),
    }
}

fn leaf_into(leaf: &Leaf, out: &mut String) {
    if leaf.value == Value::Exists {
        match &leaf.field {
            None => out.push('*'),
            Some(f) => {
                out.push_str("_exists_:");
                escape_word(f, out);
            }
        }
        return;
    }
    match &leaf.field {
        Some(f) => {
            escape_word(f, out);
            out.push(':');
        }
        None => {
            if let Value::Word(w) = &leaf.value {
                // A bare AND, OR or NOT would be read as the operator.
                if matches!(w.as_str(), "AND" | "OR" | "NOT") {
                    out.push('\\');
                }
            }
        }
    }
    match &leaf.value {
        Value::Word(w) => {
            if w.is_empty() {
                out.push_str("\"\"");
            } else {
                escape_word(w, out);
            }
        }
        Value::Phrase(p) => quote(p, out),
        Value::Wildcard(parts) => {
            for p in parts {
                match p {
                    WildPart::Any => out.push('*'),
                    WildPart::One => out.push('?'),
                    WildPart::Lit(c) => escape_char(*c, out),
                }
            }
        }
        Value::Regex(r) => {
            out.push('/');
            let mut chars = r.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    // The parser keeps `\x` as written (but `\/` is a plain `/`).
                    '\\' => {
                        out.push('\\');
                        if let Some(n) = chars.next() {
                            out.push(n);
                        }
                    }
                    '/' => out.push_str("\\/"),
                    c => out.push(c),
                }
            }
            out.push('/');
        }
        Value::Range { lower, upper } => {
            out.push(if matches!(lower, Bound::Excluded(_)) {
                '{'
            } else {
                '['
            });
            bound_into(lower, out);
            out.push_str(" TO ");
            bound_into(upper, out);
            out.push(if matches!(upper, Bound::Excluded(_)) {
                '}'
            } else {
                ']'
            });
        }
        Value::Exists => unreachable!("handled above"),
    }
}

fn bound_into(b: &Bound<String>, out: &mut String) {
    match b {
        Bound::Unbounded => out.push('*'),
        Bound::Included(v) | Bound::Excluded(v) => quote(v, out),
    }
}

fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Characters that never mean syntax inside a word or a field name.
fn plain(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '@')
}

fn escape_char(c: char, out: &mut String) {
    if !plain(c) {
        out.push('\\');
    }
    out.push(c);
}

fn escape_word(s: &str, out: &mut String) {
    for c in s.chars() {
        escape_char(c, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::parse;
    use super::*;
    use proptest::prelude::*;

    /// The tree without positions, and with one-item groups unwrapped (as the parser
    /// never makes them).
    fn norm(n: &Node) -> Node {
        match n {
            Node::All => Node::All,
            Node::Leaf(l) => Node::Leaf(Leaf {
                pos: 0,
                ..l.clone()
            }),
            Node::Not(i) => Node::Not(Box::new(norm(i))),
            Node::And(v) if v.len() == 1 => norm(&v[0]),
            Node::Or(v) if v.len() == 1 => norm(&v[0]),
            Node::And(v) => Node::And(v.iter().map(norm).collect()),
            Node::Or(v) => Node::Or(v.iter().map(norm).collect()),
        }
    }

    fn roundtrip(n: &Node) {
        let text = to_query_string(n);
        let back = parse(&text).unwrap_or_else(|e| panic!("{text:?} does not parse: {e:?}"));
        assert_eq!(norm(&back), norm(n), "printed as {text:?}");
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9]{1,6}",
            "\\PC{1,8}",
            "[ -~]{1,8}",
            Just("AND".to_string()),
            Just("OR".to_string()),
            Just("NOT".to_string()),
            Just("-x".to_string()),
            Just("a:b".to_string()),
        ]
    }

    fn field() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            "[a-z_@.]{1,8}".prop_map(Some),
            // A field named `_exists_` cannot be written (the parser reads the operator).
            "[ -~]{1,8}"
                .prop_filter("not _exists_", |f| f != "_exists_")
                .prop_map(Some),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let bound = prop_oneof![
            Just(Bound::Unbounded),
            text().prop_map(Bound::Included),
            text().prop_map(Bound::Excluded),
        ];
        let part = prop_oneof![
            4 => any::<char>().prop_map(WildPart::Lit),
            1 => Just(WildPart::Any),
            1 => Just(WildPart::One),
        ];
        prop_oneof![
            text().prop_map(Value::Word),
            "\\PC{0,8}".prop_map(Value::Phrase),
            // The parser reads a wildcard only when a `*`/`?` is in it and not all `*`.
            prop::collection::vec(part, 1..6)
                .prop_filter("a wildcard", |p| p.iter().any(|x| *x == WildPart::One
                    || (*x == WildPart::Any && p.iter().any(|y| *y != WildPart::Any))))
                .prop_map(Value::Wildcard),
            "[a-z.*+/\\\\\\[\\]]{1,8}"
                // What the parser can make: `\/` is read as `/`, and a `\` escapes
                // the next character, so no escape pair ends in `/` or the pattern.
                .prop_filter("as the parser makes", |r| {
                    let mut chars = r.chars();
                    while let Some(c) = chars.next() {
                        if c == '\\' && matches!(chars.next(), None | Some('/')) {
                            return false;
                        }
                    }
                    true
                })
                .prop_map(Value::Regex),
            (bound.clone(), bound).prop_map(|(lower, upper)| Value::Range { lower, upper }),
            Just(Value::Exists),
        ]
    }

    fn leaf() -> impl Strategy<Value = Node> {
        (field(), value()).prop_map(|(field, value)| {
            if value == Value::Exists && field.is_none() {
                Node::All
            } else {
                Node::Leaf(Leaf {
                    field,
                    value,
                    pos: 0,
                })
            }
        })
    }

    fn node() -> impl Strategy<Value = Node> {
        leaf().prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|n| Node::Not(Box::new(n))),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Node::And),
                prop::collection::vec(inner, 2..4).prop_map(Node::Or),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn printed_trees_parse_back_the_same(n in node()) {
            roundtrip(&n);
        }

        #[test]
        fn whatever_parses_prints_back_the_same(q in "[ -~]{0,24}") {
            if let Ok(n) = parse(&q) {
                roundtrip(&n);
            }
        }
    }

    #[test]
    fn values_never_turn_into_syntax() {
        let leaf = |field: Option<&str>, value: Value| {
            Node::Leaf(Leaf {
                field: field.map(str::to_string),
                value,
                pos: 0,
            })
        };
        let n = leaf(Some("a b:c"), Value::Word("x) OR (y".into()));
        assert_eq!(to_query_string(&n), r"a\ b\:c:x\)\ OR\ \(y");
        roundtrip(&n);
        roundtrip(&leaf(None, Value::Word("NOT".into())));
        roundtrip(&leaf(None, Value::Phrase(r#"say "hi" \o/"#.into())));
        roundtrip(&leaf(Some("p"), Value::Word("/api/v1*".into())));
        assert_eq!(to_query_string(&Node::And(vec![])), "*");
        assert_eq!(parse(&to_query_string(&Node::Or(vec![]))).unwrap(), {
            Node::Not(Box::new(Node::All))
        });
    }
}
