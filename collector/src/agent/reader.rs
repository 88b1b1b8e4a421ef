//! The reader thread: follows every source, writes their records into the open batch
//! and cuts it into the spool.

use super::batch::{self, OpenBatch};
use super::metrics::lag_label;
use super::queue::Queue;
use super::{AgentConfig, Flags};
use crate::checkpoint::SourceState;
use crate::discover::SourceSpec;
use crate::source::{Scratch, Source};
use crate::wake::{DirWatcher, Wake};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much one source may read per round, so one busy file cannot starve the rest.
const ROUND_BYTES: usize = 256 << 10;
/// Wait before a source that could not be opened is tried again.
const RETRY_OPEN: Duration = Duration::from_secs(5);
/// How often sources with recent data are polled without a notification.
const WARM_POLL: Duration = Duration::from_millis(50);
/// How long a source counts as warm after its last data.
const WARM_FOR: Duration = Duration::from_secs(3);
/// How long a source stays finished (file gone, all read) before it is dropped.
const RETIRE_AFTER: Duration = Duration::from_secs(5);
/// Shortest time between rounds woken by file events.
const MIN_ROUND: Duration = Duration::from_millis(10);

/// Reads every source into the open batch (see the module docs of [`super`]).
pub(super) struct Reader {
    config: AgentConfig,
    sources: BTreeMap<String, Source>,
    by_dir: HashMap<PathBuf, Vec<String>>,
    resume: BTreeMap<String, SourceState>,
    specs: Receiver<SourceSpec>,
    queue: Arc<Queue>,
    flags: Arc<Flags>,
    wake: Wake,
    watcher: DirWatcher,
    next_no: u64,
    open: OpenBatch,
    last_full_poll: Instant,
    /// Sources that could not be opened, with when they were last tried; retried on
    /// the poll timer, since discovery may never name them again.
    failed_opens: HashMap<String, (Instant, SourceSpec)>,
    scratch: Scratch,
    /// Sources that had data lately, with when: polled every [`WARM_POLL`] whatever
    /// notifications say, so a busy file's rotations are seen even when inotify events
    /// are late or lost.
    warm: HashMap<String, Instant>,
    last_warm_poll: Instant,
}

impl Reader {
    pub(super) fn new(
        config: &AgentConfig,
        resume: BTreeMap<String, SourceState>,
        specs: Receiver<SourceSpec>,
        queue: Arc<Queue>,
        flags: Arc<Flags>,
        wake: Wake,
        next_no: u64,
    ) -> Reader {
        Reader {
            config: config.clone(),
            sources: BTreeMap::new(),
            by_dir: HashMap::new(),
            resume,
            specs,
            queue,
            flags,
            watcher: DirWatcher::new(wake.clone()),
            wake,
            next_no,
            open: OpenBatch::with_capacity(config.batch_bytes + ROUND_BYTES * 2),
            last_full_poll: Instant::now(),
            failed_opens: HashMap::new(),
            scratch: Scratch::default(),
            warm: HashMap::new(),
            last_warm_poll: Instant::now(),
        }
    }

