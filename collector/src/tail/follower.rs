//! [`FileTail`]: one followed path, read through its rotations.

use super::catcher::Catcher;
use super::file_id::{FileId, Head};
use super::rotation::{is_gone, Layout, Opened, Token};
use super::TailPosition;
use memchr::{memchr, memchr_iter, memrchr};
use std::collections::VecDeque;
use std::fs;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Default cap on one returned line: 4 MiB. See [`FileTail::with_max_line_bytes`].
pub const DEFAULT_MAX_LINE_BYTES: usize = 4 << 20;

/// Bytes asked of the kernel per read.
const READ_BYTES: usize = 64 << 10;

/// How many finished files [`FileTail::position_at`] can still name.
const PAST_FILES: usize = 16;

/// Why a file ended (see [`Chunk::ended_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileEnd {
    /// A newer file took over the live path, and this one was read to its end.
    Rotated,
    /// The file was truncated or rewritten in place (copytruncate, dockerd with
    /// max-file=1). The next chunk comes from the start of its new content; bytes
    /// written after the last read and before the truncation are lost.
    Truncated,
    /// The live path is gone and this file was read to its end. If a file appears at
    /// the path again, it is read as this one's successor.
    Deleted,
}

/// What a resume from a [`TailPosition`] could not honour exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResumeLoss {
    /// The checkpointed file no longer exists where the tail can see it (deleted,
    /// rotated out of sight, or its inode reused by another file). Reading started at
    /// the oldest file found; what was left of the checkpointed file, and any file
    /// rotated away between it and the oldest file found, was not read.
    FileGone,
    /// The checkpointed file is still there but shorter than the checkpoint or no longer
    /// starting with the fingerprinted bytes: it was truncated while the tail was down,
    /// and is read from its start. What it held past the checkpoint was lost.
    Truncated,
}

/// Bytes written to the followed path that the tail could not read, for the caller to
/// report: losses are never silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss {
    /// What happened.
    pub kind: LossKind,
    /// How many bytes were lost: at least this many for [`LossKind::Truncated`], an
    /// estimate for [`LossKind::Unopened`].
    pub bytes: u64,
}

/// How bytes were lost (see [`Loss`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LossKind {
    /// `files` files arrived at the path and were deleted, or renamed where the tail
    /// does not look, before anything could open them (see
    /// [`catcher`](super::catcher)). Nothing of them was ever seen, so the bytes are
    /// estimated as that many times the last file the tail finished (dockerd's
    /// rotated files are all about `max-size`), or the file being read if none was.
    Unopened {
        /// How many files.
        files: u64,
    },
    /// The file being read was truncated (copytruncate, dockerd with max-file=1) while
    /// bytes the tail had already seen in it were not read yet.
    Truncated,
}

/// What one [`FileTail::poll`] appended.
///
/// A chunk holds bytes of one file only, so `out[start..start + len]` (in the caller's
/// buffer, from where this call started appending) has logical positions
/// `start..start + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Logical position of `out[appended_start]` (first byte appended by this call).
    pub start: u64,
    /// Bytes appended.
    pub len: usize,
    /// The current file was finished by this call (rotated away / replaced / truncated
    /// and read to its end): the caller must flush any merge state (split lines) before
    /// the next chunk, which comes from the successor. When true, a trailing line
    /// without b'\n' of the finished file IS included (it will never be completed).
    pub file_ended: bool,
    /// How the file ended: `Some` exactly when `file_ended`.
    pub ended_by: Option<FileEnd>,
    /// The chunk's last line was cut at the line cap and does not end in b'\n'; the rest
    /// of the line starts the next chunk (see [`FileTail::with_max_line_bytes`]).
    pub cut_line: bool,
}

