//! One source's bytes to events: the parsing stages composed for a stream of lines, in
//! the order the tailer and the whole-file reader both need.
//!
//! A [`SourceDecoder`] takes one on-disk line at a time with its position, undoes the
//! runtime's framing ([`Format`]), joins split lines and (optionally) multiline events,
//! and parses payloads into [`Event`]s. It has no clock of its own: multiline events
//! wait for [`SourceDecoder::flush_expired`], which the caller drives.
//!
//! # Lines over the cap
//!
//! A line longer than the decoder's `max_line_bytes` becomes ONE event holding its first
//! `max_line_bytes` bytes, marked with its original length in [`TRUNCATED_FIELD`], never
//! several. That holds for lines a runtime split into pieces (json-file
//! partials, CRI `P` entries) and for on-disk lines the caller hands over in pieces (the
//! tail cuts lines past its own cap): a piece without its `"\n"` is continued by the
//! next one, until a piece with one or [`SourceDecoder::flush`]. An on-disk json-file or
//! CRI entry too long to keep cannot be decoded, so it is kept as a malformed line, cut
//! and marked the same way.

use crate::parse::cri;
use crate::parse::json_file::JsonFileDecoder;
use crate::parse::multiline::{MultilineConfig, MultilineMerger};
use crate::parse::partial::{self, PartialMerger};
use crate::parse::payload::{self, Payload, PayloadConfig};
use crate::parse::{LogicalLine, Stream};
use skein_model::Timestamp;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// The field a malformed line's record carries the decoding error in.
pub const DECODE_ERROR_FIELD: &str = "skein_decode_error";

/// The field that marks the record of a line cut at the line cap, holding the line's
/// original length in bytes (its text, without the newline); the message holds its
/// first bytes. Found with `skein_truncated_from_bytes:*` (a number, so also
/// `skein_truncated_from_bytes:>10000000`).
pub const TRUNCATED_FIELD: &str = "skein_truncated_from_bytes";

/// How a file frames its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Docker's json-file driver: one JSON object per line.
    JsonFile,
    /// containerd / CRI-O: `TIME STREAM P|F TEXT`.
    Cri,
    /// Anything else: every line is a stdout line, timed when read unless the payload
    /// carries a time.
    Plain,
}

impl Format {
    /// How people call the format, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::JsonFile => "json-file",
            Format::Cri => "CRI",
            Format::Plain => "plain",
        }
    }

    /// The format the design assigns a path: `*-json.log` (and rotated `.N`) is
    /// json-file, anything under `/var/log/containers/` or `/var/log/pods/` is CRI, and
    /// so is a file named as the kubelet names container logs wherever it lives
    /// ([`PodLog::is_pod_log_name`](crate::kubernetes::PodLog::is_pod_log_name)); the
    /// rest is plain lines.
    pub fn for_path(path: &Path) -> Format {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let json_file = name.split_once("-json.log").is_some_and(|(_, rest)| {
            rest.is_empty()
                || rest
                    .strip_prefix('.')
                    .is_some_and(|n| n.bytes().all(|c| c.is_ascii_digit()))
        });
        if json_file {
            Format::JsonFile
        } else if path.starts_with("/var/log/containers")
            || path.starts_with("/var/log/pods")
            || crate::kubernetes::PodLog::is_pod_log_name(path)
        {
            Format::Cri
        } else {
            Format::Plain
        }
    }
}

/// One finished event of a source.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The stream, or `None` for a line that was not a valid frame of its format (its
    /// raw text is the message and [`DECODE_ERROR_FIELD`] says why).
    pub stream: Option<Stream>,
    /// When the runtime wrote the first piece (the payload's own time may override it
    /// when it is built into a record).
    pub time: Timestamp,
    /// The parsed text.
    pub payload: Payload,
    /// Position of the event's first on-disk line. Within one stream events come out
    /// with strictly increasing offsets (the record's `_seq`); malformed lines come out
    /// in order among themselves.
    pub offset: u64,
    /// Position of the event's last on-disk line (see [`SourceDecoder::skip_through`]).
    pub last_offset: u64,
}

