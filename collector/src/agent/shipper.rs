//! The shipper thread: sends the oldest unacknowledged batch until the server takes it,
//! hands the acknowledged checkpoint to the saver, and keeps aside batches the server
//! refuses for good.

use super::queue::Queue;
use super::saver::Saves;
use super::Flags;
use crate::checkpoint::{Checkpoint, Updates};
use crate::ship::{Backoff, ShipError, Shipper};
use crate::spool::SpooledBatch;
use crate::wake::Wake;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) struct ShipperLoop {
    pub(super) shipper: Shipper,
    /// Where batches the server refuses for good are kept (`STATE/quarantine/`).
    pub(super) quarantine: std::path::PathBuf,
    /// The checkpoint as acknowledged (saved by the [`Saver`], a little later).
    pub(super) checkpoint: Checkpoint,
    pub(super) queue: Arc<Queue>,
    pub(super) flags: Arc<Flags>,
    pub(super) wake: Wake,
    pub(super) saves: Arc<Saves>,
}

impl ShipperLoop {
    pub(super) fn run(mut self) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        while let Some(batch) = self.next_batch() {
            if batch.records > 0 && !self.deliver(&rt, &batch, &mut backoff) {
                break;
            }
            let cut = self.queue.take_cut(batch.no);
            if let Some(cut) = cut.filter(|_| batch.records > 0) {
                metrics::histogram!("skein_agent_batch_ack_seconds")
                    .record(cut.elapsed().as_secs_f64());
            }
            let updates: Updates = serde_json::from_slice(&batch.positions).unwrap_or_default();
            self.checkpoint.apply(updates);
            self.checkpoint.acked_batch = batch.no;
            self.queue.delivered.store(batch.no, Ordering::SeqCst);
            // Saving costs fsyncs; the saver does it on its own thread so the next batch
            // need not wait for them. Until it has, the batch stays spooled: a crash
            // resends it and the server drops it as already held.
            self.saves.put(self.checkpoint.clone());
            // The reader may be waiting for the shipper to go idle before cutting.
            self.wake.poke();
        }
        // Stopping: the saver saves what was acknowledged and ends.
        self.saves.finish();
    }

    /// The next batch to send; `None` when the agent is stopping and nothing is left.
    fn next_batch(&self) -> Option<SpooledBatch> {
        let next = self.checkpoint.acked_batch + 1;
        let mut spool = self.queue.lock();
        loop {
            if self.flags.abandon.load(Ordering::SeqCst) {
                return None;
            }
            match spool.read(next) {
                Ok(Some(b)) => return Some(b),
                Ok(None) => {
                    if self.flags.reader_done.load(Ordering::SeqCst) {
                        return None;
                    }
                }
                Err(e) => tracing::error!("{e}"),
            }
            spool = self
                .queue
                .changed
                .wait_timeout(spool, Duration::from_millis(500))
                .expect("spool lock")
                .0;
        }
    }

    /// Sends until acknowledged; `false` if the agent stopped first.
    fn deliver(
        &self,
        rt: &tokio::runtime::Runtime,
        batch: &SpooledBatch,
        backoff: &mut Backoff,
    ) -> bool {
        loop {
            let abandon = async {
                while !self.flags.abandon.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            let posted = Instant::now();
            let sent = rt.block_on(async {
                tokio::select! {
                    r = self.shipper.send(batch.body.clone()) => Some(r),
                    _ = abandon => None,
                }
            });
            // Told to stop mid-request: the batch stays spooled for the next start.
            let Some(sent) = sent else {
                return false;
            };
            match sent {
                Ok(ack) => {
                    metrics::histogram!("skein_agent_post_seconds")
                        .record(posted.elapsed().as_secs_f64());
                    if backoff.failures() > 0 {
                        tracing::info!("server {} is taking batches again", self.shipper.url());
                    }
                    backoff.reset();
                    for r in &ack.rejected {
                        tracing::warn!(
                            "server rejected line {} of batch {}: {}",
                            r.line,
                            batch.no,
                            r.error
                        );
                    }
                    metrics::counter!("skein_agent_batches_shipped_total").increment(1);
                    metrics::counter!("skein_agent_records_shipped_total")
                        .increment(ack.accepted as u64);
                    metrics::counter!("skein_agent_lines_rejected_total")
                        .increment(ack.rejected.len() as u64);
                    return true;
                }
                Err(ShipError::Refused {
                    status: status @ (400 | 413),
                    reason,
                    ..
                }) => {
                    // Sending it again gets the same answer: it would block every line
                    // after it for good. Kept aside with the reason; the source goes on.
                    self.quarantine(batch, status, &reason);
                    backoff.reset();
                    return true;
                }
                Err(e) => {
                    metrics::counter!("skein_agent_batches_failed_total").increment(1);
                    let wait = backoff.next(e.retry_after());
                    if backoff.failures() == 1 || backoff.failures().is_multiple_of(10) {
                        tracing::warn!(
                            "batch {} not delivered: {e}; retrying in {wait:?} (spooled meanwhile)",
                            batch.no
                        );
                    }
                    let until = Instant::now() + wait;
                    while Instant::now() < until {
                        if self.flags.abandon.load(Ordering::SeqCst) {
                            return false;
                        }
                        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
                    }
                }
            }
        }
    }
}

impl ShipperLoop {
    /// Keeps a batch the server refused for good in `STATE/quarantine/` (its body as
    /// sent, zstd in the compact batch form (which NDJSON tools read but for its
    /// `@source` lines; [`skein_model::compact`]), and the reason beside it), counts it
    /// and says so.
    fn quarantine(&self, batch: &SpooledBatch, status: u16, reason: &str) {
        let base = self.quarantine.join(format!(
            "batch-{}-{}",
            batch.no,
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ));
        let body = base.with_extension("batch.zst");
        let why = base.with_extension("reason.txt");
        let written = std::fs::create_dir_all(&self.quarantine)
            .and_then(|()| skein_model::atomic_file::write_atomic(&body, &batch.body, Some(0o600)))
            .and_then(|()| {
                let text = format!(
                    "server {} answered {status}: {reason}\nbatch {} of {} records\n",
                    self.shipper.url(),
                    batch.no,
                    batch.records
                );
                skein_model::atomic_file::write_atomic(&why, text.as_bytes(), Some(0o600))
            });
        metrics::counter!("skein_agent_batches_quarantined_total").increment(1);
        metrics::counter!("skein_agent_records_quarantined_total")
            .increment(u64::from(batch.records));
        match written {
            Ok(()) => tracing::error!(
                "the server refused batch {} ({} records) for good ({status}: {reason}); it is \
                 kept in {} and the agent goes on with the next",
                batch.no,
                batch.records,
                body.display()
            ),
            Err(e) => tracing::error!(
                "the server refused batch {} ({} records) for good ({status}: {reason}), and it \
                 could not be kept in {}: {e}; the agent goes on with the next",
                batch.no,
                batch.records,
                self.quarantine.display()
            ),
        }
    }
}
