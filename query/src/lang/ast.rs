//! The parsed form of a query.

use std::ops::Bound;

/// A query, or part of one.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Matches every record (an empty query, `*`).
    All,
    /// Every part matches.
    And(Vec<Node>),
    /// At least one part matches.
    Or(Vec<Node>),
    /// The part does not match.
    Not(Box<Node>),
    /// One condition on one field.
    Leaf(Leaf),
}

/// `field:value`, or a bare value (which searches `message`).
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    /// The field as written; `None` for a bare value.
    pub field: Option<String>,
    /// The condition.
    pub value: Value,
    /// 1-based character position where the leaf starts, for errors.
    pub pos: usize,
}

/// One piece of a wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WildPart {
    /// A literal character.
    Lit(char),
    /// `*`: any run of characters.
    Any,
    /// `?`: one character.
    One,
}

/// The condition of a leaf.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An unquoted word.
    Word(String),
    /// A `"quoted phrase"` (an exact value on keyword fields).
    Phrase(String),
    /// A word with unescaped `*` or `?`.
    Wildcard(Vec<WildPart>),
    /// `/regex/`, matched against the whole value.
    Regex(String),
    /// `[a TO b]`, `{a TO b}`, `>a`, `>=a`, `<a`, `<=a`.
    Range {
        /// Lower bound.
        lower: Bound<String>,
        /// Upper bound.
        upper: Bound<String>,
    },
    /// `_exists_:field` or `field:*`.
    Exists,
}

impl Value {
    /// The literal prefix when the pattern is `prefix*` (a single trailing `*`).
    pub fn trailing_wildcard_prefix(parts: &[WildPart]) -> Option<String> {
        let (last, head) = parts.split_last()?;
        if *last != WildPart::Any {
            return None;
        }
        head.iter()
            .map(|p| match p {
                WildPart::Lit(c) => Some(*c),
                _ => None,
            })
            .collect()
    }
}
