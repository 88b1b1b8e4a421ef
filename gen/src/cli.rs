//! The `skein gen` flags, mirroring the reference script's so existing invocations carry
//! over unchanged.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::error::invalid;
use crate::{
    generate_batch, generate_live, parse_start, GenConfig, GenError, LiveConfig, LiveStats,
    Manifest, DEFAULT_NEEDLE,
};

/// Command-line flags of `skein gen`: batch mode by default, live mode with `--rate`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenArgs {
    /// Directory for `<id>/<id>-json.log` files (and `manifest.json` in batch mode).
    #[arg(long)]
    pub out: PathBuf,
    /// Total json-file records (live mode: 0 = unlimited).
    #[arg(long, default_value_t = 100_000)]
    pub lines: u64,
    /// Number of containers.
    #[arg(long, default_value_t = 16)]
    pub containers: usize,
    /// Seed; same flags and seed give byte-identical batch output.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Batch mode: first timestamp (RFC 3339).
    #[arg(long, default_value = "2026-11-20T10:00:00Z")]
    pub start: String,
    /// Batch mode: time range covered, in seconds.
    #[arg(long, default_value_t = 7200.0)]
    pub span_seconds: f64,
    /// Live mode: append this many lines per second (all containers together).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Live mode: stop after this many seconds (0 = no limit).
    #[arg(long, default_value_t = 0.0)]
    pub duration: f64,
    /// Live mode: rotate a file once it reaches this many bytes (0 = never).
    #[arg(long, default_value_t = 0)]
    pub rotate_bytes: u64,
    /// Live mode: rotated files to keep (`<id>-json.log.1` .. `.N`).
    #[arg(long, default_value_t = 3)]
    pub rotate_keep: u32,
    /// Vocabulary size (Zipf distributed).
    #[arg(long, default_value_t = 30_000)]
    pub vocab_size: usize,
    /// Rare word sprinkled into messages; its count is in `manifest.json`.
    #[arg(long, default_value = DEFAULT_NEEDLE)]
    pub needle: String,
    /// Probability that a message carries the needle.
    #[arg(long, default_value_t = 1e-4)]
    pub needle_prob: f64,
    /// Probability per event of a >16 KiB line split into partial records.
    #[arg(long, default_value_t = 0.0)]
    pub partial_prob: f64,
}

/// What a `skein gen` run produced.
#[derive(Debug, Clone, PartialEq)]
pub enum GenOutcome {
    /// A batch corpus and its manifest.
    Batch(Manifest),
    /// A live run's totals.
    Live(LiveStats),
}

impl GenArgs {
    /// The content settings these flags describe.
    pub fn config(&self) -> Result<GenConfig, GenError> {
        Ok(GenConfig {
            lines: self.lines,
            containers: self.containers,
            seed: self.seed,
            start_ns: parse_start(&self.start)?,
            span_seconds: self.span_seconds,
            needle: self.needle.clone(),
            needle_prob: self.needle_prob,
            partial_prob: self.partial_prob,
            vocab_size: self.vocab_size,
        })
    }

    /// Runs batch mode, or live mode when `--rate` is above 0; `stop` ends live mode early
    /// (wire it to Ctrl-C).
    pub fn run(&self, stop: &AtomicBool) -> Result<GenOutcome, GenError> {
        let gen = self.config()?;
        if self.rate <= 0.0 {
            return generate_batch(&gen, &self.out).map(GenOutcome::Batch);
        }
        if !(self.duration.is_finite() && self.duration >= 0.0) {
            return Err(invalid(
                "duration",
                format!(
                    "must be 0 or a positive number of seconds, got {}",
                    self.duration
                ),
            ));
        }
        let live = LiveConfig {
            gen,
            rate: self.rate,
            duration: (self.duration > 0.0).then(|| Duration::from_secs_f64(self.duration)),
            rotate_bytes: self.rotate_bytes,
            rotate_keep: self.rotate_keep,
        };
        generate_live(&live, &self.out, stop).map(GenOutcome::Live)
    }
}
