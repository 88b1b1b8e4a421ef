//! The write-ahead log: where a batch becomes durable before it is acknowledged.
//!
//! The log is a directory of segment files named by the first log sequence number (LSN)
//! they hold. Each entry is one frame:
//!
//! ```text
//! [u32 payload length][u32 crc32 of lsn+payload][u64 lsn][payload]   (little endian)
//! ```
//!
//! The payload is the batch's accepted records as NDJSON. A torn or corrupt frame ends
//! the readable part of its segment: replay reports it (see [`ReplayReport`]) and goes on
//! with the next segment, so one bad tail never hides later acknowledged entries. After
//! any write error the writer starts a fresh segment rather than appending behind bytes
//! of unknown state.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

const HEADER: usize = 16;
/// Frames larger than this are treated as corruption on replay (no batch is this big).
const MAX_FRAME: u32 = 1 << 30;
const SUFFIX: &str = ".wal";

/// Errors of the write-ahead log.
#[derive(Debug, Error)]
pub enum WalError {
    /// The log directory or a segment could not be written or synced.
    #[error("write-ahead log {path}: {source}; check that the disk is writable and not full")]
    Io {
        /// File or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One entry read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalEntry {
    /// Log sequence number, strictly increasing.
    pub lsn: u64,
    /// The NDJSON records of the batch.
    pub payload: Vec<u8>,
}

/// What replay found besides the entries themselves.
#[derive(Debug, Default, Clone)]
pub struct ReplayReport {
    /// Segments whose readable part ended before the end of the file:
    /// `(segment, offset of the bad frame, bytes discarded)`.
    pub damaged: Vec<(PathBuf, u64, u64)>,
    /// Highest LSN found, 0 for an empty log.
    pub last_lsn: u64,
}

#[derive(Debug)]
struct Segment {
    first_lsn: u64,
    path: PathBuf,
}

/// Reads every entry with an LSN greater than `after`, oldest first, without writing.
/// Safe while a [`Wal`] appends to the same directory: a frame being written reads as
/// the end of its segment.
pub fn read_entries(
    dir: &Path,
    after: u64,
    mut visit: impl FnMut(WalEntry),
) -> Result<ReplayReport, WalError> {
    let mut report = ReplayReport::default();
    for seg in list_segments(dir)? {
        match read_segment(&seg.path, after, &mut report, &mut visit) {
            // Trimmed while we listed: everything in it was committed already.
            Err(WalError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(report)
}

/// The appending side of the log. Owned by exactly one thread.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    /// Closed segments, oldest first, with the first LSN of each.
    closed: Vec<Segment>,
    current: Option<(Segment, File, u64)>,
    next_lsn: u64,
    roll_bytes: u64,
    /// Where the group being written started, so that a failed group can be cut off.
    group: Option<GroupStart>,
}

/// The state of the log when a group began.
#[derive(Debug)]
struct GroupStart {
    /// The segment being appended to then, and its length.
    segment: Option<(PathBuf, u64)>,
    /// Segments created since.
    created: Vec<PathBuf>,
}

impl Wal {
    /// Opens the log in `dir` (created if missing), reads every entry with an LSN greater
    /// than `after` and hands them to `visit` in order. New entries continue after the
    /// highest LSN found (or after `after` if higher), in a fresh segment.
    pub fn open(
        dir: &Path,
        after: u64,
        roll_bytes: u64,
        mut visit: impl FnMut(WalEntry),
    ) -> Result<(Wal, ReplayReport), WalError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let segments = list_segments(dir)?;
        let mut report = ReplayReport::default();
        for seg in &segments {
            read_segment(&seg.path, after, &mut report, &mut visit)?;
        }
        let wal = Wal {
            dir: dir.to_path_buf(),
            closed: segments,
            current: None,
            next_lsn: report.last_lsn.max(after) + 1,
            roll_bytes,
            group: None,
        };
        Ok((wal, report))
    }

    /// Starts a group of appends that [`Wal::sync`] makes durable together or
    /// [`Wal::abort_group`] removes together.
    pub fn begin_group(&mut self) {
        self.group = Some(GroupStart {
            segment: self
                .current
                .as_ref()
                .map(|(seg, _, len)| (seg.path.clone(), *len)),
            created: Vec::new(),
        });
    }

    /// Removes every entry appended since [`Wal::begin_group`]: the group failed and was
    /// not acknowledged, so none of it may be replayed later next to the client's retry.
    /// Later entries go to a new segment; their LSNs continue after the removed ones.
    pub fn abort_group(&mut self) -> Result<(), WalError> {
        self.abandon_current();
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        for path in &group.created {
            self.closed.retain(|s| &s.path != path);
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(path)(e)),
                _ => {}
            }
        }
        if let Some((path, len)) = group.segment {
            OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(len).and_then(|_| f.sync_data()))
                .map_err(io_err(&path))?;
        }
        Ok(())
    }

    /// The LSN the next appended entry will get.
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// Appends one entry (not yet durable: call [`Wal::sync`]) and returns its LSN.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, WalError> {
        let lsn = self.next_lsn;
        if self.current.as_ref().is_none_or(|c| c.2 >= self.roll_bytes) {
            self.roll()?;
        }
        let (seg, file, len) = self.current.as_mut().expect("rolled above");
        let mut header = [0u8; HEADER];
        header[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&lsn.to_le_bytes());
        crc.update(payload);
        header[4..8].copy_from_slice(&crc.finalize().to_le_bytes());
        header[8..16].copy_from_slice(&lsn.to_le_bytes());
        let res = file
            .write_all(&header)
            .and_then(|_| file.write_all(payload));
        if let Err(e) = res {
            let path = seg.path.clone();
            self.abandon_current();
            return Err(WalError::Io { path, source: e });
        }
        *len += (HEADER + payload.len()) as u64;
        self.next_lsn += 1;
        Ok(lsn)
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> Result<(), WalError> {
        if let Some((seg, file, _)) = &self.current {
            if let Err(e) = file.sync_data() {
                let path = seg.path.clone();
                self.abandon_current();
                return Err(WalError::Io { path, source: e });
            }
        }
        Ok(())
    }

    fn abandon_current(&mut self) {
        if let Some((seg, _, _)) = self.current.take() {
            self.closed.push(seg);
        }
    }

    fn roll(&mut self) -> Result<(), WalError> {
        // Entries of the running group may sit in the segment being closed: they must be
        // as durable as those the final sync covers.
        if let Some((seg, file, _)) = &self.current {
            if let Err(e) = file.sync_data() {
                let path = seg.path.clone();
                self.abandon_current();
                return Err(WalError::Io { path, source: e });
            }
        }
        self.abandon_current();
        let path = self.dir.join(format!("{:020}{SUFFIX}", self.next_lsn));
        // A segment abandoned before any entry reached it has this same name; it holds
        // no complete entry, so it is simply replaced.
        self.closed.retain(|s| s.path != path);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        // The new file's directory entry must survive a crash too.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))?;
        self.current = Some((
            Segment {
                first_lsn: self.next_lsn,
                path,
            },
            file,
            0,
        ));
        if let Some(g) = &mut self.group {
            g.created
                .push(self.current.as_ref().expect("just set").0.path.clone());
        }
        Ok(())
    }

    /// Deletes closed segments whose every entry is at or below `committed`, and starts a
    /// new segment if the current one holds only committed entries and has grown large.
    pub fn trim(&mut self, committed: u64) -> Result<(), WalError> {
        if let Some((seg, _, len)) = &self.current {
            if self.next_lsn - 1 <= committed
                && *len > self.roll_bytes / 8
                && seg.first_lsn <= committed
            {
                self.abandon_current();
            }
        }
        let current_first = self.current.as_ref().map(|c| c.0.first_lsn);
        let mut keep = Vec::new();
        let closed = std::mem::take(&mut self.closed);
        let firsts: Vec<u64> = closed
            .iter()
            .map(|s| s.first_lsn)
            .chain(current_first)
            .chain(std::iter::once(self.next_lsn))
            .collect();
        for (i, seg) in closed.into_iter().enumerate() {
            // A segment ends right before the next one begins.
            let last = firsts[i + 1].saturating_sub(1);
            if last <= committed {
                if let Err(e) = fs::remove_file(&seg.path) {
                    if e.kind() != io::ErrorKind::NotFound {
                        keep.push(seg);
                        self.closed = keep;
                        return Err(io_err(&self.dir)(e));
                    }
                }
            } else {
                keep.push(seg);
            }
        }
        self.closed = keep;
        Ok(())
    }

    /// Bytes currently held on disk by the log.
    pub fn disk_bytes(&self) -> u64 {
        let closed: u64 = self
            .closed
            .iter()
            .filter_map(|s| fs::metadata(&s.path).ok())
            .map(|m| m.len())
            .sum();
        closed + self.current.as_ref().map_or(0, |c| c.2)
    }
}

