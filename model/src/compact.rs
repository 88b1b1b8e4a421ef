//! The compact batch form: NDJSON records whose source's fields are sent once.
//!
//! Every record of a container repeats its host, name, id, image, labels and
//! `_source_id`: about half of an NDJSON batch from the agent. The compact form sends
//! them once per source and batch instead. It is NDJSON with one more kind of line:
//!
//! ```text
//! {"@source":{"host":"node-1","container":"web","container_id":"3f2a…","image":"shop/web:1.4",
//!   "labels":{"app":"shop"},"_source_ids":{"stdout":"node-1/3f2a/stdout","stderr":"node-1/3f2a/stderr"}}}
//! {"@timestamp":"2026-11-20T10:00:00Z","stream":"stdout","message":"GET /","_seq":42}
//! ```
//!
//! A `@source` line gives the record lines after it, until the next `@source` line,
//! the fields they leave out: `host`, `container`, `container_id`, `image`, `labels`,
//! and `_source_id`, looked up in `_source_ids` by the record's `stream` (`""` for a
//! record without one). A value a record line has itself wins. Everything else is as in
//! NDJSON, line by line: a bad line is rejected alone, with its 1-based line number
//! (`@source` lines count). An NDJSON body is therefore also a valid compact body.
//!
//! It travels as `Content-Type: application/x-skein-batch; version=1` ([`CONTENT_TYPE`],
//! [`VERSION`]). A server answers 415 to a version it does not know, and the agent then
//! sends NDJSON ([`expand`]); the records stored are the same either way.

use crate::record::{seq_in_range, Decoded, Rejected};
use crate::{Record, RecordError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;
use thiserror::Error;

/// The media type of the compact form, without its version parameter.
pub const MEDIA_TYPE: &str = "application/x-skein-batch";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;
/// The full `Content-Type` of a batch this build writes.
pub const CONTENT_TYPE: &str = "application/x-skein-batch; version=1";

/// How an ingest body is written, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// One record per line (any content type but the compact one).
    Ndjson,
    /// The compact form, version [`VERSION`].
    Compact,
}

/// A compact batch of a version this build does not read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error(
    "this server reads the compact batch form version {VERSION} only, not {0:?}; send \
     NDJSON (Content-Type: application/x-ndjson) or upgrade the server"
)]
pub struct UnknownVersion(pub String);

/// The form of a body sent with `content_type`.
pub fn form_of(content_type: Option<&str>) -> Result<Form, UnknownVersion> {
    let Some(ct) = content_type else {
        return Ok(Form::Ndjson);
    };
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case(MEDIA_TYPE) {
        return Ok(Form::Ndjson);
    }
    let version = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("version"))
        .map(|(_, v)| v.trim().trim_matches('"'));
    match version {
        Some(v) if v.parse::<u32>() == Ok(VERSION) => Ok(Form::Compact),
        Some(v) => Err(UnknownVersion(v.to_string())),
        None => Err(UnknownVersion("(none)".into())),
    }
}

/// What the record lines after a `@source` line leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The node.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Container name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container: String,
    /// Full container id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_id: String,
    /// Image reference.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// Container labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `_source_id` by the record's `stream` (`""` for records without one).
    #[serde(
        rename = "_source_ids",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub source_ids: BTreeMap<String, String>,
}

