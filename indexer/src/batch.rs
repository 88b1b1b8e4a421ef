//! What travels through ingest: a batch of records on its way in, what the caller hears
//! back, and what followers receive on the live feed.

use crate::budget::Permit;
use serde::Serialize;
use skein_model::record::{decode_ndjson, Decoded, Rejected};
use skein_model::Record;
use std::ops::Range;

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
    pub fn from_ndjson(body: Vec<u8>, permit: Option<Permit>) -> (PreparedBatch, Vec<Rejected>) {
        let Decoded {
            records,
            spans,
            rejected,
        } = decode_ndjson(&body);
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
