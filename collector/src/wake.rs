//! Waking the reader: which directories changed (from inotify, through notify), and
//! whether anything else needs it (a new source, shutdown, room in the spool).
//!
//! A burst of writes produces thousands of file events a second; they collapse into one
//! set of directories and one wake-up, so the reader polls only the files that changed
//! and sleeps otherwise. A timer-driven poll of every file covers what notify misses
//! (network file systems, inotify limits).

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

/// Watches the directories of followed files, counting how many files use each.
pub struct DirWatcher {
    watcher: Option<notify::RecommendedWatcher>,
    dirs: HashMap<PathBuf, usize>,
}

impl DirWatcher {
    /// A watcher reporting to `wake`; without inotify (limits reached, unsupported file
    /// system) it reports nothing and [`is_active`](Self::is_active) is false.
    pub fn new(wake: Wake) -> DirWatcher {
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
            dirs: HashMap::new(),
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
            }
        }
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
}
