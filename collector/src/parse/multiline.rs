//! Joining lines that belong to one event, such as the lines of a stack trace.
//!
//! A line matching the configured start pattern begins a new event; any other line is
//! appended (after a `"\n"`) to the event being gathered on its stream. An event is
//! emitted when the next one starts, when it reaches `max_lines` or `max_bytes`, or when
//! no line has joined it for `flush_after`. The merger has no clock or thread of its own:
//! the caller passes `now` in and calls [`MultilineMerger::flush_expired`] when
//! [`MultilineMerger::next_deadline`] passes, which keeps it deterministic and testable.

use super::partial::DEFAULT_MAX_LINE_BYTES;
use super::{LogicalLine, Stream};
use regex::bytes::Regex;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why a multiline configuration was refused.
#[derive(Debug, Error)]
pub enum MultilineError {
    /// The start pattern is not a valid regular expression.
    #[error("bad multiline start pattern: {0}")]
    Pattern(#[from] regex::Error),
}

/// How lines are grouped into events.
#[derive(Debug, Clone)]
pub struct MultilineConfig {
    /// A line matching this begins a new event, e.g. `^\d{4}-\d{2}-\d{2}` or `^\S`.
    pub start: Regex,
    /// Most lines in one event.
    pub max_lines: usize,
    /// Most bytes in one event (a single longer line is still kept whole).
    pub max_bytes: usize,
    /// How long an event waits for another line before it is emitted.
    pub flush_after: Duration,
}

impl MultilineConfig {
    /// Default line limit: long Java traces run to a few hundred frames.
    pub const DEFAULT_MAX_LINES: usize = 500;
    /// Default wait for more lines. Lines of one trace are written within microseconds
    /// of each other; waiting longer only delays the event in live views.
    pub const DEFAULT_FLUSH_AFTER: Duration = Duration::from_secs(1);

    /// A configuration with the given start pattern and default limits.
    pub fn new(start_pattern: &str) -> Result<MultilineConfig, MultilineError> {
        Ok(MultilineConfig {
            start: Regex::new(start_pattern)?,
            max_lines: Self::DEFAULT_MAX_LINES,
            max_bytes: DEFAULT_MAX_LINE_BYTES,
            flush_after: Self::DEFAULT_FLUSH_AFTER,
        })
    }
}

#[derive(Debug)]
struct Pending {
    event: LogicalLine,
    lines: usize,
    last_joined: Instant,
}

/// Groups lines into events, separately per stream.
#[derive(Debug)]
pub struct MultilineMerger {
    config: MultilineConfig,
    pending: [Option<Pending>; 2],
}

impl MultilineMerger {
    /// A merger with nothing pending.
    pub fn new(config: MultilineConfig) -> MultilineMerger {
        MultilineMerger {
            config,
            pending: [None, None],
        }
    }

    /// Adds one line seen at `now`; returns the event it finished, if any. The event
    /// keeps the time and offset of its first line.
    pub fn push(&mut self, line: LogicalLine, now: Instant) -> Option<LogicalLine> {
        let is_start = self.config.start.is_match(&line.text);
        let slot = &mut self.pending[line.stream.index()];
        match slot {
            Some(p)
                if !is_start
                    && p.lines < self.config.max_lines
                    && p.event.text.len() + 1 + line.text.len() <= self.config.max_bytes =>
            {
                p.event.text.push(b'\n');
                p.event.text.extend_from_slice(&line.text);
                p.event.last_offset = line.last_offset;
                p.event.dropped += line.dropped;
                p.lines += 1;
                p.last_joined = now;
                None
            }
            // A continuation with nothing before it (the start was emitted already, or
            // the file began mid-event) still begins an event, so later continuation
            // lines stay together with it.
            _ => slot
                .replace(Pending {
                    event: line,
                    lines: 1,
                    last_joined: now,
                })
                .map(|p| p.event),
        }
    }

    /// Emits the events no line has joined for `flush_after`, oldest first.
    pub fn flush_expired(&mut self, now: Instant, out: &mut impl Extend<LogicalLine>) {
        let after = self.config.flush_after;
        self.flush_where(out, |p| {
            now.saturating_duration_since(p.last_joined) >= after
        });
    }

    /// When the next event will be due for [`flush_expired`](Self::flush_expired).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending
            .iter()
            .flatten()
            .map(|p| p.last_joined + self.config.flush_after)
            .min()
    }

    /// Emits every pending event, oldest first (end of input, shutdown).
    pub fn flush(&mut self, out: &mut impl Extend<LogicalLine>) {
        self.flush_where(out, |_| true);
    }

    /// The position of the oldest line not yet emitted (see
    /// [`PartialMerger::pending_offset`](super::partial::PartialMerger::pending_offset)).
    pub fn pending_offset(&self) -> Option<u64> {
        self.pending.iter().flatten().map(|p| p.event.offset).min()
    }

    /// The event being gathered on `stream`, if any.
    pub fn pending(&self, stream: Stream) -> Option<&LogicalLine> {
        self.pending[stream.index()].as_ref().map(|p| &p.event)
    }

