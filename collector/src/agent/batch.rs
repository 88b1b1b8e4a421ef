//! The batch the reader is filling: when it is cut, what it records, and the wait for
//! room in the spool.

use super::queue::Queue;
use crate::checkpoint::{SourceState, Updates};
use crate::encode::BatchWriter;
use crate::spool::SpooledBatch;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Records written since the last cut, and the sources whose positions they move.
#[derive(Debug, Default)]
pub(super) struct OpenBatch {
    /// The encoded records, uncompressed.
    pub(super) body: BatchWriter,
    records: u32,
    /// When the first data of this batch was read.
    opened: Option<Instant>,
    /// Sources read into this batch (repeats allowed; sorted out when cut).
    touched: Vec<String>,
    updates: Updates,
    /// One compression context for every batch: making one per batch set up and
    /// zeroed its tables each time.
    zstd: Compressor,
}

/// The zstd level batches are compressed at.
pub(super) const ZSTD_LEVEL: i32 = 1;

/// A reused zstd context (the `zstd` crate's has no `Debug`).
struct Compressor(zstd::bulk::Compressor<'static>);

impl Default for Compressor {
    fn default() -> Compressor {
        Compressor(zstd::bulk::Compressor::new(ZSTD_LEVEL).expect("zstd context for a valid level"))
    }
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "zstd level {ZSTD_LEVEL}")
    }
}

impl OpenBatch {
    pub(super) fn with_capacity(bytes: usize) -> OpenBatch {
        OpenBatch {
            body: BatchWriter::with_capacity(bytes),
            ..OpenBatch::default()
        }
    }

    /// Whether cutting now would spool anything: records, or positions to move.
    pub(super) fn pending(&self) -> bool {
        self.records > 0 || !self.touched.is_empty() || !self.updates.is_empty()
    }

    /// `key` was read into the batch (`records` complete records; the bytes may also
    /// have been a partial line): the batch is open from now on.
    pub(super) fn wrote(&mut self, key: &str, records: u64, now: Instant) {
        self.records += records as u32;
        self.opened.get_or_insert(now);
        self.touch(key);
    }

    /// `key`'s position moved without a record (a flush that emitted nothing).
    pub(super) fn touch(&mut self, key: &str) {
        self.touched.push(key.to_string());
    }

    /// `key` is no longer followed: its last state (or `None` to forget it) goes with
    /// this batch, and it is no longer asked for its position.
    pub(super) fn retired(&mut self, key: &str, state: Option<SourceState>) {
        self.touched.retain(|k| k != key);
        self.updates.insert(key.to_string(), state);
    }

    /// The sources read since the last cut, each once, for their positions.
    pub(super) fn take_touched(&mut self) -> Vec<String> {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort();
        touched.dedup();
        touched
    }

    /// Records `key`'s position as of this batch.
    pub(super) fn position(&mut self, key: String, state: SourceState) {
        self.updates.insert(key, Some(state));
    }

    /// How long since its first read, if it holds records.
    pub(super) fn age(&self) -> Option<Duration> {
        self.opened
            .filter(|_| self.records > 0)
            .map(|t| t.elapsed())
    }

    /// When the batch must go even if the reader is still busy.
    pub(super) fn deadline(&self, wait: Duration) -> Option<Instant> {
        self.opened.map(|t| t + wait)
    }

    /// Whether to cut now: the batch is full, old enough, or the reader has caught up
    /// and the shipper is idle (a quiet system ships each line at once, a busy one
    /// ships big batches).
    pub(super) fn due(
        &self,
        max_bytes: usize,
        wait: Duration,
        caught_up: bool,
        shipper_idle: impl FnOnce() -> bool,
    ) -> bool {
        if !self.pending() {
            return false;
        }
        if self.body.len() >= max_bytes {
            return true;
        }
        if self.opened.is_some_and(|t| t.elapsed() >= wait) {
            return true;
        }
        // Batches acknowledged but not yet covered by a saved checkpoint count as
        // idle: waiting for the checkpoint's fsyncs would put them between every two
        // batches.
        caught_up && shipper_idle()
    }

