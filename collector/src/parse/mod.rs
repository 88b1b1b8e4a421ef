//! Turning container log bytes into logical lines and structured payloads.
//!
//! The stages, in the order bytes flow through them:
//!
//! 1. framing: [`json_file`] (Docker's json-file driver) or [`cri`] (containerd /
//!    Kubernetes) decodes one on-disk line into a chunk of log text with its stream,
//!    time and "is this the end of the line" flag;
//! 2. [`partial`] joins the chunks a runtime split into one [`LogicalLine`];
//! 3. [`multiline`] (optional) joins logical lines that belong together, such as the
//!    lines of a stack trace;
//! 4. [`payload`] reads the text as JSON, logfmt or plain text.
//!
//! [`rfc3339`] is the fast time parser the framing stages share.

pub mod cri;
pub mod json_file;
pub mod multiline;
pub mod partial;
pub mod payload;
pub mod rfc3339;
pub mod scan;

use skein_model::Timestamp;
use std::fmt;

/// Which output stream of a container a line was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// Standard output. Plain (non-container) files are read as this stream too.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// Both streams, in index order.
    pub const ALL: [Stream; 2] = [Stream::Stdout, Stream::Stderr];

    /// The name runtimes write and records carry: `"stdout"` or `"stderr"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// Reads a runtime's stream name; `None` for anything but `stdout` / `stderr`.
    pub fn from_bytes(name: &[u8]) -> Option<Stream> {
        match name {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }

    /// A dense index (0 or 1) so per-stream state can live in a two-element array.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line as the application wrote it, after the runtime's splitting was undone.
///
/// `text` is raw bytes because applications may write invalid UTF-8; the payload stage
/// decodes it (lossily) exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    /// The stream every piece of the line came from.
    pub stream: Stream,
    /// The time of the first piece.
    pub time: Timestamp,
    /// The text, without the newline that ended it (a `\r` before it is kept here and
    /// dropped by the payload stage).
    pub text: Vec<u8>,
    /// Position of the first piece in the source (the caller's byte offsets). Within
    /// one stream, lines come out with strictly increasing offsets, which is what makes
    /// this usable as a record's `_seq`.
    pub offset: u64,
    /// Position of the last piece. A restart that re-reads from before it skips this
    /// stream's pieces up to here, so a line is never joined and sent a second time.
    pub last_offset: u64,
    /// Bytes of the line past the cap on line length, counted and dropped: `text` holds
    /// the first bytes of a line `text.len() + dropped` long. 0 for a line kept whole.
    pub dropped: u64,
}
