//! Pattern ids: a hash of the group and the template text, shown as 12 base32 characters.

use std::fmt;
use std::str::FromStr;

use crate::mask::fnv;

/// A pattern's id: derived from the template text itself (a hash of the group name and the
/// template the pattern was created with; never from arrival order), so WAL replay,
/// restarts and separate nodes give the same id to the same template. Only the low 60
/// bits are used, so that [`Display`](fmt::Display) is 12 lowercase base32 characters
/// (Crockford's alphabet: no `i`, `l`, `o`, `u`) and [`FromStr`] reads them back.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PatternId(pub u64);

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const LEN: usize = 12;
const MASK: u64 = (1 << 60) - 1;

impl PatternId {
    /// The id of `group`'s "other" pattern: its lines beyond the cap of patterns.
    pub fn other(group: &str) -> PatternId {
        PatternId(mix(fnv(fnv(seed(group), b"\0"), b"<other>")))
    }

    /// The id of a template of `group`; `salt` > 0 only when the plain one is taken in the
    /// group already (the same template created twice, see `Miner`).
    pub(crate) fn of_template(group: &str, template: &str, salt: u32) -> PatternId {
        let mut h = fnv(fnv(seed(group), b"\0"), template.as_bytes());
        if salt > 0 {
            h = fnv(fnv(h, b"\0"), &salt.to_le_bytes());
        }
        PatternId(mix(h))
    }
}

fn seed(group: &str) -> u64 {
    fnv(0xcbf2_9ce4_8422_2325, group.as_bytes())
}

/// splitmix64's finaliser: FNV's low bits are weak, and ids are shown truncated.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) & MASK
}

impl fmt::Display for PatternId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; LEN];
        for (i, b) in buf.iter_mut().enumerate() {
            let shift = 5 * (LEN - 1 - i);
            *b = ALPHABET[((self.0 >> shift) & 31) as usize];
        }
        f.write_str(std::str::from_utf8(&buf).expect("ascii"))
    }
}

/// A string that is not a pattern id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a pattern id (12 base32 characters): {0:?}")]
pub struct ParseIdError(pub String);

impl FromStr for PatternId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<PatternId, ParseIdError> {
        if s.len() != LEN {
            return Err(ParseIdError(s.to_string()));
        }
        let mut v = 0u64;
        for c in s.bytes() {
            let c = c.to_ascii_lowercase();
            let d = ALPHABET
                .iter()
                .position(|&a| a == c)
                .ok_or_else(|| ParseIdError(s.to_string()))?;
            v = (v << 5) | d as u64;
        }
        Ok(PatternId(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_round_trip() {
        let id = PatternId::of_template("web", "GET <path> <num>", 0);
        let s = id.to_string();
        assert_eq!(s.len(), 12);
        assert_eq!(s.parse::<PatternId>().unwrap(), id);
        assert_eq!(s.to_uppercase().parse::<PatternId>().unwrap(), id);
        assert!("short".parse::<PatternId>().is_err());
        assert!("iiiiiiiiiiii".parse::<PatternId>().is_err());
        assert_ne!(id, PatternId::of_template("db", "GET <path> <num>", 0));
        assert_ne!(id, PatternId::of_template("web", "GET <path> <num>", 1));
    }
}
