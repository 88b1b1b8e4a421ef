//! `skein server --redact`: the rules ([`skein_model::redact`]) applied to every batch
//! in [`crate::Engine::ingest`], the one way in of every ingest route, before the batch
//! reaches the WAL; so a secret is neither written to disk nor indexed, whichever
//! shipper sent it and however.
//!
//! - A record (`/api/v1/ingest`): its `message` and the string values of its `fields`,
//!   as the agent's rules do. Its WAL line, the client's own line until now, is then
//!   the redacted record's JSON form.
//! - A record mapped from an Elasticsearch document (`/es/_bulk`): every string value
//!   of the document except its time, since the document (kept as the hit's
//!   `_source`) is what the record is rebuilt from on replay and on read; the record is
//!   then mapped again from the redacted document.
//!
//! A line no rule may match ([`Redactor::may_match_json`] on its text, mostly the
//! rules' cheap gates) is not parsed again.

use crate::batch::{write_document_line, PreparedBatch};
use skein_model::es_mapping;
use skein_model::redact::{Hits, Redactor};
use skein_model::Record;
use std::ops::Range;
use std::sync::Arc;

/// The server's rules and their counters, `skein_redactions_total{rule}`.
#[derive(Debug)]
pub(crate) struct Redaction {
    redactor: Arc<Redactor>,
    counters: Vec<metrics::Counter>,
}

impl Redaction {
    /// Registers a counter per rule with the installed metrics recorder, so that each
    /// shows on `/metrics` (at 0) from the start.
    pub(crate) fn new(redactor: Arc<Redactor>) -> Redaction {
        let counters = redactor
            .rule_names()
            .iter()
            .map(|name| metrics::counter!("skein_redactions_total", "rule" => name.clone()))
            .collect();
        Redaction { redactor, counters }
    }

    /// Redacts `batch` and counts what was replaced.
    pub(crate) fn apply(&self, batch: &mut PreparedBatch) {
        let mut hits = Hits::default();
        batch.redact(&self.redactor, &mut hits);
        for (rule, n) in hits.iter() {
            self.counters[rule].increment(n);
        }
    }
}

impl PreparedBatch {
    /// Applies `redactor` to every record (see the module docs) and rewrites the WAL
    /// lines of those it changed; answers how many it changed.
    pub fn redact(&mut self, redactor: &Redactor, hits: &mut Hits) -> usize {
        let mut changed = Vec::new();
        for (i, (record, span)) in self.records.iter_mut().zip(&self.spans).enumerate() {
            // A record's line holds its message and fields (a compact batch's `@source`
            // line only the source's fields, which are not redacted), so a line no rule
            // may match holds nothing to redact.
            let line = std::str::from_utf8(&self.text[span.clone()]);
            if line.is_ok_and(|l| !redactor.may_match_json(l)) {
                continue;
            }
            let redacted = match record.original {
                Some(_) => redact_document(record, redactor, hits),
                None => redactor.redact_record(record, hits),
            };
            if redacted {
                changed.push(i);
            }
        }
        if changed.is_empty() {
            return 0;
        }
        let mut text = crate::text_buffers::take(self.text.len() + 256 * changed.len());
        let mut spans = Vec::with_capacity(self.spans.len());
        let mut sources = Vec::with_capacity(self.sources.len());
        // The `@source` line copied last: where it was, where it is now.
        let mut copied: Option<(usize, Range<usize>)> = None;
        let mut next = changed.iter().copied().peekable();
        for (i, span) in self.spans.iter().enumerate() {
            // A compact batch's `@source` lines come along, so that the WAL still gets
            // each before the records that take their source's fields from it.
            if let Some(source) = self.sources.get(i) {
                sources.push(source.as_ref().map(|old| match &copied {
                    Some((at, new)) if *at == old.start => new.clone(),
                    _ => {
                        let start = text.len();
                        text.extend_from_slice(&self.text[old.clone()]);
                        let new = start..text.len();
                        text.push(b'\n');
                        copied = Some((old.start, new.clone()));
                        new
                    }
                }));
            }
            let start = text.len();
            if next.next_if_eq(&i).is_some() {
                // Written whole, as records from `/api/v1/ingest` are, and documents
                // from `/es` as documents: what replay reads back either way (after a
                // `@source` line, a value the line has itself wins).
                write_document_line(&mut text, &self.records[i]);
            } else {
                text.extend_from_slice(&self.text[span.clone()]);
            }
            spans.push(start..text.len());
            text.push(b'\n');
        }
        crate::text_buffers::give_back(std::mem::replace(&mut self.text, text));
        self.spans = spans;
        self.sources = sources;
        self.records_bytes = self.records.iter().map(Record::heap_bytes).sum();
        // A replacement longer than what it replaced grows the batch by a few bytes;
        // the share the handler settled stays when there is no room for them.
        let _ = self.fit_budget();
        changed.len()
    }
}

