//! Waking the reader: which directories changed (from inotify, through notify), and
//! whether anything else needs it (a new source, shutdown, room in the spool).
//!
//! A burst of writes produces thousands of file events a second; they collapse into one
//! set of directories and one wake-up, so the reader polls only the files that changed
//! and sleeps otherwise. A timer-driven poll of every file covers what notify misses
//! (network file systems, inotify limits).
//!
//! A file arriving at a followed path (created there or renamed onto it) is also handed
//! to that path's [`Catcher`] at once, on a thread that watches for nothing else: the
//! reader may not poll the path again before the writer rotates the new file away and
//! deletes it.

use crate::tail::Catcher;
use notify::{RecursiveMode, Watcher};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Debug, Default)]
struct State {
    dirty: HashSet<PathBuf>,
    poked: bool,
    rescan: bool,
}

/// The reader's wake-up signal (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Wake {
    inner: Arc<(Mutex<State>, Condvar)>,
}

/// What happened while the reader slept.
#[derive(Debug, Default)]
pub struct Woken {
    /// Directories with changed files.
    pub dirty: HashSet<PathBuf>,
    /// Something other than a file change wants attention.
    pub poked: bool,
    /// Notifications were lost (the kernel queue overflowed): check every file.
    pub rescan: bool,
}

impl Wake {
    /// A signal nobody has raised.
    pub fn new() -> Wake {
        Wake::default()
    }

    /// Marks `dir` as holding a changed file.
    pub fn touch(&self, dir: &Path) {
        let (lock, cond) = &*self.inner;
        let mut s = lock.lock().expect("wake lock");
        let first = s.dirty.is_empty() && !s.poked;
        if !s.dirty.contains(dir) {
            s.dirty.insert(dir.to_path_buf());
        }
        if first {
            cond.notify_one();
        }
    }

    /// Wakes the reader for something other than a file change.
    pub fn poke(&self) {
        let (lock, cond) = &*self.inner;
        lock.lock().expect("wake lock").poked = true;
        cond.notify_one();
    }

    /// Asks for every file to be checked: notifications were lost.
    pub fn rescan(&self) {
        let (lock, cond) = &*self.inner;
        let mut s = lock.lock().expect("wake lock");
        s.rescan = true;
        s.poked = true;
        cond.notify_one();
    }

    /// Waits up to `timeout` for a change and takes what accumulated.
    pub fn wait(&self, timeout: Duration) -> Woken {
        let (lock, cond) = &*self.inner;
        let mut s = lock.lock().expect("wake lock");
        if s.dirty.is_empty() && !s.poked && !timeout.is_zero() {
            s = cond.wait_timeout(s, timeout).expect("wake lock").0;
        }
        Woken {
            dirty: std::mem::take(&mut s.dirty),
            poked: std::mem::take(&mut s.poked),
            rescan: std::mem::take(&mut s.rescan),
        }
    }
}

/// The catchers of followed paths, by path, shared with the arrivals thread.
type Catchers = Arc<Mutex<HashMap<PathBuf, Catcher>>>;

/// Watches the directories of followed files, counting how many files use each, and
/// hands arrivals at followed paths to their catchers.
pub struct DirWatcher {
    watcher: Option<notify::RecommendedWatcher>,
    arrivals: Option<arrivals::ArrivalWatch>,
    dirs: HashMap<PathBuf, usize>,
    catchers: Catchers,
}

