//! Back-pressure: a cap on the bytes of batches accepted but not yet handed to Tantivy.
//!
//! Ingest takes a [`Permit`] before it parses a batch and the permit travels with the
//! batch until the indexer has added it, so memory stays bounded whatever the load. When
//! no permit is available the caller answers 429 and the client retries later. Before
//! reading a request's body, a caller may wait a little for room
//! ([`Budget::wait_for_room`]): a client answered 429 sends the whole body again, and
//! under sustained load those resent megabytes cost more than a short wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The shared byte budget.
#[derive(Debug, Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    capacity: usize,
    used: AtomicUsize,
    /// Woken whenever a permit is given back.
    freed: Notify,
}

/// Bytes reserved from a [`Budget`], given back on drop.
#[derive(Debug)]
pub struct Permit {
    inner: Arc<Inner>,
    bytes: usize,
}

impl Budget {
    /// A budget of `capacity` bytes.
    pub fn new(capacity: usize) -> Budget {
        Budget {
            inner: Arc::new(Inner {
                capacity,
                used: AtomicUsize::new(0),
                freed: Notify::new(),
            }),
        }
    }

    /// Reserves `bytes` if they fit. A request larger than the whole budget is let
    /// through when nothing else is in flight, so it cannot be refused forever.
    pub fn try_acquire(&self, bytes: usize) -> Option<Permit> {
        let mut used = self.inner.used.load(Ordering::Relaxed);
        loop {
            if used != 0 && used + bytes > self.inner.capacity {
                return None;
            }
            match self.inner.used.compare_exchange_weak(
                used,
                used + bytes,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(Permit {
                        inner: self.inner.clone(),
                        bytes,
                    })
                }
                Err(now) => used = now,
            }
        }
    }

    /// Waits up to `patience` until `bytes` would fit (or nothing is in flight); returns
    /// whether they do. Reserves nothing: the caller still takes its permit with
    /// [`Budget::try_acquire`] once it knows the exact size, and answers 429 if another
    /// request took the room first.
    pub async fn wait_for_room(&self, bytes: usize, patience: Duration) -> bool {
        let fits = || {
            let used = self.inner.used.load(Ordering::Acquire);
            used == 0 || used + bytes <= self.inner.capacity
        };
        let wait = async {
            loop {
                let freed = self.inner.freed.notified();
                if fits() {
                    return;
                }
                freed.await;
            }
        };
        tokio::time::timeout(patience, wait).await.is_ok()
    }

    /// Bytes currently reserved.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.inner.used.fetch_sub(self.bytes, Ordering::AcqRel);
        self.inner.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_when_full_and_frees_on_drop() {
        let b = Budget::new(100);
        let p1 = b.try_acquire(60).unwrap();
        assert!(b.try_acquire(60).is_none());
        let p2 = b.try_acquire(40).unwrap();
        drop(p1);
        assert_eq!(b.used(), 40);
        drop(p2);
        assert!(
            b.try_acquire(500).is_some(),
            "oversized batch passes when idle"
        );
    }

    #[tokio::test]
    async fn waits_for_room_until_a_permit_is_given_back() {
        let b = Budget::new(100);
        let p = b.try_acquire(80).unwrap();
        assert!(!b.wait_for_room(40, Duration::from_millis(20)).await);
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.wait_for_room(40, Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(p);
        assert!(waiter.await.unwrap(), "woken by the permit given back");
        assert!(
            b.wait_for_room(500, Duration::ZERO).await,
            "idle: anything fits"
        );
    }
}
