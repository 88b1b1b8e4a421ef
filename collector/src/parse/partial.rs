//! Undoing the runtime's line splitting.
//!
//! dockerd cuts lines longer than 16 KiB into several json-file entries; only the last
//! ends with `"\n"`. containerd does the same with `P` (partial) entries closed by an `F`.
//! Pieces of one line are consecutive *within their stream*, but the other stream's
//! entries may come in between, so [`PartialMerger`] keeps one buffer per stream.
//!
//! An application can write a line of any length (or never finish one), so what is kept
//! of a line is capped: past `max_bytes`, the rest of the line is counted and dropped,
//! and the line comes out as one [`LogicalLine`] holding its first `max_bytes` bytes
//! with [`LogicalLine::dropped`] saying how many followed. A line is never split into
//! several: each is one record, whole or marked as cut.

use super::{LogicalLine, Stream};
use skein_model::Timestamp;

/// Default cap on one line: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// Joins the pieces of split lines, one buffer per stream.
#[derive(Debug)]
pub struct PartialMerger {
    max_bytes: usize,
    pending: [Option<LogicalLine>; 2],
}

impl Default for PartialMerger {
    fn default() -> PartialMerger {
        PartialMerger::new(DEFAULT_MAX_LINE_BYTES)
    }
}

impl PartialMerger {
    /// A merger keeping at most `max_bytes` of each line (see the module docs).
    pub fn new(max_bytes: usize) -> PartialMerger {
        PartialMerger {
            max_bytes,
            pending: [None, None],
        }
    }

    /// Adds one piece. `text` excludes the line-ending `"\n"`; `complete` says whether
    /// it had one (json-file) or was flagged `F` (CRI). `offset` is the piece's position
    /// in the source. Finished lines (zero or one) are appended to `out`.
    pub fn push(
        &mut self,
        stream: Stream,
        time: Timestamp,
        text: &[u8],
        complete: bool,
        offset: u64,
        out: &mut impl Extend<LogicalLine>,
    ) {
        let slot = &mut self.pending[stream.index()];
        match slot {
            Some(p) => {
                let keep = keep_of(text, self.max_bytes.saturating_sub(p.text.len()), p.dropped);
                p.text.extend_from_slice(&text[..keep]);
                p.dropped += (text.len() - keep) as u64;
                p.last_offset = offset;
            }
            None => {
                let keep = keep_of(text, self.max_bytes, 0);
                *slot = Some(LogicalLine {
                    stream,
                    time,
                    text: text[..keep].to_vec(),
                    offset,
                    last_offset: offset,
                    dropped: (text.len() - keep) as u64,
                })
            }
        }
        if complete {
            out.extend(slot.take());
        }
    }

    /// Whether a line of `len` bytes is kept whole.
    pub fn fits(&self, len: usize) -> bool {
        len <= self.max_bytes
    }

    /// Whether a piece on `stream` is waiting for the rest of its line.
    pub fn is_pending(&self, stream: Stream) -> bool {
        self.pending[stream.index()].is_some()
    }

    /// Emits unfinished lines as they are, oldest first: at the end of a file that will
    /// not grow again, or when the tailer decides a writer has gone away mid-line.
    pub fn flush(&mut self, out: &mut impl Extend<LogicalLine>) {
        let [a, b] = &mut self.pending;
        let (first, second) = match (&a, &b) {
            (Some(x), Some(y)) if y.offset < x.offset => (b, a),
            _ => (a, b),
        };
        out.extend(first.take());
        out.extend(second.take());
    }

    /// The position of the oldest piece not yet emitted. A checkpoint must not move past
    /// it, or a restart would lose the start of that line.
    pub fn pending_offset(&self) -> Option<u64> {
        self.pending.iter().flatten().map(|p| p.offset).min()
    }

    /// Whether no piece is waiting for the rest of its line.
    pub fn is_empty(&self) -> bool {
        self.pending.iter().all(Option::is_none)
    }
}