impl DirWatcher {
    /// A watcher reporting to `wake`; without inotify (limits reached, unsupported file
    /// system) it reports nothing and [`is_active`](Self::is_active) is false.
    pub fn new(wake: Wake) -> DirWatcher {
        let catchers = Catchers::default();
        let arrivals = match arrivals::ArrivalWatch::start(catchers.clone(), wake.clone()) {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!(
                    "cannot watch for rotated files ({e}); new files are opened when polled, \
                     so a file rotated away and deleted between two polls is lost (and \
                     counted): raise fs.inotify.max_user_instances"
                );
                None
            }
        };
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            match event {
                // A starved watcher lets the kernel queue overflow; what it dropped
                // could be a rotation, so everything is looked at.
                Ok(event) if event.need_rescan() => wake.rescan(),
                Ok(event) => {
                    for path in &event.paths {
                        match path.parent() {
                            Some(dir) => wake.touch(dir),
                            None => wake.touch(path),
                        }
                    }
                }
                Err(_) => wake.rescan(),
            }
        });
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("file notifications unavailable ({e}); polling files instead");
                None
            }
        };
        DirWatcher {
            watcher,
            arrivals,
            dirs: HashMap::new(),
            catchers,
        }
    }

    /// Whether notifications work.
    pub fn is_active(&self) -> bool {
        self.watcher.is_some()
    }

    /// Starts watching `dir` for one more file.
    pub fn add(&mut self, dir: &Path) {
        let count = self.dirs.entry(dir.to_path_buf()).or_insert(0);
        *count += 1;
        if *count == 1 {
            if let Some(w) = &mut self.watcher {
                if let Err(e) = w.watch(dir, RecursiveMode::NonRecursive) {
                    // The directory may not exist yet; the timer poll covers it.
                    tracing::debug!("cannot watch {}: {e}", dir.display());
                }
            }
            if let Some(a) = &mut self.arrivals {
                a.add(dir);
            }
        }
    }

    /// Stops watching `dir` for one file.
    pub fn remove(&mut self, dir: &Path) {
        if let Some(count) = self.dirs.get_mut(dir) {
            *count -= 1;
            if *count == 0 {
                self.dirs.remove(dir);
                if let Some(w) = &mut self.watcher {
                    let _ = w.unwatch(dir);
                }
                if let Some(a) = &mut self.arrivals {
                    a.remove(dir);
                }
            }
        }
    }

    /// Watches the directory of `catcher`'s path for one more file and hands it the
    /// arrivals at that path from now on. Call it before the tail starts with the
    /// catcher ([`FileTail::open_with`](crate::tail::FileTail::open_with)).
    pub fn follow(&mut self, catcher: &Catcher) {
        lock(&self.catchers).insert(catcher.path().to_path_buf(), catcher.clone());
        if let Some(dir) = catcher.path().parent() {
            self.add(dir);
        }
    }

    /// Undoes [`follow`](Self::follow): the catcher gets no more arrivals and lets go
    /// of what it caught once its tail is dropped.
    pub fn unfollow(&mut self, catcher: &Catcher) {
        {
            let mut catchers = lock(&self.catchers);
            if catchers
                .get(catcher.path())
                .is_some_and(|c| c.same(catcher))
            {
                catchers.remove(catcher.path());
            }
        }
        if let Some(dir) = catcher.path().parent() {
            self.remove(dir);
        }
    }
}

fn lock(catchers: &Catchers) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Catcher>> {
    catchers.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(target_os = "linux")]
mod closes;

/// Creations and renames in the watched directories, read on a thread of their own and
/// handed to the catchers of the followed paths they land on; where fanotify is allowed,
/// also the files closed there, handed over open (see [`closes`]).
///
/// Not notify's watch, because that one also reports every write: a busy writer keeps
/// its thread busy, and on a loaded machine an arrival queued behind thousands of
/// writes was handled tens of milliseconds late, after dockerd had deleted the file.
/// This thread sleeps until a file arrives, and a thread woken from sleep is scheduled
/// within about a millisecond even while other threads use every CPU.
#[cfg(target_os = "linux")]
mod arrivals {
    use super::closes::{Closed, Closes};
    use super::{lock, Catchers, Wake};
    use crate::tail::{Catcher, Layout};
    use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
    use std::collections::HashMap;
    use std::io::{self, PipeReader, PipeWriter};
    use std::os::fd::AsRawFd;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;

