//! The checkpoint thread: saves what the shipper acknowledged and frees the spool.

use super::queue::Queue;
use super::Flags;
use crate::checkpoint::{Checkpoint, CheckpointStore};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Shortest time between checkpoint saves: the longest the saved checkpoint lags the
/// acknowledgements (plus one save).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// The newest acknowledged checkpoint, handed from the shipper to the saver.
#[derive(Default)]
struct ToSave {
    checkpoint: Option<Checkpoint>,
    /// The shipper has ended: save what is pending and stop.
    last: bool,
}

/// [`ToSave`] with the condition the saver waits on.
#[derive(Default)]
pub(super) struct Saves {
    state: Mutex<ToSave>,
    changed: Condvar,
}

impl Saves {
    fn lock(&self) -> std::sync::MutexGuard<'_, ToSave> {
        self.state.lock().expect("checkpoint hand-off lock")
    }

    /// Replaces what is waiting to be saved with a newer checkpoint.
    pub(super) fn put(&self, checkpoint: Checkpoint) {
        self.lock().checkpoint = Some(checkpoint);
        self.changed.notify_all();
    }

    /// Tells the saver that nothing more comes.
    pub(super) fn finish(&self) {
        self.lock().last = true;
        self.changed.notify_all();
    }
}

/// Saves the checkpoint the shipper hands over, at most every [`CHECKPOINT_EVERY`], and
/// frees the spool of the batches a saved checkpoint covers.
pub(super) struct Saver {
    pub(super) store: CheckpointStore,
    pub(super) queue: Arc<Queue>,
    pub(super) flags: Arc<Flags>,
    pub(super) saves: Arc<Saves>,
}

impl Saver {
    pub(super) fn run(self) {
        let mut saved: Option<Instant> = None;
        loop {
            let (checkpoint, last) = {
                let mut s = self.saves.lock();
                loop {
                    let stopping = self.flags.stop.load(Ordering::SeqCst);
                    let wait = match saved {
                        Some(t) if !stopping => CHECKPOINT_EVERY.saturating_sub(t.elapsed()),
                        _ => Duration::ZERO,
                    };
                    if s.last || (s.checkpoint.is_some() && wait.is_zero()) {
                        break;
                    }
                    let wait = if s.checkpoint.is_some() {
                        wait
                    } else {
                        Duration::from_millis(500)
                    };
                    s = self
                        .saves
                        .changed
                        .wait_timeout(s, wait)
                        .expect("checkpoint hand-off lock")
                        .0;
                }
                (s.checkpoint.take(), s.last)
            };
            if let Some(checkpoint) = checkpoint {
                if !self.save(&checkpoint) {
                    return;
                }
                saved = Some(Instant::now());
            }
            if last {
                return;
            }
        }
    }

    /// Saves `checkpoint` and frees the spool of what it covers; `false` if the agent
    /// was told to stop while saving kept failing.
    fn save(&self, checkpoint: &Checkpoint) -> bool {
        while let Err(e) = self.store.save(checkpoint) {
            tracing::error!("{e}; retrying");
            if self.flags.abandon.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        // Only batches the saved checkpoint covers leave the spool, so a restart always
        // finds the spool continuing the checkpoint.
        let mut spool = self.queue.lock();
        if let Err(e) = spool.ack(checkpoint.acked_batch) {
            tracing::error!("{e}");
        }
        metrics::gauge!("skein_agent_spool_bytes").set(spool.bytes() as f64);
        metrics::gauge!("skein_agent_spool_batches").set(spool.len() as f64);
        drop(spool);
        self.queue.changed.notify_all();
        true
    }
}
