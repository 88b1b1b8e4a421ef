//! Events to the server's compact batch form ([`skein_model::compact`]), without
//! building a [`skein_model::Record`] per line.
//!
//! Everything a source's records share (host, container, image, labels, the source ids)
//! goes into one `@source` line, written into a batch when the batch's records switch
//! to that source ([`BatchWriter`]); each event then costs its own fields only. The
//! records the server reads are exactly what [`crate::build_record`] gives, which the
//! tests check.

use crate::decode::Event;
use crate::enrich::SourceMeta;
use skein_model::compact::{self, Source};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// A batch body in the compact form, remembering whose `@source` line is in force.
#[derive(Debug, Default)]
pub struct BatchWriter {
    /// The body so far.
    pub bytes: Vec<u8>,
    /// The [`RecordEncoder`] whose `@source` line the next record line would take its
    /// source's fields from; 0 for none.
    current: u64,
}

impl BatchWriter {
    /// An empty body with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> BatchWriter {
        BatchWriter {
            bytes: Vec::with_capacity(bytes),
            current: 0,
        }
    }

    /// Appends a whole record's JSON line (a record that names its own source): after
    /// an empty `@source` line if another source's is in force, so it takes nothing
    /// from it.
    pub fn push_record_line(&mut self, json: &[u8]) {
        if self.current != 0 {
            compact::write_source_line(&mut self.bytes, &Source::default());
            self.current = 0;
        }
        self.bytes.extend_from_slice(json);
        self.bytes.push(b'\n');
    }

    /// Bytes written.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Empties the body for the next batch.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.current = 0;
    }
}

/// Makes every encoder's `@source` line tell apart from every other's in a batch.
static NEXT_ENCODER: AtomicU64 = AtomicU64::new(1);

/// Writes the records of one source (see the module docs).
#[derive(Debug)]
pub struct RecordEncoder {
    id: u64,
    /// The `@source` line, with its newline.
    source_line: Vec<u8>,
}

impl RecordEncoder {
    /// An encoder for records of `meta`, with json-file `attrs` added to the labels
    /// (the metadata's own labels win).
    pub fn new(meta: &SourceMeta, attrs: Option<&BTreeMap<String, String>>) -> RecordEncoder {
        let mut labels = meta.labels.clone();
        for (k, v) in attrs.into_iter().flatten() {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let source = Source {
            host: meta.host.clone(),
            container: meta.container_name().to_string(),
            container_id: meta.container_id.clone(),
            image: meta.image.clone(),
            labels,
            source_ids: SLOTS
                .iter()
                .enumerate()
                .map(|(slot, s)| (STREAMS[slot].to_string(), meta.source_id(s)))
                .collect(),
        };
        let mut source_line = Vec::new();
        compact::write_source_line(&mut source_line, &source);
        RecordEncoder {
            id: NEXT_ENCODER.fetch_add(1, Ordering::Relaxed),
            source_line,
        }
    }

    /// Appends `event` as one record line with its delivery identity: `_source_id` of
    /// its stream (malformed lines, which belong to none, have a source of their own)
    /// and `_seq` = `seq_base + event.offset`; after this source's `@source` line when
    /// another one is in force.
    pub fn encode(&self, event: &Event, seq_base: u64, batch: &mut BatchWriter) {
        if batch.current != self.id {
            batch.bytes.extend_from_slice(&self.source_line);
            batch.current = self.id;
        }
        let out = &mut batch.bytes;
        let p = &event.payload;
        out.extend_from_slice(b"{\"@timestamp\":\"");
        let time = p.time.unwrap_or(event.time);
        out.extend_from_slice(&time.rfc3339_bytes());
        out.push(b'"');
        if let Some(stream) = event.stream {
            out.extend_from_slice(b",\"stream\":\"");
            out.extend_from_slice(stream.as_str().as_bytes());
            out.push(b'"');
        }
        if let Some(level) = p.level {
            out.extend_from_slice(b",\"level\":\"");
            out.extend_from_slice(level.as_str().as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b",\"message\":");
        write_str(out, &p.message);
        if let Some(raw) = &p.raw_fields {
            out.extend_from_slice(b",\"fields\":");
            out.extend_from_slice(raw.as_bytes());
        } else if !p.fields.is_empty() {
            out.extend_from_slice(b",\"fields\":");
            serde_json::to_writer(&mut *out, &p.fields).expect("writing to a Vec");
        }
        out.extend_from_slice(b",\"_seq\":");
        write_u64(out, seq_base + event.offset);
        out.extend_from_slice(b"}\n");
    }
}

/// The delivery sources of a container, by [`Event::slot`].
pub const SLOTS: [&str; 3] = ["stdout", "stderr", "malformed"];
/// The `stream` a record of each slot carries (none for malformed lines).
const STREAMS: [&str; 3] = ["stdout", "stderr", ""];

/// Appends `n` in decimal (what `write!` would, without `core::fmt`'s machinery on
/// every record).
fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    crate::parse::scan::write_json_str(out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::{build_record, Delivery};
    use crate::parse::payload::{self, PayloadConfig};
    use crate::parse::Stream;
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

    #[test]
    fn writes_numbers_as_format_does() {
        for n in [0, 1, 9, 10, 99, 100, 1 << 40, u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
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
            let mut batch = BatchWriter::default();
            let encoder = RecordEncoder::new(&meta, Some(&attrs));
            encoder.encode(&event, base, &mut batch);
            // A record line that names its own source takes nothing from the one in force.
            let own = Record::new(Timestamp(0), "own");
            batch.push_record_line(own.to_json().as_bytes());
            encoder.encode(&event, base + 1, &mut batch);
            prop_assert_eq!(batch.bytes.last(), Some(&b'\n'));
            let got = skein_model::compact::decode(&batch.bytes).decoded;
            prop_assert!(got.rejected.is_empty(), "{:?}", got.rejected);
            prop_assert_eq!(&got.records[0], &reference(&meta, &attrs, &event, base));
            prop_assert_eq!(&got.records[1], &own);
            prop_assert_eq!(&got.records[2], &reference(&meta, &attrs, &event, base + 1));
        }
    }
}
