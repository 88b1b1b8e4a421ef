//! Reading one [`ImportSet`] into compressed ingest batches, with the agent's own
//! stages: the collector's [`SourceDecoder`] (framing, split lines, multiline, payloads)
//! and [`RecordEncoder`] (the compact batch form, with `_source_id` and `_seq`).
//!
//! Positions are the agent's: byte offsets counted from 0 at the set's oldest file and
//! running on across its files, and the decoder is flushed at the end of each file as
//! the agent's tail does when a file ends. So a record gets the `_source_id` and `_seq`
//! the agent gives it when it reads the same files.
//!
//! What the agent does not do: lines of plain files (and JSON lines without a time key)
//! are timed by the time at their start ([`LineTimes`]); a line without one takes the
//! time of the line before it, and lines before any timed line the import's own time.
//! NDJSON lines that are skein records are sent as they are.

use super::inputs::{ImportSet, Kind};
use super::time::{LineTimes, Zone};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use skein_collector::decode::{Event, SourceDecoder};
use skein_collector::encode::{BatchWriter, RecordEncoder};
use skein_collector::parse::multiline::MultilineConfig;
use skein_collector::parse::payload::PayloadConfig;
use skein_model::{Record, Timestamp};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// How sets are read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Uncompressed NDJSON bytes at which a batch is cut.
    pub batch_bytes: usize,
    /// Multiline grouping of plain lines (and container lines).
    pub multiline: Option<MultilineConfig>,
    /// `--time-format`.
    pub time_format: Option<String>,
    /// `--year`.
    pub year: Option<i32>,
    /// `--timezone`.
    pub zone: Zone,
    /// When the import started: the time of lines with none of their own.
    pub started: DateTime<Utc>,
    /// Longest on-disk line handed to the decoder as one piece (the agent's tail cap).
    pub max_line_bytes: usize,
    /// `--host`, when given: also replaces the host of NDJSON skein records.
    pub host: Option<String>,
    /// `--container`, when given: also replaces the container of NDJSON skein records.
    pub container: Option<String>,
    /// `--label`s: also added to NDJSON skein records.
    pub labels: BTreeMap<String, String>,
}

/// One ingest request's worth of a set.
#[derive(Debug)]
pub struct Batch {
    /// zstd-compressed NDJSON.
    pub body: Vec<u8>,
    /// Records in it.
    pub records: u64,
    /// Input bytes read since the set's previous batch.
    pub bytes: u64,
    /// Which set (index in the import's list).
    pub set: usize,
}

/// What reading a set found besides its records.
#[derive(Debug, Default, Clone)]
pub struct SetReport {
    /// Records made.
    pub records: u64,
    /// Plain records timed by a time on their line (or a JSON/logfmt time key).
    pub timed: u64,
    /// Plain records without a time, given the time of the record before them.
    pub inherited: u64,
    /// Plain records without a time and none before them: timed at the import.
    pub untimed: u64,
    /// The year given to year-less times when it was guessed.
    pub guessed_year: Option<i32>,
    /// Lines that were not valid json-file or CRI frames.
    pub malformed: u64,
    /// Bytes at the end of a live container log left unread: a line still being
    /// written.
    pub held_back: u64,
}

/// How reading a set ended.
#[derive(Debug)]
pub enum Outcome {
    /// Read to the end.
    Done(SetReport),
    /// Told to stop (Ctrl-C, or shipping failed for good).
    Stopped,
}