/// A synchronous follower of one log file through its rotations: every byte is
/// returned once, as complete lines, with a logical position that keeps increasing
/// across files, truncations and restarts.
///
/// It has no thread and no watcher: the caller calls [`poll`](Self::poll) when inotify
/// says something changed or on a timer. An idle poll costs one `fstat` of the open
/// file and one `stat` of the live path.
///
/// # Files and logical positions
///
/// Each file read gets a `base`: the logical position of its byte 0. The first file's
/// base is 0 (or comes from the resume position); a successor's base is its
/// predecessor's base plus the predecessor's length when it was finished. After a
/// truncation the new content's base is the old base plus the old read offset, so it
/// lies above everything returned before.
///
/// # Rotation
///
/// Every poll stats the live path; when it names a file the tail does not hold, the
/// successors are opened at once ([`Layout::Numbered`]: every numbered sibling newer
/// than the newest file held; [`Layout::Plain`]: the new live file) and queued. Held
/// files stay readable when dockerd deletes them. The current file is finished when it
/// is read to its end and either its successor has data or one more poll finds it not
/// growing (a writer that has not yet reopened the live path gets that long to stop
/// writing to the old file), or the live path has moved on by more than one file.
///
/// # Documented losses
///
/// - Truncation: bytes written after the tail's last read and before a truncation are
///   gone when it looks again. A truncation is noticed by the file being shorter than
///   the read offset or by its first bytes changing; a file rewritten to at least the
///   old offset with the same first 256 bytes cannot be told from one that grew.
/// - Bytes appended to a rotated file after the tail finished it are not read (dockerd
///   closes a file before renaming it, so this only concerns writers that keep writing
///   to a renamed file for longer than a poll interval).
/// - A file rotated and deleted before anything could open it: before the next poll
///   when nothing else looks, or before the file watcher's thread could run when a
///   [`Catcher`] is registered with it (see [`open_with`](Self::open_with)). Such files
///   are counted and reported through [`take_loss`](Self::take_loss).
/// - With [`Layout::Plain`], files renamed away while the tail was not running.
/// - Numbered ordering assumes max-file does not shrink while files exist (dockerd
///   fixes it for a container's life), and a resume whose file is gone assumes files
///   are deleted oldest first or all together (dockerd's rotation, container removal).
///   A checkpointed file that was empty has no fingerprint; where the filesystem keeps
///   no birth time either, a new file reusing its inode is taken for it.
pub struct FileTail {
    path: PathBuf,
    layout: Layout,
    /// Finds new files: on this tail's polls, and (when registered with a watcher) on
    /// file notifications in between.
    catcher: Catcher,
    /// Losses not yet taken by the caller.
    losses: VecDeque<Loss>,
    max_line: usize,
    current: Option<Current>,
    /// Successors already opened, oldest first. Their bases are known only once the file
    /// before them is finished.
    queue: VecDeque<Opened>,
    carry: Carry,
    /// Base of the first file opened while no file is current.
    next_base: u64,
    live_gone: bool,
    /// Recently finished files, newest last, so positions in them can still be named
    /// and a rotation check can recognise them.
    past: VecDeque<Past>,
    resume_loss: Option<ResumeLoss>,
}

/// The file being read.
struct Current {
    opened: Opened,
    base: u64,
    /// Next byte to read from the file (everything before it was returned or sits in
    /// the carry).
    offset: u64,
    /// The largest size a poll has seen the file at: what a truncation loses unread.
    seen_len: u64,
    /// The last poll found the file at its end with a reason to finish it.
    settling: bool,
    /// Finished with nothing to move on to (the live path is gone). Kept open so its
    /// inode cannot be reused while the tail compares inode numbers against it.
    ended: bool,
}

struct Past {
    id: FileId,
    base: u64,
    len: u64,
}

impl FileTail {
    /// Follows `path` (the live name). `start`: None = from byte 0 of the live file
    /// (for Numbered: from the OLDEST existing rotated file, so nothing Docker still keeps
    /// is skipped; bases accumulate so logical positions keep increasing across files);
    /// Some(pos) = resume there: find the file with that identity (the live file or, for
    /// Numbered, a rotated one; verify the fingerprint), seek to pos.offset, and queue its
    /// successors. If that file no longer exists: start at the oldest existing file with
    /// base = pos.base + pos.offset (everything left is newer; logical positions stay
    /// above anything already read), and report it through
    /// [`resume_loss`](Self::resume_loss) so the caller can log it.
    /// If the path does not exist yet, the tail waits for it to appear.
    ///
    /// A position naming [`FileId::none`] (taken before any file was open) starts like
    /// `None`, at its logical position, and reports no loss.
    pub fn open(
        path: PathBuf,
        layout: Layout,
        start: Option<TailPosition>,
    ) -> io::Result<FileTail> {
        FileTail::open_with(Catcher::new(path, layout), start)
    }

