//! What travels through ingest: a batch of records on its way in, what the caller hears
//! back, and what followers receive on the live feed.

use crate::budget::Permit;
use serde::Serialize;
use skein_model::Record;

/// A validated batch ready for the WAL: each record with its JSON form, serialised once
/// by the caller's thread and then used for both the WAL and the docstore.
#[derive(Debug)]
pub struct PreparedBatch {
    pub(crate) records: Vec<Record>,
    pub(crate) json: Vec<String>,
    pub(crate) permit: Option<Permit>,
}

impl PreparedBatch {
    /// Prepares `records`, holding `permit` (if any) until they are indexed.
    pub fn new(records: Vec<Record>, permit: Option<Permit>) -> PreparedBatch {
        let json = records.iter().map(Record::to_json).collect();
        PreparedBatch {
            records,
            json,
            permit,
        }
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