/// Reads `set` and hands its batches to `send`, in order; `send` answers `false` to
/// stop. Stops early when `stop` is set.
pub fn read_set(
    index: usize,
    set: &ImportSet,
    options: &ReadOptions,
    stop: &AtomicBool,
    send: &mut dyn FnMut(Batch) -> bool,
) -> Result<Outcome> {
    let mut r = SetReader::new(index, set, options);
    let mut piece = Vec::with_capacity(64 << 10);
    let mut base = 0u64;
    for (i, path) in set.files.iter().enumerate() {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            // Rotated away (deleted) since it was listed: nothing left to read of it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        // A container's live log written to lately may be in the middle of a line: its
        // unfinished end is left for the agent (or a later import), which sends it
        // whole, rather than sent cut at the position the whole line will have.
        let live = i + 1 == set.files.len()
            && matches!(set.kind, Kind::JsonFile | Kind::Cri)
            && written_within(&file, LIVE_WITHIN);
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut offset = 0u64;
        let mut torn = 0u64;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(Outcome::Stopped);
            }
            let n = read_piece(&mut reader, &mut piece, options.max_line_bytes)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            if live && n < options.max_line_bytes && !piece.ends_with(b"\n") {
                // A torn write at the end.
                torn = n as u64;
            } else {
                r.line(&piece, base + offset);
            }
            offset += n as u64;
            r.consumed += n as u64;
            if r.batch.len() >= options.batch_bytes && !r.cut(send) {
                return Ok(Outcome::Stopped);
            }
        }
        r.report.held_back += torn;
        if live && options.multiline.is_none() {
            if let Some(at) = r.decoder.pending_offset() {
                // Split pieces of a line not finished yet.
                r.report.held_back += base + offset - torn - at;
                break;
            }
        }
        // The agent's tail ends a file here: split lines and multiline events held
        // back are emitted, never joined with the next file's lines.
        r.end_of_file();
        base += offset;
    }
    if !r.cut(send) {
        return Ok(Outcome::Stopped);
    }
    r.report.guessed_year = r.times.guessed_year();
    r.report.malformed = r.decoder.malformed_lines();
    Ok(Outcome::Done(r.report))
}

/// How recently a container's live log must have been written to for its unfinished
/// last line to be left alone.
const LIVE_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

fn written_within(file: &std::fs::File, within: std::time::Duration) -> bool {
    file.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < within)
}

struct SetReader<'a> {
    index: usize,
    set: &'a ImportSet,
    options: &'a ReadOptions,
    decoder: SourceDecoder,
    encoder: RecordEncoder,
    attrs_generation: u64,
    times: LineTimes,
    /// The time of the last plain record, for the records after it without one.
    last_time: Option<Timestamp>,
    events: Vec<Event>,
    batch: BatchWriter,
    records: u64,
    consumed: u64,
    now: Instant,
    report: SetReport,
    stdout_source: String,
}

