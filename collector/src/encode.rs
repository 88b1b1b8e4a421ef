//! Events to the server's NDJSON, without building a [`skein_model::Record`] per line.
//!
//! Everything a source's records share (host, container, image, labels, the source ids)
//! is serialized once per source; each event then costs its own fields only. The output
//! is exactly what [`crate::build_record`] followed by `Record::to_json` gives, which the
//! tests check.

use crate::decode::Event;
use crate::enrich::SourceMeta;
use crate::parse::Stream;
use std::collections::BTreeMap;
use std::io::Write;

/// Writes the records of one source as NDJSON lines.
#[derive(Debug, Clone)]
pub struct RecordEncoder {
    /// `,"host":…,"container":…,"container_id":…,"image":…` up to the stream.
    identity: Vec<u8>,
    /// `,"labels":{…}` or empty.
    labels: Vec<u8>,
    /// `,"_source_id":"…"` per slot: stdout, stderr, malformed lines.
    source_ids: [Vec<u8>; 3],
}

impl RecordEncoder {
    /// An encoder for records of `meta`, with json-file `attrs` added to the labels
    /// (the metadata's own labels win).
    pub fn new(meta: &SourceMeta, attrs: Option<&BTreeMap<String, String>>) -> RecordEncoder {
        let mut identity = Vec::new();
        for (key, value) in [
            ("host", meta.host.as_str()),
            ("container", meta.container_name()),
            ("container_id", meta.container_id.as_str()),
            ("image", meta.image.as_str()),
        ] {
            write!(identity, ",\"{key}\":").expect("writing to a Vec");
            write_str(&mut identity, value);
        }
        let mut merged: BTreeMap<&str, &str> = meta
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for (k, v) in attrs.into_iter().flatten() {
            merged.entry(k).or_insert(v);
        }
        let mut labels = Vec::new();
        if !merged.is_empty() {
            labels.extend_from_slice(b",\"labels\":");
            serde_json::to_writer(&mut labels, &merged).expect("writing to a Vec");
        }
        let source_ids = SLOTS.map(|s| {
            let mut v = b",\"_source_id\":".to_vec();
            write_str(&mut v, &meta.source_id(s));
            v
        });
        RecordEncoder {
            identity,
            labels,
            source_ids,
        }
    }

    /// Appends `event` as one NDJSON line with its delivery identity: `_source_id` of its
    /// stream (malformed lines, which belong to none, have a source of their own) and
    /// `_seq` = `seq_base + event.offset`.
    pub fn encode(&self, event: &Event, seq_base: u64, out: &mut Vec<u8>) {
        let p = &event.payload;
        out.extend_from_slice(b"{\"@timestamp\":\"");
        let time = p.time.unwrap_or(event.time);
        out.extend_from_slice(&time.rfc3339_bytes());
        out.push(b'"');
        out.extend_from_slice(&self.identity);
        out.extend_from_slice(b",\"stream\":\"");
        out.extend_from_slice(event.stream.map_or("", Stream::as_str).as_bytes());
        out.push(b'"');
        if let Some(level) = p.level {
            out.extend_from_slice(b",\"level\":\"");
            out.extend_from_slice(level.as_str().as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b",\"message\":");
        write_str(out, &p.message);
        out.extend_from_slice(&self.labels);
        if let Some(raw) = &p.raw_fields {
            out.extend_from_slice(b",\"fields\":");
            out.extend_from_slice(raw.as_bytes());
        } else if !p.fields.is_empty() {
            out.extend_from_slice(b",\"fields\":");
            serde_json::to_writer(&mut *out, &p.fields).expect("writing to a Vec");
        }
        out.extend_from_slice(&self.source_ids[event.slot()]);
        write!(out, ",\"_seq\":{}", seq_base + event.offset).expect("writing to a Vec");
        out.extend_from_slice(b"}\n");
    }
}

/// The delivery sources of a container, by [`Event::slot`].
pub const SLOTS: [&str; 3] = ["stdout", "stderr", "malformed"];

fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing to a Vec");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::{build_record, Delivery};
    use crate::parse::payload::{self, PayloadConfig};
    use proptest::prelude::*;
    use skein_model::{Record, Timestamp};

    const ID: &str = "3f2a9c1be0d84a7c9e51b2f6a8d04c1e7b93f5a2c6d8e0f1a3b5c7d9e1f2a4b6";

    fn reference(
        meta: &SourceMeta,
        attrs: &BTreeMap<String, String>,
        e: &Event,
        base: u64,
    ) -> Record {
        let delivery = Some(Delivery {
            source_id: meta.source_id(SLOTS[e.slot()]),
            seq: base + e.offset,
        });
        let stream = e.stream.map_or("", Stream::as_str);
        let mut r = build_record(meta, stream, e.time, e.payload.clone(), delivery);
        for (k, v) in attrs {
            r.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        r
    }

    proptest! {
        #[test]
        fn encodes_what_build_record_builds(
            text in "\\PC{0,60}",
            json in proptest::bool::ANY,
            stream in proptest::option::of(prop_oneof![Just(Stream::Stdout), Just(Stream::Stderr)]),
            nanos in 0i64..4_000_000_000_000_000_000,
            offset in 0u64..1 << 40,
            base in 0u64..1 << 40,
            name in "[a-z\"\\\\]{0,8}",
            label in proptest::option::of("[a-z.\"]{1,6}"),
            attr in proptest::option::of("[a-z]{1,6}"),
        ) {
            let mut meta = SourceMeta::from_container_id("node \"1\"", ID);
            meta.container = name;
            meta.image = "shop/web:1.4".into();
            if let Some(l) = &label {
                meta.labels.insert(l.clone(), "v".into());
            }
            let attrs: BTreeMap<String, String> =
                attr.iter().map(|a| (a.clone(), "from attrs".to_string())).collect();
            let line = if json {
                format!(r#"{{"level":"warn","msg":{},"n":1}}"#, serde_json::to_string(&text).unwrap())
            } else {
                text
            };
            let event = Event {
                stream,
                time: Timestamp(nanos),
                payload: payload::parse_str(&line, &PayloadConfig::default()),
                offset,
                last_offset: offset,
            };
            let mut out = Vec::new();
            RecordEncoder::new(&meta, Some(&attrs)).encode(&event, base, &mut out);
            prop_assert_eq!(out.last(), Some(&b'\n'));
            let got = Record::from_json(&out[..out.len() - 1]).unwrap();
            prop_assert_eq!(got, reference(&meta, &attrs, &event, base));
        }
    }
}