/// Redacts the document a record was mapped from and maps it again; whether it changed.
fn redact_document(record: &mut Record, redactor: &Redactor, hits: &mut Hits) -> bool {
    let Some(original) = &record.original else {
        return false;
    };
    let Some(doc) = redactor.redact_json(original.get(), &es_mapping::TIME_KEYS, hits) else {
        return false;
    };
    let mapped = es_mapping::identity(&record.fields)
        .and_then(|(index, id)| es_mapping::map_document(&doc, index, id, record.timestamp).ok());
    match mapped {
        Some(r) => *record = r,
        // Only string values other than the time changed, which the mapping takes as
        // they come; should it refuse the document all the same, the record is kept
        // without it, redacted.
        None => {
            record.original = None;
            redactor.redact_record(record, &mut Hits::default());
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::decode_line;
    use skein_model::Timestamp;

    fn redactor() -> Redactor {
        Redactor::from_args(&["url-password", "email", "card"]).unwrap()
    }

    fn lines(batch: &PreparedBatch) -> Vec<String> {
        batch
            .spans
            .iter()
            .map(|s| String::from_utf8(batch.text[s.clone()].to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn records_are_redacted_with_their_wal_lines() {
        let body = concat!(
            "{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"message\":\"a\",\"fields\":{\"n\":1.50}}\n",
            "not json\n",
            "{\"@timestamp\":\"2026-11-20T10:00:01Z\",\"host\":\"ops@node.io\",\"message\":\"mail a@b.io\",",
            "\"fields\":{\"card\":\"4111 1111 1111 1111\"},\"_source_id\":\"s\",\"_seq\":7}\n",
            "{\"@timestamp\":\"2026-11-20T10:00:02Z\",\"message\":\"dsn https:\\/\\/u:pw@db\\/x\"}\n",
        );
        let (mut batch, rejected) =
            PreparedBatch::from_ndjson(body.as_bytes().to_vec(), None, None);
        assert_eq!(rejected.len(), 1);
        let before = lines(&batch);
        let mut hits = Hits::default();
        assert_eq!(batch.redact(&redactor(), &mut hits), 2);
        assert_eq!((hits.get(0), hits.get(1), hits.get(2)), (1, 1, 1));
        let after = lines(&batch);
        assert_eq!(after[0], before[0], "an untouched line is copied as sent");
        let back: Vec<Record> = after
            .iter()
            .map(|l| decode_line(l.as_bytes()).unwrap())
            .collect();
        assert_eq!(back, batch.records, "replay reads the redacted records");
        assert_eq!(back[1].message, "mail [REDACTED:email]");
        assert_eq!(back[1].fields["card"], "[REDACTED:card]");
        assert_eq!(back[1].host, "ops@node.io", "metadata stays");
        assert_eq!(back[1].seq, Some(7));
        assert_eq!(
            back[2].message,
            "dsn https://u:[REDACTED:url-password]@db/x"
        );
        assert!(!String::from_utf8_lossy(&batch.text).contains("a@b.io"));
        // What the WAL thread takes: each line with its newline, back to back.
        let mut joined = Vec::new();
        for s in &batch.spans {
            joined.extend_from_slice(&batch.text[s.clone()]);
            joined.push(b'\n');
        }
        assert_eq!(joined, batch.text);
    }

    #[test]
    fn compact_batches_keep_their_source_lines() {
        let body = concat!(
            "{\"@source\":{\"host\":\"n1\",\"container\":\"web\",\"_source_ids\":{\"stdout\":\"n1/web/stdout\"}}}\n",
            "{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"stream\":\"stdout\",\"message\":\"to a@b.io\",\"_seq\":1}\n",
            "{\"@timestamp\":\"2026-11-20T10:00:01Z\",\"stream\":\"stdout\",\"message\":\"clean\",\"_seq\":2}\n",
            "{\"@source\":{\"host\":\"n1\",\"container\":\"api\",\"_source_ids\":{\"stdout\":\"n1/api/stdout\"}}}\n",
            "{\"@timestamp\":\"2026-11-20T10:00:02Z\",\"stream\":\"stdout\",\"message\":\"ok\",\"fields\":{\"to\":\"c@d.io\"},\"_seq\":3}\n",
        );
        let (mut batch, rejected) = PreparedBatch::from_body(
            body.as_bytes().to_vec(),
            skein_model::compact::Form::Compact,
            None,
            None,
        );
        assert!(rejected.is_empty(), "{rejected:?}");
        assert_eq!(batch.redact(&redactor(), &mut Hits::default()), 2);
        // The WAL entry as the ingest thread writes it: each `@source` line once, before
        // its records.
        let mut entry = Vec::new();
        let mut last = None;
        for (span, source) in batch.spans.iter().zip(&batch.sources) {
            if let Some(s) = source {
                if last != Some(s.start) {
                    entry.extend_from_slice(&batch.text[s.clone()]);
                    entry.push(b'\n');
                    last = Some(s.start);
                }
            }
            entry.extend_from_slice(&batch.text[span.clone()]);
            entry.push(b'\n');
        }
        let back: Vec<Record> = crate::batch::decode_payload(&entry)
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, batch.records);
        let got: Vec<(&str, &str, Option<&str>)> = back
            .iter()
            .map(|r| {
                (
                    r.container.as_str(),
                    r.message.as_str(),
                    r.source_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("web", "to [REDACTED:email]", Some("n1/web/stdout")),
                ("web", "clean", Some("n1/web/stdout")),
                ("api", "ok", Some("n1/api/stdout")),
            ]
        );
        assert_eq!(back[2].fields["to"], "[REDACTED:email]");
        assert!(!String::from_utf8_lossy(&entry).contains("@b.io"));
    }

    #[test]
    fn documents_are_redacted_and_mapped_again() {
        let docs = [
            r#"{"@timestamp":"2026-11-20T10:00:00Z","log":"to a@b.io\n","kubernetes":{"pod_name":"web-1"},"n":2.50}"#,
            r#"{"time":"2026-11-20T10:00:01Z","message":"nothing here","user":"c@d.io"}"#,
            r#"{"message":"no time, clean"}"#,
        ];
        let records: Vec<Record> = docs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let id = (i == 1).then_some("id-1");
                es_mapping::map_document(d, "logs", id, Timestamp(5)).unwrap()
            })
            .collect();
        let mut batch = PreparedBatch::from_documents(records, None);
        let before = lines(&batch);
        let mut hits = Hits::default();
        assert_eq!(batch.redact(&redactor(), &mut hits), 2);
        let back: Vec<Record> = lines(&batch)
            .iter()
            .map(|l| decode_line(l.as_bytes()).unwrap())
            .collect();
        assert_eq!(
            back, batch.records,
            "replay maps the redacted documents again"
        );
        assert_eq!(back[0].message, "to [REDACTED:email]");
        assert_eq!(
            back[0].original.as_ref().unwrap().get(),
            r#"{"@timestamp":"2026-11-20T10:00:00Z","log":"to [REDACTED:email]\n","kubernetes":{"pod_name":"web-1"},"n":2.50}"#,
            "the _source a search returns, as sent but for the secret"
        );
        assert_eq!(back[0].labels["io.kubernetes.pod.name"], "web-1");
        assert_eq!(back[1].fields["user"], "[REDACTED:email]");
        assert_eq!(
            es_mapping::identity(&back[1].fields),
            Some(("logs", Some("id-1")))
        );
        assert_eq!(
            back[1].timestamp,
            Timestamp::parse_rfc3339("2026-11-20T10:00:01Z").unwrap()
        );
        assert_eq!(lines(&batch)[2], before[2]);
        assert_eq!(back[2].timestamp, Timestamp(5), "the arrival time stays");
    }
}
