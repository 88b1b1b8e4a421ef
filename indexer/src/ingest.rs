//! The ingest thread: dedupe, WAL append with group commit, then hand-off.
//!
//! One thread owns the WAL. It takes every batch waiting in its queue, drops records
//! already held ([`SeqTracker`]), appends one WAL entry per batch, fsyncs once for the
//! whole group, and only then answers each caller, publishes the records on the live
//! feed and passes them to the indexer. A failed write or fsync fails the whole group:
//! nothing of it is acknowledged and the dedupe state forgets it.

use crate::batch::{Control, FeedBatch, IngestOutcome, PreparedBatch};
use crate::budget::Permit;
use crate::dedupe::SeqTracker;
use crate::health::{Health, Severity};
use crate::ids::RecentIds;
use crate::indexing::IndexMsg;
use crate::partition::Catalog;
use crate::wal::Wal;
use crate::IngestError;
use skein_model::Record;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};

/// Groups stop growing at this many payload bytes so one fsync never waits on too much.
const MAX_GROUP_BYTES: usize = 64 << 20;

/// A caller's batch and where to send the answer.
pub(crate) struct WalRequest {
    pub batch: PreparedBatch,
    pub reply: oneshot::Sender<Result<IngestOutcome, IngestError>>,
}

/// What the ingest thread is asked.
pub(crate) enum WalMsg {
    /// Make a batch durable.
    Batch(WalRequest),
    /// Write a control entry; answers the high-water mark the source had.
    Control {
        control: Control,
        reply: oneshot::Sender<Result<Option<u64>, IngestError>>,
    },
    /// A request for the indexer (a delete, a snapshot), passed to it behind every
    /// batch sent before it.
    Ordered(IndexMsg),
}

pub(crate) struct IngestThread {
    pub wal: Wal,
    pub seqs: SeqTracker,
    pub rx: Receiver<WalMsg>,
    pub index_tx: Sender<IndexMsg>,
    pub feed: broadcast::Sender<Arc<FeedBatch>>,
    pub committed_lsn: Arc<AtomicU64>,
    /// Highest LSN made durable (recovery must not read past it).
    pub durable_lsn: Arc<AtomicU64>,
    pub health: Arc<Health>,
    /// The kept lines of a batch that are not one run of its text, joined; kept between
    /// groups so its pages are not taken fresh each time.
    pub payload: Vec<u8>,
    /// The partitions, where `op_type=create` looks for a stored document of its id.
    pub catalog: Arc<Catalog>,
    /// Client ids written but perhaps not yet searchable.
    pub ids: RecentIds,
}

/// The range of `text` holding exactly the lines at `spans`, each with its newline, when
/// they follow one another: what the WAL can take without a copy.
fn one_run(text: &[u8], spans: &[std::ops::Range<usize>]) -> Option<std::ops::Range<usize>> {
    let first = spans.first()?.start;
    let mut end = first;
    for span in spans {
        if span.start != end || text.get(span.end) != Some(&b'\n') {
            return None;
        }
        end = span.end + 1;
    }
    Some(first..end)
}

struct Staged {
    reply: oneshot::Sender<Result<IngestOutcome, IngestError>>,
    outcome: IngestOutcome,
    /// `(lsn, records, permit)` when something was written.
    written: Option<(u64, Vec<Record>, Option<Permit>)>,
}

