//! Fanning the engine's live feed out to followers, each through a bounded queue.
//!
//! One thread reads the feed and, for every follower, finds the records of the batch
//! that match its query and time window and queues their positions with the batch
//! (no record is copied). Ingest never waits on a follower: when a follower's queue is
//! full it is marked as overflowed and gets nothing more; the follower then drains what
//! it has and resynchronises from the index ([`super::session`]). When the hub itself
//! falls behind the feed, every follower is marked the same way.

use super::matcher::{BatchIndex, LiveMatcher};
use skein_indexer::{Engine, FeedBatch};
use skein_model::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, Notify};

/// How much a follower may have queued before it is marked as overflowed.
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    /// Matching records queued.
    pub records: usize,
    /// Batches queued (each holds its whole feed batch in memory).
    pub batches: usize,
}

impl Default for HubLimits {
    fn default() -> HubLimits {
        HubLimits {
            records: 10_000,
            batches: 64,
        }
    }
}

/// Matching records of one feed batch for one follower.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The batch as published.
    pub batch: Arc<FeedBatch>,
    /// Positions of the matching records in `batch.records`.
    pub positions: Vec<u32>,
}

/// What a follower finds in its queue.
#[derive(Debug)]
pub enum Next {
    /// Matching records, in ingest order.
    Batch(Delivery),
    /// The queue overflowed after everything delivered so far: resynchronise.
    Overflow,
    /// The feed ended (the server is shutting down).
    Closed,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Delivery>,
    records: usize,
    overflow: bool,
    closed: bool,
}

struct Slot {
    matcher: Mutex<LiveMatcher>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    queue: Mutex<Queue>,
    notify: Notify,
}

impl Slot {
    fn push(&self, d: Delivery, limits: HubLimits) {
        let mut q = self.queue.lock().expect("lock");
        if q.overflow || q.closed {
            return;
        }
        // One batch is always taken into an empty queue, however large: otherwise a
        // batch above the limit would send every follower back to the index.
        let full =
            q.items.len() >= limits.batches || q.records + d.positions.len() > limits.records;
        if full && !q.items.is_empty() {
            q.overflow = true;
            metrics::counter!("skein_follow_overflows_total").increment(1);
        } else {
            q.records += d.positions.len();
            q.items.push_back(d);
        }
        drop(q);
        self.notify.notify_one();
    }

    fn mark(&self, overflow: bool) {
        let mut q = self.queue.lock().expect("lock");
        if overflow {
            q.overflow = true;
        } else {
            q.closed = true;
        }
        drop(q);
        self.notify.notify_one();
    }
}

struct Inner {
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    next_id: AtomicU64,
    limits: HubLimits,
    closed: AtomicBool,
}

/// The live side of following: subscribe, then read matching records as they arrive.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// Starts the thread that reads `engine`'s feed.
    pub fn start(engine: &Engine, limits: HubLimits) -> std::io::Result<Hub> {
        let inner = Arc::new(Inner {
            slots: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            limits,
            closed: AtomicBool::new(false),
        });
        let rx = engine.subscribe();
        let worker = inner.clone();
        std::thread::Builder::new()
            .name("skein-follow".into())
            .spawn(move || run(worker, rx))?;
        Ok(Hub { inner })
    }

    /// Registers a follower; it receives every batch published from now on, filtered
    /// by `matcher` and the time window.
    pub fn subscribe(
        &self,
        matcher: LiveMatcher,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Subscription {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            matcher: Mutex::new(matcher),
            since,
            until,
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
        });
        let mut slots = self.inner.slots.lock().expect("lock");
        if self.inner.closed.load(Ordering::Acquire) {
            slot.mark(false);
        }
        slots.insert(id, slot.clone());
        metrics::gauge!("skein_followers").set(slots.len() as f64);
        Subscription {
            inner: self.inner.clone(),
            id,
            slot,
        }
    }

    /// Ends every follower's live part, now and from now on, so that streaming
    /// responses finish and the server can shut down.
    pub fn close(&self) {
        let slots = self.inner.slots.lock().expect("lock");
        self.inner.closed.store(true, Ordering::Release);
        for s in slots.values() {
            s.mark(false);
        }
    }

    /// Followers registered now.
    pub fn followers(&self) -> usize {
        self.inner.slots.lock().expect("lock").len()
    }
}

/// A follower's place in the hub; dropping it unregisters the follower.
pub struct Subscription {
    inner: Arc<Inner>,
    id: u64,
    slot: Arc<Slot>,
}

impl Subscription {
    /// Waits for the next delivery.
    pub async fn next(&self) -> Next {
        loop {
            let notified = self.slot.notify.notified();
            {
                let mut q = self.slot.queue.lock().expect("lock");
                if let Some(d) = q.items.pop_front() {
                    q.records -= d.positions.len();
                    return Next::Batch(d);
                }
                if q.overflow {
                    return Next::Overflow;
                }
                if q.closed {
                    return Next::Closed;
                }
            }
            notified.await;
        }
    }

    /// The queued records' count right now.
    pub fn queued(&self) -> usize {
        self.slot.queue.lock().expect("lock").records
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut slots = self.inner.slots.lock().expect("lock");
        slots.remove(&self.id);
        metrics::gauge!("skein_followers").set(slots.len() as f64);
    }
}

fn run(inner: Arc<Inner>, mut rx: broadcast::Receiver<Arc<FeedBatch>>) {
    loop {
        match rx.blocking_recv() {
            Ok(batch) => dispatch(&inner, batch),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!("live followers fell {n} batches behind the feed; they resynchronise from the index");
                for s in snapshot(&inner) {
                    s.mark(true);
                }
            }
            Err(broadcast::error::RecvError::Closed) => {
                for s in snapshot(&inner) {
                    s.mark(false);
                }
                return;
            }
        }
    }
}

fn snapshot(inner: &Inner) -> Vec<Arc<Slot>> {
    inner
        .slots
        .lock()
        .expect("lock")
        .values()
        .cloned()
        .collect()
}

fn dispatch(inner: &Inner, batch: Arc<FeedBatch>) {
    let slots = snapshot(inner);
    if slots.is_empty() {
        return;
    }
    let mut index: Option<Option<BatchIndex>> = None;
    for slot in slots {
        let mut m = slot.matcher.lock().expect("lock");
        let ix = if m.needs_index() {
            index
                .get_or_insert_with(|| match BatchIndex::build(&batch.records) {
                    Ok(ix) => Some(ix),
                    Err(e) => {
                        tracing::error!("cannot index a live batch for following: {e}");
                        None
                    }
                })
                .as_ref()
        } else {
            None
        };
        if m.needs_index() && ix.is_none() {
            // Without a way to match, the follower must re-read the batch from the index.
            drop(m);
            slot.mark(true);
            continue;
        }
        let mut positions = m.matching(&batch.records, ix);
        drop(m);
        if slot.since.is_some() || slot.until.is_some() {
            positions.retain(|&i| {
                let t = batch.records[i as usize].timestamp;
                slot.since.is_none_or(|s| t >= s) && slot.until.is_none_or(|u| t <= u)
            });
        }
        if !positions.is_empty() {
            slot.push(
                Delivery {
                    batch: batch.clone(),
                    positions,
                },
                inner.limits,
            );
        }
    }
}
