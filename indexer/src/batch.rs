//! What travels through ingest: a batch of records on its way in, what the caller hears
//! back, and what followers receive on the live feed.

use crate::budget::Permit;
use serde::{Deserialize, Serialize};
use skein_model::compact::{self, Form};
use skein_model::record::{decode_ndjson, Decoded, Rejected};
use skein_model::{es_mapping, Original, Record, RecordError, Timestamp};
use std::ops::Range;

/// A validated batch ready for the WAL: the records and, back to back, the JSON line
/// of each as it goes into the WAL (the client's own line when there was one, so no
/// record is serialised twice).
#[derive(Debug)]
pub struct PreparedBatch {
    pub(crate) records: Vec<Record>,
    pub(crate) text: Vec<u8>,
    pub(crate) spans: Vec<Range<usize>>,
    /// For a compact batch, per record, the span of the `@source` line it takes its
    /// source's fields from: the WAL gets that line before the record's. Empty for
    /// NDJSON.
    pub(crate) sources: Vec<Option<Range<usize>>>,
    pub(crate) permit: Option<Permit>,
    /// What the records take in memory ([`Record::heap_bytes`]): what the permit holds
    /// once the text is in the WAL and given back.
    pub(crate) records_bytes: usize,
    /// Per record, whether it is an `op_type=create` of a client `_id`: refused by the
    /// WAL thread when that id is already stored ([`IngestOutcome::conflicts`]). Empty
    /// when the batch holds none.
    pub(crate) creates: Vec<bool>,
}

impl PreparedBatch {
    /// Prepares `records`, holding `permit` (if any) until they are indexed.
    pub fn new(records: Vec<Record>, permit: Option<Permit>) -> PreparedBatch {
        let write = |text: &mut Vec<u8>, r: &Record| {
            serde_json::to_writer(text, r).expect("a Record always serialises")
        };
        // The lines go into a pooled buffer (the WAL thread gives it back) sized from
        // the first line: grown by doubling from empty, an OTLP request's lines were
        // copied several times into fresh pages the kernel had to zero.
        let first = records.first().map_or(0, |r| {
            let mut line = Vec::with_capacity(1024);
            write(&mut line, r);
            line.len() + 1
        });
        let text = crate::text_buffers::take(first.saturating_mul(records.len()) / 4 * 5);
        PreparedBatch::with_lines(records, permit, text, write)
    }

    /// A batch of records mapped from Elasticsearch documents
    /// ([`skein_model::es_mapping::map_document`]), each carrying its document as
    /// `original` and its index (and any client id) in `fields._index` / `fields._id`.
    /// Their WAL lines hold only the document, its index, id and time
    /// ([`write_document_line`]): replay maps the document again ([`decode_line`]),
    /// which gives the same record, so the record itself is never serialised.
    pub fn from_documents(records: Vec<Record>, permit: Option<Permit>) -> PreparedBatch {
        let bytes: usize = records
            .iter()
            .map(|r| r.original.as_ref().map_or(0, |o| o.get().len()) + 96)
            .sum();
        let text = crate::text_buffers::take(bytes);
        PreparedBatch::with_lines(records, permit, text, write_document_line)
    }

    /// A batch of `records` whose WAL lines the caller wrote: `text` holds them back to
    /// back, each ending in a newline, and `spans[i]` is the line of `records[i]`
    /// without it. Each line must decode ([`decode_line`]) to its record; the OTLP
    /// mapping writes them so while it maps, as `/api/v1/ingest` keeps its client's.
    pub fn from_lines(
        records: Vec<Record>,
        text: Vec<u8>,
        spans: Vec<Range<usize>>,
        permit: Option<Permit>,
    ) -> PreparedBatch {
        debug_assert_eq!(records.len(), spans.len());
        PreparedBatch {
            records_bytes: records_bytes(&records),
            records,
            text,
            spans,
            sources: Vec::new(),
            permit,
            creates: Vec::new(),
        }
    }

    /// A batch whose WAL lines `write` appends to `text`, one per record.
    fn with_lines(
        records: Vec<Record>,
        permit: Option<Permit>,
        mut text: Vec<u8>,
        write: impl Fn(&mut Vec<u8>, &Record),
    ) -> PreparedBatch {
        let mut spans = Vec::with_capacity(records.len());
        for r in &records {
            let start = text.len();
            write(&mut text, r);
            spans.push(start..text.len());
            // As in a request's NDJSON: the WAL takes the lines as they are.
            text.push(b'\n');
        }
        PreparedBatch::from_lines(records, text, spans, permit)
    }

