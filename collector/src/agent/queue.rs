//! The spool as the reader, shipper and saver threads share it.

use crate::spool::Spool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

/// The spool shared by reader, shipper and saver, with one condition for "something changed".
pub(super) struct Queue {
    pub(super) spool: Mutex<Spool>,
    pub(super) changed: Condvar,
    /// The newest batch the server acknowledged. Batches up to it stay spooled until a
    /// saved checkpoint covers them, but they are no longer "in flight".
    pub(super) delivered: AtomicU64,
}

impl Queue {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Spool> {
        self.spool.lock().expect("spool lock")
    }

    /// Whether every spooled batch has been acknowledged (the shipper is idle).
    pub(super) fn all_delivered(&self) -> bool {
        let delivered = self.delivered.load(Ordering::SeqCst);
        self.lock().last_no().is_none_or(|n| n <= delivered)
    }
}
