//! A consistent copy of a running server's data (`skein admin snapshot DIR`): taken on
//! the indexer thread right after a commit, it holds the checkpoint and, for each
//! partition, hard links to the files its committed `meta.json` names. Tantivy never
//! rewrites a segment file, and removes one only after a newer `meta.json` no longer
//! names it, so a link that finds its file gone means a merge published meanwhile: the
//! partition is linked again from its new `meta.json`. A server started on the copy
//! sees every record committed before the snapshot, once.

use crate::partition::Catalog;
use serde::Serialize;
use std::io;
use std::path::{Path, PathBuf};

/// What a snapshot holds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SnapshotReport {
    /// Where it is.
    pub dir: PathBuf,
    /// Partitions copied.
    pub partitions: usize,
    /// Files linked (or copied, across filesystems).
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// The WAL position it is complete up to.
    pub lsn: u64,
}

/// Errors taking a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The target is not an empty or missing directory.
    #[error("{0} exists and is not empty; name a new directory for the snapshot")]
    NotEmpty(PathBuf),
    /// A file could not be linked or copied.
    #[error("cannot write the snapshot at {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The index could not be committed first.
    #[error("the index cannot be committed now ({0}); retry when /healthz is ok")]
    Unavailable(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks that `dir` can receive a snapshot and creates it.
pub fn prepare(dir: &Path) -> Result<(), SnapshotError> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(io_err(dir))?
            .next()
            .is_some()
    {
        return Err(SnapshotError::NotEmpty(dir.to_path_buf()));
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))
}

/// Links (or copies) `from` to `to`; answers its size, or `None` if `from` is gone.
fn link(from: &Path, to: &Path) -> Result<Option<u64>, SnapshotError> {
    match std::fs::hard_link(from, to) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // Another filesystem: a copy is consistent too, since segment files never change.
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => match std::fs::copy(from, to) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(to)(e)),
        },
        Err(e) => return Err(io_err(to)(e)),
    }
    Ok(Some(std::fs::metadata(to).map_err(io_err(to))?.len()))
}

/// Copies the committed state of every partition of `catalog` into `dir/partitions/`.
/// The caller has just committed and writes the checkpoint beside it.
pub fn partitions(
    catalog: &Catalog,
    dir: &Path,
    report: &mut SnapshotReport,
) -> Result<(), SnapshotError> {
    let root = dir.join("partitions");
    for p in catalog.all() {
        let name = p
            .path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        let target = root.join(&name);
        'attempt: for _ in 0..100 {
            let _ = std::fs::remove_dir_all(&target);
            std::fs::create_dir_all(&target).map_err(io_err(&target))?;
            let meta_path = p.path.join("meta.json");
            let meta = std::fs::read(&meta_path).map_err(io_err(&meta_path))?;
            let ids: Vec<String> = serde_json::from_slice::<serde_json::Value>(&meta)
                .ok()
                .and_then(|m| {
                    m["segments"].as_array().map(|a| {
                        a.iter()
                            .filter_map(|s| s["segment_id"].as_str().map(|i| i.replace('-', "")))
                            .collect()
                    })
                })
                .unwrap_or_default();
            let mut files = 0;
            let mut bytes = 0;
            for entry in std::fs::read_dir(&p.path)
                .map_err(io_err(&p.path))?
                .flatten()
            {
                let file = entry.file_name().to_string_lossy().into_owned();
                let wanted = file == crate::partition::FORMAT_FILE
                    || ids.iter().any(|id| file.starts_with(id.as_str()));
                if !wanted {
                    continue;
                }
                match link(&entry.path(), &target.join(&file))? {
                    Some(n) => {
                        files += 1;
                        bytes += n;
                    }
                    None => continue 'attempt, // merged away meanwhile: start over
                }
            }
            let meta_to = target.join("meta.json");
            std::fs::write(&meta_to, &meta).map_err(io_err(&meta_to))?;
            report.partitions += 1;
            report.files += files + 1;
            report.bytes += bytes + meta.len() as u64;
            break;
        }
    }
    Ok(())
}