    /// [`open`](Self::open) with a [`Catcher`] the caller shares with a file watcher
    /// (`wake::DirWatcher::follow`), which opens new files as soon as they arrive so that
    /// files rotated away and deleted between two polls are still read. Register the
    /// catcher with the watcher before opening, so no arrival falls between the two.
    ///
    /// The catcher starts over: a tail reopened with the same catcher forgets what the
    /// previous one caught.
    pub fn open_with(catcher: Catcher, start: Option<TailPosition>) -> io::Result<FileTail> {
        let path = catcher.path().to_path_buf();
        let layout = catcher.layout();
        let mut tail = FileTail {
            path,
            layout,
            catcher,
            losses: VecDeque::new(),
            max_line: DEFAULT_MAX_LINE_BYTES,
            current: None,
            queue: VecDeque::new(),
            carry: Carry::default(),
            next_base: 0,
            live_gone: false,
            past: VecDeque::new(),
            resume_loss: None,
        };
        tail.live_gone = match fs::metadata(&tail.path) {
            Ok(_) => false,
            Err(e) if is_gone(&e) => true,
            Err(e) => return Err(e),
        };
        let files = tail.catcher.start()?;
        match start {
            None => tail.queue.extend(files),
            Some(pos) if pos.file.is_none() => {
                tail.next_base = pos.logical();
                tail.queue.extend(files);
            }
            Some(pos) => tail.resume(pos, files)?,
        }
        Ok(tail)
    }

    /// Cuts lines longer than `max` bytes (newline excluded; at least 1) into pieces of
    /// `max` bytes, so one endless line cannot grow memory without bound. Each piece but
    /// the last ends a chunk with [`Chunk::cut_line`] set and no b'\n'; the caller
    /// treats it like a partial entry. No byte is added or dropped, so logical positions
    /// stay exact. Default: [`DEFAULT_MAX_LINE_BYTES`].
    pub fn with_max_line_bytes(mut self, max: usize) -> FileTail {
        self.max_line = max.max(1);
        self
    }

