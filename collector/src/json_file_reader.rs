//! Reading a whole Docker json-file log into records: the parsing stages composed, for
//! backfills, imports and benchmarks. The tailer composes the same stages itself, since
//! it also has to wait for lines, time out multiline events and checkpoint.
//!
//! Delivery identity: `_source_id` is `{host}/{short container id}/{stream}` and `_seq` is
//! the byte position of the start of the record's first json-file line (plus
//! [`JsonFileOptions::start_offset`]). Within one stream that position strictly
//! increases from record to record; across streams it does not (a split stdout line can
//! be finished after a later stderr line), which is why the source is per stream.

use crate::decode::{Event, Format, SourceDecoder};
use crate::encode::SLOTS;
use crate::enrich::{build_record, Delivery, SourceMeta};
use crate::parse::multiline::MultilineConfig;
use crate::parse::partial::DEFAULT_MAX_LINE_BYTES;
use crate::parse::payload::PayloadConfig;
use crate::parse::Stream;
use skein_model::Record;
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, BufRead};
use std::time::Instant;

pub use crate::decode::DECODE_ERROR_FIELD;

/// How a json-file log is read.
#[derive(Debug, Clone)]
pub struct JsonFileOptions {
    /// The position of the reader's first byte in the source, so `_seq` continues
    /// where a previous read (or a previous, rotated file) left off.
    pub start_offset: u64,
    /// Cap on a line merged from partial entries (see [`crate::PartialMerger`]).
    pub max_line_bytes: usize,
    /// Longest json-file line decoded; a longer one (dockerd never writes one) is
    /// reported as malformed and only its first `max_entry_bytes` are kept.
    pub max_entry_bytes: usize,
    /// How payloads are read.
    pub payload: PayloadConfig,
    /// Multiline grouping, off by default.
    pub multiline: Option<MultilineConfig>,
}

impl Default for JsonFileOptions {
    fn default() -> JsonFileOptions {
        JsonFileOptions {
            start_offset: 0,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_entry_bytes: 4 * DEFAULT_MAX_LINE_BYTES,
            payload: PayloadConfig::default(),
            multiline: None,
        }
    }
}

/// Reads a whole json-file log (see [`JsonFileRecords`]).
pub fn records_from_json_file<R: BufRead>(
    reader: R,
    meta: &SourceMeta,
    options: JsonFileOptions,
) -> JsonFileRecords<R> {
    JsonFileRecords::new(reader, meta, options)
}

/// An iterator of the records of a json-file log: entries decoded, split lines merged,
/// multiline events grouped (when configured), payloads parsed, metadata added.
///
/// Nothing is dropped. A line that is not a json-file entry (a torn write, a foreign
/// line) becomes a record of its own: its raw text as the message, an empty stream, the
/// time of the entry before it, the error in [`DECODE_ERROR_FIELD`], and the delivery
/// source `{host}/{id}/malformed` of its own, since it belongs to no stream. An I/O error ends the iteration after the
/// records gathered so far; see [`io_error`](Self::io_error).
pub struct JsonFileRecords<R> {
    reader: R,
    meta: SourceMeta,
    source_ids: [String; 3],
    max_entry_bytes: usize,
    decoder: SourceDecoder,
    started: Instant,
    line: Vec<u8>,
    events: Vec<Event>,
    ready: VecDeque<Record>,
    offset: u64,
    error: Option<io::Error>,
    done: bool,
}

impl<R: BufRead> JsonFileRecords<R> {
    /// Starts reading `reader`, whose records will carry `meta`.
    pub fn new(reader: R, meta: &SourceMeta, options: JsonFileOptions) -> JsonFileRecords<R> {
        JsonFileRecords {
            reader,
            source_ids: SLOTS.map(|s| meta.source_id(s)),
            meta: meta.clone(),
            max_entry_bytes: options.max_entry_bytes.max(1),
            decoder: SourceDecoder::new(
                Format::JsonFile,
                options.payload,
                options.multiline,
                options.max_line_bytes,
            ),
            started: Instant::now(),
            line: Vec::new(),
            events: Vec::new(),
            ready: VecDeque::new(),
            offset: options.start_offset,
            error: None,
            done: false,
        }
    }

