//! Segment files written in advance, so that appending to the write-ahead log never
//! grows a file.
//!
//! An fsync after an append that grew its file must commit the file system's journal
//! (the new size, the new blocks), and on ext4 a journal commit waits for the data other
//! processes are writing back: with another process writing heavily to the same disk,
//! 170 ms at the 99th percentile against 1 ms for an fsync after overwriting blocks
//! that were already written (a one-off measurement on this project's 2-core machine,
//! described in BENCHMARKS.md). So segments are used as spares first: files already
//! written to their full size, either with zeros by a background thread or by being a
//! segment whose entries are all committed (recycled instead of deleted). The log
//! overwrites a spare from its start; what is left after the last entry (zeros, or
//! entries older than the segment) ends its readable part.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Suffix of a spare file.
pub(crate) const SUFFIX: &str = ".walspare";
/// Suffix of a spare being written.
const PARTIAL: &str = ".walspare.tmp";
/// Spares kept at most; a committed segment beyond these is deleted.
const MAX_SPARES: usize = 2;

/// The spares of one log directory.
#[derive(Debug)]
pub(crate) struct Spares {
    dir: PathBuf,
    /// Size a spare is written to (the log's segment size).
    size: u64,
    ready: Mutex<Vec<PathBuf>>,
    /// `ready.len()`, read on every append without the lock.
    count: AtomicUsize,
    pub(crate) preparing: AtomicBool,
}

impl Spares {
    /// The spares left in `dir` by an earlier run; half-written ones are deleted.
    pub(crate) fn open(dir: &Path, size: u64) -> io::Result<Arc<Spares>> {
        let mut ready = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(PARTIAL) {
                fs::remove_file(&path)?;
            } else if name.ends_with(SUFFIX) {
                ready.push(path);
            }
        }
        Ok(Arc::new(Spares {
            dir: dir.to_path_buf(),
            size,
            count: AtomicUsize::new(ready.len()),
            ready: Mutex::new(ready),
            preparing: AtomicBool::new(false),
        }))
    }

    /// Whether a spare is waiting.
    pub(crate) fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// A spare to become the next segment, if one is waiting; another is prepared in
    /// the background when none is left.
    pub(crate) fn take(self: &Arc<Self>) -> Option<PathBuf> {
        let spare = {
            let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
            let spare = ready.pop();
            self.count.store(ready.len(), Ordering::Release);
            spare
        };
        if !self.any() {
            self.prepare();
        }
        spare
    }

    /// Keeps `segment`, whose entries are all committed, as a spare if fewer than
    /// [`MAX_SPARES`] wait and it is written to the full size; returns false when the
    /// caller should delete it instead.
    pub(crate) fn recycle(&self, segment: &Path, first_lsn: u64) -> bool {
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        let full = fs::metadata(segment).is_ok_and(|m| m.len() >= self.size);
        if ready.len() >= MAX_SPARES || !full {
            return false;
        }
        let spare = self.dir.join(format!("recycled-{first_lsn}{SUFFIX}"));
        if fs::rename(segment, &spare).is_err() {
            return false;
        }
        ready.push(spare);
        self.count.store(ready.len(), Ordering::Release);
        true
    }

    /// Bytes the spares take on disk.
    pub(crate) fn disk_bytes(&self) -> u64 {
        let ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        ready
            .iter()
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Writes a spare of zeros on a thread of its own, unless one is being written.
    pub(crate) fn prepare(self: &Arc<Self>) {
        if self.preparing.swap(true, Ordering::AcqRel) {
            return;
        }
        let spares = self.clone();
        let spawned = std::thread::Builder::new()
            .name("skein-wal-spare".into())
            .spawn(move || {
                match spares.write_zeros() {
                    Ok(path) => {
                        let mut ready = spares.ready.lock().unwrap_or_else(|e| e.into_inner());
                        ready.push(path);
                        spares.count.store(ready.len(), Ordering::Release);
                    }
                    // Without a spare the log grows its segments as it writes: slower
                    // fsyncs under foreign disk load, nothing worse.
                    Err(e) => tracing::debug!("cannot write a spare WAL segment: {e}"),
                }
                spares.preparing.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.preparing.store(false, Ordering::Release);
        }
    }

    fn write_zeros(&self) -> io::Result<PathBuf> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "fresh-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let partial = self.dir.join(format!("{name}{PARTIAL}"));
        let mut file = File::create(&partial)?;
        let zeros = vec![0u8; 1 << 20];
        let mut left = self.size;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            file.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        file.sync_all()?;
        let spare = self.dir.join(format!("{name}{SUFFIX}"));
        fs::rename(&partial, &spare)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(spare)
    }
}
