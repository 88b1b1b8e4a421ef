//! The skein agent: finds container logs, follows them, parses and enriches each line,
//! and ships records to the server without losing or repeating any.
//!
//! Data flows through the components in this order:
//!
//! - [`discover`]: containers from the Docker API ([`discover::docker`]) and files from
//!   `--path` globs ([`discover::paths`]), as [`discover::SourceSpec`]s;
//! - [`tail`]: follows one log file through rotations and truncations, returning each
//!   complete line once with a logical position that survives rotation and restarts;
//! - [`wake`]: file notifications (inotify through notify) that tell the reader which
//!   files changed, with a polling fallback;
//! - [`parse`]: the framing of json-file ([`parse::json_file`]) and CRI
//!   ([`parse::cri`]) lines, the joining of split lines ([`parse::partial`]) and of
//!   multiline events ([`parse::multiline`]), and payloads read as JSON, logfmt or plain
//!   text ([`parse::payload`]);
//! - [`decode`]: those stages composed for one source's stream of lines;
//! - [`enrich`]: source metadata and the delivery identity (`_source_id`, `_seq`);
//! - [`kubernetes`]: namespace, pod, container and the pod's labels of a Kubernetes
//!   node's CRI logs, from their paths and from the API server;
//! - [`redact`]: `--redact` rules applied to each event's message and fields before it
//!   is encoded;
//! - [`encode`]: events straight to the server's NDJSON;
//! - [`source`]: one followed source (tail + decoder + encoder) and its resume state;
//! - [`spool`]: the on-disk queue of compressed batches, capped, that absorbs outages;
//! - [`ship`]: the HTTP client of `POST /api/v1/ingest`, with jittered backoff;
//! - [`checkpoint`]: per-source positions saved atomically after each acknowledgement;
//! - [`agent`]: the reader, shipper and discovery threads around all of the above.
//!
//! [`node_name`] names the node records come from when `--host` is not given (the
//! Docker engine's name when the agent runs in a container).
//!
//! [`json_file_reader`] composes the parsing stages to read a whole json-file log at
//! once, for imports and benchmarks.

#![warn(missing_docs)]

pub mod agent;
pub mod checkpoint;
pub mod decode;
pub mod discover;
pub mod encode;
pub mod enrich;
pub mod json_file_reader;
pub mod kubernetes;
pub mod node_name;
pub mod parse;
pub mod redact;
pub mod ship;
pub mod source;
pub mod spool;
pub mod tail;
pub mod wake;

pub use enrich::{build_record, container_id_from_path, short_id, Delivery, SourceMeta};
pub use json_file_reader::{records_from_json_file, JsonFileOptions, JsonFileRecords};
pub use parse::cri::CriError;
pub use parse::json_file::{JsonFileDecoder, JsonFileError};
pub use parse::multiline::{MultilineConfig, MultilineError, MultilineMerger};
pub use parse::partial::PartialMerger;
pub use parse::payload::{Payload, PayloadConfig, PayloadKind};
pub use parse::{LogicalLine, Stream};
