//! Online log-pattern mining: every message of a *group* (a container or a compose
//! service) is assigned a pattern, a template with its variable parts masked
//! (`Connection from <ip> port <num>`), learned in one pass as lines arrive.
//!
//! The parts:
//!
//! - [`mask`]: a message split on blanks into tokens, each classified by hand-written
//!   scanners (numbers, hex ids, IPs, UUIDs, paths, URLs, times and month names, dotted
//!   names, quoted values, the value of `key=value`, any other token with a digit), with
//!   no regex engine and no allocation.
//! - [`Miner`] (in `miner`): per group a Drain-style fixed-depth tree (token count, then
//!   the first tokens) whose leaves hold *clusters*; a line joins the most similar
//!   cluster of its leaf or starts one. A cluster's template is widened (a position
//!   becomes `<*>`) when its lines disagree there, except at a position that has held one
//!   word for [`Config::settled_after`] lines (that word is a constant: another word there
//!   is another event).
//! - Patterns over clusters: a *pattern* is one cluster or several. Clusters of a group
//!   merge into one when a widened template equals or subsumes another, and clusters with
//!   the same literal words in the same order (variables, masked parts and units left out)
//!   are one pattern whatever their lengths ([`Config::merge_skeletons`]): `sent 5 bytes
//!   (5 KB)` and `sent 0 bytes`.
//! - [`PatternId`] (in `id`): a hash of the group and the template a cluster was *created*
//!   with. It never depends on arrival order or on the process, and it stays when the
//!   template is widened later, so records already stored under it stay right; the
//!   template shown for an id is the cluster's current one. When clusters become one
//!   pattern the smallest id survives and the others alias to it ([`Miner::resolve`],
//!   [`Miner::aliases`]).
//! - Persistence (in `persist`): [`Miner::save`] / [`Miner::load`], versioned JSON from
//!   which the miner continues exactly as the saved one would have.
//!
//! A group has at most [`Config::max_patterns_per_group`] clusters; beyond the cap its
//! lines that match none of them get the group's "other" id ([`PatternId::other`]).
//!
//! Accuracy on the Loghub samples and speed: `bench/patterns`, figures in BENCHMARKS.md.

mod id;
pub mod mask;
mod miner;
mod persist;

pub use id::{ParseIdError, PatternId};
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
