//! One source's bytes to events: the parsing stages composed for a stream of lines, in
//! the order the tailer and the whole-file reader both need.
//!
//! A [`SourceDecoder`] takes one on-disk line at a time with its position, undoes the
//! runtime's framing ([`Format`]), joins split lines and (optionally) multiline events,
//! and parses payloads into [`Event`]s. It has no clock of its own: multiline events
//! wait for [`SourceDecoder::flush_expired`], which the caller drives.

use crate::parse::cri;
use crate::parse::json_file::JsonFileDecoder;
use crate::parse::multiline::{MultilineConfig, MultilineMerger};
use crate::parse::partial::PartialMerger;
use crate::parse::payload::{self, Payload, PayloadConfig};
use crate::parse::{LogicalLine, Stream};
use skein_model::Timestamp;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// The field a malformed line's record carries the decoding error in.
pub const DECODE_ERROR_FIELD: &str = "skein_decode_error";

/// How a file frames its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// The format the design assigns a path: `*-json.log` (and rotated `.N`) is
    /// json-file, anything under `/var/log/containers/` or `/var/log/pods/` is CRI, the
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
        } else if path.starts_with("/var/log/containers") || path.starts_with("/var/log/pods") {
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

    /// Decodes one on-disk line (with or without its `"\n"`) that starts at `offset`,
    /// seen at `now`; finished events are appended to `out`. An empty line is skipped.
    pub fn push_line(&mut self, line: &[u8], offset: u64, now: Instant, out: &mut Vec<Event>) {
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
            Format::Plain => {
                if self.skipped(Stream::Stdout.index(), offset) {
                    return;
                }
                let text = line.strip_suffix(b"\n").unwrap_or(line);
                self.lines.push(LogicalLine {
                    stream: Stream::Stdout,
                    time: Timestamp::now(),
                    text: text.to_vec(),
                    offset,
                    last_offset: offset,
                });
            }
        }
        self.emit_lines(now, out);
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
        self.partial.flush(&mut self.lines);
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
        match (partial, multiline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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
            out.push(Event {
                stream: Some(line.stream),
                time: line.time,
                payload: payload::parse(line.text, &self.payload),
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
        let line = r#"{"log":"x\n","stream":"stdout","attrs":{"tier":"web"},"time":"2026-11-20T10:00:00Z"}"#;
        d.push_line(line.as_bytes(), 0, Instant::now(), &mut out);
        d.push_line(line.as_bytes(), 90, Instant::now(), &mut out);
        assert_eq!(d.attrs_generation(), 1);
        assert_eq!(d.attrs().unwrap()["tier"], "web");
        assert_eq!(out.len(), 2);
    }
}
