//! Exactly-once delivery per source: the highest `_seq` seen for each `_source_id`.
//!
//! The ingest thread checks a whole group of batches against the tracker before one
//! fsync; the updates of a group are kept apart ([`SeqTracker::begin`]) until the fsync
//! succeeds, so a failed write never makes the server believe it holds records it
//! does not.

use skein_model::Record;
use std::collections::HashMap;

/// Highest durable `_seq` per `_source_id`.
#[derive(Debug, Default)]
pub struct SeqTracker {
    durable: HashMap<String, u64>,
    pending: HashMap<String, u64>,
}

impl SeqTracker {
    /// Starts from a known map (a checkpoint plus replayed WAL entries).
    pub fn new(durable: HashMap<String, u64>) -> SeqTracker {
        SeqTracker {
            durable,
            pending: HashMap::new(),
        }
    }

    /// Starts a group: forgets uncommitted updates of a previous failed group.
    pub fn begin(&mut self) {
        self.pending.clear();
    }

    /// Whether `record` is new; if so, remembers its `_seq` as pending. Records without
    /// a delivery identity are always new.
    pub fn admit(&mut self, record: &Record) -> bool {
        let (Some(src), Some(seq)) = (&record.source_id, record.seq) else {
            return true;
        };
        let high = self
            .pending
            .get(src)
            .or_else(|| self.durable.get(src))
            .copied();
        if high.is_some_and(|h| seq <= h) {
            return false;
        }
        self.pending.insert(src.clone(), seq);
        true
    }

    /// The group is durable: its updates become part of the durable map.
    pub fn commit(&mut self) {
        self.durable.extend(self.pending.drain());
    }

    /// Raises the durable high-water mark (used while replaying the WAL).
    pub fn observe(&mut self, record: &Record) {
        if let (Some(src), Some(seq)) = (&record.source_id, record.seq) {
            let e = self.durable.entry(src.clone()).or_insert(seq);
            *e = (*e).max(seq);
        }
    }

    /// Forgets `source`'s high-water mark, once the reset is durable; returns the mark it
    /// had.
    pub fn reset(&mut self, source: &str) -> Option<u64> {
        self.pending.remove(source);
        self.durable.remove(source)
    }

    /// The durable map.
    pub fn durable(&self) -> &HashMap<String, u64> {
        &self.durable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skein_model::Timestamp;

    fn rec(src: &str, seq: u64) -> Record {
        let mut r = Record::new(Timestamp(0), "m");
        r.source_id = Some(src.into());
        r.seq = Some(seq);
        r
    }

    #[test]
    fn drops_at_or_below_the_high_water_mark() {
        let mut t = SeqTracker::default();
        t.begin();
        assert!(t.admit(&rec("a", 5)));
        assert!(!t.admit(&rec("a", 5)));
        assert!(!t.admit(&rec("a", 3)));
        assert!(t.admit(&rec("b", 1)));
        assert!(t.admit(&Record::new(Timestamp(0), "no identity")));
        t.commit();
        t.begin();
        assert!(!t.admit(&rec("a", 4)));
        assert!(t.admit(&rec("a", 6)));
    }

    #[test]
    fn failed_group_is_forgotten() {
        let mut t = SeqTracker::default();
        t.begin();
        assert!(t.admit(&rec("a", 5)));
        // fsync failed: no commit.
        t.begin();
        assert!(t.admit(&rec("a", 5)), "the retry must be accepted");
    }
}
