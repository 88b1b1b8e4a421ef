//! How much memory a [`Record`] holds, for the server's in-flight budget.
//!
//! The server bounds what it has accepted but not yet indexed (`--inflight-bytes`). A
//! record holds several times its JSON text: every string, map entry and tree node is
//! its own allocation, and a record from `/es/_bulk` also keeps its document. Counting
//! the text instead had let the budget hold about twice what it said. The figures here
//! follow the standard layouts (a `BTreeMap` leaf has room for 11 entries, an
//! `IndexMap` entry holds its hash, key and value, its index table a word and a control
//! byte per bucket); a test checks them against what the allocator hands out.

use crate::Record;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::mem::size_of;

/// Entries a `BTreeMap` leaf node has room for.
const BTREE_LEAF_ENTRIES: usize = 11;
/// A `BTreeMap<String, String>` leaf: keys, values, parent pointer, index and length.
const BTREE_LEAF_BYTES: usize = BTREE_LEAF_ENTRIES * 2 * size_of::<String>() + 16;

impl Record {
    /// About how many bytes this record takes in memory: itself and everything it owns.
    pub fn heap_bytes(&self) -> usize {
        let strings = [
            &self.host,
            &self.container,
            &self.container_id,
            &self.image,
            &self.stream,
            &self.message,
        ]
        .iter()
        .map(|s| s.capacity())
        .sum::<usize>();
        size_of::<Record>()
            + strings
            + labels_bytes(&self.labels)
            + map_bytes(&self.fields)
            + self.source_id.as_ref().map_or(0, String::capacity)
            + self.original.as_ref().map_or(0, |o| o.heap_bytes())
    }
}

fn labels_bytes(labels: &BTreeMap<String, String>) -> usize {
    if labels.is_empty() {
        return 0;
    }
    // One leaf up to 11 entries; beyond that leaves split and are about two thirds
    // full, under internal nodes that also hold 12 child pointers.
    let nodes = if labels.len() <= BTREE_LEAF_ENTRIES {
        BTREE_LEAF_BYTES
    } else {
        let leaves = labels.len().div_ceil(BTREE_LEAF_ENTRIES * 2 / 3);
        let internal = leaves.div_ceil(BTREE_LEAF_ENTRIES * 2 / 3);
        leaves * BTREE_LEAF_BYTES + internal * (BTREE_LEAF_BYTES + 12 * size_of::<usize>())
    };
    nodes
        + labels
            .iter()
            .map(|(k, v)| k.capacity() + v.capacity())
            .sum::<usize>()
}

/// An `IndexMap<String, Value>` (serde_json's map with `preserve_order`).
fn map_bytes(map: &Map<String, Value>) -> usize {
    if map.is_empty() {
        return 0;
    }
    let entry = size_of::<u64>() + size_of::<String>() + size_of::<Value>();
    let buckets = (map.len() * 8 / 7 + 1).next_power_of_two();
    map.len() * entry
        + buckets * (size_of::<usize>() + 1)
        + map
            .iter()
            .map(|(k, v)| k.capacity() + value_bytes(v))
            .sum::<usize>()
}

fn value_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => s.capacity(),
        Value::Array(a) => {
            a.capacity() * size_of::<Value>() + a.iter().map(value_bytes).sum::<usize>()
        }
        Value::Object(m) => map_bytes(m),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}
