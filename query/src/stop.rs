//! Stopping a query early: when its client has gone away, or when its time is up.
//!
//! A [`Stop`] travels with a request down to the segment scans. They check it every
//! [`CHECK_EVERY`] documents ([`collect_segment`]), so a search or aggregation on a
//! blocking thread stops within milliseconds of its client disconnecting (the HTTP
//! handler holds a [`StopOnDrop`], and a disconnect drops the handler), and a request
//! past its `timeout` answers what it found so far, marked `timed_out`, as
//! Elasticsearch does.

use crate::aggregate::interval::Interval;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::Weight;
use tantivy::{DocSet, SegmentReader, COLLECT_BLOCK_BUFFER_LEN};

/// When a query must stop. Cloned handles share one state.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The client went away: nobody will read the answer.
    cancelled: AtomicBool,
    /// The request's time limit.
    deadline: Option<Instant>,
    /// Whether the deadline was reached while working (sticky once seen).
    timed_out: AtomicBool,
}

/// Documents scanned between two checks: a few microseconds of work.
pub const CHECK_EVERY: usize = 16 * COLLECT_BLOCK_BUFFER_LEN;

impl Stop {
    /// A query that runs until done.
    pub fn never() -> Stop {
        Stop::default()
    }

    /// A query that stops after `timeout` (none: no time limit).
    pub fn after(timeout: Option<Duration>) -> Stop {
        Stop {
            inner: Arc::new(Inner {
                deadline: timeout.map(|t| Instant::now() + t),
                ..Inner::default()
            }),
        }
    }

    /// Reads a `timeout` parameter as Elasticsearch writes it (`30s`, `500ms`, `1m`),
    /// falling back to `default`; `-1` or `0` mean no limit.
    pub fn parse_timeout(
        param: Option<&str>,
        default: Option<Duration>,
    ) -> Result<Option<Duration>, String> {
        match param.map(str::trim) {
            None | Some("") => Ok(default),
            Some("-1" | "0") => Ok(None),
            Some(s) => Interval::parse(s)
                .map(|i| Some(Duration::from_millis(i.millis() as u64)))
                .map_err(|_| format!("`timeout` {s:?} is not a duration such as 500ms, 30s or 1m")),
        }
    }

    /// Marks the query as no longer wanted.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether the client went away.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Relaxed)
    }

    /// Whether the work should stop now: cancelled, or past the deadline.
    pub fn should_stop(&self) -> bool {
        if self.is_cancelled() {
            return true;
        }
        match self.inner.deadline {
            Some(d) if Instant::now() >= d => {
                self.inner.timed_out.store(true, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// Whether some work was cut short by the deadline: the answer is partial.
    pub fn timed_out(&self) -> bool {
        self.inner.timed_out.load(Ordering::Relaxed)
    }

    /// A guard that cancels this query when dropped: held by an HTTP handler, whose
    /// future is dropped when its client disconnects.
    pub fn on_drop(&self) -> StopOnDrop {
        StopOnDrop(self.clone())
    }
}

/// Cancels its [`Stop`] when dropped.
#[derive(Debug)]
pub struct StopOnDrop(Stop);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs `collector` over one segment as Tantivy would, checking `stop` every
/// [`CHECK_EVERY`] documents; once it says stop, the documents collected so far are
/// harvested (past the deadline) or the scan fails with [`CANCELLED`] (client gone). Collectors that need scores are not used here: searches sort by time.
pub fn collect_segment<C: Collector>(
    collector: &C,
    weight: &dyn Weight,
    segment_ord: u32,
    reader: &SegmentReader,
    stop: &Stop,
) -> tantivy::Result<<C::Child as SegmentCollector>::Fruit> {
    // Setting a segment up is work of its own (an aggregation maps the segment's
    // dictionaries): none for a client that is gone.
    if stop.is_cancelled() {
        return Err(tantivy::TantivyError::InternalError(CANCELLED.into()));
    }
    let mut segment = collector.for_segment(segment_ord, reader)?;
    if stop.should_stop() {
        if stop.is_cancelled() {
            return Err(tantivy::TantivyError::InternalError(CANCELLED.into()));
        }
        return Ok(segment.harvest());
    }
    let mut docs = weight.scorer(reader, 1.0)?;
    let alive = reader.alive_bitset();
    let mut buffer = [0u32; COLLECT_BLOCK_BUFFER_LEN];
    let mut since_check = 0;
    loop {
        let n = docs.fill_buffer(&mut buffer);
        match alive {
            None => segment.collect_block(&buffer[..n]),
            Some(alive) => {
                for &doc in buffer[..n].iter().filter(|&&d| alive.is_alive(d)) {
                    segment.collect(doc, 0.0);
                }
            }
        }
        if n < buffer.len() {
            break;
        }
        since_check += n;
        if since_check >= CHECK_EVERY {
            since_check = 0;
            if stop.should_stop() {
                break;
            }
        }
    }
    // Harvesting is work of its own (an aggregation turns its buckets into results):
    // not done for a client that is gone.
    if stop.is_cancelled() {
        return Err(tantivy::TantivyError::InternalError(CANCELLED.into()));
    }
    Ok(segment.harvest())
}

/// The error a scan stops with when its client is gone; callers that see
/// [`Stop::is_cancelled`] answer their own "cancelled" instead.
pub const CANCELLED: &str = "cancelled: the client disconnected";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_stops_and_is_remembered() {
        let s = Stop::after(Some(Duration::from_millis(0)));
        assert!(s.should_stop());
        assert!(s.timed_out());
        assert!(!s.is_cancelled());
        let s = Stop::after(Some(Duration::from_secs(60)));
        assert!(!s.should_stop());
        drop(s.on_drop());
        assert!(s.should_stop() && s.is_cancelled() && !s.timed_out());
        assert!(!Stop::never().should_stop());
    }

    #[test]
    fn timeouts_read_as_elasticsearch_writes_them() {
        let d = Some(Duration::from_secs(30));
        assert_eq!(Stop::parse_timeout(None, d), Ok(d));
        assert_eq!(
            Stop::parse_timeout(Some("500ms"), d),
            Ok(Some(Duration::from_millis(500)))
        );
        assert_eq!(
            Stop::parse_timeout(Some("2m"), d),
            Ok(Some(Duration::from_secs(120)))
        );
        assert_eq!(Stop::parse_timeout(Some("-1"), d), Ok(None));
        assert!(Stop::parse_timeout(Some("soon"), d).is_err());
    }
}
