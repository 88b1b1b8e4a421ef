//! One follower from start to end: history from the index, then live records, with
//! no gap and no duplicate at the seam, through overflows and reconnects.
//!
//! The seam is an ingest position `B`. The follower subscribes to the hub first, then
//! reads the engine's durable position as `B`: every batch above `B` reaches the queue
//! (positions are stored before their batches are published). It waits until the index
//! holds everything up to `B`, reads history bounded to `_ord <= B`, and then prints
//! only queued records above `B`. Each record leaves with a [`FollowCursor`] that says
//! exactly what was delivered up to it, so a client that reconnects with it continues
//! without repeating or skipping anything; an overflowed queue is handled the same way,
//! as a reconnect from the last record delivered.

use super::hub::{Hub, Next, Subscription};
use super::matcher::LiveMatcher;
use super::scan::{self, last_ord_of, ord_of, Filter, Scan};
use crate::parse::QueryError;
use crate::search::SearchError;
use crate::shard::SortKey;
use skein_indexer::Engine;
use skein_model::{Record, Timestamp};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Records read from the index per step.
const PAGE: usize = 1000;
/// How long a follower waits for the index to catch up with the feed before going on
/// with a warning.
const INDEX_WAIT: Duration = Duration::from_secs(15);

/// Where a follower is: what it has been sent so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowCursor {
    /// In history bounded by ingest order `bound`, up to and including `key`.
    History {
        /// Highest ingest order of the history.
        bound: u64,
        /// Last record sent.
        key: SortKey,
    },
    /// Live: every match with ingest order up to `ord` was sent.
    Live {
        /// Ingest order of the last record sent.
        ord: u64,
    },
}

impl fmt::Display for FollowCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FollowCursor::History { bound, key } => {
                write!(f, "h{bound}_{}_{}", key.timestamp, key.ord)
            }
            FollowCursor::Live { ord } => write!(f, "l{ord}"),
        }
    }
}

impl FromStr for FollowCursor {
    type Err = String;

    fn from_str(s: &str) -> Result<FollowCursor, String> {
        let bad = || {
            format!(
                "invalid follow cursor {s:?}; pass the `_cursor` of the last record received unchanged"
            )
        };
        if let Some(rest) = s.strip_prefix('l') {
            return Ok(FollowCursor::Live {
                ord: rest.parse().map_err(|_| bad())?,
            });
        }
        let rest = s.strip_prefix('h').ok_or_else(bad)?;
        let mut parts = rest.splitn(3, '_');
        let mut next = || parts.next().ok_or_else(bad);
        let bound = next()?.parse().map_err(|_| bad())?;
        let timestamp = next()?.parse().map_err(|_| bad())?;
        let ord = next()?.parse().map_err(|_| bad())?;
        Ok(FollowCursor::History {
            bound,
            key: SortKey { timestamp, ord },
        })
    }
}

/// What a follower asks for.
#[derive(Debug, Clone)]
pub struct FollowRequest {
    /// Query string.
    pub q: String,
    /// Inclusive lower time bound.
    pub since: Option<Timestamp>,
    /// Inclusive upper time bound; following ends once the clock passes it.
    pub until: Option<Timestamp>,
    /// History: the last `n` matches (`None`: all of them).
    pub n: Option<usize>,
    /// Whether to go on with live records after the history.
    pub follow: bool,
    /// Continue after this position instead of starting with the history.
    pub cursor: Option<FollowCursor>,
    /// Anchor of the query's date math.
    pub now: Timestamp,
}

/// What a follower is sent.
#[derive(Debug)]
pub enum FollowEvent {
    /// A matching record and the position after it.
    Record {
        /// The record.
        record: Box<Record>,
        /// Where a reconnect continues.
        cursor: FollowCursor,
    },
    /// The follower fell behind the live feed by `count` matching records; they come
    /// next, read back from the index.
    Missed {
        /// Records re-read.
        count: u64,
    },
    /// Something the reader should know, such as the index lagging behind the feed.
    Warning(String),
}