    pub(super) fn run(mut self) {
        // Sources known from before the restart are followed even if discovery never
        // names them again (a container removed while the agent was down still has
        // its last lines read, if its file is still there).
        let known: Vec<(String, SourceState)> = self
            .resume
            .iter()
            .filter(|(_, s)| s.position.is_some())
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        for (key, state) in known {
            let spec = SourceSpec {
                key,
                format: state
                    .format
                    .unwrap_or_else(|| crate::decode::Format::for_path(&state.path)),
                path: state.path.clone(),
                meta: state.meta.clone(),
            };
            self.add(spec);
        }
        let poll_interval = if self.watcher.is_active() {
            self.config.poll_interval
        } else {
            self.config.poll_interval.min(Duration::from_millis(250))
        };
        let mut hot: Vec<String> = self.sources.keys().cloned().collect();
        loop {
            while let Ok(spec) = self.specs.try_recv() {
                if let Some(key) = self.add(spec) {
                    hot.push(key);
                }
            }
            let stopping = self.flags.stop.load(Ordering::SeqCst);
            let now = Instant::now();
            let full = now.duration_since(self.last_full_poll) >= poll_interval;
            let mut to_poll: Vec<String> = std::mem::take(&mut hot);
            if full || stopping {
                self.last_full_poll = now;
                let retry: Vec<SourceSpec> = self
                    .failed_opens
                    .values()
                    .filter(|(at, _)| at.elapsed() >= RETRY_OPEN)
                    .map(|(_, spec)| spec.clone())
                    .collect();
                for spec in retry {
                    self.add(spec);
                }
                to_poll = self.sources.keys().cloned().collect();
            } else if now.duration_since(self.last_warm_poll) >= WARM_POLL {
                self.last_warm_poll = now;
                self.warm.retain(|_, t| now.duration_since(*t) < WARM_FOR);
                to_poll.extend(self.warm.keys().cloned());
            }
            to_poll.sort();
            to_poll.dedup();
            for key in to_poll {
                if self.pump(&key, now) {
                    hot.push(key);
                }
            }
            self.flush_expired(now);
            self.retire_finished(now);
            if full {
                self.record_lag();
            }

            let caught_up = hot.is_empty();
            if stopping {
                // One last round was read; what is still unread waits for the next start.
                self.cut();
                self.flags.reader_done.store(true, Ordering::SeqCst);
                self.queue.changed.notify_all();
                return;
            }
            if self.batch_due(caught_up) {
                self.cut();
            }
            if caught_up {
                let woken = self.wake.wait(self.sleep_for(poll_interval));
                if woken.rescan {
                    self.last_full_poll = now - poll_interval;
                }
                // Measured after the wait, so that a wake-up after a quiet spell reads at
                // once and only a round starting within MIN_ROUND of the last one waits.
                let round = now.elapsed();
                if !woken.dirty.is_empty() && !woken.poked && round < MIN_ROUND {
                    // A busy writer raises an event per line; gathering them for a few
                    // milliseconds turns thousands of tiny reads into a few larger ones.
                    std::thread::sleep(MIN_ROUND - round);
                }
                for dir in woken.dirty {
                    if let Some(keys) = self.by_dir.get(&dir) {
                        hot.extend(keys.iter().cloned());
                    }
                }
            }
        }
    }

    /// Follows a new source or updates a known one; returns its key if it is new.
    fn add(&mut self, spec: SourceSpec) -> Option<String> {
        if let Some(source) = self.sources.get_mut(&spec.key) {
            source.update(spec);
            return None;
        }
        if let Some((at, _)) = self.failed_opens.get(&spec.key) {
            if at.elapsed() < RETRY_OPEN {
                return None;
            }
        }
        let key = spec.key.clone();
        let path = spec.path.clone();
        let resume = self.resume.get(&key);
        match Source::open_watched(spec.clone(), resume, &self.config.read, &mut self.watcher) {
            Ok(source) => {
                self.failed_opens.remove(&key);
                self.by_dir
                    .entry(source.dir().to_path_buf())
                    .or_default()
                    .push(key.clone());
                tracing::debug!("following {} ({})", path.display(), key);
                self.sources.insert(key.clone(), source);
                metrics::gauge!("skein_agent_sources").set(self.sources.len() as f64);
                Some(key)
            }
            Err(e) => {
                if !self.failed_opens.contains_key(&key) {
                    tracing::warn!(
                        "cannot follow {}: {e}; retrying every {RETRY_OPEN:?}",
                        path.display()
                    );
                }
                self.failed_opens.insert(key, (Instant::now(), spec));
                None
            }
        }
    }

    /// Reads one round from a source; returns whether it may have more.
    fn pump(&mut self, key: &str, now: Instant) -> bool {
        let Some(source) = self.sources.get_mut(key) else {
            return false;
        };
        let room = self
            .config
            .batch_bytes
            .saturating_sub(self.open.body.len())
            .max(64 << 10);
        match source.pump(
            room.min(ROUND_BYTES),
            now,
            &mut self.scratch,
            &mut self.open.body,
        ) {
            Ok(p) => {
                if p.bytes == 0 && p.records == 0 {
                    return false;
                }
                if p.bytes > 0 {
                    self.warm.insert(key.to_string(), now);
                }
                metrics::counter!("skein_agent_bytes_read_total").increment(p.bytes as u64);
                metrics::counter!("skein_agent_lines_read_total").increment(p.lines);
                if let Some(t) = p.oldest {
                    // One sample per read, not per line: the oldest line is the one that
                    // waited longest for the reader.
                    let waited = (skein_model::Timestamp::now().0 - t.0).max(0);
                    metrics::histogram!("skein_agent_read_delay_seconds")
                        .record(waited as f64 / 1e9);
                }
                self.open.wrote(key, p.records, now);
                if self.open.body.len() >= self.config.batch_bytes {
                    self.cut();
                }
                p.bytes > 0
            }
            Err(e) => {
                tracing::warn!("reading {}: {e}", source.spec().path.display());
                false
            }
        }
    }