    /// The batch as it goes to the spool: compressed, numbered `no`, with its
    /// position updates. The open batch keeps its contents until [`clear`](Self::clear).
    pub(super) fn seal(&mut self, no: u64) -> SpooledBatch {
        let body = self
            .zstd
            .0
            .compress(&self.body.bytes)
            .expect("zstd compresses into memory");
        SpooledBatch {
            no,
            records: self.records,
            positions: serde_json::to_vec(&self.updates).expect("positions serialize"),
            body,
        }
    }

    /// Empties the batch once spooled; a buffer grown past `shrink_past` (one huge
    /// round) goes back to `keep` bytes.
    pub(super) fn clear(&mut self, shrink_past: usize, keep: usize) {
        self.body.clear();
        if self.body.bytes.capacity() > shrink_past {
            self.body.bytes.shrink_to(keep);
        }
        self.records = 0;
        self.opened = None;
        self.touched.clear();
        self.updates.clear();
    }
}

/// Appends `batch` to the spool, waiting while the spool holds `cap` bytes or more (or
/// the disk refuses the write) and calling `waiting` every 200 ms meanwhile. Returns
/// `false`, without spooling it, if `stop` is raised while waiting: its lines are
/// read again from the files on the next start.
pub(super) fn append_waiting(
    queue: &Queue,
    batch: &SpooledBatch,
    cap: u64,
    stop: &AtomicBool,
    mut waiting: impl FnMut(),
) -> bool {
    let mut spool = queue.lock();
    let mut said_full = false;
    loop {
        // An empty spool always takes a batch, however large: otherwise one batch
        // bigger than the cap would wait for ever.
        let full = spool.bytes() >= cap && !spool.is_empty();
        let wait = if full {
            if !said_full {
                tracing::warn!(
                    "agent spool is full ({} bytes, cap {cap}); reading pauses until the server catches up",
                    spool.bytes(),
                );
                said_full = true;
            }
            Duration::from_millis(200)
        } else {
            match spool.append(batch) {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!("{e}; retrying");
                    Duration::from_secs(1)
                }
            }
        };
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        // The lag grows while reading waits; keep its metric current.
        drop(spool);
        waiting();
        spool = queue.lock();
        spool = queue
            .changed
            .wait_timeout(spool, wait)
            .expect("spool lock")
            .0;
    }
    metrics::gauge!("skein_agent_spool_bytes").set(spool.bytes() as f64);
    metrics::gauge!("skein_agent_spool_batches").set(spool.len() as f64);
    drop(spool);
    queue.changed.notify_all();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::Spool;
    use std::sync::atomic::AtomicU64;
    use std::sync::{Arc, Condvar, Mutex};

    const MB: usize = 1 << 20;
    const WAIT: Duration = Duration::from_secs(1);

    fn state(end: u64) -> SourceState {
        SourceState {
            path: "/var/log/x.log".into(),
            format: None,
            meta: Default::default(),
            position: None,
            end,
            shipped: [None; 3],
        }
    }

    #[test]
    fn an_empty_batch_is_never_due() {
        let open = OpenBatch::default();
        assert!(!open.due(0, Duration::ZERO, true, || true));
        assert_eq!(open.deadline(WAIT), None);
    }

    #[test]
    fn a_batch_is_cut_when_full_old_or_caught_up_with_an_idle_shipper() {
        let now = Instant::now();
        let mut open = OpenBatch::default();
        open.body.bytes.extend_from_slice(&[b'x'; 100]);
        open.wrote("a", 1, now);
        assert_eq!(open.deadline(WAIT), Some(now + WAIT));
        // Young, not full, still reading: keep filling.
        assert!(!open.due(MB, WAIT, false, || true));
        // Caught up, but a batch is in flight: keep filling.
        assert!(!open.due(MB, WAIT, true, || false));
        // Caught up and the shipper idle: go now.
        assert!(open.due(MB, WAIT, true, || true));
        // Full.
        assert!(open.due(100, WAIT, false, || false));
        // Old.
        let mut old = OpenBatch::default();
        old.wrote("a", 1, now - WAIT);
        assert!(old.due(MB, WAIT, false, || false));
    }

    #[test]
    fn a_moved_position_alone_is_cut_like_records() {
        let mut open = OpenBatch::default();
        open.touch("a");
        assert!(open.pending());
        assert!(open.due(MB, WAIT, true, || true));
        let mut retired = OpenBatch::default();
        retired.retired("gone", None);
        assert!(retired.pending());
    }

    #[test]
    fn seal_carries_the_records_and_the_positions_of_the_sources_touched_once_each() {
        let now = Instant::now();
        let mut open = OpenBatch::default();
        open.body
            .bytes
            .extend_from_slice(b"{\"message\":\"a\"}\n{\"message\":\"b\"}\n");
        open.wrote("b", 1, now);
        open.wrote("a", 1, now);
        open.wrote("b", 0, now);
        open.touch("c");
        open.retired("c", None);
        assert_eq!(open.take_touched(), vec!["a".to_string(), "b".to_string()]);
        open.position("a".into(), state(10));
        open.position("b".into(), state(20));
        let sealed = open.seal(7);
        assert_eq!(sealed.no, 7);
        assert_eq!(sealed.records, 2);
        let body = zstd::stream::decode_all(&sealed.body[..]).expect("zstd");
        assert_eq!(body, open.body.bytes);
        let updates: Updates = serde_json::from_slice(&sealed.positions).expect("positions");
        assert_eq!(updates.len(), 3);
        assert_eq!(updates["a"], Some(state(10)));
        assert_eq!(updates["b"], Some(state(20)));
        assert_eq!(updates["c"], None);
        open.clear(usize::MAX, 0);
        assert!(!open.pending());
        assert!(open.body.is_empty());
    }

    fn queue(dir: &std::path::Path) -> Arc<Queue> {
        let (spool, kept) = Spool::open(dir, 0).expect("spool");
        assert!(kept.is_empty());
        Arc::new(Queue {
            spool: Mutex::new(spool),
            changed: Condvar::new(),
            delivered: AtomicU64::new(0),
            cut_at: Mutex::default(),
        })
    }

    fn spooled(no: u64) -> SpooledBatch {
        SpooledBatch {
            no,
            records: 1,
            positions: b"{}".to_vec(),
            body: vec![no as u8; 1000],
        }
    }

    #[test]
    fn a_full_spool_makes_the_reader_wait_until_acknowledgements_free_room() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = queue(dir.path());
        let stop = AtomicBool::new(false);
        // The first batch goes in whatever its size: the spool was empty.
        assert!(append_waiting(&queue, &spooled(1), 10, &stop, || {}));
        let acker = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                queue.lock().ack(1).expect("ack");
                queue.changed.notify_all();
            })
        };
        let mut waits = 0;
        assert!(append_waiting(&queue, &spooled(2), 10, &stop, || waits += 1));
        acker.join().expect("acker");
        assert!(waits >= 1, "the reader waited (and kept its lag current)");
        let spool = queue.lock();
        assert_eq!(spool.len(), 1);
        assert_eq!(spool.read(2).expect("read"), Some(spooled(2)));
    }

    #[test]
    fn stopping_while_the_spool_is_full_leaves_the_batch_unspooled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = queue(dir.path());
        let stop = AtomicBool::new(false);
        assert!(append_waiting(&queue, &spooled(1), 10, &stop, || {}));
        let stop = AtomicBool::new(true);
        assert!(!append_waiting(&queue, &spooled(2), 10, &stop, || {}));
        assert_eq!(queue.lock().last_no(), Some(1));
    }
}
