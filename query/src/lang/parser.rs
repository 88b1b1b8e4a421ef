//! Recursive descent over the query string.
//!
//! ```text
//! query   := or? EOF
//! or      := and ("OR" and)*
//! and     := unary (("AND")? unary)*          -- juxtaposition is AND
//! unary   := "NOT" unary | "-" unary | "+" unary | primary
//! primary := "(" or ")" | name ":" value | value
//! value   := "(" or ")"                       -- every bare value inside takes `name`
//!          | "\"" phrase "\"" | "/" regex "/"
//!          | ("[" | "{") bound "TO" bound ("]" | "}")
//!          | (">" | ">=" | "<" | "<=") word
//!          | word                              -- `*` and `?` make it a wildcard
//! ```
//!
//! `NOT` binds tighter than `AND`, which binds tighter than `OR`. Positions in errors are
//! 1-based character positions.
//!
//! Nesting (`(` groups and `NOT`s) is limited to [`max_depth`] levels: the descent
//! recurses per level, and so do the compiler, the printer and dropping the tree, so a
//! query of thousands of `(` would otherwise overflow a thread's stack and abort the
//! whole server.

use super::ast::{Leaf, Node, Value, WildPart};
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Default of [`max_depth`]: far beyond what people type or tools generate (Kibana's
/// filters and a dashboard's panel queries add a few levels), far below what a
/// 2 MiB thread stack holds.
pub const DEFAULT_MAX_DEPTH: usize = 100;

static MAX_DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_DEPTH);

/// The deepest nesting of `(` groups and `NOT`s a query may have.
pub fn max_depth() -> usize {
    MAX_DEPTH.load(Ordering::Relaxed)
}

/// Sets [`max_depth`] for the whole process (the server's `--max-query-depth`); at least
/// 1, and at most 1,000 so that no setting can overflow a thread's stack.
pub fn set_max_depth(depth: usize) {
    MAX_DEPTH.store(depth.clamp(1, 1000), Ordering::Relaxed);
}

/// A query that does not parse: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based character position.
    pub pos: usize,
    /// What was expected or what is wrong.
    pub message: String,
}

/// Parses `q`; an empty query is [`Node::All`].
pub fn parse(q: &str) -> Result<Node, ParseError> {
    let mut p = Parser {
        s: q.chars().collect(),
        i: 0,
        depth: 0,
        max_depth: max_depth(),
    };
    p.skip_ws();
    if p.eof() {
        return Ok(Node::All);
    }
    let node = p.or(None)?;
    p.skip_ws();
    if !p.eof() {
        return Err(p.err_here("unexpected `)`: no `(` is open here"));
    }
    Ok(node)
}

struct Parser {
    s: Vec<char>,
    i: usize,
    /// Groups and `NOT`s open around the current position.
    depth: usize,
    max_depth: usize,
}

const EXPECTED_TERM: &str = "a term, a \"phrase\", field:value or `(`";

fn is_ws(c: char) -> bool {
    c.is_whitespace()
}