    /// Position just past the last byte read (in `start_offset` terms).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How many lines were not json-file entries.
    pub fn malformed_lines(&self) -> u64 {
        self.decoder.malformed_lines()
    }

    /// The I/O error that ended the iteration early, if one did.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// Reads and processes one line; returns `false` at the end of the input.
    fn step(&mut self) -> bool {
        let (consumed, truncated) =
            match read_capped_line(&mut self.reader, &mut self.line, self.max_entry_bytes) {
                Ok(r) => r,
                Err(e) => {
                    self.error = Some(e);
                    (0, false)
                }
            };
        if consumed == 0 {
            self.decoder.flush(&mut self.events);
            self.emit();
            return false;
        }
        let offset = self.offset;
        self.offset += consumed as u64;
        if truncated {
            let reason = format!("json-file line longer than {} bytes", self.max_entry_bytes);
            self.decoder
                .push_malformed(&self.line, offset, reason, &mut self.events);
        } else {
            self.decoder
                .push_line(&self.line, offset, self.started, &mut self.events);
        }
        self.emit();
        true
    }

    fn emit(&mut self) {
        for event in self.events.drain(..) {
            let stream = event.stream.map_or("", Stream::as_str);
            let delivery = Some(Delivery {
                source_id: self.source_ids[event.slot()].clone(),
                seq: event.offset,
            });
            let mut record = build_record(&self.meta, stream, event.time, event.payload, delivery);
            add_attrs(&mut record, self.decoder.attrs());
            self.ready.push_back(record);
        }
    }
}

/// json-file `attrs` are container labels and env values chosen by log options (the
/// same on every entry of a container), so they go with the labels; what the metadata
/// already says wins.
fn add_attrs(record: &mut Record, attrs: Option<&BTreeMap<String, String>>) {
    for (k, v) in attrs.into_iter().flatten() {
        record.labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

impl<R: BufRead> Iterator for JsonFileRecords<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Some(r);
            }
            if self.done {
                return None;
            }
            self.done = !self.step();
        }
    }
}

