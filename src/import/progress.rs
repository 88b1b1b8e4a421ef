//! What `skein import` says while it runs: a progress bar (bytes of the files whose
//! records the server has acknowledged, records per second, time left) on a terminal,
//! plain lines every few seconds otherwise, and notices that never tear the bar.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use skein_collector::ship::Ack;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::read::Batch;

/// Totals so far, kept by the shippers.
#[derive(Debug, Default)]
pub struct Counters {
    bytes: AtomicU64,
    records: AtomicU64,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    batches: AtomicU64,
    /// Sets that could not be read.
    pub failed_sets: AtomicUsize,
    /// Requests the server answered 429 (busy indexing).
    pub busy: AtomicUsize,
}

/// A copy of [`Counters`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Snapshot {
    /// Input bytes whose records the server acknowledged.
    pub bytes: u64,
    /// Records sent and acknowledged.
    pub records: u64,
    /// Records the server stored.
    pub accepted: u64,
    /// Records the server held already.
    pub duplicates: u64,
    /// Records the server refused.
    pub rejected: u64,
}

impl Counters {
    /// Input bytes that made no record (blank lines, the rest of a set).
    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::SeqCst);
    }

    /// A batch the server acknowledged.
    pub fn add_ack(&self, batch: &Batch, ack: &Ack) {
        self.bytes.fetch_add(batch.bytes, Ordering::SeqCst);
        self.records.fetch_add(batch.records, Ordering::SeqCst);
        self.accepted
            .fetch_add(ack.accepted as u64, Ordering::SeqCst);
        self.duplicates
            .fetch_add(ack.duplicates as u64, Ordering::SeqCst);
        self.rejected
            .fetch_add(ack.rejected.len() as u64, Ordering::SeqCst);
        self.batches.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether the server has acknowledged anything yet.
    pub fn delivered(&self) -> bool {
        self.batches.load(Ordering::SeqCst) > 0
    }

    /// The totals now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            bytes: self.bytes.load(Ordering::SeqCst),
            records: self.records.load(Ordering::SeqCst),
            accepted: self.accepted.load(Ordering::SeqCst),
            duplicates: self.duplicates.load(Ordering::SeqCst),
            rejected: self.rejected.load(Ordering::SeqCst),
        }
    }
}

/// The bar, or plain progress lines.
pub struct Display {
    bar: Option<ProgressBar>,
    /// The bar was left where it stood; notices now go below it.
    finished: AtomicBool,
    total: u64,
    every: Duration,
    last_line: Mutex<Instant>,
}

impl Display {
    /// A bar over `total` bytes when stderr is a terminal, else a line every `every`.
    pub fn new(total: u64, every: Duration) -> Display {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} [{wide_bar}] {decimal_bytes}/{decimal_total_bytes} · {msg} · ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Display {
            bar,
            finished: AtomicBool::new(false),
            total,
            every,
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// Prints a line on stderr (above the bar).
    pub fn notice(&self, msg: &str) {
        match &self.bar {
            Some(bar) if !self.finished.load(Ordering::SeqCst) => {
                bar.suspend(|| eprintln!("{msg}"))
            }
            _ => eprintln!("{msg}"),
        }
    }

    /// Shows the totals now (a plain line only every `every`).
    pub fn tick(&self, counters: &Counters, elapsed: Duration) {
        let c = counters.snapshot();
        match &self.bar {
            Some(bar) => {
                bar.set_position(c.bytes);
                bar.set_message(format!(
                    "{} records, {} records/s",
                    count(c.records),
                    count((c.records as f64 / elapsed.as_secs_f64().max(1e-3)) as u64)
                ));
            }
            None => {
                let mut last = self.last_line.lock().expect("progress lock");
                if last.elapsed() >= self.every {
                    *last = Instant::now();
                    eprintln!("{}", self.line(&c, elapsed));
                }
            }
        }
    }

    /// Leaves the bar where it stands (full, or where an interruption stopped it);
    /// the summary comes below it.
    pub fn finish(&self, counters: &Counters, elapsed: Duration) {
        if let Some(bar) = &self.bar {
            self.tick(counters, elapsed);
            bar.abandon();
            self.finished.store(true, Ordering::SeqCst);
        }
    }

    fn line(&self, c: &Snapshot, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-3);
        let share = if self.total == 0 {
            100.0
        } else {
            c.bytes as f64 * 100.0 / self.total as f64
        };
        let bytes_rate = c.bytes as f64 / secs;
        let eta = if bytes_rate > 0.0 {
            format!(
                "{:.0} s",
                self.total.saturating_sub(c.bytes) as f64 / bytes_rate
            )
        } else {
            "unknown".into()
        };
        format!(
            "import: {} of {} ({share:.1}%), {} records, {} records/s, ETA {eta}",
            bytes(c.bytes),
            bytes(self.total),
            count(c.records),
            count((c.records as f64 / secs) as u64),
        )
    }
}

/// `320.4 MB`.
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB", n / 1e3)
    } else {
        format!("{n} bytes")
    }
}

/// `1,000,000`: the CLI's one way of writing counts.
pub use crate::render::thousands as count;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(count(12_345), "12,345");
        assert_eq!(bytes(320_380_347), "320.4 MB");
        assert_eq!(bytes(999), "999 bytes");
    }
}