impl Parser {
    fn eof(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.i += 1;
        }
    }

    fn err_at(&self, i: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            pos: i + 1,
            message: message.into(),
        }
    }

    fn err_here(&self, message: impl Into<String>) -> ParseError {
        self.err_at(self.i, message)
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "end of query".into(),
            Some(c) => format!("`{c}`"),
        }
    }

    fn expected(&self, what: &str) -> ParseError {
        self.err_here(format!("expected {what}, found {}", self.found()))
    }

    /// Whether the operator keyword `kw` starts here (followed by space or `(`).
    fn at_keyword(&self, kw: &str) -> bool {
        let n = kw.chars().count();
        kw.chars()
            .enumerate()
            .all(|(k, c)| self.peek_at(k) == Some(c))
            && self.peek_at(n).is_none_or(|c| is_ws(c) || c == '(')
    }

    fn keyword(&mut self, kw: &str) -> bool {
        let yes = self.at_keyword(kw);
        if yes {
            self.i += kw.chars().count();
        }
        yes
    }

    fn or(&mut self, field: Option<&str>) -> Result<Node, ParseError> {
        let mut items = vec![self.and(field)?];
        loop {
            self.skip_ws();
            if !self.keyword("OR") {
                break;
            }
            items.push(self.and(field)?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Node::Or(items)
        })
    }

    fn and(&mut self, field: Option<&str>) -> Result<Node, ParseError> {
        let mut items = vec![self.unary(field)?];
        loop {
            self.skip_ws();
            if self.eof() || self.peek() == Some(')') || self.at_keyword("OR") {
                break;
            }
            self.keyword("AND");
            items.push(self.unary(field)?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Node::And(items)
        })
    }

    /// Enters one more level of nesting, or fails naming the limit.
    fn deeper(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(self.err_here(format!(
                "the query nests `(` groups and `NOT`s more than {} levels deep (the \
                 server's --max-query-depth); write it flatter, e.g. `a OR b OR c` instead \
                 of `(a OR (b OR (c)))`",
                self.max_depth
            )));
        }
        Ok(())
    }

    fn unary(&mut self, field: Option<&str>) -> Result<Node, ParseError> {
        self.skip_ws();
        if self.keyword("NOT") {
            self.deeper()?;
            let inner = self.unary(field)?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        match self.peek() {
            Some(c @ ('-' | '+')) => {
                self.i += 1;
                if self.peek().is_none_or(is_ws) {
                    return Err(self.expected(&format!("{EXPECTED_TERM} right after `{c}`")));
                }
                let inner = self.primary(field)?;
                Ok(if c == '-' {
                    Node::Not(Box::new(inner))
                } else {
                    inner
                })
            }
            _ => self.primary(field),
        }
    }

    fn group(&mut self, field: Option<&str>) -> Result<Node, ParseError> {
        let open = self.i;
        self.deeper()?;
        self.i += 1;
        self.skip_ws();
        if self.peek() == Some(')') {
            return Err(self.expected(&format!("{EXPECTED_TERM} inside `( )`")));
        }
        let node = self.or(field)?;
        self.skip_ws();
        if self.peek() != Some(')') {
            return Err(self.expected(&format!("`)` to close the `(` at position {}", open + 1)));
        }
        self.i += 1;
        self.depth -= 1;
        Ok(node)
    }

    fn primary(&mut self, field: Option<&str>) -> Result<Node, ParseError> {
        self.skip_ws();
        match self.peek() {
            None | Some(')') => return Err(self.expected(EXPECTED_TERM)),
            Some('(') => return self.group(field),
            _ => {}
        }
        for kw in ["AND", "OR"] {
            if self.at_keyword(kw) {
                return Err(self.err_here(format!("expected {EXPECTED_TERM}, found `{kw}`")));
            }
        }
        let start = self.i;
        if field.is_none() {
            if let Some(name) = self.field_name()? {
                if self.peek() == Some('(') {
                    return self.group(Some(&name));
                }
                if name == "_exists_" {
                    return match self.value(&name)? {
                        Value::Word(f) => Ok(leaf(Some(f), Value::Exists, start)),
                        _ => Err(self.err_at(start + 9, "expected a field name after `_exists_:`")),
                    };
                }
                let value = self.value(&name)?;
                return Ok(leaf(Some(name), value, start));
            }
        }
        let value = self.value(field.unwrap_or("message"))?;
        if value == Value::Exists && field.is_none() {
            return Ok(Node::All);
        }
        Ok(leaf(field.map(str::to_string), value, start))
    }

    /// `name:` when a field name starts here (consumed with the colon), else nothing.
    fn field_name(&mut self) -> Result<Option<String>, ParseError> {
        if matches!(self.peek(), Some('"' | '/' | '[' | '{' | '>' | '<')) {
            return Ok(None);
        }
        let start = self.i;
        let mut j = self.i;
        let mut name = String::new();
        while let Some(&c) = self.s.get(j) {
            match c {
                '\\' => {
                    if let Some(&n) = self.s.get(j + 1) {
                        name.push(n);
                    }
                    j += 2;
                }
                ':' => {
                    if name.is_empty() {
                        return Err(self.err_at(j, "expected a field name before `:`"));
                    }
                    self.i = j + 1;
                    if self.peek().is_none_or(is_ws) || self.peek() == Some(')') {
                        return Err(self.expected(&format!("a value after `{name}:`")));
                    }
                    return Ok(Some(name));
                }
                c if is_ws(c) || matches!(c, '(' | ')' | '"') => break,
                c => {
                    name.push(c);
                    j += 1;
                }
            }
        }
        self.i = start;
        Ok(None)
    }

    fn value(&mut self, field: &str) -> Result<Value, ParseError> {
        match self.peek() {
            Some('"') => Ok(Value::Phrase(self.quoted()?)),
            Some('/') => self.regex(),
            Some('[' | '{') => self.range(),
            Some(c @ ('>' | '<')) => {
                self.i += 1;
                let eq = self.peek() == Some('=');
                if eq {
                    self.i += 1;
                }
                let op = if eq { format!("{c}=") } else { c.to_string() };
                if self.peek().is_none_or(|c| is_ws(c) || c == ')') {
                    return Err(self.expected(&format!("a value after `{field}:{op}`")));
                }
                let (w, _) = self.word(&[])?;
                let b = if eq {
                    Bound::Included(w)
                } else {
                    Bound::Excluded(w)
                };
                Ok(if c == '>' {
                    Value::Range {
                        lower: b,
                        upper: Bound::Unbounded,
                    }
                } else {
                    Value::Range {
                        lower: Bound::Unbounded,
                        upper: b,
                    }
                })
            }
            _ => {
                let (w, parts) = self.word(&[])?;
                if parts.iter().all(|p| *p == WildPart::Any) {
                    return Ok(Value::Exists);
                }
                Ok(
                    if parts
                        .iter()
                        .any(|p| matches!(p, WildPart::Any | WildPart::One))
                    {
                        Value::Wildcard(parts)
                    } else {
                        Value::Word(w)
                    },
                )
            }
        }
    }

    /// A bare word up to space, `(`, `)` or one of `stop`; `\` escapes the next
    /// character. Returns the literal text and its wildcard reading.
    fn word(&mut self, stop: &[char]) -> Result<(String, Vec<WildPart>), ParseError> {
        let start = self.i;
        let mut text = String::new();
        let mut parts = Vec::new();
        while let Some(c) = self.peek() {
            if is_ws(c) || c == '(' || c == ')' || stop.contains(&c) {
                break;
            }
            self.i += 1;
            match c {
                '\\' => {
                    let Some(n) = self.peek() else {
                        return Err(self.expected("a character to escape after `\\`"));
                    };
                    self.i += 1;
                    text.push(n);
                    parts.push(WildPart::Lit(n));
                }
                '*' => {
                    text.push(c);
                    parts.push(WildPart::Any);
                }
                '?' => {
                    text.push(c);
                    parts.push(WildPart::One);
                }
                c => {
                    text.push(c);
                    parts.push(WildPart::Lit(c));
                }
            }
        }
        if parts.is_empty() {
            self.i = start;
            return Err(self.expected(EXPECTED_TERM));
        }
        Ok((text, parts))
    }

    fn quoted(&mut self) -> Result<String, ParseError> {
        let open = self.i;
        self.i += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(self.expected(&format!(
                        "`\"` to close the phrase opened at position {}",
                        open + 1
                    )))
                }
                Some('"') => {
                    self.i += 1;
                    return Ok(s);
                }
                Some('\\') if self.peek_at(1).is_some() => {
                    s.push(self.peek_at(1).expect("checked"));
                    self.i += 2;
                }
                Some(c) => {
                    s.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn regex(&mut self) -> Result<Value, ParseError> {
        let open = self.i;
        self.i += 1;
        let mut pattern = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(self.expected(&format!(
                        "`/` to close the /regex/ opened at position {} (quote values that start with `/`: \"/api/v1\")",
                        open + 1
                    )))
                }
                Some('/') => {
                    self.i += 1;
                    break;
                }
                Some('\\') if self.peek_at(1) == Some('/') => {
                    pattern.push('/');
                    self.i += 2;
                }
                Some('\\') if self.peek_at(1).is_some() => {
                    pattern.push('\\');
                    pattern.push(self.peek_at(1).expect("checked"));
                    self.i += 2;
                }
                Some(c) => {
                    pattern.push(c);
                    self.i += 1;
                }
            }
        }
        if self.peek().is_some_and(|c| !is_ws(c) && c != ')') {
            return Err(self.expected(&format!(
                "space or `)` after the /regex/ opened at position {} (quote values that start with `/`: \"/api/v1\")",
                open + 1
            )));
        }
        Ok(Value::Regex(pattern))
    }

    fn range(&mut self) -> Result<Value, ParseError> {
        let open = self.i;
        let lower_incl = self.peek() == Some('[');
        self.i += 1;
        self.skip_ws();
        let lower = self.bound(lower_incl)?;
        self.skip_ws();
        if !self.keyword("TO") {
            return Err(self.expected("`TO` between the bounds of the range"));
        }
        self.skip_ws();
        let upper_at = self.i;
        let upper = self.bound(true)?;
        self.skip_ws();
        let upper = match (self.peek(), upper) {
            (Some(']'), b) => b,
            (Some('}'), Bound::Included(v)) => Bound::Excluded(v),
            (Some('}'), b) => b,
            _ => {
                let _ = upper_at;
                return Err(self.expected(&format!(
                    "`]` or `}}` to close the range opened at position {}",
                    open + 1
                )));
            }
        };
        self.i += 1;
        Ok(Value::Range { lower, upper })
    }

    fn bound(&mut self, inclusive: bool) -> Result<Bound<String>, ParseError> {
        let v = match self.peek() {
            Some('"') => self.quoted()?,
            None | Some(']' | '}') => return Err(self.expected("a range bound (a value or `*`)")),
            _ => {
                let (w, parts) = self.word(&[']', '}'])?;
                if parts == [WildPart::Any] {
                    return Ok(Bound::Unbounded);
                }
                w
            }
        };
        Ok(if inclusive {
            Bound::Included(v)
        } else {
            Bound::Excluded(v)
        })
    }
}

