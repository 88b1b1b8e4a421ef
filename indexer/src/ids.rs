//! Documents' own `_id`s: finding the stored document an `(_index, _id)` pair names,
//! for latest-wins replacement (the indexer) and `op_type=create` conflicts (the WAL
//! thread).
//!
//! A client's `_id` is kept in `fields._id` beside `fields._index`. `fields` are columns
//! without an inverted index, so a lookup asks each segment's column dictionary (a
//! sorted table: one search, no scan) whether it holds the id at all, and only a
//! segment that does is scanned for the documents with that value. New ids, the common
//! case, cost one dictionary search per segment. Documents sent without an `_id` are
//! never looked up: their id is their ingest order ([`generated_id`]), unique by
//! construction.

use crate::partition::Partition;
use std::collections::HashMap;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery};
use tantivy::{Searcher, Term};

/// The column of a client's `_id`.
pub const ID_COLUMN: &str = "fields._id";
/// The column of a document's index.
pub const INDEX_COLUMN: &str = "fields._index";

/// The `_id` of a record stored without one: its ingest order (`_ord`, the WAL entry and
/// the record's place in it) as 20 hex digits, Elasticsearch's length for generated ids.
/// The same after a restart (replay gives every record its place again).
pub fn generated_id(ord: u64) -> String {
    format!("{ord:020x}")
}

/// The ingest order a generated id stands for, if `id` has the form of one.
pub fn generated_ord(id: &str) -> Option<u64> {
    if id.len() != 20 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let (high, low) = id.split_at(4);
    if high != "0000" {
        return None;
    }
    u64::from_str_radix(low, 16).ok()
}

/// The ingest order of the `i`-th record of WAL entry `lsn`, as the indexer gives it.
pub fn ord_of(lsn: u64, i: u32) -> u64 {
    (lsn << 24) | u64::from(i)
}

/// Whether `searcher` holds a live document of `index` whose client `_id` is `id`.
pub fn holds(searcher: &Searcher, index: &str, id: &str) -> tantivy::Result<bool> {
    let mut docs = Vec::new();
    for reader in searcher.segment_readers() {
        let Some(ids) = reader.fast_fields().str(ID_COLUMN)? else {
            continue;
        };
        let Some(ord) = ids.dictionary().term_ord(id)? else {
            continue;
        };
        docs.clear();
        ids.ords()
            .get_docids_for_value_range(ord..=ord, 0..reader.max_doc(), &mut docs);
        let alive: Vec<u32> = docs
            .iter()
            .copied()
            .filter(|&d| !reader.is_deleted(d))
            .collect();
        if alive.is_empty() {
            continue;
        }
        let Some(indices) = reader.fast_fields().str(INDEX_COLUMN)? else {
            continue;
        };
        let Some(index_ord) = indices.dictionary().term_ord(index)? else {
            continue;
        };
        if alive
            .iter()
            .any(|&d| indices.term_ords(d).any(|o| o == index_ord))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The documents of `index` whose client `_id` is `id`: what a newer document with that
/// id deletes. Columns only, as every `fields` query.
pub fn id_query(fields: tantivy::schema::Field, index: &str, id: &str) -> Box<dyn Query> {
    let exact = |path: &str, v: &str| -> Box<dyn Query> {
        let mut t = Term::from_field_json_path(fields, path, true);
        t.append_type_and_str(v);
        Box::new(RangeQuery::new(
            std::ops::Bound::Included(t.clone()),
            std::ops::Bound::Included(t),
        ))
    };
    Box::new(BooleanQuery::new(vec![
        (Occur::Must, exact("_index", index)),
        (Occur::Must, exact("_id", id)),
    ]))
}

/// Whether some partition of `partitions` holds a live document `(index, id)`.
pub fn any_holds(
    partitions: &[std::sync::Arc<Partition>],
    index: &str,
    id: &str,
) -> tantivy::Result<bool> {
    for p in partitions {
        if holds(&p.searcher(), index, id)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Client ids written to the WAL but perhaps not yet searchable, with the WAL entry
/// that wrote each: what [`holds`] cannot see yet. Entries leave once the searchable
/// position passes them ([`RecentIds::forget_through`]); a group's ids are pending until
/// its fsync succeeds.
#[derive(Debug, Default)]
pub struct RecentIds {
    durable: HashMap<(Box<str>, Box<str>), u64>,
    pending: HashMap<(Box<str>, Box<str>), u64>,
}

impl RecentIds {
    /// Starts a group: forgets the ids of a group whose write failed.
    pub fn begin(&mut self) {
        self.pending.clear();
    }

    /// Whether `(index, id)` was written (durably, or earlier in this group).
    pub fn contains(&self, index: &str, id: &str) -> bool {
        let key = (Box::from(index), Box::from(id));
        self.pending.contains_key(&key) || self.durable.contains_key(&key)
    }

    /// Notes `(index, id)` as written by entry `lsn` of the current group.
    pub fn insert(&mut self, index: &str, id: &str, lsn: u64) {
        self.pending.insert((index.into(), id.into()), lsn);
    }

    /// The group is durable.
    pub fn commit(&mut self) {
        self.durable.extend(self.pending.drain());
    }

    /// Forgets ids written by entries at or below `lsn`, which searches now see.
    pub fn forget_through(&mut self, lsn: u64) {
        self.durable.retain(|_, l| *l > lsn);
    }

    /// Ids held.
    pub fn len(&self) -> usize {
        self.durable.len() + self.pending.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_and_client_ids_do_not_parse() {
        let ord = ord_of(12_345, 7);
        let id = generated_id(ord);
        assert_eq!(id.len(), 20);
        assert_eq!(generated_ord(&id), Some(ord));
        for other in [
            "",
            "x",
            "0000000000000000000g",
            "1000000000000000000f",
            "00000000000000000000a",
        ] {
            assert_eq!(generated_ord(other), None, "{other}");
        }
    }

    #[test]
    fn recent_ids_of_a_failed_group_are_forgotten() {
        let mut r = RecentIds::default();
        r.begin();
        r.insert("i", "a", 3);
        assert!(r.contains("i", "a"));
        r.begin();
        assert!(!r.contains("i", "a"));
        r.insert("i", "b", 4);
        r.commit();
        assert!(r.contains("i", "b") && !r.contains("j", "b"));
        r.forget_through(3);
        assert!(r.contains("i", "b"));
        r.forget_through(4);
        assert!(r.is_empty());
    }
}
