//! Opening a followed path's new files the moment a notification says one arrived, and
//! counting the files that were gone before anything could open them.
//!
//! A tail looks for new files when it is polled, and the reader polls a busy file every
//! few milliseconds at best (not at all while it is starved of CPU or cutting a batch).
//! dockerd with a small `max-size` and `max-file=2` deletes a file a few milliseconds
//! after renaming it, so files came and went between two polls and their lines were
//! lost without a word. A path's [`Catcher`] is shared by its tail and the file watcher:
//! on every notification that a file arrived at the path (created there or renamed onto
//! it), the watcher's thread opens the files of the path the tail has not seen yet and
//! keeps them for the tail, which takes them on its next poll. An open handle keeps a
//! file readable after it is deleted, so from then on the file cannot be lost. Where
//! fanotify is allowed, the watcher also hands over each file its writer closed,
//! already open ([`Catcher::closed`]): dockerd closes a file before it rotates it away,
//! so such a file is held however late the watcher's thread runs.
//!
//! # Counting what could not be caught
//!
//! A file created and deleted before the watcher's thread could run at all (a process
//! stopped, a machine out of CPU for longer than `max-file − 1` rotations take) cannot
//! be read by anyone. It is counted instead: every arrival notification stands for one
//! file, and every file found after the tail started (by the watcher or by the tail's
//! own look) was one of them. When a consistent look finds that more files arrived than
//! were ever found, the difference came and went unseen; the tail reports it as a
//! [`Loss`](super::Loss). Nothing about such a file is known but that it existed, so
//! its size is estimated by the tail from the file before it.
//!
//! The count falls short when notifications are lost (an inotify queue overflow) or
//! missing (polling without inotify, a path whose directory is a symlink elsewhere). It
//! is one over when a file is renamed away from the path and back (two arrivals of one
//! file), or when a file arrives in the instant its tail starts and is rotated away
//! before its notification is read. Files are compared by device and inode, then birth
//! time and the fingerprint of their first bytes, as in [`FileTail`](super::FileTail).
//!
//! # Bounds
//!
//! Files caught and not yet taken by the tail hold their disk space, deleted or not.
//! When the reader stops taking them (the spool is full during a long outage), the
//! watcher stops catching past [`HOLD_BYTES`] per path; what is deleted after that is
//! counted as lost like any file nobody caught.

use super::file_id::{FileId, Head};
use super::rotation::{self, is_gone, Layout, Opened};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};

/// Most bytes of caught files kept for a tail that does not take them (see the module
/// docs). Rotated files do not grow any more, so their size when caught is what they
/// hold.
pub const HOLD_BYTES: u64 = 256 << 20;

/// How many times the tail's look is taken again when the watcher's thread overtook it.
const LOOK_ATTEMPTS: usize = 3;

/// The new files of one followed path, opened on notification ahead of its tail (see
/// the module docs). Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Catcher {
    shared: Arc<Shared>,
}

/// Shared between the watcher's thread, which may run at realtime priority, and the
/// reader, which does not: the watcher's thread must never wait for a reader that was
/// preempted holding a lock. So caught files and losses reach the tail through a
/// channel and atomics, and the only lock they share is taken by the tail just to merge
/// a look of its own, which it rarely needs while the watcher keeps up.
struct Shared {
    path: PathBuf,
    layout: Layout,
    /// The tail has something to take: caught files or new losses. Lets a poll skip
    /// everything else when nothing happened.
    ready: AtomicBool,
    /// Files lost that the tail has not been told about.
    lost_untold: AtomicU64,
    /// Bytes of the files caught and not yet taken.
    held_bytes: AtomicU64,
    looks: Mutex<Looks>,
    /// The tail's end of [`Looks::caught`]; only the tail locks it.
    taken: Mutex<Receiver<Opened>>,
}

