//! The data every other skein crate speaks.
//!
//! - [`record`]: the [`Record`] (one parsed log line) and its JSON wire form, including the
//!   line-by-line NDJSON decoding used by ingest, which rejects a bad line on its own.
//! - [`compact`]: the compact batch form, NDJSON whose records share their source's
//!   fields through `@source` lines (what the agent sends).
//! - [`level`]: the normalised severity [`Level`] and the aliases it is parsed from.
//! - [`atomic_file`]: replacing a small file atomically and durably (checkpoints,
//!   dashboards, token files).
//! - [`es_mapping`]: an Elasticsearch document to a [`Record`] (used by `/es/_bulk` on the
//!   way in and by the indexer to rebuild records stored as their original document).
//! - [`memory`]: how many bytes a [`Record`] holds, for the server's in-flight budget.
//! - [`pattern`]: [`PatternId`], the id of the message template a record belongs to.
//! - [`redact`]: `--redact` rules (built-ins and regexes) that replace secrets in
//!   messages and fields, shared by the agent and the server's ingest.
//! - [`time`]: [`Timestamp`] (UTC nanoseconds) and the time expressions users type:
//!   RFC 3339 and Elasticsearch date math (`now-15m`, `now/d`).

pub mod atomic_file;
pub mod compact;
pub mod es_mapping;
pub mod level;
pub mod memory;
pub mod pattern;
pub mod record;
pub mod redact;
pub mod time;

pub use level::Level;
pub use pattern::PatternId;
pub use record::{decode_ndjson, Decoded, Rejected};
pub use record::{Original, Record, RecordError};
pub use time::{TimeError, Timestamp};