fn leaf(field: Option<String>, value: Value, start: usize) -> Node {
    Node::Leaf(Leaf {
        field,
        value,
        pos: start + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_limited_without_recursing_past_the_limit() {
        let nested = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
        assert!(parse(&nested(DEFAULT_MAX_DEPTH)).is_ok());
        for q in [
            nested(DEFAULT_MAX_DEPTH + 1),
            nested(100_000),
            "(".repeat(100_000),
            format!("{}a", "NOT ".repeat(100_000)),
            format!("level:{}", nested(100_000)),
            format!("{}a", "-(".repeat(100_000)),
        ] {
            let e = parse(&q).unwrap_err();
            assert!(e.message.contains("more than 100 levels"), "{}", e.message);
            assert!(e.message.contains("--max-query-depth"), "{}", e.message);
        }
        // Siblings do not add up: only what is open at once counts.
        let wide = vec!["(a)"; 10_000].join(" OR ");
        assert!(parse(&wide).is_ok());
    }

    fn word(field: Option<&str>, w: &str, pos: usize) -> Node {
        Node::Leaf(Leaf {
            field: field.map(str::to_string),
            value: Value::Word(w.into()),
            pos,
        })
    }

    #[test]
    fn structure_and_precedence() {
        assert_eq!(parse("  ").unwrap(), Node::All);
        assert_eq!(parse("*").unwrap(), Node::All);
        assert_eq!(
            parse("a b OR NOT c").unwrap(),
            Node::Or(vec![
                Node::And(vec![word(None, "a", 1), word(None, "b", 3)]),
                Node::Not(Box::new(word(None, "c", 12))),
            ])
        );
        assert_eq!(
            parse("-x:1 +y AND (z)").unwrap(),
            Node::And(vec![
                Node::Not(Box::new(word(Some("x"), "1", 2))),
                word(None, "y", 7),
                word(None, "z", 14),
            ])
        );
        // A group after a field applies the field to every bare value inside.
        assert_eq!(
            parse("level:(error OR warn)").unwrap(),
            Node::Or(vec![
                word(Some("level"), "error", 8),
                word(Some("level"), "warn", 17)
            ])
        );
        // Values may hold `:` and start with `-`; `\` escapes.
        assert_eq!(
            parse(r"@timestamp:>2026-11-20T10:00:00Z f:-5 a\:b").unwrap(),
            Node::And(vec![
                Node::Leaf(Leaf {
                    field: Some("@timestamp".into()),
                    value: Value::Range {
                        lower: Bound::Excluded("2026-11-20T10:00:00Z".into()),
                        upper: Bound::Unbounded
                    },
                    pos: 1
                }),
                word(Some("f"), "-5", 34),
                word(None, "a:b", 39),
            ])
        );
        assert_eq!(
            parse("n:{1 TO *] m:[* TO 2}").unwrap(),
            Node::And(vec![
                Node::Leaf(Leaf {
                    field: Some("n".into()),
                    value: Value::Range {
                        lower: Bound::Excluded("1".into()),
                        upper: Bound::Unbounded
                    },
                    pos: 1
                }),
                Node::Leaf(Leaf {
                    field: Some("m".into()),
                    value: Value::Range {
                        lower: Bound::Unbounded,
                        upper: Bound::Excluded("2".into())
                    },
                    pos: 12
                }),
            ])
        );
        assert!(matches!(
            parse("container:api-*").unwrap(),
            Node::Leaf(Leaf {
                value: Value::Wildcard(_),
                ..
            })
        ));
        assert!(matches!(
            parse(r"container:/api-[0-9]+/").unwrap(),
            Node::Leaf(Leaf { value: Value::Regex(ref r), .. }) if r == "api-[0-9]+"
        ));
        assert!(matches!(
            parse("_exists_:fields.error").unwrap(),
            Node::Leaf(Leaf { ref field, value: Value::Exists, .. })
                if field.as_deref() == Some("fields.error")
        ));
        assert!(matches!(
            parse("level:*").unwrap(),
            Node::Leaf(Leaf {
                value: Value::Exists,
                ..
            })
        ));
        // Operators are upper case; `and` is a word.
        assert_eq!(
            parse("a and b").unwrap(),
            Node::And(vec![
                word(None, "a", 1),
                word(None, "and", 3),
                word(None, "b", 7)
            ])
        );
    }

    fn err(q: &str) -> (usize, String) {
        let e = parse(q).expect_err(q);
        (e.pos, e.message)
    }

    #[test]
    fn errors_name_the_position_and_what_was_expected() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "container:(",
                12,
                "expected a term, a \"phrase\", field:value or `(`, found end of query",
            ),
            (
                "(a OR b",
                8,
                "expected `)` to close the `(` at position 1, found end of query",
            ),
            ("a)", 2, "unexpected `)`: no `(` is open here"),
            (
                "level: error",
                7,
                "expected a value after `level:`, found ` `",
            ),
            (":x", 1, "expected a field name before `:`"),
            (
                "a AND",
                6,
                "expected a term, a \"phrase\", field:value or `(`, found end of query",
            ),
            (
                "a OR OR b",
                6,
                "expected a term, a \"phrase\", field:value or `(`, found `OR`",
            ),
            ("_exists_:a*", 10, "expected a field name after `_exists_:`"),
            ("NOT", 4, "expected a term"),
            ("- a", 2, "right after `-`, found ` `"),
            (
                "message:\"abc",
                13,
                "expected `\"` to close the phrase opened at position 9, found end of query",
            ),
            (
                "f:[1 TO",
                8,
                "expected a range bound (a value or `*`), found end of query",
            ),
            (
                "f:[1 2]",
                6,
                "expected `TO` between the bounds of the range, found `2`",
            ),
            (
                "f:[1 TO 2",
                10,
                "expected `]` or `}` to close the range opened at position 3",
            ),
            ("f:>", 4, "expected a value after `f:>`, found end of query"),
            ("f:<= x", 5, "expected a value after `f:<=`"),
            (
                "container:/api",
                15,
                "expected `/` to close the /regex/ opened at position 11",
            ),
            (
                "fields.path:/api/v1",
                18,
                "expected space or `)` after the /regex/ opened at position 13",
            ),
            ("a\\", 3, "expected a character to escape after `\\`"),
            ("()", 2, "inside `( )`, found `)`"),
        ];
        for (q, pos, msg) in cases {
            let (p, m) = err(q);
            assert_eq!(p, *pos, "{q}: {m}");
            assert!(m.contains(msg), "{q}: {m:?} does not contain {msg:?}");
        }
    }
}
