//! The paging cursor: the sort key of the last hit returned, so the next page starts
//! strictly after it even when many records share one timestamp.

use crate::shard::SortKey;
use std::fmt;
use std::str::FromStr;

/// Position after which the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub SortKey);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.0.timestamp, self.0.ord)
    }
}

impl FromStr for Cursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Cursor, String> {
        let bad = || {
            format!("invalid cursor {s:?}; pass the `cursor` value of the previous page unchanged")
        };
        let (ts, ord) = s.split_once('_').ok_or_else(bad)?;
        Ok(Cursor(SortKey {
            timestamp: ts.parse().map_err(|_| bad())?,
            ord: ord.parse().map_err(|_| bad())?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_rejects_garbage() {
        let c = Cursor(SortKey {
            timestamp: -5,
            ord: 77,
        });
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        assert!("abc"
            .parse::<Cursor>()
            .unwrap_err()
            .contains("previous page"));
    }
}