impl Event {
    /// Which delivery slot the event belongs to: 0 stdout, 1 stderr, 2 malformed lines.
    pub fn slot(&self) -> usize {
        self.stream.map_or(2, Stream::index)
    }
}

/// Turns one source's lines into events (see the module docs).
#[derive(Debug)]
pub struct SourceDecoder {
    format: Format,
    payload: PayloadConfig,
    json: JsonFileDecoder,
    partial: PartialMerger,
    multiline: Option<MultilineMerger>,
    attrs: Option<BTreeMap<String, String>>,
    attrs_generation: u64,
    last_time: Option<Timestamp>,
    lines: Vec<LogicalLine>,
    malformed: u64,
    skip: [Option<u64>; 3],
    max_line: usize,
    /// A json-file or CRI entry handed over in pieces, being gathered.
    long: Option<LongEntry>,
    /// Whether whole lines skip the mergers (see [`Self::whole_line_passes`]); off only
    /// in tests, to check that skipping them changes nothing.
    direct: bool,
}

/// The pieces of one on-disk json-file or CRI entry so far: its first bytes up to the
/// cap, and its length (both without the entry's `"\n"`).
#[derive(Debug)]
struct LongEntry {
    head: Vec<u8>,
    offset: u64,
    len: u64,
}

impl SourceDecoder {
    /// A decoder for `format`; split lines are cut at `max_line_bytes`.
    pub fn new(
        format: Format,
        payload: PayloadConfig,
        multiline: Option<MultilineConfig>,
        max_line_bytes: usize,
    ) -> SourceDecoder {
        SourceDecoder {
            format,
            payload,
            json: JsonFileDecoder::new(),
            partial: PartialMerger::new(max_line_bytes),
            multiline: multiline.map(MultilineMerger::new),
            attrs: None,
            attrs_generation: 0,
            last_time: None,
            lines: Vec::new(),
            malformed: 0,
            skip: [None; 3],
            max_line: max_line_bytes.max(1),
            long: None,
            direct: true,
        }
    }

    /// After a restart that re-reads from before what was shipped: drops each slot's
    /// on-disk lines at or below its mark (the `last_offset` of the last event shipped
    /// on that slot) before they reach the mergers, so no piece is joined into a second
    /// record.
    pub fn skip_through(&mut self, marks: [Option<u64>; 3]) {
        self.skip = marks;
    }

    fn skipped(&self, slot: usize, offset: u64) -> bool {
        self.skip[slot].is_some_and(|m| offset <= m)
    }

    /// The format being decoded.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Decodes one on-disk line that starts at `offset`, seen at `now`; finished events
    /// are appended to `out`. A line without its `"\n"` is the first piece of a line the
    /// next calls continue (see the module docs). An empty line is skipped.
    pub fn push_line(&mut self, line: &[u8], offset: u64, now: Instant, out: &mut Vec<Event>) {
        let complete = line.last() == Some(&b'\n');
        if self.format == Format::Plain {
            self.push_plain(line, complete, offset);
            self.emit_lines(now, out);
            return;
        }
        if self.long.is_some() || !complete {
            self.push_piece(line, complete, offset, now, out);
            return;
        }
        self.push_entry(line, offset, now, out);
    }