    /// Reads what is available, up to about `limit` bytes, appending ONLY complete lines
    /// (ending in b'\n') to `out`. Returns what was appended.
    ///
    /// "About": complete lines totalling at most `limit` bytes, or one whole line when
    /// the first is longer. The exceptions to "complete" are a finished file's last line
    /// ([`Chunk::file_ended`]) and a line cut at the cap ([`Chunk::cut_line`]).
    ///
    /// On an I/O error after some lines were appended, those are returned and the error
    /// comes back on the next call; the tail stays consistent either way.
    pub fn poll(&mut self, out: &mut Vec<u8>, limit: usize) -> io::Result<Chunk> {
        self.check_live()?;
        if self.current.as_ref().is_none_or(|c| c.ended) {
            match self.queue.pop_front() {
                Some(next) => self.switch_to(next),
                None => return Ok(self.nothing()),
            }
        }
        let start = self.logical_offset();
        let max_line = self.max_line;
        let cur = self.current.as_mut().expect("a current file was set above");

        let meta = cur.opened.file.metadata()?;
        let token = Token::of(&meta);
        let size = meta.len();
        if token != cur.opened.token {
            let replaced = match cur.opened.id.check_head(&cur.opened.file)? {
                Head::Same(id) if size >= cur.offset => {
                    cur.opened.id = id;
                    false
                }
                _ => true,
            };
            if replaced && cur.offset > 0 {
                // Fallible work first: once bytes are in `out` they must be returned.
                let fresh = FileId::of(&cur.opened.file, &meta)?;
                // What was read of the old content goes out, in pieces if a line is over
                // the cap; the token is left stale so the next poll comes back here.
                let (len, cut) = self.carry.take_all(out, max_line);
                if cut {
                    return Ok(Chunk::cut(start, len));
                }
                let old = std::mem::replace(&mut cur.opened.id, fresh);
                remember(&mut self.past, old, cur.base, cur.offset);
                let unread = cur.seen_len.saturating_sub(cur.offset);
                if unread > 0 {
                    self.losses.push_back(Loss {
                        kind: LossKind::Truncated,
                        bytes: unread,
                    });
                }
                cur.opened.token = token;
                cur.settling = false;
                cur.base += cur.offset;
                cur.offset = 0;
                cur.seen_len = size;
                return Ok(Chunk::ended(start, len, FileEnd::Truncated));
            }
            if replaced {
                // Nothing of the old content was read: nothing to end.
                cur.opened.id = FileId::of(&cur.opened.file, &meta)?;
                cur.seen_len = 0;
            }
            cur.opened.token = token;
            cur.seen_len = cur.seen_len.max(size);
        }

        let mut appended = 0usize;
        let mut read_now = 0u64;
        let mut at_end = false;
        loop {
            match self.carry.take_lines(
                out,
                limit.saturating_sub(appended),
                appended == 0,
                max_line,
            ) {
                Took::Lines { bytes, more } => {
                    appended += bytes;
                    if more || (appended >= limit && appended > 0) {
                        break;
                    }
                }
                Took::Cut(bytes) => return Ok(Chunk::cut(start, appended + bytes)),
            }
            if cur.offset >= size {
                at_end = true;
                break;
            }
            let want = READ_BYTES.min((size - cur.offset) as usize);
            match self.carry.read_from(&cur.opened.file, cur.offset, want) {
                Ok(0) => {
                    // Shorter than fstat said: truncated under us, seen on the next poll.
                    at_end = true;
                    break;
                }
                Ok(n) => {
                    cur.offset += n as u64;
                    read_now += n as u64;
                }
                Err(_) if appended > 0 => break,
                Err(e) => return Err(e),
            }
        }

        let mut ended = None;
        if at_end {
            let reason = if !self.queue.is_empty() {
                Some(FileEnd::Rotated)
            } else if self.live_gone {
                Some(FileEnd::Deleted)
            } else {
                None
            };
            match reason {
                None => cur.settling = false,
                Some(reason) => {
                    // An error here must not lose the lines already appended; at worst
                    // the file settles one poll later.
                    let successor_has_data = self
                        .queue
                        .front()
                        .and_then(|next| next.file.metadata().ok())
                        .is_some_and(|m| m.len() > 0);
                    // Two files queued: the writer has moved on past the successor too.
                    if successor_has_data || self.queue.len() > 1 || (cur.settling && read_now == 0)
                    {
                        let (bytes, cut) = self.carry.take_all(out, max_line);
                        if cut {
                            // Still settled: the next poll ends it.
                            cur.settling = true;
                            return Ok(Chunk::cut(start, appended + bytes));
                        }
                        appended += bytes;
                        ended = Some(reason);
                    } else {
                        cur.settling = true;
                    }
                }
            }
        }
        match ended {
            Some(FileEnd::Rotated) => {
                let next = self.queue.pop_front().expect("rotated means a successor");
                self.switch_to(next);
            }
            Some(_) => cur.ended = true,
            None => {}
        }
        self.carry.settle();
        Ok(match ended {
            Some(reason) => Chunk::ended(start, appended, reason),
            None => Chunk {
                start,
                len: appended,
                file_ended: false,
                ended_by: None,
                cut_line: false,
            },
        })
    }

    /// The position to store for resuming at logical position `logical`, which must lie
    /// within the current file (from its base to the end of what was returned so far).
    ///
    /// Positions in the last few finished files are named too. A position before all of
    /// them names the start of the oldest one remembered, and one past the end of what
    /// was returned names that end: out of range errs towards reading again, never
    /// towards skipping.
    pub fn position_at(&self, logical: u64) -> TailPosition {
        if let Some(c) = &self.current {
            if logical >= c.base || self.past.is_empty() {
                let returned = c.offset - self.carry.unreturned() as u64;
                return TailPosition {
                    file: c.opened.id.clone(),
                    offset: logical.saturating_sub(c.base).min(returned),
                    base: c.base,
                };
            }
        }
        let past = self
            .past
            .iter()
            .rev()
            .find(|p| logical >= p.base)
            .or(self.past.front());
        match past {
            Some(p) => TailPosition {
                file: p.id.clone(),
                offset: logical.saturating_sub(p.base).min(p.len),
                base: p.base,
            },
            None => TailPosition {
                file: FileId::none(),
                offset: 0,
                base: self.next_base,
            },
        }
    }