impl Source {
    /// Gives `record` what it left out.
    pub fn fill(&self, record: &mut Record) {
        for (mine, theirs) in [
            (&mut record.host, &self.host),
            (&mut record.container, &self.container),
            (&mut record.container_id, &self.container_id),
            (&mut record.image, &self.image),
        ] {
            if mine.is_empty() {
                mine.clone_from(theirs);
            }
        }
        if record.labels.is_empty() {
            record.labels.clone_from(&self.labels);
        }
        if record.source_id.is_none() && record.seq.is_some() {
            record.source_id = self.source_ids.get(&record.stream).cloned();
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceLine<S> {
    #[serde(rename = "@source")]
    source: S,
}

const SOURCE_PREFIX: &[u8] = b"{\"@source\":";

/// Whether `line` is a `@source` line (as this crate writes them: no space before the
/// key).
pub fn is_source_line(line: &[u8]) -> bool {
    line.starts_with(SOURCE_PREFIX)
}

/// Appends `source` as a `@source` line, with its newline.
pub fn write_source_line(out: &mut Vec<u8>, source: &Source) {
    serde_json::to_writer(&mut *out, &SourceLine { source }).expect("a Source serialises");
    out.push(b'\n');
}

/// The records of a compact body, with where each came from.
#[derive(Debug, Default)]
pub struct CompactDecoded {
    /// The records, lines and rejected lines, as for NDJSON.
    pub decoded: Decoded,
    /// For each record, the byte range of the `@source` line it took fields from
    /// (without the newline), or `None`.
    pub sources: Vec<Option<Range<usize>>>,
}

/// How much of `@source` text the records of a body may copy in all, per byte of the
/// body (plus [`FILL_ALLOWANCE`]): a line repeated into every record is the one way a
/// small body becomes many records' worth of memory. An agent's batch copies a few
/// hundred bytes of source into records of about as many, far below this.
pub const MAX_FILL_PER_BYTE: usize = 16;
/// What any body may copy from `@source` lines, whatever its size.
pub const FILL_ALLOWANCE: usize = 1 << 20;

/// Decodes a compact body (or an NDJSON one) line by line. Records past what the body
/// may copy from `@source` lines ([`MAX_FILL_PER_BYTE`]) are rejected, each with the
/// reason.
pub fn decode(body: &[u8]) -> CompactDecoded {
    let max_fill = body
        .len()
        .saturating_mul(MAX_FILL_PER_BYTE)
        .saturating_add(FILL_ALLOWANCE);
    let mut filled = 0usize;
    let lines = memchr::memchr_iter(b'\n', body).count() + 1;
    let mut out = CompactDecoded {
        decoded: Decoded {
            records: Vec::with_capacity(lines),
            spans: Vec::with_capacity(lines),
            rejected: Vec::new(),
        },
        sources: Vec::with_capacity(lines),
    };
    // `Err(())` after a `@source` line that could not be read: the records after it
    // would be stored without their source's fields, so they are refused with it
    // until the next good `@source` line.
    let mut current: Result<Option<(Source, Range<usize>)>, ()> = Ok(None);
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    for (i, end) in ends.enumerate() {
        let line = &body[start..end];
        let line_start = start;
        start = end + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let span = line_start..line_start + line.len();
        let reject = |error: String| Rejected { line: i + 1, error };
        if is_source_line(line) {
            current = match serde_json::from_slice::<SourceLine<Source>>(line) {
                Ok(s) => Ok(Some((s.source, span))),
                Err(e) => {
                    out.decoded
                        .rejected
                        .push(reject(format!("not a valid @source line: {e}")));
                    Err(())
                }
            };
            continue;
        }
        let Ok(current) = &current else {
            out.decoded
                .rejected
                .push(reject("follows a @source line that is not valid".into()));
            continue;
        };
        if let Some((_, source)) = current {
            filled = filled.saturating_add(source.len());
            if filled > max_fill {
                out.decoded.rejected.push(reject(format!(
                    "the records of this batch copy more than {max_fill} bytes from its \
                     @source lines ({MAX_FILL_PER_BYTE} per byte of the batch, plus \
                     {FILL_ALLOWANCE}); send fewer records per @source line, or NDJSON"
                )));
                continue;
            }
        }
        match record(line, current.as_ref().map(|(s, _)| s)) {
            Ok(r) => {
                out.decoded.records.push(r);
                out.decoded.spans.push(span);
                out.sources.push(current.as_ref().map(|(_, r)| r.clone()));
            }
            Err(e) => out.decoded.rejected.push(reject(e.to_string())),
        }
    }
    out
}

fn record(line: &[u8], source: Option<&Source>) -> Result<Record, RecordError> {
    let mut r = Record::from_json_part(line)?;
    if let Some(s) = source {
        s.fill(&mut r);
    }
    seq_in_range(r.check_identity()?)
}

/// Reads back lines this crate's writers wrote (a WAL entry) one at a time, `@source`
/// lines applied to the records after them. For replay: every line was checked when
/// it was first received, so `_seq` limits added since are not applied again.
#[derive(Debug, Default)]
pub struct Replay {
    current: Option<Source>,
}

impl Replay {
    /// The record of `line`; `None` for a `@source` line (it applies to what follows).
    pub fn line(&mut self, line: &[u8]) -> Option<Result<Record, RecordError>> {
        if is_source_line(line) {
            return match serde_json::from_slice::<SourceLine<Source>>(line) {
                Ok(s) => {
                    self.current = Some(s.source);
                    None
                }
                Err(e) => {
                    self.current = None;
                    Some(Err(RecordError::Invalid(format!(
                        "not a valid @source line: {e}"
                    ))))
                }
            };
        }
        Some(Record::from_json_part(line).and_then(|mut r| {
            if let Some(s) = &self.current {
                s.fill(&mut r);
            }
            r.check_identity()
        }))
    }
}

/// The same records as NDJSON, for a server that does not read the compact form. Lines
/// that are not valid records are dropped (the server would reject them anyway).
pub fn expand(body: &[u8]) -> Vec<u8> {
    let d = decode(body);
    let mut out = Vec::with_capacity(body.len() * 2);
    for r in &d.decoded.records {
        serde_json::to_writer(&mut out, r).expect("a Record serialises");
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::decode_ndjson;
    use crate::{Level, Timestamp};
    use proptest::prelude::*;

    fn source(n: usize) -> Source {
        Source {
            host: format!("node-{n}"),
            container: format!("web-{n}"),
            container_id: format!("{n:064x}"),
            image: "shop/web:1.4".into(),
            labels: [("app".to_string(), format!("shop \"{n}\""))].into(),
            source_ids: ["stdout", "stderr", ""]
                .map(|s| (s.to_string(), format!("node-{n}/{n:x}/{s}")))
                .into(),
        }
    }

    /// The record a source's line stands for, and the line itself.
    fn line(s: &Source, stream: &str, seq: u64, message: &str) -> (Record, String) {
        let mut full = Record::new(Timestamp(1_700_000_000_000_000_000 + seq as i64), message);
        full.stream = stream.to_string();
        full.level = seq.is_multiple_of(3).then_some(Level::Warn);
        full.fields.insert("n".into(), seq.into());
        full.seq = Some(seq);
        let mut part = full.clone();
        s.fill(&mut full);
        part.source_id = None;
        (full, part.to_json())
    }

    #[test]
    fn content_types() {
        assert_eq!(form_of(None), Ok(Form::Ndjson));
        assert_eq!(form_of(Some("application/x-ndjson")), Ok(Form::Ndjson));
        assert_eq!(form_of(Some(CONTENT_TYPE)), Ok(Form::Compact));
        assert_eq!(
            form_of(Some("Application/X-Skein-Batch;Version=\"1\"")),
            Ok(Form::Compact)
        );
        let e = form_of(Some("application/x-skein-batch; version=2")).unwrap_err();
        assert!(e.to_string().contains("not \"2\""), "{e}");
        assert!(form_of(Some("application/x-skein-batch")).is_err());
    }

    #[test]
    fn a_record_line_keeps_its_own_values_and_takes_the_rest() {
        let s = source(1);
        let body = format!(
            "{}\n{}\n",
            serde_json::to_string(&SourceLine { source: &s }).unwrap(),
            r#"{"@timestamp":"2026-11-20T10:00:00Z","host":"other","stream":"stderr","labels":{"x":"y"},"_seq":5}"#
        );
        let d = decode(body.as_bytes());
        assert!(d.decoded.rejected.is_empty(), "{:?}", d.decoded.rejected);
        let r = &d.decoded.records[0];
        assert_eq!(r.host, "other");
        assert_eq!(r.container, "web-1");
        assert_eq!(r.labels.len(), 1);
        assert_eq!(r.labels["x"], "y");
        assert_eq!(r.source_id.as_deref(), Some("node-1/1/stderr"));
        assert_eq!(d.sources[0], Some(0..body.find('\n').unwrap()));
    }

    #[test]
    fn bad_lines_are_rejected_alone_and_a_bad_source_takes_its_records_with_it() {
        let s = source(2);
        let (_, good) = line(&s, "stdout", 1, "ok");
        let body = format!(
            "{}\n{good}\nnot json\n{}\n{good}\n{{\"@source\":{{\"bogus\":1}}}}\n{good}\n\n{good}\n{}\n{good}\n",
            serde_json::to_string(&SourceLine { source: &s }).unwrap(),
            r#"{"@timestamp":"2026-11-20T10:00:00Z","stream":"nope","_seq":1}"#,
            serde_json::to_string(&SourceLine { source: &s }).unwrap(),
        );
        let d = decode(body.as_bytes());
        assert_eq!(d.decoded.records.len(), 3);
        let lines: Vec<usize> = d.decoded.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 6, 7, 9]);
        assert!(d.decoded.rejected[1].error.contains("together"));
    }

    #[test]
    fn a_source_repeated_into_records_past_the_bound_is_refused_not_copied() {
        // A @source line of 200 KB of labels and 100,000 tiny records: copied into
        // every record it would be 20 GB, 10x and more past the bound.
        let mut s = source(1);
        for i in 0..10_000 {
            s.labels.insert(format!("label-{i:05}"), "v".repeat(8));
        }
        let mut body = Vec::new();
        write_source_line(&mut body, &s);
        let source_len = body.len() - 1;
        for seq in 1..=100_000u64 {
            body.extend_from_slice(
                format!("{{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"stream\":\"stdout\",\"_seq\":{seq}}}\n").as_bytes(),
            );
        }
        let d = decode(&body);
        let max_fill = body.len() * MAX_FILL_PER_BYTE + FILL_ALLOWANCE;
        assert_eq!(d.decoded.records.len(), max_fill / source_len);
        assert_eq!(d.decoded.records.len() + d.decoded.rejected.len(), 100_000);
        assert!(
            d.decoded.rejected[0]
                .error
                .contains("fewer records per @source"),
            "{:?}",
            d.decoded.rejected[0]
        );
    }

    #[test]
    fn an_ndjson_body_is_a_compact_body() {
        let (r, _) = line(&source(3), "stdout", 9, "m");
        let body = format!("{}\n{}", r.to_json(), r.to_json());
        let compact = decode(body.as_bytes());
        let ndjson = decode_ndjson(body.as_bytes());
        assert_eq!(compact.decoded.records, ndjson.records);
        assert_eq!(compact.decoded.spans, ndjson.spans);
        assert_eq!(compact.sources, vec![None, None]);
    }

    proptest! {
        /// The same records written both ways decode the same, through the server's
        /// decoder, the agent's fallback and replay alike.
        #[test]
        fn compact_and_ndjson_carry_the_same_records(
            runs in proptest::collection::vec(
                (0usize..4, proptest::collection::vec((0usize..3, "\\PC{0,20}"), 1..6)),
                1..8,
            ),
        ) {
            let mut compact = Vec::new();
            let mut ndjson = Vec::new();
            let mut expected = Vec::new();
            let mut seq = 1;
            for (n, lines) in runs {
                let s = source(n);
                write_source_line(&mut compact, &s);
                for (stream, message) in lines {
                    let (full, part) = line(&s, ["stdout", "stderr", ""][stream], seq, &message);
                    seq += 1;
                    compact.extend_from_slice(part.as_bytes());
                    compact.push(b'\n');
                    ndjson.extend_from_slice(full.to_json().as_bytes());
                    ndjson.push(b'\n');
                    expected.push(full);
                }
            }
            let d = decode(&compact);
            prop_assert!(d.decoded.rejected.is_empty());
            prop_assert_eq!(&d.decoded.records, &expected);
            prop_assert_eq!(&decode_ndjson(&ndjson).records, &expected);
            prop_assert_eq!(&decode_ndjson(&expand(&compact)).records, &expected);
            let mut replay = Replay::default();
            let replayed: Vec<Record> = compact
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .filter_map(|l| replay.line(l))
                .map(|r| r.unwrap())
                .collect();
            prop_assert_eq!(&replayed, &expected);
        }
    }
}