    /// A plain line or piece of one: through the partial merger, so that a line handed
    /// over in pieces is joined, and one over the cap is cut, like a runtime's split
    /// lines.
    fn push_plain(&mut self, line: &[u8], complete: bool, offset: u64) {
        let stdout = Stream::Stdout;
        let continued = self.partial.is_pending(stdout);
        if complete && !continued && line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if self.skipped(stdout.index(), offset) {
            return;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let before = self.lines.len();
        self.partial.push(
            stdout,
            Timestamp::now(),
            text,
            complete,
            offset,
            &mut self.lines,
        );
        if continued && self.lines.len() > before {
            // A blank line is skipped whole, however many pieces it came in.
            self.lines
                .retain(|l| l.dropped > 0 || !l.text.iter().all(u8::is_ascii_whitespace));
        }
    }

    /// A piece of a json-file or CRI entry handed over in pieces: gathered up to the
    /// cap, decoded when its end comes if it fits, else kept as a cut malformed line.
    fn push_piece(
        &mut self,
        piece: &[u8],
        complete: bool,
        offset: u64,
        now: Instant,
        out: &mut Vec<Event>,
    ) {
        let max = self.max_line;
        let text = piece.strip_suffix(b"\n").unwrap_or(piece);
        let long = self.long.get_or_insert_with(|| LongEntry {
            head: Vec::new(),
            offset,
            len: 0,
        });
        let dropped = long.len - long.head.len() as u64;
        let keep = partial::keep_of(text, max.saturating_sub(long.head.len()), dropped);
        long.head.extend_from_slice(&text[..keep]);
        long.len += text.len() as u64;
        if complete {
            self.finish_long(now, out);
        }
    }

    /// Decodes the entry gathered from pieces, or keeps it as a cut malformed line.
    fn finish_long(&mut self, now: Instant, out: &mut Vec<Event>) {
        let Some(long) = self.long.take() else { return };
        if long.len as usize == long.head.len() {
            if !long.head.iter().all(u8::is_ascii_whitespace) {
                self.push_entry(&long.head, long.offset, now, out);
            }
            return;
        }
        let reason = format!(
            "a {} entry of {} bytes, longer than the {}-byte line limit: its first bytes \
             are kept, undecoded",
            self.format.name(),
            long.len,
            self.max_line
        );
        let before = out.len();
        self.push_malformed(&long.head, long.offset, reason, out);
        if let Some(e) = out.get_mut(before..).and_then(|e| e.first_mut()) {
            mark_truncated(&mut e.payload, long.len);
        }
    }

    /// Decodes one complete json-file or CRI entry.
    fn push_entry(&mut self, line: &[u8], offset: u64, now: Instant, out: &mut Vec<Event>) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match self.format {
            Format::JsonFile => match self.json.decode(line) {
                Ok(mut e) => {
                    self.last_time = Some(e.time);
                    if let Some(attrs) = e.attrs.take() {
                        if self.attrs.as_ref() != Some(&attrs) {
                            self.attrs = Some(attrs);
                            self.attrs_generation += 1;
                        }
                    }
                    if self.skip[e.stream.index()].is_some_and(|m| offset <= m) {
                        return;
                    }
                    let text = e.text();
                    if e.is_complete()
                        && self.direct
                        && self.multiline.is_none()
                        && self.lines.is_empty()
                        && !self.partial.is_pending(e.stream)
                        && self.partial.fits(text.len())
                    {
                        // See `whole_line_passes` (not callable here: `e` borrows the
                        // json-file decoder).
                        out.push(Event {
                            stream: Some(e.stream),
                            time: e.time,
                            payload: payload::parse_slice(text, &self.payload),
                            offset,
                            last_offset: offset,
                        });
                        return;
                    }
                    self.partial.push(
                        e.stream,
                        e.time,
                        e.text(),
                        e.is_complete(),
                        offset,
                        &mut self.lines,
                    );
                }
                Err(e) => self.push_malformed(line, offset, e.to_string(), out),
            },
            Format::Cri => match cri::parse_line(line) {
                Ok(e) => {
                    self.last_time = Some(e.time);
                    if self.skipped(e.stream.index(), offset) {
                        return;
                    }
                    if e.complete && self.whole_line_passes(e.stream, e.text.len()) {
                        out.push(Event {
                            stream: Some(e.stream),
                            time: e.time,
                            payload: payload::parse_slice(e.text, &self.payload),
                            offset,
                            last_offset: offset,
                        });
                        return;
                    }
                    self.partial.push(
                        e.stream,
                        e.time,
                        e.text,
                        e.complete,
                        offset,
                        &mut self.lines,
                    );
                }
                Err(e) => self.push_malformed(line, offset, e.to_string(), out),
            },
            Format::Plain => unreachable!("plain lines are pushed by push_plain"),
        }
        self.emit_lines(now, out);
    }

