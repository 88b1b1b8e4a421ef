//! Docker's json-file log driver: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2026-11-20T10:00:00.123456789Z"}`,
//! sometimes with `"attrs":{…}` (from `--log-opt labels=…`, `env=…`, `tag=…`).
//!
//! This runs once per line the agent reads, so [`JsonFileDecoder`] scans the exact byte
//! layout dockerd writes (key order `log`, `stream`, `attrs`, `time`, no whitespace)
//! with `memchr` and unescapes `log` into a reused buffer: no allocation per line.
//! Anything laid out differently (hand-written files, other writers, reordered keys) goes
//! through serde_json instead, so the fast path is an optimisation, never a restriction.

use super::{rfc3339, scan, Stream};
use serde::Deserialize;
use skein_model::{TimeError, Timestamp};
use std::borrow::Cow;
use std::collections::BTreeMap;
use thiserror::Error;

/// Why a json-file line could not be decoded.
#[derive(Debug, Error)]
pub enum JsonFileError {
    /// The line is not a JSON object of the expected shape.
    #[error("not a json-file log line: {0}")]
    Json(#[from] serde_json::Error),
    /// The object has no `time` key.
    #[error("json-file line has no `time`")]
    MissingTime,
    /// `time` is not an RFC 3339 time.
    #[error("json-file line has a bad `time`: {0}")]
    Time(#[from] TimeError),
    /// `stream` is neither `stdout` nor `stderr`.
    #[error("json-file line has unknown stream {0:?} (expected stdout or stderr)")]
    Stream(String),
}

/// One decoded json-file line. `log` borrows the decoder's buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonFileEntry<'a> {
    /// The `log` text, unescaped, including the `"\n"` that ends a complete line.
    pub log: &'a [u8],
    /// The stream; a line without `stream` (never written by dockerd) counts as stdout.
    pub stream: Stream,
    /// The `time`, nanoseconds kept.
    pub time: Timestamp,
    /// The `attrs` object, when the container was started with attribute log options.
    /// Non-string values are kept as their JSON text.
    pub attrs: Option<BTreeMap<String, String>>,
}

impl JsonFileEntry<'_> {
    /// Whether this entry ends a line. dockerd splits lines longer than 16 KiB into
    /// entries of which only the last ends with `"\n"`.
    pub fn is_complete(&self) -> bool {
        self.log.ends_with(b"\n")
    }

    /// The text without the line-ending `"\n"`.
    pub fn text(&self) -> &[u8] {
        self.log.strip_suffix(b"\n").unwrap_or(self.log)
    }
}

/// Decodes json-file lines, reusing one buffer for the unescaped text.
#[derive(Debug, Default)]
pub struct JsonFileDecoder {
    buf: Vec<u8>,
}

impl JsonFileDecoder {
    /// A decoder with an empty buffer.
    pub fn new() -> JsonFileDecoder {
        JsonFileDecoder::default()
    }

    /// Decodes one line (a trailing `"\n"` or `"\r\n"` after the object is ignored).
    pub fn decode<'s>(&'s mut self, line: &[u8]) -> Result<JsonFileEntry<'s>, JsonFileError> {
        self.buf.clear();
        let line = trim_end(line);
        if let Some((stream, time, attrs)) = fast(line, &mut self.buf) {
            let time = rfc3339::parse(time)?;
            let stream = Stream::from_bytes(stream)
                .ok_or_else(|| JsonFileError::Stream(String::from_utf8_lossy(stream).into()))?;
            return Ok(JsonFileEntry {
                log: &self.buf,
                stream,
                time,
                attrs,
            });
        }
        self.buf.clear();
        let raw: RawLine<'_> = serde_json::from_slice(line)?;
        let time = rfc3339::parse(raw.time.ok_or(JsonFileError::MissingTime)?.as_bytes())?;
        let stream = match raw.stream.as_deref() {
            None => Stream::Stdout,
            Some(s) => Stream::from_bytes(s.as_bytes())
                .ok_or_else(|| JsonFileError::Stream(s.to_string()))?,
        };
        if let Some(log) = &raw.log {
            self.buf.extend_from_slice(log.as_bytes());
        }
        Ok(JsonFileEntry {
            log: &self.buf,
            stream,
            time,
            attrs: raw.attrs.map(attrs_to_strings),
        })
    }
}

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(borrow, default)]
    log: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(default)]
    attrs: Option<serde_json::Map<String, serde_json::Value>>,
}

fn attrs_to_strings(map: serde_json::Map<String, serde_json::Value>) -> BTreeMap<String, String> {
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect()
}

fn trim_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | b' ' | b'\t'] = line {
        line = rest;
    }
    line
}

type FastParts<'l> = (&'l [u8], &'l [u8], Option<BTreeMap<String, String>>);

