//! Finding the files a followed path rotated into, opened and in age order.
//!
//! For [`Layout::Numbered`] the successors of a file are the numbered siblings newer
//! than it. They are opened as soon as they are seen: dockerd deletes the oldest file
//! when max-file is exceeded, and an open handle keeps its data readable until the tail
//! gets to it.
//!
//! Opening by name races with a rotation in progress (`NAME.1` may be renamed to
//! `NAME.2` between listing and opening, so one file shows up twice and another not at
//! all). A listing is therefore taken again after the files are opened and only trusted
//! when every name still leads to the file opened through it.

use super::file_id::FileId;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// How a followed file's rotated predecessors are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Docker's json-file driver and logrotate's default: `NAME` is live, rotation renames
    /// `NAME`→`NAME.1`, `NAME.1`→`NAME.2`, … and creates a new `NAME`; the oldest beyond
    /// max-file is deleted. Successors of `NAME.k` are `NAME.(k-1)` … `NAME.1`, `NAME`.
    ///
    /// Compressed siblings (`NAME.1.gz`) are ignored. dockerd with max-file=1 truncates
    /// `NAME` in place instead of renaming, which the tail handles as a truncation.
    Numbered,
    /// Any other file: rotation is rename+create of unknown naming (only the live path is
    /// known), or copytruncate.
    Plain,
}

/// How many times a listing is retried while renames keep changing it.
const SNAPSHOT_ATTEMPTS: usize = 8;

/// What decides that a file may have changed since it was last looked at: its length
/// and modification time, both from one `fstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    len: u64,
    mtime: (i64, i64),
}

impl Token {
    pub(crate) fn of(meta: &Metadata) -> Token {
        Token {
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }

    /// The file's length when the token was taken.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

/// A file the tail holds open, with its identity as of opening.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) file: File,
    pub(crate) id: FileId,
    pub(crate) token: Token,
}

impl Opened {
    pub(crate) fn open(path: &Path) -> io::Result<Opened> {
        Opened::of(File::open(path)?)
    }

    /// `file`, opened by someone else.
    pub(crate) fn of(file: File) -> io::Result<Opened> {
        let meta = file.metadata()?;
        Ok(Opened {
            id: FileId::of(&file, &meta)?,
            token: Token::of(&meta),
            file,
        })
    }

    pub(crate) fn key(&self) -> (u64, u64) {
        self.id.key()
    }
}

/// Whether an error means "there is no such file (any more)".
pub(crate) fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// `NAME` and its numbered siblings `NAME.<k>` (k ≥ 1, decimal), oldest first: highest
/// number first, the live name last. A missing directory lists nothing.
///
/// This is the order a [`Layout::Numbered`] tail reads a set in when it starts without a
/// position, counting positions from 0 at the oldest file; `skein import` reads a
/// json-file set in the same order so that its `_seq`s are the agent's.
pub fn numbered_names(path: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_gone(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let index = if file_name == name {
            0
        } else {
            match file_name
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('.'))
                .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|k| k.parse::<u64>().ok())
            {
                Some(k) if k > 0 => k,
                _ => continue,
            }
        };
        found.push((index, dir.join(file_name)));
    }
    // Oldest first: highest number first, the live name (index 0) last.
    found.sort_by_key(|&(k, _)| (k == 0, std::cmp::Reverse(k)));
    Ok(found)
}

/// Opens `NAME` and every numbered sibling, oldest first, as one consistent picture:
/// each file appears once, and after opening, every name still leads to the file opened
/// through it. If renames keep changing the picture, the last attempt is returned.
#[cfg(test)]
pub(crate) fn snapshot(path: &Path) -> io::Result<Vec<Opened>> {
    Ok(snapshot_numbered(path)?
        .0
        .into_iter()
        .map(|(_, o)| o)
        .collect())
}

/// [`snapshot`]'s files with the number of the name each was opened through (0 for
/// `NAME`), and whether the picture is consistent. An inconsistent one (renames kept
/// changing it) may miss files that still exist.
pub(crate) fn snapshot_numbered(path: &Path) -> io::Result<(Vec<(u64, Opened)>, bool)> {
    let mut last = Vec::new();
    for _ in 0..SNAPSHOT_ATTEMPTS {
        let names = numbered_names(path)?;
        let mut opened = Vec::with_capacity(names.len());
        let mut consistent = true;
        for (k, name) in &names {
            match Opened::open(name) {
                Ok(o) => opened.push((*k, o)),
                Err(e) if is_gone(&e) => consistent = false,
                Err(e) => return Err(e),
            }
        }
        if consistent {
            consistent = still_leads_to(path, &names, &opened)?;
        }
        if consistent {
            return Ok((opened, true));
        }
        last = opened;
    }
    // Never consistent: a rotation storm. Dedupe so at least no file is read twice; the
    // next rotation check looks again.
    let mut seen = std::collections::HashSet::new();
    last.retain(|(_, o)| seen.insert(o.key()));
    Ok((last, false))
}

/// Whether listing again gives the same names, each still naming the file opened
/// through it, with no file under two names.
fn still_leads_to(
    path: &Path,
    names: &[(u64, PathBuf)],
    opened: &[(u64, Opened)],
) -> io::Result<bool> {
    let mut keys = std::collections::HashSet::new();
    if !opened.iter().all(|(_, o)| keys.insert(o.key())) {
        return Ok(false);
    }
    let again = numbered_names(path)?;
    if again.len() != names.len() || again.iter().zip(names).any(|(a, b)| a.0 != b.0) {
        return Ok(false);
    }
    for ((_, name), (_, o)) in names.iter().zip(opened) {
        match fs::metadata(name) {
            Ok(m) if (m.dev(), m.ino()) == o.key() => {}
            Ok(_) => return Ok(false),
            Err(e) if is_gone(&e) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_are_oldest_first_and_skip_others() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("c-json.log");
        for name in [
            "c-json.log",
            "c-json.log.1",
            "c-json.log.10",
            "c-json.log.2",
            "c-json.log.3.gz",
            "c-json.log.x",
            "c-json.log.",
            "c-json.log.0",
            "other.log.1",
        ] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        let names: Vec<u64> = numbered_names(&base)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(names, [10, 2, 1, 0]);
        let opened = snapshot(&base).unwrap();
        assert_eq!(opened.len(), 4);
    }

    #[test]
    fn missing_directory_lists_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("gone").join("c-json.log");
        assert!(numbered_names(&base).unwrap().is_empty());
        assert!(snapshot(&base).unwrap().is_empty());
    }
}