/// How many bytes of `text` to keep with `room` left under the cap: all of them when
/// they fit and nothing was dropped yet, else as many as fit without ending inside a
/// UTF-8 character (so the kept text does not end in a replacement character).
pub(crate) fn keep_of(text: &[u8], room: usize, dropped: u64) -> usize {
    if dropped > 0 {
        return 0;
    }
    if text.len() <= room {
        return text.len();
    }
    let mut keep = room;
    // Back off over continuation bytes (10xxxxxx) to the start of the character.
    while keep > 0 && room - keep < 3 && text[keep] & 0xC0 == 0x80 {
        keep -= 1;
    }
    if text[keep] & 0xC0 == 0x80 {
        // Not UTF-8 around here anyway: cut at the cap.
        keep = room;
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(n: i64) -> Timestamp {
        Timestamp(1_763_632_800_000_000_000 + n)
    }

    #[test]
    fn joins_split_lines_per_stream() {
        let mut m = PartialMerger::default();
        let mut out = Vec::new();
        m.push(
            Stream::Stdout,
            t(1),
            b"{\"level\":\"info\",\"msg\":\"dump ",
            false,
            0,
            &mut out,
        );
        m.push(
            Stream::Stderr,
            t(2),
            b"WARN slow query",
            true,
            100,
            &mut out,
        );
        assert_eq!(m.pending_offset(), Some(0));
        m.push(Stream::Stdout, t(3), b"aaaa", false, 200, &mut out);
        m.push(Stream::Stdout, t(4), b"\"}", true, 300, &mut out);
        assert!(m.is_empty());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].text, b"WARN slow query");
        assert_eq!((out[0].stream, out[0].offset), (Stream::Stderr, 100));
        assert_eq!(out[1].text, b"{\"level\":\"info\",\"msg\":\"dump aaaa\"}");
        assert_eq!((out[1].time, out[1].offset), (t(1), 0));
    }

    #[test]
    fn a_line_over_the_cap_is_one_line_cut_with_its_length() {
        let mut m = PartialMerger::new(10);
        let mut out = Vec::new();
        for (i, piece) in ["abcd", "efgh", "ijkl", "mn"].iter().enumerate() {
            m.push(
                Stream::Stdout,
                t(i as i64),
                piece.as_bytes(),
                i == 3,
                i as u64 * 50,
                &mut out,
            );
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].text, b"abcdefghij");
        assert_eq!(out[0].dropped, 4);
        assert_eq!((out[0].offset, out[0].last_offset), (0, 150));
        assert_eq!(out[0].time, t(0));

        // A single piece larger than the cap is cut too, and the next line is whole.
        out.clear();
        m.push(
            Stream::Stdout,
            t(9),
            b"0123456789abcdef",
            true,
            500,
            &mut out,
        );
        m.push(Stream::Stdout, t(9), b"!", true, 600, &mut out);
        let got: Vec<_> = out.iter().map(|l| (&l.text[..], l.dropped)).collect();
        assert_eq!(got, [(&b"0123456789"[..], 6), (&b"!"[..], 0)]);
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let mut m = PartialMerger::new(5);
        let mut out = Vec::new();
        // "ab" then "é" (2 bytes) then "€" (3 bytes): the cap falls inside the euro.
        m.push(Stream::Stdout, t(0), "abé€z".as_bytes(), true, 0, &mut out);
        assert_eq!(out[0].text, "abé".as_bytes());
        assert_eq!(out[0].dropped, 4);
    }

    #[test]
    fn flush_emits_oldest_first() {
        let mut m = PartialMerger::default();
        let mut out = Vec::new();
        m.push(Stream::Stderr, t(0), b"err part", false, 10, &mut out);
        m.push(Stream::Stdout, t(1), b"out part", false, 20, &mut out);
        m.flush(&mut out);
        let offsets: Vec<_> = out.iter().map(|l| l.offset).collect();
        assert_eq!(offsets, [10, 20]);
        assert!(m.is_empty());
        assert_eq!(m.pending_offset(), None);
    }

    proptest! {
        /// Any line cut into pieces at arbitrary points, interleaved with the other
        /// stream's traffic, comes back byte for byte with its first piece's time and
        /// position, and the other stream is untouched.
        #[test]
        fn split_lines_reassemble_exactly(
            line in proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..2000),
            cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..8),
            noise in proptest::collection::vec("[a-z ]{0,20}", 0..12),
            split_stream in prop_oneof![Just(Stream::Stdout), Just(Stream::Stderr)],
        ) {
            let other = if split_stream == Stream::Stdout { Stream::Stderr } else { Stream::Stdout };
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(line.len() + 1)).collect();
            points.sort_unstable();
            points.dedup();
            let mut pieces = Vec::new();
            let mut last = 0;
            for p in points.into_iter().chain([line.len()]) {
                pieces.push(&line[last..p.max(last)]);
                last = p.max(last);
            }
            // Interleave: noise entry k goes before piece k, the rest after the last piece.
            let mut m = PartialMerger::default();
            let mut out = Vec::new();
            let mut offset = 0u64;
            let mut expected_other = Vec::new();
            let mut first_piece_offset = None;
            let mut noise = noise.into_iter();
            for (i, piece) in pieces.iter().enumerate() {
                if let Some(text) = noise.next() {
                    m.push(other, t(offset as i64), text.as_bytes(), true, offset, &mut out);
                    expected_other.push(text);
                    offset += 1;
                }
                first_piece_offset.get_or_insert(offset);
                m.push(split_stream, t(offset as i64), piece, i + 1 == pieces.len(), offset, &mut out);
                offset += 1;
            }
            for text in noise {
                m.push(other, t(offset as i64), text.as_bytes(), true, offset, &mut out);
                expected_other.push(text);
                offset += 1;
            }
            let mine: Vec<_> = out.iter().filter(|l| l.stream == split_stream).collect();
            prop_assert_eq!(mine.len(), 1);
            prop_assert_eq!(&mine[0].text, &line);
            let first = first_piece_offset.unwrap();
            prop_assert_eq!((mine[0].offset, mine[0].time), (first, t(first as i64)));
            let theirs: Vec<_> = out
                .iter()
                .filter(|l| l.stream == other)
                .map(|l| String::from_utf8(l.text.clone()).unwrap())
                .collect();
            prop_assert_eq!(theirs, expected_other);
            prop_assert!(m.is_empty());
        }
    }
}