    fn flush_where(&mut self, out: &mut impl Extend<LogicalLine>, due: impl Fn(&Pending) -> bool) {
        let mut ready: Vec<LogicalLine> = self
            .pending
            .iter_mut()
            .filter(|slot| slot.as_ref().is_some_and(&due))
            .filter_map(|slot| slot.take().map(|p| p.event))
            .collect();
        ready.sort_by_key(|e| e.offset);
        out.extend(ready);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skein_model::Timestamp;

    fn line(stream: Stream, offset: u64, text: &str) -> LogicalLine {
        LogicalLine {
            stream,
            time: Timestamp(offset as i64),
            text: text.as_bytes().to_vec(),
            offset,
            last_offset: offset,
            dropped: 0,
        }
    }

    fn texts(lines: &[LogicalLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(&l.text).into_owned())
            .collect()
    }

    const TRACE: [&str; 7] = [
        "2026-11-20 10:00:00.123 ERROR 1 --- [nio-8080-exec-3] c.e.shop.PaymentService : charge failed",
        "java.util.concurrent.TimeoutException: gateway did not answer in 5000ms",
        "\tat com.shop.payment.GatewayClient.charge(GatewayClient.java:212)",
        "\tat com.shop.payment.PaymentService.capture(PaymentService.java:88)",
        "Caused by: java.net.SocketTimeoutException: Read timed out",
        "\t... 42 common frames omitted",
        "2026-11-20 10:00:00.200 INFO 1 --- [nio-8080-exec-4] c.e.shop.CartController : GET /cart",
    ];

    #[test]
    fn joins_a_java_stack_trace() {
        let mut m = MultilineMerger::new(MultilineConfig::new(r"^\d{4}-\d{2}-\d{2}").unwrap());
        let now = Instant::now();
        let mut out = Vec::new();
        for (i, text) in TRACE.iter().enumerate() {
            // Another stream's traffic between the lines must not interfere.
            out.extend(m.push(
                line(
                    Stream::Stdout,
                    i as u64 * 100 + 50,
                    "2026-11-20 10:00:00.150 INFO ok",
                ),
                now,
            ));
            out.extend(m.push(line(Stream::Stderr, i as u64 * 100, text), now));
        }
        m.flush(&mut out);
        let stderr: Vec<_> = out
            .iter()
            .filter(|l| l.stream == Stream::Stderr)
            .cloned()
            .collect();
        assert_eq!(
            texts(&stderr),
            [TRACE[..6].join("\n"), TRACE[6].to_string()]
        );
        assert_eq!((stderr[0].offset, stderr[0].time), (0, Timestamp(0)));
        assert_eq!(out.iter().filter(|l| l.stream == Stream::Stdout).count(), 7);
    }

    #[test]
    fn caps_and_orphans() {
        let mut cfg = MultilineConfig::new(r"^\S").unwrap();
        cfg.max_lines = 3;
        let mut m = MultilineMerger::new(cfg);
        let now = Instant::now();
        let mut out = Vec::new();
        for (i, text) in ["  orphan", "start", "  a", "  b", "  c", "  d"]
            .iter()
            .enumerate()
        {
            out.extend(m.push(line(Stream::Stdout, i as u64, text), now));
        }
        m.flush(&mut out);
        assert_eq!(texts(&out), ["  orphan", "start\n  a\n  b", "  c\n  d"]);

        let mut cfg = MultilineConfig::new(r"^\S").unwrap();
        cfg.max_bytes = 11;
        let mut m = MultilineMerger::new(cfg);
        let mut out = Vec::new();
        for (i, text) in ["start", "  abc", "  def", "  0123456789"]
            .iter()
            .enumerate()
        {
            out.extend(m.push(line(Stream::Stdout, i as u64, text), now));
        }
        m.flush(&mut out);
        assert_eq!(texts(&out), ["start\n  abc", "  def", "  0123456789"]);
        let offsets: Vec<_> = out.iter().map(|l| l.offset).collect();
        assert_eq!(offsets, [0, 2, 3]);
    }

    #[test]
    fn flushes_after_a_quiet_period() {
        let mut m = MultilineMerger::new(MultilineConfig::new(r"^\S").unwrap());
        let t0 = Instant::now();
        let mut out = Vec::new();
        assert_eq!(m.next_deadline(), None);
        assert!(m
            .push(line(Stream::Stderr, 0, "Exception in thread \"main\""), t0)
            .is_none());
        assert!(m
            .push(
                line(Stream::Stdout, 5, "ready"),
                t0 + Duration::from_millis(600)
            )
            .is_none());
        assert!(m
            .push(
                line(Stream::Stderr, 10, "\tat Main.main(Main.java:3)"),
                t0 + Duration::from_millis(800)
            )
            .is_none());
        assert_eq!(m.next_deadline(), Some(t0 + Duration::from_millis(1600)));
        assert_eq!(m.pending_offset(), Some(0));

        m.flush_expired(t0 + Duration::from_millis(1700), &mut out);
        assert_eq!(texts(&out), ["ready"]);
        assert_eq!(m.pending(Stream::Stderr).map(|l| l.offset), Some(0));
        m.flush_expired(t0 + Duration::from_millis(1800), &mut out);
        assert_eq!(
            texts(&out),
            [
                "ready",
                "Exception in thread \"main\"\n\tat Main.main(Main.java:3)"
            ]
        );
        assert_eq!(m.next_deadline(), None);
        assert_eq!(m.pending_offset(), None);
    }

    #[test]
    fn bad_pattern() {
        let err = MultilineConfig::new("^(\\d").unwrap_err();
        assert!(
            err.to_string().contains("bad multiline start pattern"),
            "{err}"
        );
    }
}