/// dockerd's exact layout. Returns `(stream, time, attrs)` with `log` unescaped into
/// `out`, or `None` when the line is laid out any other way.
fn fast<'l>(line: &'l [u8], out: &mut Vec<u8>) -> Option<FastParts<'l>> {
    let rest = line.strip_prefix(b"{\"log\":\"")?;
    let rest = unescape_into(rest, out)?;
    let rest = rest.strip_prefix(b",\"stream\":\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[end] != b'"' {
        return None;
    }
    let (stream, rest) = (&rest[..end], &rest[end + 1..]);
    let (attrs, rest) = match rest.strip_prefix(b",\"attrs\":") {
        Some(after) => {
            let mut values =
                serde_json::Deserializer::from_slice(after).into_iter::<serde_json::Map<_, _>>();
            let map = values.next()?.ok()?;
            let used = values.byte_offset();
            (Some(attrs_to_strings(map)), &after[used..])
        }
        None => (None, rest),
    };
    let rest = rest.strip_prefix(b",\"time\":\"")?;
    let end = memchr::memchr(b'"', rest)?;
    if &rest[end + 1..] != b"}" {
        return None;
    }
    Some((stream, &rest[..end], attrs))
}

/// Unescapes a JSON string body up to its closing quote into `out`; returns what follows
/// the quote. `None` on anything malformed, so the caller falls back to serde_json and
/// reports its error.
///
/// A payload that is JSON has an escaped quote every few bytes, so this copies eight
/// bytes at a time into room made up front (the unescaped text is never longer than the
/// escaped one) and steps back over what follows a special byte, rather than copying
/// each short run on its own.
fn unescape_into<'l>(s: &'l [u8], out: &mut Vec<u8>) -> Option<&'l [u8]> {
    let start = out.len();
    out.resize(start + s.len(), 0);
    let dst = &mut out[start..];
    // `o <= i` throughout: every escape is at least as long as what it stands for.
    let (mut i, mut o) = (0, 0);
    loop {
        while i + 8 <= s.len() {
            let word: [u8; 8] = s[i..i + 8].try_into().expect("8 bytes");
            dst[o..o + 8].copy_from_slice(&word);
            let hit = scan::quote_or_backslash(u64::from_le_bytes(word));
            if hit != 0 {
                let k = (hit.trailing_zeros() / 8) as usize;
                i += k;
                o += k;
                break;
            }
            i += 8;
            o += 8;
        }
        while i < s.len() && !matches!(s[i], b'"' | b'\\') {
            dst[o] = s[i];
            i += 1;
            o += 1;
        }
        let Some(&c) = s.get(i) else {
            out.truncate(start);
            return None;
        };
        if c == b'"' {
            out.truncate(start + o);
            return Some(&s[i + 1..]);
        }
        let Some(&esc) = s.get(i + 1) else {
            out.truncate(start);
            return None;
        };
        i += 2;
        let byte = match esc {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'u' => {
                let Some((c, rest)) = unescape_unicode(&s[i..]) else {
                    out.truncate(start);
                    return None;
                };
                i = s.len() - rest.len();
                o += c.encode_utf8(&mut dst[o..o + 4]).len();
                continue;
            }
            _ => {
                out.truncate(start);
                return None;
            }
        };
        dst[o] = byte;
        o += 1;
    }
}

/// Decodes the `XXXX` after `\u` (and a following `\uXXXX` low surrogate). A lone
/// surrogate becomes U+FFFD: the text is kept rather than the line rejected.
fn unescape_unicode(s: &[u8]) -> Option<(char, &[u8])> {
    let hi = hex4(s)?;
    let s = &s[4..];
    if !(0xD800..0xDC00).contains(&hi) {
        return Some((char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER), s));
    }
    if let Some(low_part) = s.strip_prefix(b"\\u") {
        if let Some(lo) = hex4(low_part).filter(|lo| (0xDC00..0xE000).contains(lo)) {
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            return Some((char::from_u32(c)?, &low_part[4..]));
        }
    }
    Some((char::REPLACEMENT_CHARACTER, s))
}

