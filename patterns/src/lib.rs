//! Online log-pattern mining: every message of a *group* (a container or a compose
//! service) is assigned a pattern, a template with its variable parts masked
//! (`Connection from <ip> port <num>`), learned in one pass as lines arrive.
//!
//! The parts:
//!
//! - [`mask`]: a message split on blanks into tokens, each classified by hand-written
//!   scanners (numbers, hex ids, IPs, UUIDs, paths, URLs, times, quoted values, the value
//!   of `key=value`), with no regex engine and no allocation.
//! - [`Miner`] (in `miner`): per group a Drain-style fixed-depth tree (token count, then
//!   the first tokens) whose leaves hold clusters; a line joins the most similar cluster
//!   of its leaf or starts one. A cluster's template is generalised (a position becomes
//!   `<*>`) when its lines disagree there, and clusters of a group whose templates turn
//!   out to be one (one equals or subsumes the other) are merged.
//! - [`PatternId`] (in `id`): a pattern's id, a hash of its group and the template the
//!   cluster was *created* with, so it never depends on arrival order or on the process,
//!   and it stays the same when the template is generalised later. When two clusters merge,
//!   the smaller id survives and the other becomes its alias ([`Miner::resolve`],
//!   [`Miner::aliases`]).
//! - Persistence (in `persist`): [`Miner::save`] / [`Miner::load`], versioned JSON from
//!   which the miner continues exactly as the saved one would have.
//!
//! A group has at most [`Config::max_patterns_per_group`] patterns; beyond the cap its
//! lines that match none of them get the group's "other" id ([`PatternId::other`]).

mod id;
pub mod mask;
mod miner;
mod persist;

pub use id::PatternId;
pub use miner::{Config, Miner, PatternInfo};

/// Errors of this crate: only reading saved state can fail.
#[derive(Debug, thiserror::Error)]
pub enum PatternsError {
    /// The saved state is not valid JSON of the expected shape.
    #[error("saved pattern state is not readable: {0}")]
    Decode(#[from] serde_json::Error),
    /// The saved state was written by a version this one does not read.
    #[error("saved pattern state has version {found}, this build reads version {expected}")]
    Version {
        /// The version in the state.
        found: u32,
        /// The version this build writes and reads.
        expected: u32,
    },
    /// The saved state contradicts itself (a template that does not fit its tree path, an
    /// alias to an unknown id, …).
    #[error("saved pattern state is inconsistent: {0}")]
    Inconsistent(String),
}