/// What looking at the path has found so far.
struct Looks {
    /// Counts the looks merged, so a look listed without the lock can tell whether
    /// another look came in between.
    generation: u64,
    /// Files still visible that were found (or were there when the tail started), with
    /// their identity as last seen, oldest first.
    seen: Vec<FileId>,
    /// The files of the first look that are still visible: they arrived before the tail
    /// started, so a late notification of their arrival is not counted.
    initial: Vec<FileId>,
    /// Caught files, oldest first, on their way to the tail.
    caught: Sender<Opened>,
    /// Arrival notifications counted since the tail started.
    arrivals: u64,
    /// Files found since the tail started (each one arrived).
    found: u64,
    /// Files known lost, as counted at the last consistent look.
    lost: u64,
}

impl Looks {
    /// Nothing seen yet: the bookkeeping of tail generation `generation`, whose caught
    /// files go to `caught`.
    fn fresh(generation: u64, caught: Sender<Opened>) -> Looks {
        Looks {
            generation,
            seen: Vec::new(),
            initial: Vec::new(),
            caught,
            arrivals: 0,
            found: 0,
            lost: 0,
        }
    }
}

/// What one look at the path saw.
struct Look {
    /// The listing was stable while it was taken, so what it misses is really gone.
    consistent: bool,
    /// The file at the live name was there before the tail started.
    live_is_initial: bool,
}

impl Catcher {
    /// A catcher for the files of `path` (the live name) named as `layout` says. It
    /// catches nothing until a tail starts with it ([`FileTail::open_with`]).
    ///
    /// [`FileTail::open_with`]: super::FileTail::open_with
    pub fn new(path: PathBuf, layout: Layout) -> Catcher {
        let (caught, taken) = mpsc::channel();
        Catcher {
            shared: Arc::new(Shared {
                path,
                layout,
                ready: AtomicBool::new(false),
                lost_untold: AtomicU64::new(0),
                held_bytes: AtomicU64::new(0),
                looks: Mutex::new(Looks::fresh(0, caught)),
                taken: Mutex::new(taken),
            }),
        }
    }

    /// The followed path (the live name).
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// How the path's rotated files are named.
    pub fn layout(&self) -> Layout {
        self.shared.layout
    }

    /// Whether `other` is a clone of this catcher.
    pub fn same(&self, other: &Catcher) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// A file arrived at the path (a notification said it was created there or renamed
    /// onto it): opens the files the tail has not seen yet and counts the arrival. Runs
    /// on the watcher's thread; errors are left for the tail's own look to meet.
    pub fn arrived(&self) {
        let mut looks = self.looks();
        if self.shared.held_bytes.load(Ordering::Acquire) >= HOLD_BYTES {
            // The tail is not taking what was caught: let files go rather than hold
            // ever more disk. Whatever is deleted before the tail looks again is
            // counted when it does.
            looks.arrivals += 1;
            return;
        }
        match self
            .list()
            .and_then(|listing| self.merge(&mut looks, listing))
        {
            Ok(look) => {
                if !look.live_is_initial {
                    looks.arrivals += 1;
                }
                if look.consistent {
                    self.count_losses(&mut looks);
                }
            }
            Err(e) => {
                looks.arrivals += 1;
                tracing::debug!("{}: looking for new files: {e}", self.path().display());
            }
        }
    }

    /// The file `file`, which its writer has just closed (a rotation closes the live
    /// file before renaming it), found open by the watcher: if the tail has not seen
    /// it, it is caught as the newest file. It does not count as an arrival: the
    /// notification of its arrival does. Runs on the watcher's thread.
    ///
    /// A file handed over late, after newer files were seen, is still caught, and
    /// the tail reads it after them: late beats lost.
    pub fn closed(&self, file: std::fs::File) {
        let Ok(o) = Opened::of(file) else {
            return;
        };
        let mut looks = self.looks();
        if self.shared.held_bytes.load(Ordering::Acquire) >= HOLD_BYTES {
            return;
        }
        match find(&mut looks.seen, &o) {
            Ok(Some(_)) => {}
            Ok(None) => {
                looks.seen.push(o.id.clone());
                self.catch(&mut looks, o);
                self.shared.ready.store(true, Ordering::Release);
            }
            Err(e) => tracing::debug!("{}: a closed file: {e}", self.path().display()),
        }
    }

