//! What travels through ingest: a batch of records on its way in, what the caller hears
//! back, and what followers receive on the live feed.

use crate::budget::Permit;
use serde::Serialize;
use skein_model::record::{decode_ndjson, Decoded, Rejected};
use skein_model::Record;
use std::ops::Range;
use std::sync::Mutex;

/// A validated batch ready for the WAL: the records and, back to back, the JSON line
/// of each as it goes into the WAL (the client's own line when there was one, so no
/// record is serialised twice).
#[derive(Debug)]
pub struct PreparedBatch {
    pub(crate) records: Vec<Record>,
    pub(crate) text: Vec<u8>,
    pub(crate) spans: Vec<Range<usize>>,
    pub(crate) permit: Option<Permit>,
}

impl PreparedBatch {
    /// Prepares `records`, holding `permit` (if any) until they are indexed.
    pub fn new(records: Vec<Record>, permit: Option<Permit>) -> PreparedBatch {
        let mut text = Vec::new();
        let mut spans = Vec::with_capacity(records.len());
        for r in &records {
            let start = text.len();
            serde_json::to_writer(&mut text, r).expect("a Record always serialises");
            spans.push(start..text.len());
        }
        PreparedBatch {
            records,
            text,
            spans,
            permit,
        }
    }

    /// A batch from records and their WAL lines: `text[spans[i]]` must be the JSON line
    /// of `records[i]` (what [`Record::from_json`] reads back as the same record), for
    /// callers that write lines the record's own serialisation would not (such as one
    /// carrying `_original`, which that serialisation leaves out).
    pub fn from_parts(
        records: Vec<Record>,
        text: Vec<u8>,
        spans: Vec<Range<usize>>,
        permit: Option<Permit>,
    ) -> PreparedBatch {
        assert_eq!(records.len(), spans.len(), "one WAL line per record");
        PreparedBatch {
            records,
            text,
            spans,
            permit,
        }
    }

    /// Decodes an NDJSON body; the lines that are not valid records are returned apart.
    /// A record carrying `_original` is refused: only `/es/_bulk` sets it, and the
    /// indexer stores such a record as that document alone, mapping it again on read.
    pub fn from_ndjson(body: Vec<u8>, permit: Option<Permit>) -> (PreparedBatch, Vec<Rejected>) {
        let Decoded {
            mut records,
            mut spans,
            mut rejected,
        } = decode_ndjson(&body);
        if records.iter().any(|r| r.original.is_some()) {
            let mut kept = (Vec::new(), Vec::new());
            for (r, span) in records.into_iter().zip(spans) {
                if r.original.is_some() {
                    let line = 1 + body[..span.start].iter().filter(|&&b| b == b'\n').count();
                    rejected.push(Rejected {
                        line,
                        error: "`_original` is set by the Elasticsearch-compatible API only; \
                                send the document to /es/_bulk instead"
                            .into(),
                    });
                } else {
                    kept.0.push(r);
                    kept.1.push(span);
                }
            }
            (records, spans) = kept;
            rejected.sort_by_key(|r| r.line);
        }
        (
            PreparedBatch {
                records,
                text: body,
                spans,
                permit,
            },
            rejected,
        )
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

/// WAL-line buffers given back once their lines are in the WAL. A handler that writes
/// a batch's lines itself (`/es/_bulk`, several megabytes per request) takes one from
/// here: a fresh buffer that size comes from the OS as new pages, and zeroing those was a
/// tenth of the request handling's time.
static TEXT_BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// Enough for the requests in flight at once; more would only hold memory.
const MAX_TEXT_BUFFERS: usize = 4;
/// Buffers larger than this are freed, not kept.
const MAX_TEXT_BUFFER_BYTES: usize = 16 << 20;

/// An empty buffer for a batch's WAL lines with room for at least `capacity` bytes,
/// reused from an earlier batch when one is free.
pub fn text_buffer(capacity: usize) -> Vec<u8> {
    let reused = TEXT_BUFFERS.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let mut buf = reused.unwrap_or_default();
    buf.reserve(capacity);
    buf
}

/// Gives a batch's text back for [`text_buffer`] once its lines are written.
pub(crate) fn recycle_text(mut text: Vec<u8>) {
    if text.capacity() > MAX_TEXT_BUFFER_BYTES {
        return;
    }
    text.clear();
    let mut pool = TEXT_BUFFERS.lock().unwrap_or_else(|e| e.into_inner());
    if pool.len() < MAX_TEXT_BUFFERS {
        pool.push(text);
    }
}

/// The answer to an ingest once the accepted records are durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    /// Records written.
    pub accepted: usize,
    /// Records dropped because their `_seq` was at or below the source's high-water mark.
    pub duplicates: usize,
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
    fn ingest_refuses_original() {
        let body = concat!(
            "{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"message\":\"a\"}\n",
            "not json\n",
            "{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"message\":\"b\",\"_original\":{\"x\":1}}\n",
            "{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"message\":\"c\"}\n",
        );
        let (batch, rejected) = PreparedBatch::from_ndjson(body.as_bytes().to_vec(), None);
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