    type Dirs = Arc<Mutex<HashMap<WatchDescriptor, PathBuf>>>;

    pub(super) struct ArrivalWatch {
        watches: Watches,
        dirs: Dirs,
        by_dir: HashMap<PathBuf, WatchDescriptor>,
        closes: Option<Arc<Closes>>,
        /// Dropping it (closing the pipe) stops the thread.
        stop: Option<PipeWriter>,
        thread: Option<JoinHandle<()>>,
    }

    impl ArrivalWatch {
        pub(super) fn start(catchers: Catchers, wake: Wake) -> io::Result<ArrivalWatch> {
            let inotify = Inotify::init()?;
            let (stop_rx, stop) = io::pipe()?;
            let dirs = Dirs::default();
            let watches = inotify.watches();
            let shared = dirs.clone();
            let closes = match Closes::init() {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    tracing::info!(
                        "rotated files are opened by name ({e}; having them handed over \
                         open by fanotify needs CAP_SYS_ADMIN): on a machine out of CPU, \
                         files rotated away and deleted within milliseconds may be lost, \
                         and are counted in skein_agent_losses_total"
                    );
                    None
                }
            };
            let thread_closes = closes.clone();
            let thread = std::thread::Builder::new()
                .name("skein-arrivals".into())
                .spawn(move || {
                    run(
                        inotify,
                        thread_closes.as_deref(),
                        stop_rx,
                        &shared,
                        &catchers,
                        &wake,
                    )
                })?;
            Ok(ArrivalWatch {
                watches,
                dirs,
                by_dir: HashMap::new(),
                closes,
                stop: Some(stop),
                thread: Some(thread),
            })
        }

        pub(super) fn add(&mut self, dir: &Path) {
            let mask = WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::ONLYDIR;
            match self.watches.add(dir, mask) {
                Ok(wd) => {
                    super::lock_dirs(&self.dirs).insert(wd.clone(), dir.to_path_buf());
                    self.by_dir.insert(dir.to_path_buf(), wd);
                }
                // The directory may not exist yet: polls find its files.
                Err(e) => tracing::debug!("cannot watch {} for new files: {e}", dir.display()),
            }
            if let Some(c) = &self.closes {
                if let Err(e) = c.watch(dir) {
                    tracing::debug!("cannot watch {} for closed files: {e}", dir.display());
                }
            }
        }

        /// Whether closed files are handed over open (fanotify is allowed).
        #[cfg(test)]
        pub(super) fn hands_over_closed_files(&self) -> bool {
            self.closes.is_some()
        }

