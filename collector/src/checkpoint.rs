//! Where each source stands, saved only for what the server has acknowledged.
//!
//! The checkpoint is one JSON file, replaced atomically (write, fsync, rename, fsync
//! the directory) after every acknowledged batch. It names the last acknowledged batch
//! and, per source, the file position to resume at and the last position shipped on
//! each stream, so that lines re-read from before a held-back split line are not sent
//! twice. Batches carry the same [`SourceState`] updates, so the spool can bring the
//! reader past what is spooled but not yet acknowledged.

use crate::decode::Format;
use crate::enrich::SourceMeta;
use crate::tail::TailPosition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why the checkpoint could not be read or written.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// Reading or replacing the file failed.
    #[error("agent checkpoint {path}: {source} (check that the state directory is writable and has free space)")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is not a checkpoint this version understands.
    #[error("agent checkpoint {path} is damaged: {reason} (move it away to start over; the server drops what was already sent)")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// The state of one source (a container's log or a matched file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// The live path followed.
    pub path: PathBuf,
    /// How its lines are framed, when it was followed as something its path does not
    /// say (a `--cri-path` file of any name); `None` means as its path says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// What records of this source carry.
    pub meta: SourceMeta,
    /// Where to resume reading; `None` once the source is finished (its file gone and
    /// read to the end), kept so a file that reappears at the same path continues the
    /// same positions instead of starting below what the server already holds.
    pub position: Option<TailPosition>,
    /// Logical position just past the end of what was read when finished, for a
    /// reappearing file's positions to start above.
    #[serde(default)]
    pub end: u64,
    /// Per slot (stdout, stderr, malformed lines), the position of the last on-disk line
    /// that went into a shipped record: a restart that re-reads from before it (to
    /// rebuild a line a merger was holding) drops that slot's lines up to here.
    pub shipped: [Option<u64>; 3],
}

/// Everything the agent resumes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last batch the server acknowledged.
    pub acked_batch: u64,
    /// Per source key (container id or path).
    pub sources: BTreeMap<String, SourceState>,
}

/// What a batch changes: a source's new state, or `None` to forget it (a container
/// that is gone for good; its id never comes back).
pub type Updates = BTreeMap<String, Option<SourceState>>;

impl Checkpoint {
    /// Applies a batch's updates.
    pub fn apply(&mut self, updates: Updates) {
        apply(&mut self.sources, updates);
    }
}

/// Applies a batch's updates to per-source states.
pub fn apply(states: &mut BTreeMap<String, SourceState>, updates: Updates) {
    for (key, state) in updates {
        match state {
            Some(s) => {
                states.insert(key, s);
            }
            None => {
                states.remove(&key);
            }
        }
    }
}

/// The checkpoint file.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    path: PathBuf,
}

impl CheckpointStore {
    /// The checkpoint in `state_dir`.
    pub fn new(state_dir: &Path) -> CheckpointStore {
        CheckpointStore {
            path: state_dir.join("checkpoint.json"),
        }
    }

    /// Reads the checkpoint; an absent file is the empty checkpoint of a first run.
    pub fn load(&self) -> Result<Checkpoint, CheckpointError> {
        match fs::read(&self.path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| CheckpointError::Damaged {
                path: self.path.clone(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Checkpoint::default()),
            Err(source) => Err(CheckpointError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Replaces the checkpoint atomically and durably.
    pub fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let err = |source| CheckpointError::Io {
            path: self.path.clone(),
            source,
        };
        let data = serde_json::to_vec(checkpoint).expect("a checkpoint serializes");
        skein_model::atomic_file::write_atomic(&self.path, &data, None).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        assert_eq!(store.load().unwrap(), Checkpoint::default());
        let mut cp = Checkpoint {
            acked_batch: 7,
            ..Checkpoint::default()
        };
        cp.sources.insert(
            "abc".into(),
            SourceState {
                path: "/var/log/app.log".into(),
                format: Some(Format::Cri),
                meta: SourceMeta::from_container_id("node-1", "abc"),
                position: None,
                end: 4096,
                shipped: [Some(10), None, Some(3)],
            },
        );
        store.save(&cp).unwrap();
        assert_eq!(store.load().unwrap(), cp);
        assert!(!dir.path().join("checkpoint.json.tmp").exists());
        fs::write(dir.path().join("checkpoint.json"), b"{\"acked").unwrap();
        let e = store.load().unwrap_err().to_string();
        assert!(e.contains("damaged") && e.contains("move it away"), "{e}");
    }
}
