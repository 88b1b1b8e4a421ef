//! The WAL line of a mapped OTLP record, written from the OTLP values while the record
//! is mapped ([`super::map`]), as `/api/v1/ingest` hands the WAL its client's own lines.
//!
//! Serialising each mapped [`skein_model::Record`] again afterwards walked every field
//! a second time (about a fifth of the OTLP path's CPU). A line only has to decode to
//! the record ([`skein_indexer::batch::decode_line`]), not to be byte for byte what
//! `serde_json` would write for it: its members may come in any order, and within
//! `fields` (and any object value) a key may repeat. The mapping relies on that: it
//! writes a member each time it inserts into `fields`, and JSON decoding, like
//! [`serde_json::Map::insert`], keeps the last value at the first key's place.

use base64::Engine;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};

/// Appends `s` as a JSON string.
pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing to a Vec never fails");
}

/// Appends `value` as the JSON [`super::map::to_json`] makes of it.
pub(super) fn any(out: &mut Vec<u8>, value: Option<&AnyValue>) {
    match value.and_then(|v| v.value.as_ref()) {
        None => out.extend_from_slice(b"null"),
        Some(any_value::Value::StringValue(s)) => string(out, s),
        Some(any_value::Value::BoolValue(b)) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" })
        }
        Some(any_value::Value::IntValue(i)) => {
            serde_json::to_writer(&mut *out, i).expect("writing to a Vec never fails")
        }
        Some(any_value::Value::StringValueStrindex(i)) => {
            serde_json::to_writer(&mut *out, i).expect("writing to a Vec never fails")
        }
        Some(any_value::Value::DoubleValue(d)) if d.is_finite() => {
            // serde_json's own float writer, so the text is what a `Value` gives.
            serde_json::to_writer(&mut *out, d).expect("writing to a Vec never fails")
        }
        Some(any_value::Value::DoubleValue(d)) => string(out, &d.to_string()),
        Some(any_value::Value::BytesValue(b)) => {
            // Base64 needs no escaping.
            out.push(b'"');
            let start = out.len();
            let len = base64::encoded_len(b.len(), true).expect("a request's bytes fit");
            out.resize(start + len, 0);
            base64::engine::general_purpose::STANDARD
                .encode_slice(b, &mut out[start..])
                .expect("sized by encoded_len");
            out.push(b'"');
        }
        Some(any_value::Value::ArrayValue(a)) => {
            out.push(b'[');
            for (i, v) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                any(out, Some(v));
            }
            out.push(b']');
        }
        Some(any_value::Value::KvlistValue(list)) => {
            out.push(b'{');
            for (i, kv) in list.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, &kv.key);
                out.push(b':');
                any(out, kv.value.as_ref());
            }
            out.push(b'}');
        }
    }
}

/// The members of a JSON object being appended, commas between them.
pub(super) struct Members<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Members<'a> {
    /// Opens an object on `out`.
    pub(super) fn open(out: &'a mut Vec<u8>) -> Members<'a> {
        out.push(b'{');
        Members { out, empty: true }
    }

    /// Starts the member `key`: what follows in [`Members::out`] is its value.
    pub(super) fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        string(self.out, key);
        self.out.push(b':');
        self.out
    }

    /// Closes the object.
    pub(super) fn close(self) {
        self.out.push(b'}');
    }
}