    /// Marks the records that must not replace a stored document with their `_id`
    /// (`op_type=create`), one flag per record: the WAL thread refuses those whose id
    /// exists, in WAL order, so of concurrent creates of one id exactly one is stored.
    pub fn set_creates(&mut self, creates: Vec<bool>) {
        debug_assert_eq!(creates.len(), self.records.len());
        self.creates = if creates.iter().any(|c| *c) {
            creates
        } else {
            Vec::new()
        };
    }

    /// Decodes an NDJSON body; the lines that are not valid records are returned apart.
    /// A record carrying `_original` is refused: only `/es/_bulk` sets it, and the
    /// indexer stores such a record as that document alone, mapping it again on read.
    /// So is a record older than `horizon` (`--retention`), which would be dropped at
    /// once.
    pub fn from_ndjson(
        body: Vec<u8>,
        permit: Option<Permit>,
        horizon: Option<Timestamp>,
    ) -> (PreparedBatch, Vec<Rejected>) {
        PreparedBatch::from_body(body, Form::Ndjson, permit, horizon)
    }

    /// Decodes a body of either form ([`skein_model::compact`]), as
    /// [`from_ndjson`](Self::from_ndjson) does.
    pub fn from_body(
        body: Vec<u8>,
        form: Form,
        permit: Option<Permit>,
        horizon: Option<Timestamp>,
    ) -> (PreparedBatch, Vec<Rejected>) {
        let (
            Decoded {
                mut records,
                mut spans,
                mut rejected,
            },
            mut sources,
        ) = match form {
            Form::Ndjson => (decode_ndjson(&body), Vec::new()),
            Form::Compact => {
                let d = compact::decode(&body);
                let sources = if d.sources.iter().all(Option::is_none) {
                    Vec::new()
                } else {
                    d.sources
                };
                (d.decoded, sources)
            }
        };
        let refuse = |r: &Record| -> Option<String> {
            if r.original.is_some() {
                return Some(
                    "`_original` is set by the Elasticsearch-compatible API only; send the \
                     document to /es/_bulk instead"
                        .into(),
                );
            }
            let h = horizon?;
            (r.timestamp < h).then(|| {
                format!(
                    "@timestamp {} is older than the server keeps records (--retention, \
                     {}): it would be deleted at once; raise --retention to keep it",
                    r.timestamp.to_rfc3339(),
                    h.to_rfc3339()
                )
            })
        };
        if records.iter().any(|r| refuse(r).is_some()) {
            let mut kept = (Vec::new(), Vec::new(), Vec::new());
            for (i, (r, span)) in records.into_iter().zip(spans).enumerate() {
                if let Some(error) = refuse(&r) {
                    let line = 1 + body[..span.start].iter().filter(|&&b| b == b'\n').count();
                    rejected.push(Rejected { line, error });
                } else {
                    kept.0.push(r);
                    kept.1.push(span);
                    if let Some(s) = sources.get_mut(i) {
                        kept.2.push(s.take());
                    }
                }
            }
            (records, spans, sources) = kept;
            rejected.sort_by_key(|r| r.line);
        }
        (
            PreparedBatch {
                records_bytes: records_bytes(&records),
                records,
                text: body,
                spans,
                sources,
                permit,
                creates: Vec::new(),
            },
            rejected,
        )
    }