impl IngestThread {
    pub fn run(mut self) {
        let mut trimmed_to = 0;
        loop {
            let first = match self.rx.recv_timeout(Duration::from_millis(500)) {
                Ok(WalMsg::Batch(r)) => r,
                Ok(WalMsg::Control { control, reply }) => {
                    let _ = reply.send(self.write_control(control));
                    continue;
                }
                Ok(WalMsg::Ordered(m)) => {
                    let _ = self.index_tx.send(m);
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.trim(&mut trimmed_to);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut group = vec![first];
            let mut bytes = 0;
            let mut control = None;
            while bytes < MAX_GROUP_BYTES {
                match self.rx.try_recv() {
                    Ok(WalMsg::Batch(r)) => {
                        bytes += r.batch.text.len();
                        group.push(r);
                    }
                    // A control entry or a delete goes after the batches sent before it.
                    Ok(c @ (WalMsg::Control { .. } | WalMsg::Ordered(_))) => {
                        control = Some(c);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.write_group(group);
            match control {
                Some(WalMsg::Control { control, reply }) => {
                    let _ = reply.send(self.write_control(control));
                }
                Some(WalMsg::Ordered(m)) => {
                    let _ = self.index_tx.send(m);
                }
                _ => {}
            }
            self.trim(&mut trimmed_to);
        }
    }

    /// Writes a control entry on its own, durable before it takes effect here and is
    /// passed to the indexer.
    fn write_control(&mut self, control: Control) -> Result<Option<u64>, IngestError> {
        self.seqs.begin();
        self.wal.begin_group();
        let written = self
            .wal
            .append(&control.payload())
            .and_then(|lsn| self.wal.sync().map(|()| lsn));
        let lsn = match written {
            Ok(lsn) => lsn,
            Err(e) => {
                let _ = self.wal.abort_group();
                self.health.report(
                    "wal",
                    Severity::Error,
                    format!("{e}; ingest answers 503 until a write succeeds"),
                );
                return Err(IngestError::Unavailable(e.to_string()));
            }
        };
        self.durable_lsn.store(lsn, Ordering::Release);
        let Control::ResetSeq(source) = &control;
        let previous = self.seqs.reset(source);
        let _ = self.index_tx.send(IndexMsg::Control { lsn, control });
        Ok(previous)
    }

    /// Whether a document of `index` with client id `id` is stored or on its way (in
    /// the WAL, not yet searchable). Asked in WAL order on this one thread, so of two
    /// creates of one id, however close, the second sees the first.
    fn id_taken(&self, index: &str, id: &str) -> bool {
        if self.ids.contains(index, id) {
            return true;
        }
        match crate::ids::any_holds(&self.catalog.all(), index, id) {
            Ok(held) => held,
            Err(e) => {
                // Unreadable partitions are reported on /healthz already; the document
                // is written rather than refused for a conflict nobody can see.
                tracing::warn!("cannot look up _id {id:?} in {index:?}: {e}");
                false
            }
        }
    }

    fn write_group(&mut self, group: Vec<WalRequest>) {
        self.seqs.begin();
        self.ids.begin();
        self.wal.begin_group();
        let mut staged = Vec::with_capacity(group.len());
        let mut failure = None;
        for WalRequest { batch, reply } in group {
            if failure.is_some() {
                staged.push(Staged {
                    reply,
                    outcome: IngestOutcome::default(),
                    written: None,
                });
                continue;
            }
            let PreparedBatch {
                records,
                text,
                spans,
                mut sources,
                permit,
                records_bytes,
                creates,
            } = batch;
            // The WAL entry this batch becomes, if anything of it is kept.
            let lsn = self.wal.next_lsn();
            let mut kept = Vec::with_capacity(records.len());
            let mut kept_spans = Vec::with_capacity(records.len());
            let mut kept_sources = Vec::with_capacity(sources.len());
            let mut outcome = IngestOutcome::default();
            for (i, (r, span)) in records.into_iter().zip(spans).enumerate() {
                // Only records mapped from documents with a client `_id` are looked at:
                // `identity` reads the last entries of `fields` and answers `None`
                // for every other record.
                if let Some((index, Some(id))) = skein_model::es_mapping::identity(&r.fields) {
                    if creates.get(i) == Some(&true) && self.id_taken(index, id) {
                        outcome.conflicts.push(i as u32);
                        continue;
                    }
                    self.ids.insert(index, id, lsn);
                }
                if self.seqs.admit(&r) {
                    kept.push(r);
                    kept_spans.push(span);
                    if let Some(s) = sources.get_mut(i) {
                        kept_sources.push(s.take());
                    }
                    outcome.accepted += 1;
                } else {
                    outcome.duplicates += 1;
                }
            }
            let written = if kept.is_empty() {
                None
            } else {
                let payload = match one_run(&text, &kept_spans).filter(|_| kept_sources.is_empty())
                {
                    Some(run) => &text[run],
                    None => {
                        self.payload.clear();
                        // A compact batch's records go after the `@source` line they
                        // take their source's fields from, as in the batch.
                        let mut last_source = None;
                        for (i, span) in kept_spans.into_iter().enumerate() {
                            if let Some(Some(source)) = kept_sources.get(i) {
                                if last_source != Some(source.start) {
                                    self.payload.extend_from_slice(&text[source.clone()]);
                                    self.payload.push(b'\n');
                                    last_source = Some(source.start);
                                }
                            }
                            self.payload.extend_from_slice(&text[span]);
                            self.payload.push(b'\n');
                        }
                        &self.payload[..]
                    }
                };
                match self.wal.append(payload) {
                    Ok(lsn) => {
                        outcome.lsn = Some(lsn);
                        Some((lsn, kept, permit))
                    }
                    Err(e) => {
                        failure = Some(e);
                        None
                    }
                }
            };
            crate::text_buffers::give_back(text);
            let written = written.map(|(lsn, kept, mut permit)| {
                // From here on only the records wait for the indexer.
                if let Some(p) = &mut permit {
                    p.resize(records_bytes.min(p.bytes()));
                }
                (lsn, kept, permit)
            });
            staged.push(Staged {
                reply,
                outcome,
                written,
            });
        }
        if failure.is_none() {
            if let Err(e) = self.wal.sync() {
                failure = Some(e);
            }
        }
        if let Some(e) = failure {
            let cleanup = match self.wal.abort_group() {
                Ok(()) => String::new(),
                Err(e2) => format!(
                    "; removing the failed group from the WAL also failed ({e2}), so its \
                     records may be indexed after a restart although they were refused"
                ),
            };
            self.health.report(
                "wal",
                Severity::Error,
                format!("{e}; ingest answers 503 until a write succeeds{cleanup}"),
            );
            for s in staged {
                let _ = s.reply.send(Err(IngestError::Unavailable(e.to_string())));
            }
            return;
        }
        self.seqs.commit();
        self.ids.commit();
        self.durable_lsn
            .store(self.wal.next_lsn() - 1, Ordering::Release);
        self.health.clear("wal");
        for s in staged {
            metrics::counter!("skein_records_ingested_total").increment(s.outcome.accepted as u64);
            metrics::counter!("skein_records_duplicate_total")
                .increment(s.outcome.duplicates as u64);
            if let Some((lsn, records, permit)) = s.written {
                let feed = Arc::new(FeedBatch { lsn, records });
                // No follower is not an error.
                let _ = self.feed.send(feed.clone());
                let _ = self.index_tx.send(IndexMsg::Batch {
                    lsn,
                    batch: feed,
                    permit,
                });
            }
            let _ = s.reply.send(Ok(s.outcome));
        }
    }

    fn trim(&mut self, trimmed_to: &mut u64) {
        let committed = self.committed_lsn.load(Ordering::Acquire);
        // Searches see these ids now: the catalog answers for them.
        if !self.ids.is_empty() {
            self.ids.forget_through(committed);
        }
        if committed > *trimmed_to {
            match self.wal.trim(committed) {
                Ok(()) => *trimmed_to = committed,
                Err(e) => self.health.report(
                    "wal-trim",
                    Severity::Warning,
                    format!("cannot delete committed WAL segments: {e}"),
                ),
            }
        }
        metrics::gauge!("skein_wal_bytes").set(self.wal.disk_bytes() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::one_run;

    #[test]
    fn only_whole_runs_of_lines_are_taken_as_they_are() {
        let text = b"a\nbb\n\nc\r\nd";
        // Consecutive lines with their newlines.
        assert_eq!(one_run(text, &[0..1, 2..4]), Some(0..5));
        // A line left out (a blank or rejected line) breaks the run.
        assert_eq!(one_run(text, &[0..1, 6..7]), None);
        // A line ending in `\r\n` or in nothing is not written as it is.
        assert_eq!(one_run(text, std::slice::from_ref(&(6..7))), None);
        assert_eq!(one_run(text, std::slice::from_ref(&(10..11))), None);
        assert_eq!(one_run(text, &[]), None);
    }
}