        pub(super) fn remove(&mut self, dir: &Path) {
            if let Some(wd) = self.by_dir.remove(dir) {
                super::lock_dirs(&self.dirs).remove(&wd);
                let _ = self.watches.remove(wd);
            }
            if let Some(c) = &self.closes {
                c.unwatch(dir);
            }
        }
    }

    impl Drop for ArrivalWatch {
        fn drop(&mut self) {
            self.stop.take();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// Asks for the lowest realtime priority for this thread. A waking thread of normal
    /// priority still waited tens of milliseconds for a CPU while the machine was busy
    /// (two processes spinning on two cores, dockerd writing flat out), time in which
    /// dockerd created, rotated and deleted several files. A realtime thread runs as
    /// soon as it wakes; this one only sleeps or opens a few files per rotation.
    fn realtime() {
        let param = libc::sched_param { sched_priority: 1 };
        // SAFETY: a valid sched_param; pid 0 is the calling thread.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
            tracing::info!(
                "watching for rotated files at normal priority ({}; realtime priority needs \
                 CAP_SYS_NICE): on a machine out of CPU, files rotated away and deleted \
                 within milliseconds may be lost, and are counted in skein_agent_losses_total",
                io::Error::last_os_error()
            );
        }
    }

    fn run(
        mut inotify: Inotify,
        closes: Option<&Closes>,
        stop: PipeReader,
        dirs: &Dirs,
        catchers: &Catchers,
        wake: &Wake,
    ) {
        realtime();
        let mut buffer = vec![0u8; 64 << 10];
        let mut closed = Vec::new();
        let mut fds = vec![
            libc::pollfd {
                fd: stop.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: inotify.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if let Some(c) = closes {
            fds.push(libc::pollfd {
                fd: c.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        loop {
            // SAFETY: `fds` is a valid array of pollfds, every descriptor owned by this
            // function or its caller for the whole call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::warn!("watching for rotated files stopped: {e}");
                return;
            }
            if fds[0].revents != 0 {
                return;
            }
            loop {
                let mut arrived = Vec::new();
                let mut overflow = false;
                let mut drained = false;
                match inotify.read_events(&mut buffer) {
                    Ok(events) => {
                        let dirs = super::lock_dirs(dirs);
                        for e in events {
                            if e.mask.contains(EventMask::Q_OVERFLOW) {
                                overflow = true;
                            } else if !e.mask.contains(EventMask::ISDIR) {
                                if let (Some(dir), Some(name)) = (dirs.get(&e.wd), e.name) {
                                    arrived.push(dir.join(name));
                                }
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => drained = true,
                    Err(e) => {
                        tracing::warn!("watching for rotated files stopped: {e}");
                        return;
                    }
                }
                // Closes go first, and again before each look at a path: dockerd
                // closes a file before renaming it away, so a file that a look finds
                // gone was closed before the look, and handing it over first keeps the
                // files in order.
                let mut take_closes = |overflow: &mut bool| {
                    if let Some(c) = closes {
                        match take_closed(c, &mut buffer, &mut closed, catchers) {
                            Ok(lost) => *overflow |= lost,
                            Err(e) => tracing::warn!("reading closed files: {e}"),
                        }
                    }
                };
                take_closes(&mut overflow);
                for path in &arrived {
                    let catcher = lock(catchers).get(path).cloned();
                    if let Some(c) = catcher {
                        take_closes(&mut overflow);
                        c.arrived();
                    }
                }
                // No wake-up from here: notify's thread reports the same creations to
                // the reader, and this thread must not wait on a lock the reader's side
                // may hold while preempted.
                if overflow {
                    // Arrivals were dropped: catch whatever is there now, and have
                    // every file looked at.
                    let all: Vec<_> = lock(catchers).values().cloned().collect();
                    for c in all {
                        c.look_again();
                    }
                    wake.rescan();
                }
                if drained {
                    break;
                }
            }
        }
    }

    /// Hands every queued closed file to the catcher of the path it belongs to, and
    /// says whether closes were dropped.
    fn take_closed(
        closes: &Closes,
        buffer: &mut [u8],
        closed: &mut Vec<Closed>,
        catchers: &Catchers,
    ) -> io::Result<bool> {
        let mut overflow = false;
        loop {
            let read = closes.read(buffer, closed)?;
            overflow |= read.overflow;
            for c in closed.drain(..) {
                if let Some(catcher) = catcher_of(catchers, &c.path) {
                    catcher.closed(c.file);
                }
            }
            if read.drained {
                return Ok(overflow);
            }
        }
    }

    /// The catcher of the followed path `path` is, or is a rotated name of.
    fn catcher_of(catchers: &Catchers, path: &Path) -> Option<Catcher> {
        let catchers = lock(catchers);
        if let Some(c) = catchers.get(path) {
            return Some(c.clone());
        }
        let name = path.file_name()?.to_str()?;
        let (live, k) = name.rsplit_once('.')?;
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        catchers
            .get(&path.with_file_name(live))
            .filter(|c| c.layout() == Layout::Numbered)
            .cloned()
    }
}

#[cfg(target_os = "linux")]
fn lock_dirs<K, V>(dirs: &Mutex<HashMap<K, V>>) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
    dirs.lock().unwrap_or_else(|p| p.into_inner())
}

/// Without inotify, new files are found when their paths are polled.
#[cfg(not(target_os = "linux"))]
mod arrivals {
    use super::{Catchers, Wake};
    use std::io;
    use std::path::Path;

    pub(super) struct ArrivalWatch;

    impl ArrivalWatch {
        pub(super) fn start(_: Catchers, _: Wake) -> io::Result<ArrivalWatch> {
            Err(io::ErrorKind::Unsupported.into())
        }

        pub(super) fn add(&mut self, _: &Path) {}

        pub(super) fn remove(&mut self, _: &Path) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn file_writes_wake_the_reader_with_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let wake = Wake::new();
        let mut watcher = DirWatcher::new(wake.clone());
        assert!(watcher.is_active());
        watcher.add(dir.path());
        std::fs::write(dir.path().join("a.log"), "x\n").unwrap();
        let start = Instant::now();
        let mut woken = Woken::default();
        while woken.dirty.is_empty() && start.elapsed() < Duration::from_secs(5) {
            woken = wake.wait(Duration::from_secs(5));
        }
        assert!(woken.dirty.contains(dir.path()), "{woken:?}");
        assert!(start.elapsed() < Duration::from_secs(2));

        // The write's later events (modify, close) may still be on their way.
        std::thread::sleep(Duration::from_millis(200));
        wake.wait(Duration::ZERO);
        wake.poke();
        assert!(wake.wait(Duration::ZERO).poked);
        wake.rescan();
        let w = wake.wait(Duration::ZERO);
        assert!(w.rescan && w.poked);
        let quiet = wake.wait(Duration::from_millis(20));
        assert!(!quiet.poked && quiet.dirty.is_empty());
        watcher.remove(dir.path());
    }

    /// dockerd's `max-file=2` rotation twice over, all while the watcher's thread
    /// cannot get to the catcher (here: the test holds the lock it needs; in life: no
    /// CPU for it). With fanotify every file is handed over, in order, though two were
    /// deleted before the thread could look; without it the two are counted lost.
    #[cfg(target_os = "linux")]
    #[test]
    fn files_deleted_while_the_watcher_is_held_up_are_still_caught() {
        use crate::tail::Layout;
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("c-json.log");
        let old = dir.path().join("c-json.log.1");
        let mut watcher = DirWatcher::new(Wake::new());
        let catcher = Catcher::new(live.clone(), Layout::Numbered);
        watcher.follow(&catcher);
        assert!(catcher.start().unwrap().is_empty());
        let fanotify = watcher.arrivals.as_ref().unwrap().hands_over_closed_files();

        let held = lock(&watcher.catchers);
        std::fs::write(&live, "one\n").unwrap();
        std::fs::rename(&live, &old).unwrap();
        std::fs::write(&live, "two\n").unwrap();
        std::fs::rename(&live, &old).unwrap();
        std::fs::write(&live, "three\n").unwrap();
        std::fs::remove_file(&old).unwrap();
        drop(held);

        let mut caught = Vec::new();
        let mut lost = 0;
        let start = Instant::now();
        while caught.len() + (lost as usize) < 3 && start.elapsed() < Duration::from_secs(10) {
            lost += catcher.take(&mut caught);
            std::thread::sleep(Duration::from_millis(10));
        }
        let texts: Vec<String> = caught
            .iter_mut()
            .map(|o| {
                let mut text = String::new();
                o.file.read_to_string(&mut text).unwrap();
                text
            })
            .collect();
        if fanotify {
            assert_eq!(texts, ["one\n", "two\n", "three\n"]);
            assert_eq!(lost, 0);
        } else {
            assert_eq!(texts, ["three\n"]);
            assert_eq!(lost, 2);
        }
        watcher.unfollow(&catcher);
    }
}