/// A follower that stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// Reading the index failed.
    #[error(transparent)]
    Search(#[from] SearchError),
}

/// A validated follow request, ready to run.
pub struct Follow {
    engine: Arc<Engine>,
    hub: Hub,
    req: FollowRequest,
    filter: Filter,
}

impl Follow {
    /// Checks the query; the error is the client's.
    pub fn new(engine: Arc<Engine>, hub: Hub, req: FollowRequest) -> Result<Follow, QueryError> {
        LiveMatcher::new(engine.catalog().schema(), &req.q, req.now)?;
        let filter = Filter {
            q: req.q.clone(),
            now: req.now,
            since: req.since,
            until: req.until,
        };
        Ok(Follow {
            engine,
            hub,
            req,
            filter,
        })
    }

    fn subscribe(&self) -> Subscription {
        let m = LiveMatcher::new(self.engine.catalog().schema(), &self.req.q, self.req.now)
            .expect("validated in new");
        self.hub.subscribe(m, self.req.since, self.req.until)
    }

    /// Subscribes and returns the seam: the last ingest position history covers.
    /// Without `read_index` nothing is read from the index, so there is no need to wait.
    async fn seam(
        &self,
        read_index: bool,
        out: &mpsc::Sender<FollowEvent>,
    ) -> Result<(Subscription, u64), ()> {
        let sub = self.subscribe();
        let b = self.engine.durable_lsn();
        let started = Instant::now();
        while read_index && self.engine.searchable_lsn() < b {
            if started.elapsed() > INDEX_WAIT {
                let behind = b - self.engine.searchable_lsn();
                send(
                    out,
                    FollowEvent::Warning(format!(
                        "the index is {behind} WAL entries behind ingest (see /healthz); \
                         lines received in the last moments before this point may be missing"
                    )),
                )
                .await?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok((sub, last_ord_of(b)))
    }

    async fn scan(&self, s: Scan) -> Result<Vec<(SortKey, Record)>, FollowError> {
        let engine = self.engine.clone();
        let filter = self.filter.clone();
        tokio::task::spawn_blocking(move || scan::scan(engine.catalog(), &filter, s))
            .await
            .expect("scan does not panic")
            .map_err(FollowError::from)
    }

    /// Sends every match with ingest order in `(after, max]` in ingest order; returns
    /// the new live position.
    async fn catch_up(
        &self,
        mut after: u64,
        max: u64,
        out: &mpsc::Sender<FollowEvent>,
    ) -> Result<Option<u64>, FollowError> {
        while after < max {
            let page = self
                .scan(Scan::OrdAfter {
                    after_ord: after,
                    max_ord: max,
                    limit: PAGE,
                })
                .await?;
            let done = page.len() < PAGE;
            for (key, record) in page {
                after = key.ord;
                let ev = FollowEvent::Record {
                    record: Box::new(record),
                    cursor: FollowCursor::Live { ord: key.ord },
                };
                if send(out, ev).await.is_err() {
                    return Ok(None);
                }
            }
            if done {
                break;
            }
        }
        Ok(Some(after.max(max)))
    }

    /// Runs until the history is sent (and, when following, until the client goes
    /// away, `until` passes or the server stops).
    pub async fn run(self, out: mpsc::Sender<FollowEvent>) -> Result<(), FollowError> {
        let fresh_tail = self.req.cursor.is_none() && self.req.n == Some(0);
        let Ok((mut sub, bound)) = self.seam(!fresh_tail, &out).await else {
            return Ok(());
        };
        // `live` is the ingest position up to which everything was sent or skipped.
        let live = match self.req.cursor {
            None => {
                match self.req.n {
                    Some(0) => {}
                    Some(n) => {
                        let page = self
                            .scan(Scan::Last {
                                limit: n,
                                max_ord: bound,
                            })
                            .await?;
                        for (key, record) in page {
                            let cursor = FollowCursor::History { bound, key };
                            if send(
                                &out,
                                FollowEvent::Record {
                                    record: Box::new(record),
                                    cursor,
                                },
                            )
                            .await
                            .is_err()
                            {
                                return Ok(());
                            }
                        }
                    }
                    None => {
                        if !self.history_after(bound, None, &out).await? {
                            return Ok(());
                        }
                    }
                }
                bound
            }
            Some(FollowCursor::History { bound: b0, key }) => {
                if !self.history_after(b0.min(bound), Some(key), &out).await? {
                    return Ok(());
                }
                b0
            }
            Some(FollowCursor::Live { ord }) => ord,
        };
        let Some(mut live) = self.catch_up(live, bound, &out).await? else {
            return Ok(());
        };
        let deadline = match self.req.until {
            Some(u) => {
                let left = u.0.saturating_sub(Timestamp::now().0);
                // Lines up to `until` can still be on their way from an agent.
                Some(
                    tokio::time::Instant::now()
                        + Duration::from_nanos(left.max(0) as u64)
                        + Duration::from_secs(2),
                )
            }
            None => None,
        };
        if !self.req.follow {
            return Ok(());
        }
        loop {
            let next = match deadline {
                Some(d) => tokio::select! {
                    n = sub.next() => n,
                    _ = tokio::time::sleep_until(d) => return Ok(()),
                    _ = out.closed() => return Ok(()),
                },
                None => tokio::select! {
                    n = sub.next() => n,
                    _ = out.closed() => return Ok(()),
                },
            };
            match next {
                Next::Batch(d) => {
                    for i in d.positions {
                        let ord = ord_of(d.batch.lsn, i as usize);
                        if ord <= live {
                            continue;
                        }
                        live = ord;
                        let ev = FollowEvent::Record {
                            record: Box::new(d.batch.records[i as usize].clone()),
                            cursor: FollowCursor::Live { ord },
                        };
                        if send(&out, ev).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                Next::Overflow => {
                    drop(sub);
                    let Ok((s, bound)) = self.seam(true, &out).await else {
                        return Ok(());
                    };
                    sub = s;
                    let engine = self.engine.clone();
                    let filter = self.filter.clone();
                    let from = live;
                    let count = tokio::task::spawn_blocking(move || {
                        scan::count_after(engine.catalog(), &filter, from, bound)
                    })
                    .await
                    .expect("count does not panic")?;
                    metrics::counter!("skein_follow_resyncs_total").increment(1);
                    if send(&out, FollowEvent::Missed { count }).await.is_err() {
                        return Ok(());
                    }
                    match self.catch_up(live, bound, &out).await? {
                        Some(l) => live = l,
                        None => return Ok(()),
                    }
                }
                Next::Closed => return Ok(()),
            }
        }
    }

    /// Sends the history in time order after `after`, bounded by `bound`; false when
    /// the client went away.
    async fn history_after(
        &self,
        bound: u64,
        mut after: Option<SortKey>,
        out: &mpsc::Sender<FollowEvent>,
    ) -> Result<bool, FollowError> {
        loop {
            let page = self
                .scan(Scan::TimeAfter {
                    after,
                    max_ord: bound,
                    limit: PAGE,
                })
                .await?;
            let done = page.len() < PAGE;
            for (key, record) in page {
                after = Some(key);
                let cursor = FollowCursor::History { bound, key };
                if send(
                    out,
                    FollowEvent::Record {
                        record: Box::new(record),
                        cursor,
                    },
                )
                .await
                .is_err()
                {
                    return Ok(false);
                }
            }
            if done {
                return Ok(true);
            }
        }
    }
}

async fn send(out: &mpsc::Sender<FollowEvent>, ev: FollowEvent) -> Result<(), ()> {
    out.send(ev).await.map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_roundtrip() {
        for c in [
            FollowCursor::Live { ord: 77 << 24 },
            FollowCursor::History {
                bound: 5,
                key: SortKey {
                    timestamp: -3,
                    ord: 9,
                },
            },
        ] {
            assert_eq!(c.to_string().parse::<FollowCursor>().unwrap(), c);
        }
        assert!("x1".parse::<FollowCursor>().is_err());
        assert!("h1_2".parse::<FollowCursor>().is_err());
    }
}
