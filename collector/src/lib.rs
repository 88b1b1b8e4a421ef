//! The skein agent's collector: from container log bytes to [`skein_model::Record`]s.
//!
//! This crate holds the parsing half of the agent. Each component does one job:
//!
//! - [`parse::json_file`]: decodes Docker json-file lines (fast path for dockerd's
//!   exact layout, serde_json for anything else);
//! - [`parse::cri`]: decodes containerd / CRI-O lines with their `P`/`F` flags;
//! - [`parse::partial`]: joins lines the runtime split (per stream, size-capped);
//! - [`parse::multiline`]: groups lines into events by a start pattern, with line,
//!   byte and quiet-time limits driven by the caller's clock;
//! - [`parse::payload`]: reads a line as JSON, logfmt or plain text and guesses the
//!   level of plain text;
//! - [`parse::rfc3339`]: the fast timestamp parser the decoders share;
//! - [`enrich`]: source metadata, container ids from paths, and record assembly with
//!   the delivery identity (`_source_id`, `_seq`);
//! - [`json_file_reader`]: all of the above composed to read a whole json-file log;
//! - [`tail`]: follows one log file through rotations and truncations, returning each
//!   complete line once with a logical position that survives rotation and restarts.
//!
//! Tailing, discovery and shipping build on these: a tailer feeds decoded entries with
//! their byte offsets to a [`PartialMerger`], passes finished lines through an optional
//! [`MultilineMerger`] (calling `flush_expired` on its own timer), parses payloads and
//! calls [`build_record`]. Both mergers report the oldest offset they still hold, which
//! bounds how far a checkpoint may advance.

#![warn(missing_docs)]

pub mod decode;
pub mod discover;
pub mod encode;
pub mod enrich;
pub mod json_file_reader;
pub mod parse;
pub mod ship;
pub mod spool;
pub mod tail;

pub use enrich::{build_record, container_id_from_path, short_id, Delivery, SourceMeta};
pub use json_file_reader::{records_from_json_file, JsonFileOptions, JsonFileRecords};
pub use parse::cri::CriError;
pub use parse::json_file::{JsonFileDecoder, JsonFileError};
pub use parse::multiline::{MultilineConfig, MultilineError, MultilineMerger};
pub use parse::partial::PartialMerger;
pub use parse::payload::{Payload, PayloadConfig, PayloadKind};
pub use parse::{LogicalLine, Stream};