    /// Opens the files the tail has not seen yet without counting an arrival: the
    /// notifications were lost (inotify's queue overflowed), so whatever is there now
    /// is caught before it can go too.
    pub fn look_again(&self) {
        let mut looks = self.looks();
        if self.shared.held_bytes.load(Ordering::Acquire) < HOLD_BYTES {
            let _ = self
                .list()
                .and_then(|listing| self.merge(&mut looks, listing));
        }
    }

    /// Starts over for a tail that is starting: forgets everything and opens the files
    /// there are now, oldest first, which the tail takes as its starting set.
    pub(crate) fn start(&self) -> io::Result<Vec<Opened>> {
        let mut taken = self.taken();
        let mut looks = self.looks();
        let (caught, fresh) = mpsc::channel();
        *taken = fresh;
        *looks = Looks::fresh(looks.generation + 1, caught);
        self.shared.ready.store(false, Ordering::Release);
        self.shared.lost_untold.store(0, Ordering::Release);
        self.shared.held_bytes.store(0, Ordering::Release);
        let files: Vec<Opened> = self.list()?.0.into_iter().map(|(_, o)| o).collect();
        looks.seen = files.iter().map(|o| o.id.clone()).collect();
        looks.initial = looks.seen.clone();
        Ok(files)
    }

    /// The tail's own look, for when the live path names a file it does not know.
    ///
    /// The files are listed and opened without the lock, and the lock is only tried:
    /// when the watcher's thread holds it, that thread is looking right now.
    pub(crate) fn look_now(&self) -> io::Result<()> {
        for _ in 0..LOOK_ATTEMPTS {
            let Some(generation) = self.try_looks().map(|l| l.generation) else {
                return Ok(());
            };
            let listing = self.list()?;
            let Some(mut looks) = self.try_looks() else {
                return Ok(());
            };
            if looks.generation == generation {
                let look = self.merge(&mut looks, listing)?;
                if look.consistent {
                    self.count_losses(&mut looks);
                }
                return Ok(());
            }
        }
        // Overtaken every time: the watcher's thread is looking as fast as files
        // arrive, which is as good.
        Ok(())
    }

    /// Moves the caught files (oldest first) to `into` and returns how many files were
    /// lost since the last call. Costs one atomic load when there is nothing.
    pub(crate) fn take(&self, into: &mut Vec<Opened>) -> u64 {
        // A load first: the common case writes nothing to the shared cache line.
        if !self.shared.ready.load(Ordering::Acquire)
            || !self.shared.ready.swap(false, Ordering::AcqRel)
        {
            return 0;
        }
        let taken = self.taken();
        while let Ok(o) = taken.try_recv() {
            self.shared
                .held_bytes
                .fetch_sub(o.token.len(), Ordering::AcqRel);
            into.push(o);
        }
        self.shared.lost_untold.swap(0, Ordering::AcqRel)
    }

    fn looks(&self) -> MutexGuard<'_, Looks> {
        // A panic while holding the lock left the state as consistent as any look
        // would; carry on with it.
        self.shared
            .looks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn try_looks(&self) -> Option<MutexGuard<'_, Looks>> {
        match self.shared.looks.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    fn taken(&self) -> MutexGuard<'_, Receiver<Opened>> {
        self.shared
            .taken
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The files there are now, oldest first, each with its name's number (0 for the
    /// live name), and whether the listing can be trusted to show every file.
    fn list(&self) -> io::Result<(Vec<(u64, Opened)>, bool)> {
        match self.shared.layout {
            Layout::Numbered => rotation::snapshot_numbered(&self.shared.path),
            Layout::Plain => match Opened::open(&self.shared.path) {
                Ok(o) => Ok((vec![(0, o)], true)),
                Err(e) if is_gone(&e) => Ok((Vec::new(), true)),
                Err(e) => Err(e),
            },
        }
    }