    /// Whether a whole line of `len` bytes on `stream` would leave the mergers at once,
    /// unchanged: then it is parsed straight from the caller's bytes (the common case),
    /// without a copy of its own in a merger.
    fn whole_line_passes(&self, stream: Stream, len: usize) -> bool {
        self.direct
            && self.multiline.is_none()
            && self.lines.is_empty()
            && !self.partial.is_pending(stream)
            && self.partial.fits(len)
    }

    /// Emits multiline events that waited their full flush time.
    pub fn flush_expired(&mut self, now: Instant, out: &mut Vec<Event>) {
        if let Some(m) = &mut self.multiline {
            m.flush_expired(now, &mut self.lines);
            self.emit_events(out);
        }
    }

    /// When [`flush_expired`](Self::flush_expired) next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.multiline
            .as_ref()
            .and_then(MultilineMerger::next_deadline)
    }

    /// Emits everything held back: the file ended, so no piece will be continued.
    pub fn flush(&mut self, out: &mut Vec<Event>) {
        self.finish_long(Instant::now(), out);
        let before = self.lines.len();
        self.partial.flush(&mut self.lines);
        if self.format == Format::Plain && self.lines.len() > before {
            // An unfinished plain line that is blank is skipped, as a finished one is.
            self.lines
                .retain(|l| l.dropped > 0 || !l.text.iter().all(u8::is_ascii_whitespace));
        }
        self.emit_lines(Instant::now(), out);
        if let Some(m) = &mut self.multiline {
            m.flush(&mut self.lines);
        }
        self.emit_events(out);
    }

    /// The offset of the oldest line not yet emitted: a checkpoint must not pass it.
    pub fn pending_offset(&self) -> Option<u64> {
        let partial = self.partial.pending_offset();
        let multiline = self.multiline.as_ref().and_then(|m| m.pending_offset());
        let long = self.long.as_ref().map(|l| l.offset);
        [partial, multiline, long].into_iter().flatten().min()
    }

    /// The json-file `attrs` of the latest entry that had them: labels and env values
    /// chosen by the container's log options, the same on every entry.
    pub fn attrs(&self) -> Option<&BTreeMap<String, String>> {
        self.attrs.as_ref()
    }

    /// Changes whenever [`attrs`](Self::attrs) does, so encoders can cache them.
    pub fn attrs_generation(&self) -> u64 {
        self.attrs_generation
    }

    /// How many lines were not valid frames.
    pub fn malformed_lines(&self) -> u64 {
        self.malformed
    }

    fn emit_lines(&mut self, now: Instant, out: &mut Vec<Event>) {
        if let Some(m) = &mut self.multiline {
            let mut finished = Vec::new();
            for line in self.lines.drain(..) {
                finished.extend(m.push(line, now));
            }
            self.lines = finished;
        }
        self.emit_events(out);
    }

    fn emit_events(&mut self, out: &mut Vec<Event>) {
        for line in self.lines.drain(..) {
            let original = (line.dropped > 0).then(|| line.text.len() as u64 + line.dropped);
            let mut payload = payload::parse(line.text, &self.payload);
            if let Some(len) = original {
                mark_truncated(&mut payload, len);
            }
            out.push(Event {
                stream: Some(line.stream),
                time: line.time,
                payload,
                offset: line.offset,
                last_offset: line.last_offset,
            });
        }
    }

    /// Emits a line the caller could not frame (too long to hold, say) as a malformed
    /// event. Such lines are shipped as plain text with the reason, never dropped: they
    /// may be the only trace of what went wrong.
    pub fn push_malformed(
        &mut self,
        line: &[u8],
        offset: u64,
        reason: String,
        out: &mut Vec<Event>,
    ) {
        if self.skipped(2, offset) {
            return;
        }
        self.malformed += 1;
        let raw = line.strip_suffix(b"\n").unwrap_or(line);
        let mut p = payload::parse(Vec::new(), &self.payload);
        p.message = String::from_utf8_lossy(raw).into_owned();
        p.fields
            .insert(DECODE_ERROR_FIELD.into(), serde_json::Value::String(reason));
        out.push(Event {
            stream: None,
            time: self.last_time.unwrap_or_else(Timestamp::now),
            payload: p,
            offset,
            last_offset: offset,
        });
    }
}

