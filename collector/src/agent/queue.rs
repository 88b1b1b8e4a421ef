//! The spool as the reader, shipper and saver threads share it.

use crate::spool::Spool;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

/// Cut times kept for batches not acknowledged yet; older ones go unmeasured.
const MAX_CUT_TIMES: usize = 4096;

/// The spool shared by reader, shipper and saver, with one condition for "something changed".
pub(super) struct Queue {
    pub(super) spool: Mutex<Spool>,
    pub(super) changed: Condvar,
    /// The newest batch the server acknowledged. Batches up to it stay spooled until a
    /// saved checkpoint covers them, but they are no longer "in flight".
    pub(super) delivered: AtomicU64,
    /// When the batches not yet acknowledged were cut (this run's only), for the
    /// cut-to-acknowledgement metric.
    pub(super) cut_at: Mutex<VecDeque<(u64, Instant)>>,
}

impl Queue {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Spool> {
        self.spool.lock().expect("spool lock")
    }

    /// Notes that batch `no` was cut and spooled just now.
    pub(super) fn note_cut(&self, no: u64) {
        let mut cuts = self.cut_at.lock().expect("cut times lock");
        // Bounded: while the server is away batches are cut about once a second.
        if cuts.len() >= MAX_CUT_TIMES {
            cuts.pop_front();
        }
        cuts.push_back((no, Instant::now()));
    }

    /// When batch `no`, now acknowledged, was cut (if this run cut it); forgets it and
    /// any before it.
    pub(super) fn take_cut(&self, no: u64) -> Option<Instant> {
        let mut cuts = self.cut_at.lock().expect("cut times lock");
        while let Some(&(n, at)) = cuts.front() {
            if n > no {
                break;
            }
            cuts.pop_front();
            if n == no {
                return Some(at);
            }
        }
        None
    }

    /// Whether every spooled batch has been acknowledged (the shipper is idle).
    pub(super) fn all_delivered(&self) -> bool {
        let delivered = self.delivered.load(Ordering::SeqCst);
        self.lock().last_no().is_none_or(|n| n <= delivered)
    }
}
