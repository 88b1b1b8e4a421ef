//! The [`Record`]: one log line after parsing, and its JSON wire form.
//!
//! The same JSON form is used on the ingest wire, in API hits and in `--output json`.
//! Decoding is strict so that a shipper learns about a mistake at once: a line with a
//! missing or unparseable `@timestamp`, a wrong type or an unknown top-level key is
//! rejected by itself, with its line number and the reason, and the rest of its batch
//! is kept ([`decode_ndjson`]).

use crate::es_mapping::Cut;
use crate::{Level, PatternId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// One log line after parsing and enrichment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// When the line was written (from the json-file `time`, nanoseconds kept).
    #[serde(rename = "@timestamp")]
    pub timestamp: Timestamp,
    /// The node the line came from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Container name (or short id when no metadata is known).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container: String,
    /// Full container id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_id: String,
    /// Image reference the container runs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// `stdout` or `stderr` (free-form for other sources).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stream: String,
    /// Normalised severity, absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// The log pattern (message template) the server's miner put the line in; set at
    /// ingest, so a value a client sends is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<PatternId>,
    /// The human-readable line.
    #[serde(default)]
    pub message: String,
    /// Container labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Every other key of a structured payload; nested objects kept.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Delivery identity: the source this record came from.
    #[serde(
        rename = "_source_id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_id: Option<String>,
    /// Delivery identity: strictly increasing position within `source_id`.
    #[serde(rename = "_seq", default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The document exactly as a client sent it, for records that came through the
    /// Elasticsearch-compatible API: their searches give it back as `_source`. Stored,
    /// never indexed. Accepted on input (the WAL line of such a record carries it, so a
    /// replay keeps it) but left out of the record's JSON form, so hits, follow output
    /// and `--output json` show the record, not the document twice.
    #[serde(rename = "_original", default, skip_serializing)]
    pub original: Option<Original>,
}

/// A JSON document kept byte for byte as it was received, with the values in it that
/// equal a part of its record ([`Cut`]s, found when the document was mapped).
#[derive(Debug, Clone)]
pub struct Original {
    text: Box<str>,
    cuts: Vec<Cut>,
}

impl Original {
    /// Keeps `json`, which must be one valid JSON value.
    pub fn from_json(json: &str) -> Result<Original, serde_json::Error> {
        serde_json::from_str::<serde::de::IgnoredAny>(json)?;
        Ok(Original::parsed(json, Vec::new()))
    }

    /// Keeps `json` without checking it again: only for text this crate has just parsed
    /// as JSON.
    pub(crate) fn parsed(json: &str, cuts: Vec<Cut>) -> Original {
        Original {
            text: json.into(),
            cuts,
        }
    }

    pub(crate) fn set_cuts(&mut self, cuts: Vec<Cut>) {
        self.cuts = cuts;
    }

    /// The JSON text as received.
    pub fn get(&self) -> &str {
        &self.text
    }

    /// The values that equal a part of the record, in document order; empty unless the
    /// document was mapped ([`crate::es_mapping`]).
    pub fn cuts(&self) -> &[Cut] {
        &self.cuts
    }

    /// Bytes this holds beyond itself ([`Record::heap_bytes`]).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.text.len() + self.cuts.capacity() * std::mem::size_of::<Cut>()
    }
}

impl<'de> Deserialize<'de> for Original {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Original, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        let text: Box<str> = raw.into();
        Ok(Original {
            text,
            cuts: Vec::new(),
        })
    }
}

impl Serialize for Original {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Checked when it was kept; `RawValue` is how serde_json writes text as is.
        let raw: &serde_json::value::RawValue =
            serde_json::from_str(&self.text).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl PartialEq for Original {
    fn eq(&self, other: &Original) -> bool {
        self.get() == other.get()
    }
}

impl Record {
    /// A record with only a time and a message set.
    pub fn new(timestamp: Timestamp, message: impl Into<String>) -> Record {
        Record {
            timestamp,
            host: String::new(),
            container: String::new(),
            container_id: String::new(),
            image: String::new(),
            stream: String::new(),
            level: None,
            pattern: None,
            message: message.into(),
            labels: BTreeMap::new(),
            fields: serde_json::Map::new(),
            source_id: None,
            seq: None,
            original: None,
        }
    }