    /// Logical position just past the last byte returned.
    pub fn logical_offset(&self) -> u64 {
        match &self.current {
            Some(c) => c.base + c.offset - self.carry.unreturned() as u64,
            None => self.next_base,
        }
    }

    /// True when the live path is gone and every open file is read to the end (the source
    /// may be finished; the caller decides when to drop the tail).
    ///
    /// "Read to the end" includes having returned the last file's unfinished line with
    /// [`Chunk::file_ended`]. A tail whose path never appeared is drained too.
    pub fn is_drained(&self) -> bool {
        self.live_gone && self.queue.is_empty() && self.current.as_ref().is_none_or(|c| c.ended)
    }

    /// Bytes on disk not read yet: the rest of the current file and the successors
    /// already opened (an `fstat` each).
    pub fn lag_bytes(&self) -> u64 {
        let size = |o: &Opened| o.file.metadata().map_or(0, |m| m.len());
        let current = self
            .current
            .as_ref()
            .filter(|c| !c.ended)
            .map_or(0, |c| size(&c.opened).saturating_sub(c.offset));
        current + self.queue.iter().map(size).sum::<u64>()
    }

    /// The path being followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the resume from the position given to [`open`](Self::open) could not honour
    /// exactly, for the caller to log; `None` for an exact resume or a fresh start.
    pub fn resume_loss(&self) -> Option<ResumeLoss> {
        self.resume_loss
    }

    /// The next loss not yet reported, oldest first (see [`Loss`]). Call it after every
    /// poll; a loss is returned once.
    pub fn take_loss(&mut self) -> Option<Loss> {
        self.losses.pop_front()
    }

    /// The catcher this tail finds new files with, to register with a file watcher.
    pub fn catcher(&self) -> &Catcher {
        &self.catcher
    }

    /// Whether the resume position's file was not found (see [`ResumeLoss::FileGone`]).
    pub fn lost_files(&self) -> bool {
        self.resume_loss == Some(ResumeLoss::FileGone)
    }

    fn nothing(&self) -> Chunk {
        Chunk {
            start: self.logical_offset(),
            len: 0,
            file_ended: false,
            ended_by: None,
            cut_line: false,
        }
    }

    fn resume(&mut self, pos: TailPosition, mut files: Vec<Opened>) -> io::Result<()> {
        let found = files.iter().position(|o| o.key() == pos.file.key());
        let verdict = match found {
            Some(i) => verify(&pos, &files[i])?,
            None => Verdict::Gone,
        };
        match (found, verdict) {
            (Some(i), Verdict::Same | Verdict::Rewritten) => {
                let rest = files.split_off(i + 1);
                let opened = files.pop().expect("index i exists");
                let (base, offset) = if verdict == Verdict::Same {
                    (pos.base, pos.offset)
                } else {
                    self.resume_loss = Some(ResumeLoss::Truncated);
                    (pos.logical(), 0)
                };
                self.current = Some(Current {
                    seen_len: opened.token.len(),
                    opened,
                    base,
                    offset,
                    settling: false,
                    ended: false,
                });
                self.queue.extend(rest);
            }
            _ => {
                self.resume_loss = Some(ResumeLoss::FileGone);
                self.next_base = pos.logical();
                self.queue.extend(files);
            }
        }
        Ok(())
    }