fn hex4(s: &[u8]) -> Option<u32> {
    let h = s.get(..4)?;
    let mut v = 0u32;
    for &c in h {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// Encodes one entry exactly as dockerd does (Go's HTML-safe JSON escaping, nine
/// fractional digits), newline-terminated. Useful for tests and for writing fixtures.
pub fn encode_line(log: &str, stream: Stream, time: Timestamp) -> String {
    let mut out = String::with_capacity(log.len() + 80);
    out.push_str("{\"log\":\"");
    for c in log.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push_str("\",\"stream\":\"");
    out.push_str(stream.as_str());
    out.push_str("\",\"time\":\"");
    time.write_rfc3339(&mut out);
    out.push_str("\"}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn decodes_a_dockerd_line() {
        let line = br#"{"log":"{\"level\":\"info\",\"msg\":\"GET /api/v1/cart \u003c200\u003e\"}\n","stream":"stdout","time":"2026-11-20T10:00:00.123456789Z"}"#;
        let mut d = JsonFileDecoder::new();
        let e = d.decode(line).unwrap();
        assert_eq!(
            e.log,
            b"{\"level\":\"info\",\"msg\":\"GET /api/v1/cart <200>\"}\n"
        );
        assert_eq!(e.stream, Stream::Stdout);
        assert_eq!(e.time, ts("2026-11-20T10:00:00.123456789Z"));
        assert_eq!(e.time.0 % 1_000_000_000, 123_456_789);
        assert!(e.is_complete());
        assert_eq!(e.attrs, None);
    }

    #[test]
    fn decodes_a_partial_stderr_entry() {
        let line = b"{\"log\":\"java.lang.IllegalStateException: pool exhausted \\u0026 retrying\",\"stream\":\"stderr\",\"time\":\"2026-11-20T10:00:01.000000001Z\"}\n";
        let mut d = JsonFileDecoder::new();
        let e = d.decode(line).unwrap();
        assert!(!e.is_complete());
        assert_eq!(
            e.text(),
            b"java.lang.IllegalStateException: pool exhausted & retrying"
        );
        assert_eq!(e.stream, Stream::Stderr);
    }

    #[test]
    fn attrs_on_the_fast_path() {
        let line = br#"{"log":"ready\n","stream":"stdout","attrs":{"tag":"web/3f2a","com.docker.compose.service":"web"},"time":"2026-11-20T10:00:00.5Z"}"#;
        let mut d = JsonFileDecoder::new();
        let e = d.decode(line).unwrap();
        assert_eq!(e.text(), b"ready");
        let attrs = e.attrs.unwrap();
        assert_eq!(attrs["tag"], "web/3f2a");
        assert_eq!(attrs["com.docker.compose.service"], "web");
    }

    #[test]
    fn other_layouts_go_through_serde() {
        let mut d = JsonFileDecoder::new();
        let e = d
            .decode(br#"{ "time": "2026-11-20T11:00:00+01:00", "stream": "stderr", "log": "x\ty\n", "extra": [1] }"#)
            .unwrap();
        assert_eq!(e.log, b"x\ty\n");
        assert_eq!(e.time, ts("2026-11-20T10:00:00Z"));
        assert_eq!(e.stream, Stream::Stderr);
        // dockerd omits an empty `log` entirely.
        let e = d
            .decode(br#"{"stream":"stdout","time":"2026-11-20T10:00:00Z"}"#)
            .unwrap();
        assert_eq!(e.log, b"");
    }

    #[test]
    fn bad_lines_say_why() {
        let mut d = JsonFileDecoder::new();
        let cases: [(&[u8], &str); 5] = [
            (b"plain text", "not a json-file"),
            (
                br#"{"log":"x\n","stream":"stdout","time":"2026-11-20T10:00"#,
                "not a json-file",
            ),
            (br#"{"log":"x\n","stream":"stdout"}"#, "no `time`"),
            (
                br#"{"log":"x\n","stream":"stdout","time":"yesterday"}"#,
                "bad `time`",
            ),
            (
                br#"{"log":"x\n","stream":"stdin","time":"2026-11-20T10:00:00Z"}"#,
                "unknown stream",
            ),
        ];
        for (line, want) in cases {
            let err = d.decode(line).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{}: {err}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn surrogates() {
        let mut d = JsonFileDecoder::new();
        let e = d
            .decode(br#"{"log":"\ud83d\ude00 \ud800 ok\n","stream":"stdout","time":"2026-11-20T10:00:00Z"}"#)
            .unwrap();
        assert_eq!(
            std::str::from_utf8(e.log).unwrap(),
            "\u{1F600} \u{FFFD} ok\n"
        );
    }

    fn any_stream() -> impl Strategy<Value = Stream> {
        prop_oneof![Just(Stream::Stdout), Just(Stream::Stderr)]
    }

    proptest! {
        #[test]
        fn dockerd_encoding_roundtrips(
            log in any::<String>(),
            stream in any_stream(),
            nanos in -9_000_000_000_000_000_000i64..9_000_000_000_000_000_000i64,
        ) {
            let time = Timestamp(nanos);
            let line = encode_line(&log, stream, time);
            let mut d = JsonFileDecoder::new();
            let e = d.decode(line.as_bytes()).unwrap();
            prop_assert_eq!(e.log, log.as_bytes());
            prop_assert_eq!(e.stream, stream);
            prop_assert_eq!(e.time, time);
        }

        #[test]
        fn serde_encoding_roundtrips(
            log in any::<String>(),
            stream in any_stream(),
            nanos in -9_000_000_000_000_000_000i64..9_000_000_000_000_000_000i64,
        ) {
            let time = Timestamp(nanos);
            let line = serde_json::json!({"log": log, "stream": stream.as_str(), "time": time})
                .to_string();
            let mut d = JsonFileDecoder::new();
            let e = d.decode(line.as_bytes()).unwrap();
            prop_assert_eq!(e.log, log.as_bytes());
            prop_assert_eq!(e.stream, stream);
            prop_assert_eq!(e.time, time);
        }
    }
}