fn list_segments(dir: &Path) -> Result<Vec<Segment>, WalError> {
    let mut segs = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else {
            continue;
        };
        if let Ok(first_lsn) = stem.parse::<u64>() {
            segs.push(Segment {
                first_lsn,
                path: entry.path(),
            });
        }
    }
    segs.sort_by_key(|s| s.first_lsn);
    Ok(segs)
}

fn read_segment(
    path: &Path,
    after: u64,
    report: &mut ReplayReport,
    visit: &mut impl FnMut(WalEntry),
) -> Result<(), WalError> {
    let file = File::open(path).map_err(io_err(path))?;
    let total = file.metadata().map_err(io_err(path))?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut offset = 0u64;
    let mut header = [0u8; HEADER];
    loop {
        if offset == total {
            return Ok(());
        }
        let ok = read_full(&mut r, &mut header).map_err(io_err(path))?;
        let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
        if !ok || len > MAX_FRAME || offset + (HEADER as u64) + len as u64 > total {
            break;
        }
        let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        let lsn = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
        let mut payload = vec![0u8; len as usize];
        if !read_full(&mut r, &mut payload).map_err(io_err(path))? {
            break;
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&lsn.to_le_bytes());
        h.update(&payload);
        if h.finalize() != crc || lsn <= report.last_lsn {
            break;
        }
        report.last_lsn = lsn;
        offset += HEADER as u64 + len as u64;
        if lsn > after {
            visit(WalEntry { lsn, payload });
        }
    }
    report
        .damaged
        .push((path.to_path_buf(), offset, total - offset));
    Ok(())
}

