//! The durable checkpoint written after every successful commit: the WAL position every
//! partition is complete up to and, as of that position, the highest `_seq` of each
//! source. Written to a temporary file, fsynced and renamed over the old one, so a crash
//! leaves either the old or the new checkpoint, never a mix.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The checkpoint.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    /// Every WAL entry at or below this LSN is committed in its partition.
    pub lsn: u64,
    /// Highest `_seq` per `_source_id` among entries at or below `lsn`.
    pub seqs: HashMap<String, u64>,
}

/// Reads and writes the checkpoint file.
#[derive(Debug)]
pub struct CheckpointFile {
    path: PathBuf,
}

impl CheckpointFile {
    /// The checkpoint kept at `path`.
    pub fn new(path: PathBuf) -> CheckpointFile {
        CheckpointFile { path }
    }

    /// Loads the checkpoint; a missing file is an empty data directory.
    pub fn load(&self) -> io::Result<Checkpoint> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a valid checkpoint: {e}", self.path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Checkpoint::default()),
            Err(e) => Err(e),
        }
    }

    /// Atomically replaces the checkpoint.
    pub fn store(&self, cp: &Checkpoint) -> io::Result<()> {
        skein_model::atomic_file::write_atomic(
            &self.path,
            &serde_json::to_vec(cp).expect("serialisable"),
            None,
        )
    }

    /// Where the checkpoint lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_then_load() {
        let tmp = tempfile::tempdir().unwrap();
        let f = CheckpointFile::new(tmp.path().join("checkpoint.json"));
        assert_eq!(f.load().unwrap(), Checkpoint::default());
        let cp = Checkpoint {
            lsn: 7,
            seqs: [("a".to_string(), 3)].into_iter().collect(),
        };
        f.store(&cp).unwrap();
        assert_eq!(f.load().unwrap(), cp);
    }
}