    fn flush_expired(&mut self, now: Instant) {
        let keys: Vec<String> = self
            .sources
            .iter()
            .filter(|(_, s)| s.next_deadline().is_some_and(|d| d <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let source = self.sources.get_mut(&key).expect("listed above");
            let n = source.flush_expired(now, &mut self.scratch, &mut self.open.body);
            if n > 0 {
                self.open.wrote(&key, n, now);
            } else {
                self.open.touch(&key);
            }
        }
    }

    /// Drops sources whose file is gone and read to the end. A container's state is
    /// forgotten (its id never returns, nor does a pod's UID, so a busy cluster's dead
    /// pods do not pile up in the checkpoint); a plain file's end is kept, so a file
    /// that reappears at the path continues above it.
    fn retire_finished(&mut self, now: Instant) {
        let done: Vec<String> = self
            .sources
            .iter_mut()
            .filter_map(|(k, s)| (s.finished_for(now)? >= RETIRE_AFTER).then(|| k.clone()))
            .collect();
        for key in done {
            let source = self.sources.remove(&key).expect("listed above");
            tracing::debug!("finished {}", source.spec().path.display());
            self.watcher.unfollow(source.catcher());
            if let Some(keys) = self.by_dir.get_mut(source.dir()) {
                keys.retain(|k| k != &key);
            }
            let container = source.spec().is_container_log();
            let mut state = source.state();
            state.position = None;
            if container {
                self.resume.remove(&key);
                self.open.retired(&key, None);
            } else {
                self.resume.insert(key.clone(), state.clone());
                self.open.retired(&key, Some(state));
            }
            metrics::gauge!("skein_agent_file_lag_bytes", "source" => lag_label(&source)).set(0.0);
            metrics::gauge!("skein_agent_sources").set(self.sources.len() as f64);
        }
    }

    fn record_lag(&self) {
        for s in self.sources.values() {
            metrics::gauge!("skein_agent_file_lag_bytes", "source" => lag_label(s))
                .set(s.lag_bytes() as f64);
        }
    }

    fn batch_due(&self, caught_up: bool) -> bool {
        self.open.due(
            self.config.batch_bytes,
            self.config.batch_wait,
            caught_up,
            || self.queue.all_delivered(),
        )
    }

    /// How long to sleep: until the poll timer, a multiline deadline or the batch
    /// deadline, whichever comes first.
    fn sleep_for(&self, poll_interval: Duration) -> Duration {
        let now = Instant::now();
        let mut until = self.last_full_poll + poll_interval;
        if let Some(d) = self
            .sources
            .values()
            .filter_map(Source::next_deadline)
            .min()
        {
            until = until.min(d);
        }
        if !self.warm.is_empty() {
            until = until.min(self.last_warm_poll + WARM_POLL);
        }
        // An open batch also goes as soon as the shipper is free, which pokes us.
        if let Some(t) = self.open.deadline(self.config.batch_wait) {
            until = until.min(t);
        }
        until.saturating_duration_since(now)
    }

    /// Closes the open batch: records the positions of the sources it touched,
    /// compresses it and appends it to the spool, waiting while the spool is full.
    fn cut(&mut self) {
        if !self.open.pending() {
            return;
        }
        for key in self.open.take_touched() {
            if let Some(source) = self.sources.get(&key) {
                let state = source.state();
                self.resume.insert(key.clone(), state.clone());
                self.open.position(key, state);
            }
        }
        let age = self.open.age();
        let spooled = self.open.seal(self.next_no);
        let queue = self.queue.clone();
        let appended = batch::append_waiting(
            &queue,
            &spooled,
            self.config.spool_max_bytes,
            &self.flags.stop,
            || self.record_lag(),
        );
        if !appended {
            // Stopping before it was spooled: its lines are read again on the next start.
            return;
        }
        if let Some(age) = age {
            metrics::histogram!("skein_agent_batch_age_seconds").record(age.as_secs_f64());
        }
        self.queue.note_cut(self.next_no);
        self.next_no += 1;
        self.open.clear(
            4 * self.config.batch_bytes,
            self.config.batch_bytes + ROUND_BYTES * 2,
        );
    }
}