    /// Decodes one JSON record, explaining what is wrong when it is not one.
    pub fn from_json(line: &[u8]) -> Result<Record, RecordError> {
        Record::from_json_part(line)?.check_identity()
    }

    /// Decodes one JSON record that may still lack what a compact batch's `@source`
    /// line gives it ([`crate::compact`]): the pairing of `_source_id` and `_seq` is
    /// not checked yet.
    pub(crate) fn from_json_part(line: &[u8]) -> Result<Record, RecordError> {
        serde_json::from_slice(line).map_err(|e| {
            // serde_json says "at line 1 column N"; within one NDJSON line only the
            // column means anything.
            let full = e.to_string();
            let msg = match full.rfind(" at line ") {
                Some(i) => format!("{} (column {})", &full[..i], e.column()),
                None => full,
            };
            let msg = if e.is_syntax() || e.is_eof() {
                format!("not valid JSON: {msg}")
            } else {
                msg
            };
            // serde reports a missing field as "missing field `@timestamp`": keep that
            // wording but say what to send.
            if msg.starts_with("missing field `@timestamp`") {
                RecordError::Invalid(
                    "missing field `@timestamp` (an RFC 3339 time such as 2026-11-20T10:00:00Z)"
                        .into(),
                )
            } else {
                RecordError::Invalid(msg)
            }
        })
    }

    /// Refuses a record with only one half of its delivery identity.
    pub(crate) fn check_identity(self) -> Result<Record, RecordError> {
        if self.source_id.is_some() != self.seq.is_some() {
            return Err(RecordError::Invalid(
                "`_source_id` and `_seq` must be sent together".into(),
            ));
        }
        Ok(self)
    }

    /// The JSON form as one line (no trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a Record always serialises")
    }
}

/// The largest `_seq` accepted: JSON's safe integers (2^53), which every JSON tool reads
/// exactly. A source's high-water mark never goes down, so one record with a `_seq`
/// near `u64::MAX` would otherwise silence its source for good.
pub const MAX_SEQ: u64 = 1 << 53;

/// Why one line of a batch was rejected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The line is not a valid record; the text says which part and why.
    #[error("{0}")]
    Invalid(String),
}

/// A line of an NDJSON batch that was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// 1-based line number within the body.
    pub line: usize,
    /// What was wrong with it.
    pub error: String,
}

/// The records of an NDJSON body, with where each came from.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The valid records, in body order.
    pub records: Vec<Record>,
    /// For each record, the byte range of its line in the body (without the newline).
    pub spans: Vec<std::ops::Range<usize>>,
    /// The lines that were not valid records.
    pub rejected: Vec<Rejected>,
}

/// Refuses a `_seq` over [`MAX_SEQ`] at ingest. (Replay reads the WAL with
/// [`Record::from_json`] alone, so lines written before this limit still load.)
pub(crate) fn seq_in_range(rec: Record) -> Result<Record, RecordError> {
    match rec.seq {
        Some(seq) if seq > MAX_SEQ => Err(RecordError::Invalid(format!(
            "`_seq` {seq} is over 2^53 ({MAX_SEQ}), the largest integer JSON tools keep \
             exactly; number each source's records from 1 upwards"
        ))),
        _ => Ok(rec),
    }
}