    /// The rotation check: what the catcher caught since the last poll, one `stat` of
    /// the live path, and a look for successors when it names a file the tail does not
    /// hold.
    fn check_live(&mut self) -> io::Result<()> {
        self.take_caught();
        let meta = match fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if is_gone(&e) => {
                self.live_gone = true;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.live_gone = false;
        let key = (meta.dev(), meta.ino());
        if self.queue.is_empty() {
            if let Some(c) = self.current.as_mut().filter(|c| c.opened.key() == key) {
                // Back under the live name (renamed away and back): read on.
                c.ended = false;
                return Ok(());
            }
        }
        if self.newest_key() == Some(key) {
            return Ok(());
        }
        self.discover()
    }

    fn newest_key(&self) -> Option<(u64, u64)> {
        self.queue
            .back()
            .map(Opened::key)
            .or_else(|| self.current.as_ref().map(|c| c.opened.key()))
    }

    fn holds(&self, key: (u64, u64)) -> bool {
        self.current.as_ref().is_some_and(|c| c.opened.key() == key)
            || self.queue.iter().any(|o| o.key() == key)
    }

    /// Whether `o` is a file the tail holds or has finished. A finished file is closed,
    /// so its inode number alone proves nothing; its birth time and head must agree.
    fn knows(&self, o: &Opened) -> io::Result<bool> {
        if self.holds(o.key()) {
            return Ok(true);
        }
        for p in self.past.iter().filter(|p| p.id.key() == o.key()) {
            if !p.id.born_differs(&o.id) && matches!(p.id.check_head(&o.file)?, Head::Same(_)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Opens and queues the files newer than the newest one the tail knows.
    fn discover(&mut self) -> io::Result<()> {
        self.catcher.look_now()?;
        self.take_caught();
        Ok(())
    }

    /// Queues the files the catcher found (on a notification or in [`discover`]), and
    /// turns the files it counted as lost into a [`Loss`].
    ///
    /// [`discover`]: Self::discover
    fn take_caught(&mut self) {
        let mut caught = Vec::new();
        let lost = self.catcher.take(&mut caught);
        for o in caught {
            // The catcher forgets files once they leave the listing; one that comes
            // back (renamed away and back) may be held or finished already. On an
            // error, reading a file twice beats skipping one.
            if !self.holds(o.key()) && !self.knows(&o).unwrap_or(false) {
                self.queue.push_back(o);
            }
        }
        if lost > 0 {
            let each = match (self.past.back(), &self.current) {
                (Some(p), _) => p.len,
                (None, Some(c)) => c.seen_len,
                (None, None) => 0,
            };
            self.losses.push_back(Loss {
                kind: LossKind::Unopened { files: lost },
                bytes: lost.saturating_mul(each),
            });
        }
    }

    fn switch_to(&mut self, next: Opened) {
        let base = match self.current.take() {
            Some(c) => {
                let end = c.base + c.offset;
                remember(&mut self.past, c.opened.id, c.base, c.offset);
                end
            }
            None => self.next_base,
        };
        debug_assert_eq!(
            self.carry.unreturned(),
            0,
            "a file ends with its carry returned"
        );
        self.carry.clear();
        self.current = Some(Current {
            seen_len: next.token.len(),
            opened: next,
            base,
            offset: 0,
            settling: false,
            ended: false,
        });
    }
}

impl std::fmt::Debug for FileTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileTail")
            .field("path", &self.path)
            .field("layout", &self.layout)
            .field("logical_offset", &self.logical_offset())
            .field("queued", &self.queue.len())
            .field("drained", &self.is_drained())
            .finish_non_exhaustive()
    }
}

impl Chunk {
    fn cut(start: u64, len: usize) -> Chunk {
        Chunk {
            start,
            len,
            file_ended: false,
            ended_by: None,
            cut_line: true,
        }
    }

    fn ended(start: u64, len: usize, reason: FileEnd) -> Chunk {
        Chunk {
            start,
            len,
            file_ended: true,
            ended_by: Some(reason),
            cut_line: false,
        }
    }
}

fn remember(past: &mut VecDeque<Past>, id: FileId, base: u64, len: u64) {
    if past.len() == PAST_FILES {
        past.pop_front();
    }
    past.push_back(Past { id, base, len });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The checkpointed file, at least as long as the checkpoint.
    Same,
    /// The checkpointed inode, truncated or rewritten since.
    Rewritten,
    /// Another file, or one that cannot be told apart from another.
    Gone,
}

fn verify(pos: &TailPosition, o: &Opened) -> io::Result<Verdict> {
    if pos.file.born_differs(&o.id) {
        return Ok(Verdict::Gone);
    }
    let len = o.file.metadata()?.len();
    let head_same = matches!(pos.file.check_head(&o.file)?, Head::Same(_));
    let born_same = pos.file.born_ns.is_some() && o.id.born_ns.is_some();
    Ok(if head_same && len >= pos.offset {
        Verdict::Same
    } else if head_same || born_same {
        Verdict::Rewritten
    } else {
        Verdict::Gone
    })
}

/// Bytes read from the current file and not yet returned: complete lines beyond the
/// poll's limit, and the unfinished last line.
#[derive(Default)]
struct Carry {
    buf: Vec<u8>,
    /// Start of the unreturned bytes.
    pos: usize,
    /// `buf[pos..clean_to]` holds no b'\n', so a long unfinished line is scanned once,
    /// not once per read.
    clean_to: usize,
}

enum Took {
    /// Complete lines moved out; `more` says complete lines are left (the limit was hit).
    Lines { bytes: usize, more: bool },
    /// A piece of an over-long line was moved out.
    Cut(usize),
}

impl Carry {
    fn unreturned(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Moves complete lines to `out`: as many as fit in `room`, or the first one alone
    /// if `at_least_one` and it does not fit. A first line longer than `max_line` is cut
    /// instead.
    fn take_lines(
        &mut self,
        out: &mut Vec<u8>,
        room: usize,
        at_least_one: bool,
        max_line: usize,
    ) -> Took {
        let from = self.pos.max(self.clean_to);
        let first = memchr(b'\n', &self.buf[from..]).map(|i| from + i);
        let first_len = first.unwrap_or(self.buf.len()) - self.pos;
        if first_len > max_line {
            out.extend_from_slice(&self.buf[self.pos..self.pos + max_line]);
            self.pos += max_line;
            return Took::Cut(max_line);
        }
        let Some(first) = first else {
            self.clean_to = self.buf.len();
            return Took::Lines {
                bytes: 0,
                more: false,
            };
        };
        let room_end = self.pos.saturating_add(room).min(self.buf.len());
        let mut end = if first < room_end {
            let last = memrchr(b'\n', &self.buf[first..room_end]).map_or(first, |i| first + i);
            last + 1
        } else if at_least_one {
            first + 1
        } else {
            return Took::Lines {
                bytes: 0,
                more: true,
            };
        };
        if end - self.pos > max_line {
            // Some line in there may be over the cap: stop before it, so that the next
            // call cuts it.
            let mut line_start = first + 1;
            for nl in memchr_iter(b'\n', &self.buf[first + 1..end]) {
                let nl = first + 1 + nl;
                if nl - line_start > max_line {
                    end = line_start;
                    break;
                }
                line_start = nl + 1;
            }
        }
        out.extend_from_slice(&self.buf[self.pos..end]);
        let bytes = end - self.pos;
        self.pos = end;
        let more = memchr(b'\n', &self.buf[end..]).is_some();
        if !more {
            self.clean_to = self.buf.len();
        }
        Took::Lines { bytes, more }
    }

    /// Moves out everything unreturned, for a file that has ended: its complete lines
    /// and its unfinished last line. Stops after a cut piece (returning true) if a line
    /// is over the cap, so that the rest goes out on later calls.
    fn take_all(&mut self, out: &mut Vec<u8>, max_line: usize) -> (usize, bool) {
        let mut moved = 0;
        loop {
            match self.take_lines(out, usize::MAX, true, max_line) {
                Took::Cut(bytes) => return (moved + bytes, true),
                Took::Lines { bytes: 0, .. } => break,
                Took::Lines { bytes, .. } => moved += bytes,
            }
        }
        out.extend_from_slice(&self.buf[self.pos..]);
        moved += self.unreturned();
        self.clear();
        (moved, false)
    }

    /// Appends up to `want` bytes read at `offset`.
    fn read_from(&mut self, file: &fs::File, offset: u64, want: usize) -> io::Result<usize> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.clean_to = self.clean_to.saturating_sub(self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + want, 0);
        let read = loop {
            match file.read_at(&mut self.buf[old..], offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.buf.truncate(old + *read.as_ref().unwrap_or(&0));
        read
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.clean_to = 0;
    }

    /// End of a poll: forget returned bytes, and give back the memory of an over-long
    /// line once it is gone.
    fn settle(&mut self) {
        if self.unreturned() == 0 {
            self.clear();
        }
        if self.buf.capacity() > 4 * READ_BYTES && self.unreturned() <= READ_BYTES {
            self.buf.drain(..self.pos);
            self.clean_to = self.clean_to.saturating_sub(self.pos);
            self.pos = 0;
            self.buf.shrink_to(2 * READ_BYTES);
        }
    }
}
