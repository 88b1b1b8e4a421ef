//! A record's `fields` and `labels` as Tantivy reads a JSON field, borrowed.
//!
//! Tantivy takes an object field as a `BTreeMap<String, OwnedValue>`, which means a copy
//! of every key and string of every record, freed again right after the document is
//! written. Its own view of `serde_json::Value` borrows, but it turns any string that
//! looks like an RFC 3339 time into a date, so a `fields` value would be indexed under
//! another type than the one it was sent with. [`JsonRef`] borrows and keeps strings
//! as strings; numbers are `u64`, then `i64`, then `f64`, as skein has always indexed them.

use serde_json::{Map, Value as Json};
use std::collections::btree_map;
use std::collections::BTreeMap;
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf, Value};

/// A borrowed value of a record's `fields` or `labels`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JsonRef<'a> {
    /// A JSON value.
    Json(&'a Json),
    /// A whole `fields` object.
    Fields(&'a Map<String, Json>),
    /// A whole `labels` object.
    Labels(&'a BTreeMap<String, String>),
    /// A label's value.
    Str(&'a str),
}

/// The entries of an object.
pub(crate) enum Entries<'a> {
    Json(serde_json::map::Iter<'a>),
    Labels(btree_map::Iter<'a, String, String>),
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a str, JsonRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Entries::Json(it) => it.next().map(|(k, v)| (k.as_str(), JsonRef::Json(v))),
            Entries::Labels(it) => it.next().map(|(k, v)| (k.as_str(), JsonRef::Str(v))),
        }
    }
}

/// The elements of an array.
pub(crate) struct Elements<'a>(std::slice::Iter<'a, Json>);

impl<'a> Iterator for Elements<'a> {
    type Item = JsonRef<'a>;

    fn next(&mut self) -> Option<JsonRef<'a>> {
        self.0.next().map(JsonRef::Json)
    }
}

impl<'a> Value<'a> for JsonRef<'a> {
    type ArrayIter = Elements<'a>;
    type ObjectIter = Entries<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match *self {
            JsonRef::Fields(map) => ReferenceValue::Object(Entries::Json(map.iter())),
            JsonRef::Labels(map) => ReferenceValue::Object(Entries::Labels(map.iter())),
            JsonRef::Str(s) => ReferenceValue::Leaf(ReferenceValueLeaf::Str(s)),
            JsonRef::Json(v) => match v {
                Json::Null => ReferenceValue::Leaf(ReferenceValueLeaf::Null),
                Json::Bool(b) => ReferenceValue::Leaf(ReferenceValueLeaf::Bool(*b)),
                Json::Number(n) => ReferenceValue::Leaf(if let Some(u) = n.as_u64() {
                    ReferenceValueLeaf::U64(u)
                } else if let Some(i) = n.as_i64() {
                    ReferenceValueLeaf::I64(i)
                } else {
                    ReferenceValueLeaf::F64(n.as_f64().unwrap_or(f64::NAN))
                }),
                Json::String(s) => ReferenceValue::Leaf(ReferenceValueLeaf::Str(s)),
                Json::Array(a) => ReferenceValue::Array(Elements(a.iter())),
                Json::Object(o) => ReferenceValue::Object(Entries::Json(o.iter())),
            },
        }
    }
}
