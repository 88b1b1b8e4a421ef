//! The CRI log format containerd and CRI-O write for Kubernetes
//! (`/var/log/containers/*.log`, `/var/log/pods/…/0.log`):
//!
//! ```text
//! 2026-11-20T10:00:00.123456789Z stdout F GET /healthz 200
//! 2026-11-20T10:00:00.123456789Z stderr P first 16 KiB of a long line…
//! ```
//!
//! The third field is a `:`-separated tag list whose first tag says whether the line
//! is complete (`F`) or continues in the next entry of the same stream (`P`).

use super::{rfc3339, Stream};
use skein_model::{TimeError, Timestamp};
use thiserror::Error;

/// Why a CRI line could not be decoded.
#[derive(Debug, Error)]
pub enum CriError {
    /// A field is missing.
    #[error("not a CRI log line: {0}")]
    Malformed(&'static str),
    /// The first field is not an RFC 3339 time.
    #[error("CRI line has a bad time: {0}")]
    Time(#[from] TimeError),
    /// The second field is neither `stdout` nor `stderr`.
    #[error("CRI line has unknown stream {0:?} (expected stdout or stderr)")]
    Stream(String),
    /// The first tag is neither `P` nor `F`.
    #[error("CRI line has unknown partial flag {0:?} (expected P or F)")]
    Flag(String),
}

/// One decoded CRI line; `text` borrows the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriEntry<'a> {
    /// When the runtime received the text.
    pub time: Timestamp,
    /// The stream.
    pub stream: Stream,
    /// `true` for `F` (the line ends here), `false` for `P`.
    pub complete: bool,
    /// The text, without the file's line delimiter.
    pub text: &'a [u8],
}

/// Decodes one CRI line (a trailing `"\n"` is ignored).
pub fn parse_line(line: &[u8]) -> Result<CriEntry<'_>, CriError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let (time, rest) = split_field(line).ok_or(CriError::Malformed("no stream after the time"))?;
    let (stream, rest) = split_field(rest).ok_or(CriError::Malformed("no partial flag"))?;
    // The message may be empty, and then some writers drop the separator too.
    let (tags, text) = split_field(rest).unwrap_or((rest, &[][..]));
    let time = rfc3339::parse(time)?;
    let stream = Stream::from_bytes(stream)
        .ok_or_else(|| CriError::Stream(String::from_utf8_lossy(stream).into()))?;
    let flag = tags.split(|&b| b == b':').next().unwrap_or_default();
    let complete = match flag {
        b"F" => true,
        b"P" => false,
        other => return Err(CriError::Flag(String::from_utf8_lossy(other).into())),
    };
    Ok(CriEntry {
        time,
        stream,
        complete,
        text,
    })
}

fn split_field(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = memchr::memchr(b' ', s)?;
    Some((&s[..i], &s[i + 1..]))
}

/// Encodes one entry as containerd does (used by tests and fixtures); `text` must not
/// contain a newline.
pub fn encode_line(time: Timestamp, stream: Stream, complete: bool, text: &str) -> String {
    let flag = if complete { "F" } else { "P" };
    format!("{time} {stream} {flag} {text}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_containerd_lines() {
        let e = parse_line(b"2026-11-20T10:00:00.123456789Z stdout F 10.244.1.7 - - [20/Nov/2026:10:00:00 +0000] \"GET /healthz HTTP/1.1\" 200 2\n").unwrap();
        assert_eq!(e.stream, Stream::Stdout);
        assert!(e.complete);
        assert_eq!(e.time.to_rfc3339(), "2026-11-20T10:00:00.123456789Z");
        assert!(e.text.starts_with(b"10.244.1.7 - - ["));
        assert!(e.text.ends_with(b"200 2"));

        // Go's RFC3339Nano trims zeros and may carry an offset.
        let e = parse_line(b"2026-11-20T11:00:00.5+01:00 stderr P {\"level\":\"warn\",").unwrap();
        assert_eq!(e.stream, Stream::Stderr);
        assert!(!e.complete);
        assert_eq!(e.time.to_rfc3339(), "2026-11-20T10:00:00.500000000Z");
        assert_eq!(e.text, b"{\"level\":\"warn\",");
    }

    #[test]
    fn empty_messages_and_extra_tags() {
        for line in [
            &b"2026-11-20T10:00:00Z stdout F \n"[..],
            b"2026-11-20T10:00:00Z stdout F",
        ] {
            let e = parse_line(line).unwrap();
            assert!(e.complete);
            assert_eq!(e.text, b"");
        }
        let e = parse_line(b"2026-11-20T10:00:00Z stdout F:x keeps  spaces ").unwrap();
        assert_eq!(e.text, b"keeps  spaces ");
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, want) in [
            (&b"hello"[..], "no stream"),
            (b"2026-11-20T10:00:00Z stdout", "no partial flag"),
            (b"yesterday stdout F x", "bad time"),
            (b"2026-11-20T10:00:00Z stdin F x", "unknown stream"),
            (b"2026-11-20T10:00:00Z stdout X x", "unknown partial flag"),
        ] {
            let err = parse_line(line).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn partial_entries_merge_until_f() {
        use crate::parse::partial::PartialMerger;
        let file = "2026-11-20T10:00:00.1Z stdout P {\"level\":\"error\",\"msg\":\"upstream \n\
                    2026-11-20T10:00:00.2Z stderr F W1120 10:00:00.200000 1 probe.go:91] slow probe\n\
                    2026-11-20T10:00:00.3Z stdout P timed out\n\
                    2026-11-20T10:00:00.4Z stdout F \"}\n";
        let mut merger = PartialMerger::default();
        let mut out = Vec::new();
        let mut offset = 0;
        for line in file.split_inclusive('\n') {
            let e = parse_line(line.as_bytes()).unwrap();
            merger.push(e.stream, e.time, e.text, e.complete, offset, &mut out);
            offset += line.len() as u64;
        }
        assert!(merger.is_empty());
        let got: Vec<_> = out
            .iter()
            .map(|l| (l.stream, String::from_utf8_lossy(&l.text).into_owned()))
            .collect();
        assert_eq!(got[0].0, Stream::Stderr);
        assert_eq!(
            got[1],
            (
                Stream::Stdout,
                r#"{"level":"error","msg":"upstream timed out"}"#.to_string()
            )
        );
        assert_eq!(
            (out[1].offset, out[1].time.to_rfc3339()),
            (0, "2026-11-20T10:00:00.100000000Z".to_string())
        );
    }

    #[test]
    fn encode_roundtrips() {
        let t = Timestamp::parse_rfc3339("2026-11-20T10:00:00.000000042Z").unwrap();
        let line = encode_line(t, Stream::Stderr, false, "a b  c");
        let e = parse_line(line.as_bytes()).unwrap();
        assert_eq!(
            (e.time, e.stream, e.complete, e.text),
            (t, Stream::Stderr, false, &b"a b  c"[..])
        );
    }
}
