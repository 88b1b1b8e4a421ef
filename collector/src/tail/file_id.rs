//! Which file is which: device + inode, birth time, and a fingerprint of the first bytes.
//!
//! Device + inode follow a file through renames, but an inode number is reused as soon
//! as its file is deleted and closed (ext4 hands the same number to the next file
//! created in the directory almost every time). While the tail holds a file open its
//! inode cannot be reused, so in-process comparisons use device + inode alone. A
//! checkpoint outlives the open handle, so resuming also checks the birth time (where
//! the filesystem records one) and the fingerprint.

use serde::{Deserialize, Serialize};
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::time::UNIX_EPOCH;

/// How many leading bytes the fingerprint covers at most.
pub const FINGERPRINT_BYTES: usize = 256;

/// Identity of a file that survives renames: device + inode, plus a fingerprint of the
/// first bytes (hash of up to the first 256 bytes and how many were hashed) so a reused
/// inode is not mistaken for the old file.
///
/// The fingerprint grows with the file until it covers [`FINGERPRINT_BYTES`], so two
/// `FileId`s of one file taken at different times may differ in `fingerprint_len`;
/// derived equality compares every field and is meant for checkpoints round-tripping,
/// not for asking "same file?".
///
/// Limits: a file checkpointed while empty has no fingerprint, and two files that begin
/// with the same bytes have the same one; then only the birth time (when the filesystem
/// keeps it) tells a reused inode apart.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileId {
    /// Device number (`st_dev`).
    pub dev: u64,
    /// Inode number (`st_ino`).
    pub ino: u64,
    /// Creation time in nanoseconds since the epoch, where the filesystem records one
    /// (`statx` birth time: ext4, xfs, btrfs, tmpfs). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub born_ns: Option<u64>,
    /// How many leading bytes `fingerprint` covers (0 to [`FINGERPRINT_BYTES`]).
    pub fingerprint_len: u32,
    /// FNV-1a (64 bit) of the first `fingerprint_len` bytes. A fixed, documented hash so
    /// checkpoints stay valid across builds.
    pub fingerprint: u64,
}

/// What the first bytes of a file say about a fingerprint taken earlier.
#[derive(Debug)]
pub(crate) enum Head {
    /// The file still starts with the fingerprinted bytes; the fingerprint is extended
    /// to cover what the file now holds.
    Same(FileId),
    /// The file no longer starts with those bytes (truncated, rewritten or replaced).
    Changed,
}

impl FileId {
    /// The identity of nothing: positions taken before any file was opened carry it.
    /// Inode 0 is never a real file.
    pub fn none() -> FileId {
        FileId {
            dev: 0,
            ino: 0,
            born_ns: None,
            fingerprint_len: 0,
            fingerprint: fnv1a(FNV_OFFSET, &[]),
        }
    }

    /// Whether this is [`FileId::none`].
    pub fn is_none(&self) -> bool {
        self.dev == 0 && self.ino == 0
    }

    /// The identity of an open file whose metadata is `meta`, fingerprinting its first
    /// bytes.
    pub fn of(file: &File, meta: &Metadata) -> io::Result<FileId> {
        let mut head = [0u8; FINGERPRINT_BYTES];
        let n = read_head(file, &mut head)?;
        Ok(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            born_ns: born_ns(meta),
            fingerprint_len: n as u32,
            fingerprint: fnv1a(FNV_OFFSET, &head[..n]),
        })
    }

    /// Device and inode, which identify a file for as long as someone holds it open.
    pub(crate) fn key(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    /// Whether `self` and `other` disagree on birth time (both known and different),
    /// which proves a reused inode whatever the content says.
    pub(crate) fn born_differs(&self, other: &FileId) -> bool {
        matches!((self.born_ns, other.born_ns), (Some(a), Some(b)) if a != b)
    }

    /// Rereads the head of `file` and compares it with this fingerprint.
    pub(crate) fn check_head(&self, file: &File) -> io::Result<Head> {
        let mut head = [0u8; FINGERPRINT_BYTES];
        let n = read_head(file, &mut head)?;
        let covered = self.fingerprint_len as usize;
        if n < covered {
            return Ok(Head::Changed);
        }
        let prefix = fnv1a(FNV_OFFSET, &head[..covered]);
        if prefix != self.fingerprint {
            return Ok(Head::Changed);
        }
        Ok(Head::Same(FileId {
            fingerprint_len: n as u32,
            fingerprint: fnv1a(prefix, &head[covered..n]),
            ..self.clone()
        }))
    }
}

/// The fingerprint function, for tests that recompute fingerprints.
#[cfg(test)]
pub(crate) fn fingerprint(bytes: &[u8]) -> u64 {
    fnv1a(FNV_OFFSET, bytes)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a continued from `state`, so a prefix's hash extends to a longer prefix without
/// rehashing.
fn fnv1a(state: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(state, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

fn read_head(file: &File, head: &mut [u8; FINGERPRINT_BYTES]) -> io::Result<usize> {
    let mut n = 0;
    while n < head.len() {
        match file.read_at(&mut head[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn born_ns(meta: &Metadata) -> Option<u64> {
    let born = meta.created().ok()?;
    let since = born.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(since.as_nanos()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn fingerprint_grows_with_the_file_and_catches_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut w = File::create(&path).unwrap();
        let r = File::open(&path).unwrap();
        let empty = FileId::of(&r, &r.metadata().unwrap()).unwrap();
        assert_eq!(empty.fingerprint_len, 0);

        w.write_all(b"first line\n").unwrap();
        let Head::Same(grown) = empty.check_head(&r).unwrap() else {
            panic!("an empty fingerprint matches anything");
        };
        assert_eq!(grown.fingerprint_len, 11);
        assert_eq!(grown.fingerprint, fingerprint(b"first line\n"));

        w.write_all(&[b'x'; 400]).unwrap();
        let Head::Same(full) = grown.check_head(&r).unwrap() else {
            panic!("appending keeps the head");
        };
        assert_eq!(full.fingerprint_len as usize, FINGERPRINT_BYTES);

        // copytruncate followed by new writes: same inode, different head.
        w.set_len(0).unwrap();
        assert!(matches!(full.check_head(&r).unwrap(), Head::Changed));
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        w.write_all(&[b'y'; 300]).unwrap();
        assert!(matches!(full.check_head(&r).unwrap(), Head::Changed));
    }

    #[test]
    fn file_id_round_trips_through_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, b"hello\n").unwrap();
        let f = File::open(&path).unwrap();
        let id = FileId::of(&f, &f.metadata().unwrap()).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<FileId>(&json).unwrap(), id);
        assert!(!id.is_none());
        assert!(FileId::none().is_none());
    }
}