/// Marks a payload as the first bytes of a line `original` bytes long.
fn mark_truncated(payload: &mut Payload, original: u64) {
    payload.materialize();
    payload
        .fields
        .insert(TRUNCATED_FIELD.into(), serde_json::Value::from(original));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::json_file::encode_line;

    fn ts(n: u32) -> Timestamp {
        Timestamp::parse_rfc3339(&format!("2026-11-20T10:00:00.{n:09}Z")).unwrap()
    }

    #[test]
    fn formats_from_paths() {
        let id = "a".repeat(64);
        for (path, format) in [
            (
                format!("/var/lib/docker/containers/{id}/{id}-json.log"),
                Format::JsonFile,
            ),
            (format!("/d/{id}-json.log.3"), Format::JsonFile),
            (
                format!("/var/log/containers/web_shop_nginx-{id}.log"),
                Format::Cri,
            ),
            ("/var/log/pods/shop_web_1/nginx/0.log".into(), Format::Cri),
            // The kubelet's layouts are CRI wherever the log root is.
            (
                "/tmp/node/pods/shop_web-0_5c6e3d2a-9f1b-4c7e-8a2d-1b3c4d5e6f70/nginx/0.log".into(),
                Format::Cri,
            ),
            (format!("/tmp/node/web-0_shop_nginx-{id}.log"), Format::Cri),
            ("/tmp/node/nginx/0.log".into(), Format::Plain),
            ("/var/log/syslog".into(), Format::Plain),
            (format!("/d/{id}-json.log.gz"), Format::Plain),
        ] {
            assert_eq!(Format::for_path(Path::new(&path)), format, "{path}");
        }
    }

    #[test]
    fn cri_partial_lines_join_and_plain_lines_pass() {
        let mut d = SourceDecoder::new(Format::Cri, PayloadConfig::default(), None, 1 << 20);
        let mut out = Vec::new();
        let now = Instant::now();
        let a = cri::encode_line(ts(1), Stream::Stdout, false, "hello ");
        let b = cri::encode_line(ts(2), Stream::Stderr, true, "WARN disk almost full");
        let c = cri::encode_line(ts(3), Stream::Stdout, true, "world");
        d.push_line(a.as_bytes(), 0, now, &mut out);
        assert_eq!(d.pending_offset(), Some(0));
        d.push_line(b.as_bytes(), 100, now, &mut out);
        d.push_line(c.as_bytes(), 200, now, &mut out);
        d.push_line(b"not a cri line\n", 300, now, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|e| (e.stream, e.offset, e.payload.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Some(Stream::Stderr), 100, "WARN disk almost full"),
                (Some(Stream::Stdout), 0, "hello world"),
                (None, 300, "not a cri line"),
            ]
        );
        assert!(out[2].payload.fields.contains_key(DECODE_ERROR_FIELD));
        assert_eq!(out[2].time, ts(3));
        assert_eq!(d.pending_offset(), None);
        assert_eq!(d.malformed_lines(), 1);
    }

    #[test]
    fn multiline_events_wait_for_their_deadline_and_hold_the_checkpoint() {
        let ml = MultilineConfig::new(r"^\S").unwrap();
        let mut d = SourceDecoder::new(
            Format::JsonFile,
            PayloadConfig::default(),
            Some(ml),
            1 << 20,
        );
        let mut out = Vec::new();
        let t0 = Instant::now();
        for (i, text) in [
            "Exception in thread main\n",
            "\tat a.b(C.java:1)\n",
            "\tat d.e(F.java:2)\n",
        ]
        .iter()
        .enumerate()
        {
            let line = encode_line(text, Stream::Stderr, ts(i as u32));
            d.push_line(line.as_bytes(), i as u64 * 100, t0, &mut out);
        }
        assert!(out.is_empty());
        assert_eq!(d.pending_offset(), Some(0));
        let deadline = d.next_deadline().unwrap();
        d.flush_expired(deadline - std::time::Duration::from_millis(1), &mut out);
        assert!(out.is_empty());
        d.flush_expired(deadline, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].payload.message,
            "Exception in thread main\n\tat a.b(C.java:1)\n\tat d.e(F.java:2)"
        );
        assert_eq!(d.pending_offset(), None);
    }

    #[test]
    fn attrs_changes_are_counted() {
        let mut d = SourceDecoder::new(Format::JsonFile, PayloadConfig::default(), None, 1 << 20);
        let mut out = Vec::new();
        let line = "{\"log\":\"x\\n\",\"stream\":\"stdout\",\"attrs\":{\"tier\":\"web\"},\"time\":\"2026-11-20T10:00:00Z\"}\n";
        d.push_line(line.as_bytes(), 0, Instant::now(), &mut out);
        d.push_line(line.as_bytes(), 90, Instant::now(), &mut out);
        assert_eq!(d.attrs_generation(), 1);
        assert_eq!(d.attrs().unwrap()["tier"], "web");
        assert_eq!(out.len(), 2);
    }

    fn truncation(e: &Event) -> Option<u64> {
        e.payload
            .fields
            .get(TRUNCATED_FIELD)
            .map(|v| v.as_u64().unwrap())
    }

    #[test]
    fn a_plain_line_over_the_cap_in_pieces_is_one_marked_event() {
        let mut d = SourceDecoder::new(Format::Plain, PayloadConfig::default(), None, 10);
        let mut out = Vec::new();
        let now = Instant::now();
        d.push_line(b"before\n", 0, now, &mut out);
        // As the tail hands over a line it cut: pieces without their newline.
        d.push_line(b"0123456", 7, now, &mut out);
        assert_eq!(d.pending_offset(), Some(7));
        d.push_line(b"789abcdef", 14, now, &mut out);
        d.push_line(b"ghij\n", 23, now, &mut out);
        d.push_line(b"after\n", 28, now, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|e| (e.payload.message.as_str(), e.offset, truncation(e)))
            .collect();
        assert_eq!(
            got,
            [
                ("before", 0, None),
                ("0123456789", 7, Some(20)),
                ("after", 28, None),
            ]
        );
        assert_eq!(out[1].last_offset, 23);
        assert_eq!(d.pending_offset(), None);
    }

    #[test]
    fn json_file_partials_over_the_cap_are_one_marked_event() {
        let mut d = SourceDecoder::new(Format::JsonFile, PayloadConfig::default(), None, 20);
        let mut out = Vec::new();
        let now = Instant::now();
        for (i, piece) in ["{\"msg\":\"aaaaaaaa", "bbbbbbbbbbbbbbbbbbbb", "cccc\"}\n"]
            .iter()
            .enumerate()
        {
            let line = encode_line(piece, Stream::Stdout, ts(i as u32));
            d.push_line(line.as_bytes(), i as u64 * 100, now, &mut out);
        }
        d.push_line(
            encode_line("next\n", Stream::Stdout, ts(9)).as_bytes(),
            300,
            now,
            &mut out,
        );
        assert_eq!(out.len(), 2);
        // Cut JSON is no longer JSON: the message is the first bytes as they are.
        assert_eq!(out[0].payload.message, "{\"msg\":\"aaaaaaaabbbb");
        assert_eq!(truncation(&out[0]), Some(42));
        assert_eq!((out[0].offset, out[0].last_offset), (0, 200));
        assert_eq!(out[1].payload.message, "next");
        assert_eq!(truncation(&out[1]), None);
    }

    proptest::proptest! {
        /// Whole lines parsed straight from the caller's bytes come out as they would
        /// through the mergers, among partial lines, long lines and both streams.
        #[test]
        fn whole_lines_skip_the_mergers_unchanged(
            lines in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        proptest::strategy::Just("{\"level\":\"warn\",\"msg\":\"a \\\"b\\\"\",\"n\":1}".to_string()),
                        "\\PC{0,30}",
                        "[a-z ]{20,40}",
                    ],
                    proptest::bool::ANY,
                    proptest::bool::ANY,
                ),
                0..30,
            ),
            cri in proptest::bool::ANY,
        ) {
            let format = if cri { Format::Cri } else { Format::JsonFile };
            let run = |direct: bool| {
                let mut d = SourceDecoder::new(format, PayloadConfig::default(), None, 32);
                d.direct = direct;
                let mut out = Vec::new();
                let mut offset = 0;
                for (i, (text, complete, stderr)) in lines.iter().enumerate() {
                    let stream = if *stderr { Stream::Stderr } else { Stream::Stdout };
                    let line = if cri {
                        cri::encode_line(ts(i as u32), stream, *complete, text)
                    } else {
                        let text = if *complete { format!("{text}\n") } else { text.clone() };
                        encode_line(&text, stream, ts(i as u32))
                    };
                    d.push_line(line.as_bytes(), offset, Instant::now(), &mut out);
                    offset += line.len() as u64;
                }
                d.flush(&mut out);
                out
            };
            proptest::prop_assert_eq!(run(true), run(false));
        }
    }

    #[test]
    fn a_json_file_entry_in_pieces_is_decoded_or_kept_cut() {
        let now = Instant::now();
        let line = encode_line("whole\n", Stream::Stderr, ts(1));
        let (a, b) = line.as_bytes().split_at(20);
        // Within the cap: joined and decoded as if it came in one piece.
        let mut d = SourceDecoder::new(Format::JsonFile, PayloadConfig::default(), None, 1000);
        let mut out = Vec::new();
        d.push_line(a, 0, now, &mut out);
        assert!(out.is_empty());
        d.push_line(b, 20, now, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].payload.message, "whole");
        assert_eq!(out[0].stream, Some(Stream::Stderr));
        // Over it: one malformed event of its first bytes, marked with its length.
        let mut d = SourceDecoder::new(Format::JsonFile, PayloadConfig::default(), None, 10);
        let mut out = Vec::new();
        d.push_line(a, 0, now, &mut out);
        d.push_line(b, 20, now, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].stream, None);
        assert_eq!(out[0].payload.message, &line[..10]);
        assert!(out[0].payload.fields.contains_key(DECODE_ERROR_FIELD));
        let text_len = line.len() as u64 - 1;
        assert_eq!(truncation(&out[0]), Some(text_len));
        // An unfinished entry at the end of a file is decoded when the file ends.
        let mut d = SourceDecoder::new(Format::JsonFile, PayloadConfig::default(), None, 1000);
        let mut out = Vec::new();
        d.push_line(line.trim_end().as_bytes(), 0, now, &mut out);
        assert_eq!(d.pending_offset(), Some(0));
        d.flush(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].payload.message, "whole");
    }
}