/// Decodes an NDJSON body line by line. Blank lines are skipped; each bad line is
/// reported with its 1-based number and the rest are returned.
pub fn decode_ndjson(body: &[u8]) -> Decoded {
    // Sized once: grown by doubling, the records' vector would hold up to twice their
    // room for as long as they wait to be indexed.
    let lines = memchr::memchr_iter(b'\n', body).count() + 1;
    let mut out = Decoded {
        records: Vec::with_capacity(lines),
        spans: Vec::with_capacity(lines),
        rejected: Vec::new(),
    };
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    for (i, end) in ends.enumerate() {
        let line = &body[start..end];
        let span = start..end;
        start = end + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match Record::from_json(line).and_then(seq_in_range) {
            Ok(r) => {
                out.records.push(r);
                out.spans.push(span.start..span.start + line.len());
            }
            Err(e) => out.rejected.push(Rejected {
                line: i + 1,
                error: e.to_string(),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"@timestamp":"2026-11-20T10:00:00.123456789Z","host":"node-1","container":"web","container_id":"3f2a","image":"shop/web:1.4","stream":"stdout","level":"error","message":"payment failed: timeout","labels":{"com.docker.compose.service":"web"},"fields":{"user_id":42,"latency_ms":1830,"path":"/api/pay"},"_source_id":"node-1/3f2a/stdout","_seq":1048576}"#;

    #[test]
    fn design_example_roundtrips() {
        let r = Record::from_json(FULL.as_bytes()).unwrap();
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(r.fields["latency_ms"], 1830);
        assert_eq!(r.seq, Some(1048576));
        assert_eq!(r.to_json(), FULL);
    }

    #[test]
    fn bad_lines_are_rejected_alone() {
        let body = format!(
            "{FULL}\nnot json\n\n{{\"message\":\"no time\"}}\n{{\"@timestamp\":\"yesterday\"}}\n{{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"fields\":[1]}}\n{{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"bogus\":1}}\n{FULL}\n"
        );
        let d = decode_ndjson(body.as_bytes());
        let (ok, bad) = (d.records, d.rejected);
        assert_eq!(ok.len(), 2);
        assert_eq!(&body.as_bytes()[d.spans[0].clone()], FULL.as_bytes());
        assert_eq!(&body.as_bytes()[d.spans[1].clone()], FULL.as_bytes());
        let lines: Vec<usize> = bad.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 4, 5, 6, 7]);
        assert!(
            bad[0].error.starts_with("not valid JSON"),
            "{}",
            bad[0].error
        );
        assert!(bad[0].error.contains("(column 2)"), "{}", bad[0].error);
        assert!(bad[1].error.contains("@timestamp"), "{}", bad[1].error);
        assert!(
            bad[2].error.contains("cannot parse time"),
            "{}",
            bad[2].error
        );
        assert!(bad[3].error.contains("invalid type"), "{}", bad[3].error);
        assert!(
            bad[4].error.contains("unknown field `bogus`"),
            "{}",
            bad[4].error
        );
    }

    #[test]
    fn original_is_read_but_not_written() {
        let line = r#"{"@timestamp":"2026-11-20T10:00:00Z","message":"m","_original":{"log":"m",  "n":1.50}}"#;
        let r = Record::from_json(line.as_bytes()).unwrap();
        assert_eq!(
            r.original.as_ref().unwrap().get(),
            r#"{"log":"m",  "n":1.50}"#
        );
        assert_eq!(
            r.to_json(),
            r#"{"@timestamp":"2026-11-20T10:00:00.000000000Z","message":"m"}"#
        );
    }

    #[test]
    fn seq_over_json_safe_integers_is_rejected() {
        let line = |seq: u64| {
            format!(r#"{{"@timestamp":"2026-11-20T10:00:00Z","_source_id":"a","_seq":{seq}}}"#)
        };
        let body = [MAX_SEQ, MAX_SEQ + 1, u64::MAX].map(line).join("\n");
        let d = decode_ndjson(body.as_bytes());
        assert_eq!(d.records.len(), 1);
        assert_eq!(d.records[0].seq, Some(MAX_SEQ));
        assert_eq!(d.rejected.len(), 2);
        assert_eq!(d.rejected[1].line, 3);
        assert!(
            d.rejected[1].error.contains("over 2^53"),
            "{:?}",
            d.rejected
        );
    }

    #[test]
    fn seq_without_source_is_rejected() {
        let e =
            Record::from_json(br#"{"@timestamp":"2026-11-20T10:00:00Z","_seq":3}"#).unwrap_err();
        assert!(e.to_string().contains("together"));
    }
}