/// Reads exactly `buf.len()` bytes; `false` when the file ends first.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(dir: &Path, after: u64) -> (Vec<WalEntry>, ReplayReport, Wal) {
        let mut got = Vec::new();
        let (wal, rep) = Wal::open(dir, after, 1 << 20, |e| got.push(e)).unwrap();
        (got, rep, wal)
    }

    #[test]
    fn entries_survive_reopen_and_trim() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, _, mut wal) = replay(tmp.path(), 0);
        for i in 0..10u8 {
            assert_eq!(wal.append(&[i; 100]).unwrap(), i as u64 + 1);
        }
        wal.sync().unwrap();
        drop(wal);
        let (got, rep, mut wal) = replay(tmp.path(), 4);
        assert_eq!(got.len(), 6);
        assert_eq!(got[0].lsn, 5);
        assert_eq!(got[0].payload, vec![4u8; 100]);
        assert!(rep.damaged.is_empty());
        assert_eq!(wal.append(b"x").unwrap(), 11);
        wal.sync().unwrap();
        wal.trim(10).unwrap();
        drop(wal);
        let (got, _, _) = replay(tmp.path(), 0);
        assert_eq!(got.iter().map(|e| e.lsn).collect::<Vec<_>>(), vec![11]);
    }

    #[test]
    fn torn_tail_is_reported_and_later_segments_still_read() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, _, mut wal) = replay(tmp.path(), 0);
        wal.append(b"one").unwrap();
        wal.append(b"two").unwrap();
        wal.sync().unwrap();
        drop(wal);
        // Tear the last frame of the first segment.
        let seg = list_segments(tmp.path()).unwrap().remove(0).path;
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 2)
            .unwrap();
        let (got, rep, mut wal) = replay(tmp.path(), 0);
        assert_eq!(got.len(), 1);
        assert_eq!(rep.damaged.len(), 1);
        assert_eq!(rep.damaged[0].1, (HEADER + 3) as u64);
        // The torn entry was never acknowledged; its LSN is reused in a new segment.
        assert_eq!(wal.append(b"three").unwrap(), 2);
        wal.sync().unwrap();
        drop(wal);
        let (got, rep, _) = replay(tmp.path(), 0);
        let payloads: Vec<&[u8]> = got.iter().map(|e| e.payload.as_slice()).collect();
        assert_eq!(payloads, vec![&b"one"[..], &b"three"[..]]);
        assert_eq!(rep.damaged.len(), 1);
    }

    #[test]
    fn aborted_group_leaves_nothing_to_replay() {
        let tmp = tempfile::tempdir().unwrap();
        let mut got = Vec::new();
        // Tiny segments: the group spans a roll.
        let (mut wal, _) = Wal::open(tmp.path(), 0, 40, |e| got.push(e)).unwrap();
        wal.begin_group();
        wal.append(b"kept").unwrap();
        wal.sync().unwrap();
        wal.begin_group();
        for p in [&b"refused-1"[..], b"refused-2", b"refused-3"] {
            wal.append(p).unwrap();
        }
        wal.abort_group().unwrap();
        wal.begin_group();
        let lsn = wal.append(b"after").unwrap();
        assert_eq!(lsn, 5, "LSNs are not reused");
        wal.sync().unwrap();
        drop(wal);
        let (got, rep, _) = replay(tmp.path(), 0);
        let payloads: Vec<&[u8]> = got.iter().map(|e| e.payload.as_slice()).collect();
        assert_eq!(payloads, vec![&b"kept"[..], b"after"]);
        assert!(rep.damaged.is_empty(), "{:?}", rep.damaged);
    }

    #[test]
    fn flipped_byte_stops_at_the_bad_frame() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, _, mut wal) = replay(tmp.path(), 0);
        for p in [b"aaaa", b"bbbb", b"cccc"] {
            wal.append(p).unwrap();
        }
        wal.sync().unwrap();
        drop(wal);
        let seg = list_segments(tmp.path()).unwrap().remove(0).path;
        let mut bytes = fs::read(&seg).unwrap();
        bytes[HEADER + 4 + HEADER + 1] ^= 0xff;
        fs::write(&seg, bytes).unwrap();
        let (got, rep, _) = replay(tmp.path(), 0);
        assert_eq!(got.len(), 1);
        assert_eq!(rep.damaged[0].2, 2 * (HEADER as u64 + 4));
    }
}
