//! Wildcard patterns (`*`, `?`) matched against a field's term dictionary by an
//! automaton whose work is linear in each term, however many `*` the pattern holds.
//!
//! Turned into a regex, `*a*a*a…` made Tantivy's regex compiler build a large
//! deterministic automaton first: seconds for a pattern a user can type. Here the state
//! is the set of pattern positions reached so far (a bitmask), as in an NFA simulation:
//! each byte of a term costs a few bit operations, and a pattern that starts with a
//! literal prunes the dictionary to that prefix. The cost is bounded by the term
//! dictionary (as Lucene's wildcard queries are), then by the postings of the terms that
//! match.

use super::ast::WildPart;
use std::sync::Arc;
use tantivy::query::{AutomatonWeight, EnableScoring, Query, Weight};
use tantivy::schema::Field;

/// Pattern positions a state can hold: one bit each.
pub const MAX_TOKENS: usize = 127;

/// One step of the pattern, over bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// This byte.
    Byte(u8),
    /// The first byte of any character (`?`).
    Lead,
    /// The continuation bytes of that character: zero or more, skippable.
    Tail,
    /// Any bytes (`*`), skippable.
    Star,
}

/// A compiled wildcard pattern; an `Automaton` over term bytes.
#[derive(Debug, Clone)]
pub struct Glob {
    tokens: Vec<Token>,
    /// For each position, the positions reachable from it through skippable tokens.
    closure: Vec<u128>,
}

impl Glob {
    /// Compiles `parts`, or says the pattern is too long.
    pub fn new(parts: &[WildPart]) -> Result<Glob, String> {
        let mut tokens = Vec::new();
        for p in parts {
            match p {
                WildPart::Any => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                WildPart::One => tokens.extend([Token::Lead, Token::Tail]),
                WildPart::Lit(c) => {
                    let mut buf = [0u8; 4];
                    tokens.extend(c.encode_utf8(&mut buf).bytes().map(Token::Byte));
                }
            }
        }
        if tokens.len() > MAX_TOKENS {
            return Err(format!(
                "the wildcard pattern is {} bytes long; at most {MAX_TOKENS} bytes (with `?` \
                 counting two) are supported",
                tokens.len()
            ));
        }
        let n = tokens.len();
        let mut closure = vec![0u128; n + 1];
        for i in (0..=n).rev() {
            closure[i] = 1 << i;
            if i < n && matches!(tokens[i], Token::Star | Token::Tail) {
                closure[i] |= closure[i + 1];
            }
        }
        Ok(Glob { tokens, closure })
    }

    fn advance(&self, state: u128, byte: u8) -> u128 {
        let continuation = byte & 0xC0 == 0x80;
        let mut next = 0u128;
        let mut rest = state;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let Some(&t) = self.tokens.get(i) else {
                continue;
            };
            let (stay, go) = match t {
                Token::Byte(b) => (false, b == byte),
                Token::Lead => (false, !continuation),
                Token::Tail => (continuation, false),
                Token::Star => (true, false),
            };
            if stay {
                next |= self.closure[i];
            }
            if go {
                next |= self.closure[i + 1];
            }
        }
        next
    }

    /// Whether `term` matches the whole pattern (for tests and callers without a
    /// dictionary).
    pub fn matches(&self, term: &[u8]) -> bool {
        let end = term
            .iter()
            .fold(self.closure[0], |s, &b| self.advance(s, b));
        end & (1 << self.tokens.len()) != 0
    }
}

impl tantivy_fst::Automaton for Glob {
    type State = u128;

    fn start(&self) -> u128 {
        self.closure[0]
    }

    fn is_match(&self, state: &u128) -> bool {
        state & (1 << self.tokens.len()) != 0
    }

    fn can_match(&self, state: &u128) -> bool {
        *state != 0
    }

    fn will_always_match(&self, state: &u128) -> bool {
        // Once a trailing `*` is reached, every continuation matches.
        let n = self.tokens.len();
        n > 0 && self.tokens[n - 1] == Token::Star && state & (1 << (n - 1)) != 0
    }

    fn accept(&self, state: &u128, byte: u8) -> u128 {
        self.advance(*state, byte)
    }
}

/// The terms of `field` that match a [`Glob`].
#[derive(Debug, Clone)]
pub struct WildcardQuery {
    field: Field,
    glob: Arc<Glob>,
}

impl WildcardQuery {
    /// Matches the terms of `field` against `glob`.
    pub fn new(field: Field, glob: Glob) -> WildcardQuery {
        WildcardQuery {
            field,
            glob: Arc::new(glob),
        }
    }
}

impl Query for WildcardQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(AutomatonWeight::<Glob>::new(
            self.field,
            self.glob.clone(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parts(p: &str) -> Vec<WildPart> {
        p.chars()
            .map(|c| match c {
                '*' => WildPart::Any,
                '?' => WildPart::One,
                c => WildPart::Lit(c),
            })
            .collect()
    }

    fn glob(p: &str) -> Glob {
        Glob::new(&parts(p)).unwrap()
    }

    #[test]
    fn matches_whole_values() {
        assert!(glob("api-*").matches(b"api-7"));
        assert!(!glob("api-*").matches(b"xapi-7"));
        assert!(glob("*-worker").matches(b"pay-worker"));
        assert!(glob("a?c").matches("aéc".as_bytes()));
        assert!(!glob("a?c").matches(b"ac"));
        assert!(!glob("a?c").matches("aééc".as_bytes()));
        assert!(glob("*a*a*a*a*a*a*a*a*a*a*a*a*").matches(b"aaaaaaaaaaaa"));
        assert!(!glob("*a*a*a*a*a*a*a*a*a*a*a*a*").matches(b"aaaaaaaaaaa"));
        assert!(glob("*").matches(b""));
        assert!(glob("").matches(b""));
        assert!(Glob::new(&parts(&"*a".repeat(100))).is_err());
    }

    proptest! {
        // The automaton agrees with the regex the pattern used to be.
        #[test]
        fn agrees_with_the_regex(p in "[ab*?é]{0,8}", t in "[abé]{0,8}") {
            let re: String = p.chars().map(|c| match c {
                '*' => ".*".to_string(),
                '?' => ".".to_string(),
                c => regex::escape(&c.to_string()),
            }).collect();
            let re = regex::Regex::new(&format!("^(?s:{re})$")).unwrap();
            prop_assert_eq!(glob(&p).matches(t.as_bytes()), re.is_match(&t));
        }
    }
}