    /// Catches the files of `listing` newer than the newest seen and hands them to the
    /// tail.
    fn merge(&self, looks: &mut Looks, listing: (Vec<(u64, Opened)>, bool)) -> io::Result<Look> {
        let (files, consistent) = listing;
        looks.generation += 1;
        let mut seen_at = Vec::with_capacity(files.len());
        for (_, o) in &files {
            seen_at.push(find(&mut looks.seen, o)?);
        }
        let mut live_is_initial = false;
        if let Some((0, live)) = files.last() {
            live_is_initial = find(&mut looks.initial, live)?.is_some();
        }
        // Everything newer than the newest file seen is new: files are seen in the
        // order they were created. Unseen files older than it (skipped on a resume)
        // are not of interest.
        let after = seen_at
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |i| i + 1);
        let mut seen = Vec::with_capacity(files.len());
        let mut caught = false;
        for (i, ((_, o), at)) in files.into_iter().zip(seen_at).enumerate() {
            match at {
                Some(j) => seen.push(looks.seen[j].clone()),
                None if i >= after => {
                    seen.push(o.id.clone());
                    self.catch(looks, o);
                    caught = true;
                }
                None => {}
            }
        }
        if consistent {
            // What the listing does not show is gone for good: forget it.
            looks.seen = seen;
            let visible = &looks.seen;
            looks.initial.retain(|i| {
                visible
                    .iter()
                    .any(|s| s.key() == i.key() && !s.born_differs(i))
            });
        } else {
            for id in seen {
                if !looks.seen.iter().any(|s| s.key() == id.key()) {
                    looks.seen.push(id);
                }
            }
        }
        if caught {
            self.shared.ready.store(true, Ordering::Release);
        }
        Ok(Look {
            consistent,
            live_is_initial,
        })
    }

    /// Hands a file found since the tail started to the tail.
    fn catch(&self, looks: &mut Looks, o: Opened) {
        looks.found += 1;
        self.shared
            .held_bytes
            .fetch_add(o.token.len(), Ordering::AcqRel);
        // The tail's end lives as long as this catcher: sending cannot fail.
        let _ = looks.caught.send(o);
    }

    fn count_losses(&self, looks: &mut Looks) {
        let lost = looks.arrivals.saturating_sub(looks.found);
        if lost > looks.lost {
            self.shared
                .lost_untold
                .fetch_add(lost - looks.lost, Ordering::AcqRel);
            looks.lost = lost;
            self.shared.ready.store(true, Ordering::Release);
        }
    }
}

impl std::fmt::Debug for Catcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catcher")
            .field("path", &self.shared.path)
            .field("layout", &self.shared.layout)
            .finish_non_exhaustive()
    }
}

/// The entry of `ids` that is the file `o`, with its identity brought up to date.
///
/// Same inode and birth time is the same file, even if it was truncated since (the tail
/// deals with that). Where the filesystem keeps no birth time, the first bytes decide,
/// so an inode reused for a new file is not taken for the old one.
fn find(ids: &mut [FileId], o: &Opened) -> io::Result<Option<usize>> {
    for (j, id) in ids.iter_mut().enumerate() {
        if id.key() != o.key() || id.born_differs(&o.id) {
            continue;
        }
        if id.born_ns.is_some() && o.id.born_ns.is_some() {
            *id = o.id.clone();
            return Ok(Some(j));
        }
        if let Head::Same(grown) = id.check_head(&o.file)? {
            *id = grown;
            return Ok(Some(j));
        }
    }
    Ok(None)
}