impl<'a> SetReader<'a> {
    fn new(index: usize, set: &'a ImportSet, options: &'a ReadOptions) -> SetReader<'a> {
        let payload = PayloadConfig {
            // As the agent reads plain files: a JSON or logfmt time key is the time.
            time_from_payload: matches!(set.kind, Kind::Plain | Kind::Ndjson),
        };
        SetReader {
            index,
            set,
            options,
            decoder: SourceDecoder::new(
                set.kind.format(),
                payload,
                options.multiline.clone(),
                // The agent's cap on one record's line (its default `--max-line-bytes`),
                // not the size of the pieces read: a longer line is one record marked
                // `fields.skein_truncated_from_bytes`, as the agent makes it.
                options
                    .max_line_bytes
                    .min(skein_collector::parse::partial::DEFAULT_MAX_LINE_BYTES),
            ),
            encoder: RecordEncoder::new(&set.meta, None),
            attrs_generation: 0,
            times: LineTimes::new(
                options.time_format.as_deref(),
                options.year,
                options.zone,
                options.started,
            ),
            last_time: None,
            events: Vec::new(),
            batch: BatchWriter::with_capacity(options.batch_bytes + (256 << 10)),
            records: 0,
            consumed: 0,
            now: Instant::now(),
            report: SetReport::default(),
            stdout_source: set.meta.source_id("stdout"),
        }
    }

    fn line(&mut self, line: &[u8], position: u64) {
        if self.set.kind == Kind::Ndjson {
            if let Some(record) = skein_record(line) {
                // Whatever the decoder holds is older: out first, so `_seq`s stay in order.
                self.decoder.flush(&mut self.events);
                self.emit();
                self.pass_through(record, position);
                return;
            }
        }
        self.decoder
            .push_line(line, position, self.now, &mut self.events);
        self.emit();
    }

    fn end_of_file(&mut self) {
        self.decoder.flush(&mut self.events);
        self.emit();
    }

    fn emit(&mut self) {
        if self.events.is_empty() {
            return;
        }
        if self.decoder.attrs_generation() != self.attrs_generation {
            self.attrs_generation = self.decoder.attrs_generation();
            self.encoder = RecordEncoder::new(&self.set.meta, self.decoder.attrs());
        }
        let timed_by_line = matches!(self.set.kind, Kind::Plain | Kind::Ndjson);
        for mut event in std::mem::take(&mut self.events) {
            if timed_by_line {
                self.time_plain(&mut event);
            }
            self.encoder.encode(&event, 0, &mut self.batch);
            self.records += 1;
            self.report.records += 1;
        }
    }

    /// A plain event's time: its payload's, else the one at its start, else the one
    /// of the record before it, else the import's.
    fn time_plain(&mut self, event: &mut Event) {
        let time = match event.payload.time {
            Some(t) => {
                self.report.timed += 1;
                t
            }
            None => match self.times.parse(&event.payload.message) {
                Some(found) => {
                    self.report.timed += 1;
                    found.time
                }
                None => match self.last_time {
                    Some(t) => {
                        self.report.inherited += 1;
                        t
                    }
                    None => {
                        self.report.untimed += 1;
                        Timestamp::from_datetime(&self.options.started).unwrap_or(event.time)
                    }
                },
            },
        };
        event.payload.time = Some(time);
        self.last_time = Some(time);
    }

    /// A skein record from an NDJSON file: sent as it is, with the flags' naming, and
    /// the file's own delivery identity when it carries none.
    fn pass_through(&mut self, mut record: Record, position: u64) {
        let o = self.options;
        if let Some(h) = &o.host {
            record.host = h.clone();
        } else if record.host.is_empty() {
            record.host = self.set.meta.host.clone();
        }
        if let Some(c) = &o.container {
            record.container = c.clone();
        } else if record.container.is_empty() {
            record.container = self.set.meta.container_name().to_string();
        }
        for (k, v) in &o.labels {
            record.labels.insert(k.clone(), v.clone());
        }
        if record.source_id.is_none() {
            record.source_id = Some(self.stdout_source.clone());
            record.seq = Some(position);
        }
        self.batch.push_record_line(record.to_json().as_bytes());
        self.records += 1;
        self.report.records += 1;
        self.report.timed += 1;
        self.last_time = Some(record.timestamp);
    }

    /// Sends what is gathered (also an empty batch: it carries the bytes read, for
    /// the progress). `false` when told to stop.
    fn cut(&mut self, send: &mut dyn FnMut(Batch) -> bool) -> bool {
        if self.records == 0 && self.consumed == 0 {
            return true;
        }
        let body = if self.records == 0 {
            Vec::new()
        } else {
            zstd::bulk::compress(&self.batch.bytes, 1).expect("zstd compresses into memory")
        };
        let batch = Batch {
            body,
            records: self.records,
            bytes: self.consumed,
            set: self.index,
        };
        self.batch.clear();
        self.records = 0;
        self.consumed = 0;
        send(batch)
    }
}