    /// Makes the batch's budget share what it holds in memory: its text and its
    /// records. Returns false, keeping the share it had, when that is more and the
    /// budget has no room for the difference (the caller answers 429).
    pub fn fit_budget(&mut self) -> bool {
        let held = self.text.capacity() + self.records_bytes;
        self.permit.as_mut().is_none_or(|p| p.resize(held))
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

fn records_bytes(records: &[Record]) -> usize {
    records.iter().map(Record::heap_bytes).sum()
}

/// The WAL line of a record mapped from an Elasticsearch document:
/// `{"_es":{"@timestamp":…,"_index":…,"_id":…},"_original":DOCUMENT}`. The time is the
/// record's, which is what a document without one was given on arrival. A record
/// without an original or an index (not made by `map_document`) is written as a record.
pub fn write_document_line(out: &mut Vec<u8>, record: &Record) {
    let identity = es_mapping::identity(&record.fields);
    let (Some(original), Some((index, id))) = (&record.original, identity) else {
        serde_json::to_writer(&mut *out, record).expect("a Record always serialises");
        return;
    };
    out.extend_from_slice(b"{\"_es\":{\"@timestamp\":");
    // A time the document wrote exactly as the record's is copied, not formatted again.
    let text = original.get().as_bytes();
    let written = original
        .cuts()
        .iter()
        .find(|c| c.part == es_mapping::Part::Timestamp)
        .and_then(|c| text.get(c.span.start as usize..c.span.end as usize));
    match written {
        Some(time) => out.extend_from_slice(time),
        None => {
            out.push(b'"');
            out.extend_from_slice(&record.timestamp.rfc3339_bytes());
            out.push(b'"');
        }
    }
    out.extend_from_slice(b",\"_index\":");
    serde_json::to_writer(&mut *out, index).expect("a string serialises");
    if let Some(id) = id {
        out.extend_from_slice(b",\"_id\":");
        serde_json::to_writer(&mut *out, id).expect("a string serialises");
    }
    out.extend_from_slice(b"},\"_original\":");
    out.extend_from_slice(original.get().as_bytes());
    out.push(b'}');
}

/// What the `_es` part of a document line says.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentLine {
    #[serde(rename = "_es")]
    es: DocumentMeta,
    #[serde(rename = "_original")]
    original: Original,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentMeta {
    #[serde(rename = "@timestamp")]
    timestamp: Timestamp,
    #[serde(rename = "_index")]
    index: String,
    #[serde(rename = "_id", default)]
    id: Option<String>,
}

/// The records of one WAL entry's lines: records' JSON forms (a compact batch's
/// `@source` lines applied to the lines after them, [`skein_model::compact`]) and
/// document lines ([`decode_line`]).
pub fn decode_payload(payload: &[u8]) -> impl Iterator<Item = Result<Record, RecordError>> + '_ {
    let mut replay = compact::Replay::default();
    payload
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(move |line| {
            if line.starts_with(b"{\"_es\":") {
                Some(decode_line(line))
            } else {
                replay.line(line)
            }
        })
}

/// The record of one WAL line: a record's JSON form (from `/api/v1/ingest` and the
/// agent, or `/es/_bulk` before document lines) or a document line
/// ([`write_document_line`]), mapped again.
pub fn decode_line(line: &[u8]) -> Result<Record, RecordError> {
    if !line.starts_with(b"{\"_es\":") {
        return Record::from_json(line);
    }
    let d: DocumentLine = serde_json::from_slice(line)
        .map_err(|e| RecordError::Invalid(format!("not a document line: {e}")))?;
    es_mapping::from_original(d.original, &d.es.index, d.es.id.as_deref(), d.es.timestamp)
        .map_err(|e| RecordError::Invalid(e.0))
}

/// A WAL entry that changes delivery state instead of adding records. It is an entry of
/// its own, so the ingest thread, the indexer and replay all apply it at the same
/// position among the batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Forget a source's `_seq` high-water mark: its next records are accepted whatever
    /// their `_seq` (an admin's way out when one record with a huge `_seq` silenced it).
    ResetSeq(String),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlLine {
    #[serde(rename = "_reset_seq")]
    reset_seq: String,
}

impl Control {
    /// The entry's payload: one line no record line can be (a record needs
    /// `@timestamp`, and a document line starts with `{"_es":`).
    pub fn payload(&self) -> Vec<u8> {
        let Control::ResetSeq(source) = self;
        let mut line = serde_json::to_vec(&ControlLine {
            reset_seq: source.clone(),
        })
        .expect("a control line always serialises");
        line.push(b'\n');
        line
    }

    /// The control entry `payload` holds, if it is one.
    pub fn decode(payload: &[u8]) -> Option<Control> {
        if !payload.starts_with(b"{\"_reset_seq\":") {
            return None;
        }
        let line = payload.strip_suffix(b"\n").unwrap_or(payload);
        serde_json::from_slice::<ControlLine>(line)
            .ok()
            .map(|c| Control::ResetSeq(c.reset_seq))
    }
}

/// The answer to an ingest once the accepted records are durable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    /// Records written.
    pub accepted: usize,
    /// Records dropped because their `_seq` was at or below the source's high-water mark.
    pub duplicates: usize,
    /// The WAL entry the accepted records went into: with a record's place among them it
    /// gives its ingest order ([`crate::ids::ord_of`]).
    #[serde(skip)]
    pub lsn: Option<u64>,
    /// Places in the batch of `op_type=create` records refused because a document with
    /// their `_index` and `_id` is stored ([`PreparedBatch::set_creates`]).
    #[serde(skip)]
    pub conflicts: Vec<u32>,
}