/// Reads up to and including the next `"\n"` into `buf`, keeping at most `cap` bytes.
/// Returns the bytes consumed from the reader (0 at the end) and whether any were
/// dropped, so a runaway line costs time but not memory.
fn read_capped_line<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<(usize, bool)> {
    buf.clear();
    let mut consumed = 0;
    let mut truncated = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((consumed, truncated));
        }
        let (chunk, found) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = cap.saturating_sub(buf.len());
        if chunk.len() > room {
            truncated = true;
        }
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let n = chunk.len();
        reader.consume(n);
        consumed += n;
        if found {
            return Ok((consumed, truncated));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::json_file::encode_line;
    use proptest::prelude::*;
    use skein_model::{Level, Timestamp};
    use std::io::{BufReader, Cursor, Read};

    const ID: &str = "9d4b1e7a2c3f5068a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718";

    fn ts(n: u32) -> Timestamp {
        Timestamp::parse_rfc3339(&format!("2026-11-20T10:00:00.{n:09}Z")).unwrap()
    }

    fn meta() -> SourceMeta {
        SourceMeta::from_container_id("node-1", ID)
    }

    /// A json-file being written, remembering where each entry starts.
    #[derive(Default)]
    struct File {
        bytes: String,
        starts: Vec<u64>,
    }

    impl File {
        fn entry(&mut self, log: &str, stream: Stream, n: u32) -> &mut Self {
            self.raw(&encode_line(log, stream, ts(n)))
        }
        fn raw(&mut self, line: &str) -> &mut Self {
            self.starts.push(self.bytes.len() as u64);
            self.bytes.push_str(line);
            self
        }
        fn read(&self, options: JsonFileOptions) -> Vec<Record> {
            records_from_json_file(Cursor::new(self.bytes.as_bytes()), &meta(), options).collect()
        }
    }

    #[test]
    fn reads_a_mixed_log() {
        let blob = "x".repeat(40_000);
        let long = format!(r#"{{"level":"info","msg":"dump","blob":"{blob}"}}"#);
        let mut f = File::default();
        f.entry("{\"level\":\"warn\",\"msg\":\"slow query\",\"took_ms\":1830}\n", Stream::Stdout, 1)
            .entry(&long[..16_384], Stream::Stdout, 2)
            .entry("2026-11-20 10:00:00.003 ERROR [cart] reservation failed\n", Stream::Stderr, 3)
            .entry(&long[16_384..32_768], Stream::Stdout, 4)
            .raw("\n")
            .raw("{\"log\":\"torn wri\n")
            .entry(&format!("{}\n", &long[32_768..]), Stream::Stdout, 5)
            .entry("10.42.7.19 - - [20/Nov/2026:10:00:00 +0000] \"GET /api/v1/cart HTTP/1.1\" 200 5123 \"-\" \"curl/8.4.0\"\n", Stream::Stdout, 6);
        let mut reader = records_from_json_file(
            Cursor::new(f.bytes.as_bytes()),
            &meta(),
            JsonFileOptions::default(),
        );
        let records: Vec<Record> = reader.by_ref().collect();
        assert_eq!(reader.malformed_lines(), 1);
        assert_eq!(reader.offset(), f.bytes.len() as u64);
        assert!(reader.io_error().is_none());

        let summary: Vec<_> = records
            .iter()
            .map(|r| {
                (
                    r.stream.as_str(),
                    r.level,
                    r.seq,
                    r.message.chars().take(24).collect::<String>(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "stdout",
                    Some(Level::Warn),
                    Some(f.starts[0]),
                    "slow query".to_string()
                ),
                (
                    "stderr",
                    Some(Level::Error),
                    Some(f.starts[2]),
                    "2026-11-20 10:00:00.003 ".to_string()
                ),
                (
                    "",
                    None,
                    Some(f.starts[5]),
                    "{\"log\":\"torn wri".to_string()
                ),
                (
                    "stdout",
                    Some(Level::Info),
                    Some(f.starts[1]),
                    "dump".to_string()
                ),
                (
                    "stdout",
                    None,
                    Some(f.starts[7]),
                    "10.42.7.19 - - [20/Nov/2".to_string()
                ),
            ]
        );
        let merged = &records[3];
        assert_eq!(merged.fields["blob"], blob.as_str());
        assert_eq!(merged.timestamp, ts(2));
        assert_eq!(
            merged.source_id.as_deref(),
            Some(format!("node-1/{}/stdout", &ID[..12]).as_str())
        );
        assert_eq!(merged.container, &ID[..12]);
        assert_eq!(
            records[1].source_id.as_deref(),
            Some(format!("node-1/{}/stderr", &ID[..12]).as_str())
        );
        let torn = &records[2];
        assert_eq!(torn.timestamp, ts(4));
        assert!(torn.fields[DECODE_ERROR_FIELD]
            .as_str()
            .unwrap()
            .contains("not a json-file"));
    }

    #[test]
    fn multiline_start_offset_attrs_and_caps() {
        let mut f = File::default();
        f.entry("2026-11-20 10:00:00.123 ERROR 1 --- [exec-3] c.e.PaymentService : charge failed\n", Stream::Stderr, 1)
            .entry("java.util.concurrent.TimeoutException: gateway\n", Stream::Stderr, 2)
            .entry("2026-11-20 10:00:00.124 INFO 1 --- [exec-4] c.e.Cart : ok\n", Stream::Stdout, 3)
            .entry("\tat com.shop.GatewayClient.charge(GatewayClient.java:212)\n", Stream::Stderr, 4)
            .raw("{\"log\":\"2026-11-20 10:00:01.000 INFO 1 --- [main] c.e.App : up\\n\",\"stream\":\"stderr\",\"attrs\":{\"tag\":\"shop/web\"},\"time\":\"2026-11-20T10:00:01Z\"}\n");
        let options = JsonFileOptions {
            start_offset: 1_000_000,
            multiline: Some(MultilineConfig::new(r"^\d{4}-\d{2}-\d{2}").unwrap()),
            ..JsonFileOptions::default()
        };
        let records = f.read(options);
        let got: Vec<_> = records
            .iter()
            .map(|r| (r.stream.as_str(), r.seq.unwrap(), r.message.lines().count()))
            .collect();
        assert_eq!(
            got,
            [
                ("stderr", 1_000_000 + f.starts[0], 3),
                // Events still open at the end come out oldest first.
                ("stdout", 1_000_000 + f.starts[2], 1),
                ("stderr", 1_000_000 + f.starts[4], 1),
            ]
        );
        assert_eq!(records[0].level, Some(Level::Error));
        assert!(records[0].message.ends_with("(GatewayClient.java:212)"));
        assert_eq!(records[2].labels["tag"], "shop/web");

        // A runaway line is kept (cut) as a malformed record rather than held in memory.
        let mut f = File::default();
        f.entry(&format!("{}\n", "y".repeat(5000)), Stream::Stdout, 1)
            .entry("next\n", Stream::Stdout, 2);
        let records = f.read(JsonFileOptions {
            max_entry_bytes: 1000,
            ..JsonFileOptions::default()
        });
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].message.len(), 1000);
        assert!(records[0].fields[DECODE_ERROR_FIELD]
            .as_str()
            .unwrap()
            .contains("longer than 1000"));
        assert_eq!(
            (records[1].message.as_str(), records[1].seq),
            ("next", Some(f.starts[1]))
        );
    }

    #[test]
    fn an_unfinished_line_at_the_end_is_kept() {
        let mut f = File::default();
        f.entry("half a li", Stream::Stdout, 1)
            .entry("ne", Stream::Stdout, 2);
        let records = f.read(JsonFileOptions::default());
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].message, "half a line");
    }

    struct FailAfter<'a>(&'a [u8]);

    impl Read for FailAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("disk on fire"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn io_errors_end_the_iteration() {
        let line = encode_line("ok\n", Stream::Stdout, ts(1));
        let mut reader = records_from_json_file(
            BufReader::new(FailAfter(line.as_bytes())),
            &meta(),
            JsonFileOptions::default(),
        );
        assert_eq!(reader.next().map(|r| r.message), Some("ok".to_string()));
        assert!(reader.next().is_none());
        assert_eq!(reader.io_error().unwrap().to_string(), "disk on fire");
    }

    proptest! {
        /// Whatever mix of streams and splits, each stream's records come out in order
        /// with strictly increasing `_seq` and carry exactly the lines written; with a
        /// small cap, each line is still one record: its first bytes, marked with its
        /// length when it was longer.
        #[test]
        fn seq_increases_within_each_source(
            entries in proptest::collection::vec((any::<bool>(), "[a-z ]{0,12}", any::<bool>()), 0..60),
            cap in 1usize..64,
        ) {
            let mut f = File::default();
            let mut lines: [Vec<String>; 2] = Default::default();
            let mut open: [Option<String>; 2] = Default::default();
            for (i, (stderr, text, complete)) in entries.iter().enumerate() {
                let stream = if *stderr { Stream::Stderr } else { Stream::Stdout };
                let log = if *complete { format!("{text}\n") } else { text.clone() };
                f.entry(&log, stream, i as u32);
                let line = open[stream.index()].get_or_insert_with(String::new);
                line.push_str(text);
                if *complete {
                    lines[stream.index()].extend(open[stream.index()].take());
                }
            }
            for stream in Stream::ALL {
                lines[stream.index()].extend(open[stream.index()].take());
            }
            let capped = JsonFileOptions { max_line_bytes: cap, ..JsonFileOptions::default() };
            for (options, exact) in [(JsonFileOptions::default(), true), (capped, false)] {
                let records = f.read(options);
                for stream in Stream::ALL {
                    let mine: Vec<&Record> = records.iter().filter(|r| r.stream == stream.as_str()).collect();
                    prop_assert!(mine.windows(2).all(|w| w[0].seq < w[1].seq));
                    let source = meta().source_id(stream.as_str());
                    prop_assert!(mine.iter().all(|r| r.source_id.as_deref() == Some(source.as_str())));
                    let got: Vec<&str> = mine.iter().map(|r| r.message.as_str()).collect();
                    let want = &lines[stream.index()];
                    if exact {
                        prop_assert_eq!(&got, want);
                        continue;
                    }
                    let cut: Vec<&str> = want.iter().map(|l| &l[..l.len().min(cap)]).collect();
                    prop_assert_eq!(&got, &cut);
                    for (r, line) in mine.iter().zip(want) {
                        let marked = r.fields.get(crate::decode::TRUNCATED_FIELD);
                        let want = (line.len() > cap).then(|| serde_json::json!(line.len()));
                        prop_assert_eq!(marked, want.as_ref());
                    }
                }
            }
        }
    }
}