/// `line` as a skein record, when it is one (an object with `@timestamp` and only the
/// record's keys).
fn skein_record(line: &[u8]) -> Option<Record> {
    let t = line.trim_ascii();
    if !t.starts_with(b"{") || memchr_find(t, b"\"@timestamp\"").is_none() {
        return None;
    }
    Record::from_json(t).ok()
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads up to and including the next `"\n"` into `buf`, at most `cap` bytes: a longer
/// line comes in pieces of `cap` bytes, as the agent's tail cuts it. Returns the bytes
/// read (0 at the end).
fn read_piece<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>, cap: usize) -> io::Result<usize> {
    buf.clear();
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(buf.len());
        }
        let room = cap - buf.len();
        let (take, found) = match available.iter().position(|b| *b == b'\n') {
            Some(i) if i < room => (i + 1, true),
            _ => (available.len().min(room), false),
        };
        buf.extend_from_slice(&available[..take]);
        reader.consume(take);
        if found || buf.len() >= cap {
            return Ok(buf.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::inputs::{collect, Naming};
    use skein_collector::parse::json_file::encode_line;
    use skein_collector::parse::Stream;
    use std::io::Cursor;

    const ID: &str = "9d4b1e7a2c3f5068a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718";

    fn options() -> ReadOptions {
        ReadOptions {
            batch_bytes: 300,
            multiline: None,
            time_format: None,
            year: Some(2015),
            zone: Zone::parse("UTC").unwrap(),
            started: "2026-11-25T12:00:00Z".parse().unwrap(),
            max_line_bytes: 1 << 20,
            host: None,
            container: None,
            labels: BTreeMap::new(),
        }
    }

    fn read_all(set: &ImportSet, options: &ReadOptions) -> (Vec<Record>, SetReport, u64) {
        let mut records = Vec::new();
        let mut bytes = 0;
        let stop = AtomicBool::new(false);
        let outcome = read_set(0, set, options, &stop, &mut |b: Batch| {
            bytes += b.bytes;
            if b.records > 0 {
                let body = zstd::bulk::decompress(&b.body, 64 << 20).unwrap();
                let decoded = skein_model::compact::decode(&body).decoded;
                assert!(decoded.rejected.is_empty(), "{:?}", decoded.rejected);
                records.extend(decoded.records);
            }
            true
        })
        .unwrap();
        let Outcome::Done(report) = outcome else {
            panic!("stopped")
        };
        (records, report, bytes)
    }

    /// Where each line of `text` starts.
    fn starts(text: &str) -> Vec<u64> {
        let mut at = vec![0];
        for (i, c) in text.bytes().enumerate() {
            if c == b'\n' && i + 1 < text.len() {
                at.push(i as u64 + 1);
            }
        }
        at
    }

    fn naming() -> Naming {
        Naming {
            host: "node-1".into(),
            container: None,
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn a_rotated_json_file_set_reads_as_one_source_with_the_agents_positions() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join(format!("{ID}-json.log"));
        let t = |n: i64| Timestamp(1_763_632_800_000_000_000 + n);
        // A split line across a rotation is not joined (the agent's tail ends the file).
        let files = [
            (
                ".2",
                vec![
                    encode_line("one\n", Stream::Stdout, t(1)),
                    encode_line("err\n", Stream::Stderr, t(2)),
                ],
            ),
            (
                ".1",
                vec![
                    encode_line("two\n", Stream::Stdout, t(3)),
                    encode_line("split ", Stream::Stdout, t(4)),
                ],
            ),
            ("", vec![encode_line("end\n", Stream::Stdout, t(5))]),
        ];
        let mut whole = String::new();
        for (suffix, lines) in files.iter() {
            let text = lines.concat();
            whole.push_str(&text);
            std::fs::write(format!("{}{suffix}", live.display()), text).unwrap();
        }
        let found = collect(std::slice::from_ref(&live), None, &naming()).unwrap();
        let (records, report, bytes) = read_all(&found.sets[0], &options());
        assert_eq!(bytes, whole.len() as u64);
        assert_eq!(report.records, 5);
        assert!(records.iter().any(|r| r.message == "split "));

        // The agent's own source, following the same live path from scratch, sends
        // exactly these records: same `_source_id`s and `_seq`s, same everything.
        let spec = skein_collector::discover::paths::spec_for(&live, "node-1");
        let mut source = skein_collector::source::Source::open(
            spec,
            None,
            &skein_collector::source::ReadOptions {
                max_line_bytes: 1 << 20,
                payload: PayloadConfig::default(),
                multiline: None,
                redact: None,
            },
        )
        .unwrap();
        let mut scratch = skein_collector::source::Scratch::default();
        let mut out = BatchWriter::default();
        for _ in 0..10 {
            source
                .pump(1 << 20, Instant::now(), &mut scratch, &mut out)
                .unwrap();
        }
        let agent: Vec<Record> = skein_model::compact::decode(&out.bytes).decoded.records;
        assert_eq!(agent.len(), 5);
        assert_eq!(records, agent);
        let seqs: Vec<(String, u64)> = records
            .iter()
            .map(|r| (r.stream.clone(), r.seq.unwrap()))
            .collect();
        let starts: Vec<u64> = files
            .iter()
            .flat_map(|(_, lines)| lines.iter().map(|l| l.len() as u64))
            .scan(0, |at, len| {
                let s = *at;
                *at += len;
                Some(s)
            })
            .collect();
        assert_eq!(
            seqs,
            [
                ("stdout".to_string(), starts[0]),
                ("stderr".to_string(), starts[1]),
                ("stdout".to_string(), starts[2]),
                ("stdout".to_string(), starts[3]),
                ("stdout".to_string(), starts[4]),
            ]
        );
    }

    #[test]
    fn plain_lines_are_timed_by_their_text_and_ndjson_records_pass() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("sshd.log");
        let text = "no time yet\nDec 10 06:55:46 LabSZ sshd[24200]: Invalid user\n\tcontinued\n{\"msg\":\"json\",\"ts\":\"2016-01-01T00:00:00Z\"}\nDec 10 07:00:00 last without newline";
        std::fs::write(&plain, text).unwrap();
        let found = collect(std::slice::from_ref(&plain), None, &naming()).unwrap();
        let (records, report, _) = read_all(&found.sets[0], &options());
        let times: Vec<String> = records.iter().map(|r| r.timestamp.to_string()).collect();
        assert_eq!(
            times,
            [
                "2026-11-25T12:00:00.000000000Z",
                "2015-12-10T06:55:46.000000000Z",
                "2015-12-10T06:55:46.000000000Z",
                "2016-01-01T00:00:00.000000000Z",
                "2015-12-10T07:00:00.000000000Z",
            ]
        );
        assert_eq!((report.timed, report.inherited, report.untimed), (3, 1, 1));
        let seqs: Vec<u64> = records.iter().map(|r| r.seq.unwrap()).collect();
        assert_eq!(seqs, starts(text));
        assert_eq!(
            records[0].source_id.as_deref().unwrap(),
            format!("node-1/{}/stdout", plain.display())
        );

        let nd = dir.path().join("recs.ndjson");
        let text = "{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"message\":\"as sent\",\"host\":\"h\",\"_source_id\":\"h/x/stdout\",\"_seq\":7}\n{\"@timestamp\":\"2026-11-20T10:00:01Z\",\"message\":\"no identity\"}\n{\"level\":\"warn\",\"msg\":\"app line\",\"time\":\"2026-11-20T10:00:02Z\"}\n";
        std::fs::write(&nd, text).unwrap();
        let at = starts(text);
        let found = collect(std::slice::from_ref(&nd), None, &naming()).unwrap();
        assert_eq!(found.sets[0].kind, Kind::Ndjson);
        let (records, _, _) = read_all(&found.sets[0], &options());
        let got: Vec<_> = records
            .iter()
            .map(|r| {
                (
                    r.host.as_str(),
                    r.message.as_str(),
                    r.source_id.clone().unwrap(),
                    r.seq.unwrap(),
                )
            })
            .collect();
        let own = format!("node-1/{}/stdout", nd.display());
        assert_eq!(
            got,
            [
                ("h", "as sent", "h/x/stdout".to_string(), 7),
                ("node-1", "no identity", own.clone(), at[1]),
                ("node-1", "app line", own, at[2]),
            ]
        );
        assert_eq!(
            records[2].timestamp.to_string(),
            "2026-11-20T10:00:02.000000000Z"
        );
    }

    #[test]
    fn the_unfinished_end_of_a_live_container_log_is_left_for_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join(format!("{ID}-json.log"));
        let t = Timestamp(1_763_632_800_000_000_000);
        let done = encode_line("done\n", Stream::Stdout, t);
        let piece = encode_line("half a ", Stream::Stdout, t);
        let torn = "{\"log\":\"tor";
        std::fs::write(&live, format!("{done}{piece}{torn}")).unwrap();
        let found = collect(std::slice::from_ref(&live), None, &naming()).unwrap();
        let (records, report, bytes) = read_all(&found.sets[0], &options());
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].message, "done");
        assert_eq!(report.held_back, (piece.len() + torn.len()) as u64);
        assert_eq!(bytes, (done.len() + piece.len() + torn.len()) as u64);
        // Once the file is old, it is read to its end like any finished file.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&live)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let (records, report, _) = read_all(&found.sets[0], &options());
        assert_eq!(records.len(), 3);
        assert_eq!(report.held_back, 0);
    }

    #[test]
    fn long_lines_come_in_pieces() {
        let mut r = Cursor::new(b"abcdefgh\nij".to_vec());
        let mut buf = Vec::new();
        let mut pieces = Vec::new();
        while read_piece(&mut r, &mut buf, 3).unwrap() > 0 {
            pieces.push(String::from_utf8(buf.clone()).unwrap());
        }
        assert_eq!(pieces, ["abc", "def", "gh\n", "ij"]);
    }
}