/// Records made durable together, as published on the live feed.
#[derive(Debug)]
pub struct FeedBatch {
    /// WAL position of the batch.
    pub lsn: u64,
    /// The records, in the order received.
    pub records: Vec<Record>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_entries_round_trip_and_are_never_records() {
        let c = Control::ResetSeq("node-1/\"web\"\n/stdout".into());
        let payload = c.payload();
        assert_eq!(Control::decode(&payload), Some(c));
        assert!(decode_line(payload.strip_suffix(b"\n").unwrap()).is_err());
        let record = Record::new(Timestamp(0), "m").to_json();
        assert_eq!(Control::decode(record.as_bytes()), None);
    }

    #[test]
    fn document_lines_map_back_to_the_same_records() {
        let docs = [
            (
                r#"{"timestamp":"2026-11-20T10:00:00.5Z","message":"a\n","host":"h","label":{"x":"1"},"n":1.50}"#,
                None,
            ),
            // A time written as the record's own: copied into the line as it is.
            (
                r#"{"@timestamp":"2026-11-20T10:00:00.500000000Z","msg":"c"}"#,
                None,
            ),
            // No time: the time of arrival, which the line keeps.
            (
                r#"{ "log" : "b", "kubernetes": {"pod_name": "p", "pod_id": "i"}, "k\u00e9": [1, {"z": null}] }"#,
                Some("id-\"2"),
            ),
        ];
        let records: Vec<Record> = docs
            .iter()
            .map(|(d, id)| es_mapping::map_document(d, "lo\"gs", *id, Timestamp(1_000)).unwrap())
            .collect();
        let batch = PreparedBatch::from_documents(records.clone(), None);
        for ((r, span), (doc, _)) in records.iter().zip(&batch.spans).zip(docs) {
            let line = &batch.text[span.clone()];
            assert!(line.starts_with(b"{\"_es\":"));
            let back = decode_line(line).unwrap();
            assert_eq!(&back, r);
            assert_eq!(
                back.original.as_ref().unwrap().get(),
                doc,
                "kept byte for byte"
            );
        }
        assert_eq!(records[2].timestamp, Timestamp(1_000));
        let canonical = &batch.text[batch.spans[1].clone()];
        assert!(
            canonical.starts_with(br#"{"_es":{"@timestamp":"2026-11-20T10:00:00.500000000Z","#),
            "{}",
            String::from_utf8_lossy(canonical)
        );
        // A record line decodes as a record; a bad document line says why.
        let plain = Record::new(Timestamp(5), "plain");
        assert_eq!(decode_line(plain.to_json().as_bytes()).unwrap(), plain);
        let e = decode_line(br#"{"_es":{"_index":"x"},"_original":{}}"#).unwrap_err();
        assert!(e.to_string().contains("@timestamp"), "{e}");
    }

    #[test]
    fn the_budget_share_is_what_the_batch_holds() {
        let line = r#"{"@timestamp":"2026-11-20T10:00:00Z","message":"payment accepted","host":"node-1","labels":{"app":"pay"},"fields":{"user_id":42,"path":"/api/pay"}}"#;
        let body = format!("{line}\n").repeat(100).into_bytes();
        let budget = crate::Budget::new(1 << 20);
        // Reserved from the text's size before parsing, as the handlers do.
        let permit = budget.try_acquire(body.len()).unwrap();
        let (mut batch, _) = PreparedBatch::from_ndjson(body, Some(permit), None);
        assert!(batch.fit_budget());
        let records: usize = batch.records.iter().map(Record::heap_bytes).sum();
        assert_eq!(batch.records_bytes, records);
        assert_eq!(budget.used(), batch.text.capacity() + records);
        assert!(
            records > 3 * batch.text.len(),
            "records hold several times their text: {records} for {} bytes",
            batch.text.len()
        );
        // No room for more beside another request: the share stays as it was.
        let held = budget.used();
        let other = budget.try_acquire((1 << 20) - held).unwrap();
        batch.records_bytes *= 2;
        assert!(!batch.fit_budget());
        assert_eq!(budget.used(), 1 << 20);
        drop((other, batch));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn ingest_refuses_original() {
        let body = concat!(
            "{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"message\":\"a\"}\n",
            "not json\n",
            "{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"message\":\"b\",\"_original\":{\"x\":1}}\n",
            "{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"message\":\"c\"}\n",
        );
        let (batch, rejected) = PreparedBatch::from_ndjson(body.as_bytes().to_vec(), None, None);
        let kept: Vec<&str> = batch.records.iter().map(|r| &*r.message).collect();
        assert_eq!(kept, ["a", "c"]);
        assert_eq!(
            &batch.text[batch.spans[1].clone()],
            body.lines().nth(3).unwrap().as_bytes()
        );
        let lines: Vec<usize> = rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 3]);
        assert!(
            rejected[1].error.contains("/es/_bulk"),
            "{}",
            rejected[1].error
        );
    }
}
