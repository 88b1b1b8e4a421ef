//! [`PatternId`]: the id of a log pattern (a message template), as records, queries
//! (`pattern:ID`) and the API write it.
//!
//! The server's miner derives an id from its template's text (a hash), so the same
//! template gets the same id after a restart, a WAL replay or on another node. Written
//! as 10 lowercase base32 characters (50 bits of the hash: a collision among a million
//! templates has odds of about one in two billion).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Crockford's base32 alphabet, lowercase: no `i`, `l`, `o` or `u` to misread.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters in the written form.
const LEN: usize = 12;
/// The bits an id keeps.
const MASK: u64 = (1 << (5 * LEN)) - 1;

/// A pattern's id. Only the low 60 bits count ([`PatternId::new`] drops the rest), so
/// every id has exactly one written form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PatternId(u64);

impl PatternId {
    /// The id of a hash (its low 60 bits).
    pub const fn new(hash: u64) -> PatternId {
        PatternId(hash & MASK)
    }

    /// The id as a number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The written form without allocating.
    pub fn to_chars(self) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        for (i, c) in out.iter_mut().enumerate() {
            *c = ALPHABET[((self.0 >> (5 * (LEN - 1 - i))) & 31) as usize];
        }
        out
    }
}

impl fmt::Display for PatternId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars = self.to_chars();
        f.write_str(std::str::from_utf8(&chars).expect("the alphabet is ASCII"))
    }
}

/// Why a text is not a pattern id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a pattern id: ids are 12 characters of 0-9 and a-z without i, l, o, u \
     (as `skein patterns` and /api/v1/patterns print them)"
)]
pub struct BadPatternId(pub String);

impl FromStr for PatternId {
    type Err = BadPatternId;

    fn from_str(s: &str) -> Result<PatternId, BadPatternId> {
        if s.len() != LEN {
            return Err(BadPatternId(s.to_string()));
        }
        let mut n = 0u64;
        for b in s.bytes() {
            let d = ALPHABET
                .iter()
                .position(|&a| a == b.to_ascii_lowercase())
                .ok_or_else(|| BadPatternId(s.to_string()))?;
            n = n << 5 | d as u64;
        }
        Ok(PatternId(n))
    }
}

impl Serialize for PatternId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let chars = self.to_chars();
        s.serialize_str(std::str::from_utf8(&chars).expect("the alphabet is ASCII"))
    }
}

impl<'de> Deserialize<'de> for PatternId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PatternId, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn written_forms_read_back(n in any::<u64>()) {
            let id = PatternId::new(n);
            let text = id.to_string();
            prop_assert_eq!(text.len(), LEN);
            prop_assert_eq!(text.parse::<PatternId>().unwrap(), id);
            prop_assert_eq!(text.to_uppercase().parse::<PatternId>().unwrap(), id);
        }
    }

    #[test]
    fn other_texts_are_refused_with_what_an_id_looks_like() {
        for bad in [
            "",
            "abc",
            "0123456789abc",
            "0123456789ai",
            "0123456789a\u{e9}",
        ] {
            let e = bad.parse::<PatternId>().unwrap_err();
            assert!(e.to_string().contains("not a pattern id"), "{e}");
        }
        assert_eq!(PatternId::new(0).to_string(), "000000000000");
        assert_eq!(PatternId::new(u64::MAX).to_string(), "zzzzzzzzzzzz");
    }
}
