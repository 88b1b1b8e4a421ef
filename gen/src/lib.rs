//! Deterministic generator of Docker json-file container logs: the corpus behind skein's
//! tests, benchmarks and the `skein gen` command.
//!
//! Components:
//! - [`GenConfig`] and [`Generator`]: the corpus in memory, an iterator of [`LogLine`]s
//!   (one json-file record each) in time order across [`ContainerInfo`] containers.
//! - [`generate_batch`]: writes `DIR/<id>/<id>-json.log` per container and a
//!   `manifest.json` ([`Manifest`]) with the exact counts tests assert against.
//! - [`generate_live`] with [`LiveConfig`]: appends at a fixed rate with wall-clock times,
//!   optionally rotating files by rename (`<id>-json.log.1` ..), for tailing tests.
//! - [`GenArgs`]: the `skein gen` command-line flags, for `#[command(flatten)]`.
//! - [`GenError`]: what can go wrong, each message saying what to change.
//!
//! The corpus: records are `{"log":"<payload>\n","stream":"stdout|stderr","time":"…Z"}`
//! with nine fraction digits and dockerd's escaping. By record count ~60% are JSON app
//! logs (`level`, `service`, `msg`, `user_id`, `latency_ms`, `path`, `method`, `status`,
//! `trace_id`, plus `error` at error level), ~30% nginx combined access lines with `rt=`,
//! ~10% plain text including multi-line Java stack traces stored one record per line.
//! Messages come from ~300 templates over a Zipf vocabulary of ~30k words; a needle word
//! (`zephyrquux`) appears with probability ~1e-4 per message. Container shares are
//! skewed and ids are `sha256("docker-bench-{seed}-{i}")`. Optional >16 KiB lines are
//! split into 16 KiB partial records. The same config always gives the same bytes; the
//! shape and size (~320 bytes per line) follow `tools/gen_docker_logs.py`, from which
//! this crate was ported.

#![warn(missing_docs)]

mod batch;
mod cli;
mod error;
mod events;
mod format;
mod generator;
mod live;
mod rng;
mod words;

pub use batch::{generate_batch, FileEntry, Manifest, MANIFEST_FILE};
pub use cli::{GenArgs, GenOutcome};
pub use error::GenError;
pub use events::EventCounts;
pub use generator::{
    parse_start, ContainerInfo, GenConfig, Generator, LogLine, Stream, DEFAULT_NEEDLE,
    DEFAULT_START_NS,
};
pub use live::{generate_live, LiveConfig, LiveStats};
