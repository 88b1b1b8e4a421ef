//! Back-pressure: a cap on the bytes of batches accepted but not yet handed to Tantivy.
//!
//! Ingest takes a [`Permit`] before it parses a batch and the permit travels with the
//! batch until the indexer has added it, so memory stays bounded whatever the load. When
//! no permit is available the caller answers 429 and the client retries later. Before
//! reading a request's body, a caller may reserve by its announced length, waiting a
//! little for room ([`Budget::acquire_within`]), and settle the share once the size is
//! known ([`Permit::resize`]): a client answered 429 sends the whole body again, and
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

    /// Reserves `bytes`, waiting up to `patience` for them to fit (or for nothing else to
    /// be in flight). A request that reserves before reading its body does not lose the
    /// room to another one while it reads, and is not refused after reading it.
    pub async fn acquire_within(&self, bytes: usize, patience: Duration) -> Option<Permit> {
        let wait = async {
            loop {
                let freed = self.inner.freed.notified();
                if let Some(permit) = self.try_acquire(bytes) {
                    return permit;
                }
                freed.await;
            }
        };
        tokio::time::timeout(patience, wait).await.ok()
    }

    /// Bytes currently reserved.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }
}

impl Permit {
    /// Bytes this permit holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Makes this permit hold `bytes` instead: smaller always, larger if they fit (or if
    /// this permit is all that is in flight). Returns whether it holds `bytes` now.
    pub fn resize(&mut self, bytes: usize) -> bool {
        if bytes <= self.bytes {
            self.inner
                .used
                .fetch_sub(self.bytes - bytes, Ordering::AcqRel);
            self.bytes = bytes;
            self.inner.freed.notify_waiters();
            return true;
        }
        let extra = bytes - self.bytes;
        let mut used = self.inner.used.load(Ordering::Relaxed);
        loop {
            if used != self.bytes && used + extra > self.inner.capacity {
                return false;
            }
            match self.inner.used.compare_exchange_weak(
                used,
                used + extra,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.bytes = bytes;
                    return true;
                }
                Err(now) => used = now,
            }
        }
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
        assert!(b
            .acquire_within(40, Duration::from_millis(20))
            .await
            .is_none());
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.acquire_within(40, Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(p);
        let mut got = waiter
            .await
            .unwrap()
            .expect("woken by the permit given back");
        assert_eq!(b.used(), 40);
        // Resized to what the body turned out to need.
        assert!(got.resize(90));
        assert_eq!(b.used(), 90);
        let other = b.try_acquire(10).unwrap();
        assert!(!got.resize(95), "no room beside the other permit");
        assert!(got.resize(30));
        assert_eq!(b.used(), 40);
        drop(other);
        assert!(
            got.resize(500),
            "alone in flight, it may hold more than the budget"
        );
    }
}
