//! [`GenConfig`] and the in-memory [`Generator`].

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::invalid;
use crate::events::{encode_records, EventCounts, EventSource, Payload, SERVICES};
use crate::format::push_hex;
use crate::rng::{pick_cumulative, Rng};
use crate::words::MAX_VOCAB;
use crate::GenError;

/// The rare search term sprinkled into messages by default.
pub const DEFAULT_NEEDLE: &str = "zephyrquux";

/// 2026-11-20T10:00:00Z, the default first timestamp of a batch corpus.
pub const DEFAULT_START_NS: i64 = 1_795_168_800_000_000_000;

/// What to generate. The same config (seed included) always yields the same bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// Total json-file records to produce (a stack trace or a split long line counts one
    /// per record). In live mode 0 means unlimited.
    pub lines: u64,
    /// Number of containers; their shares of the lines are skewed (a few chatty ones, a
    /// long quiet tail).
    pub containers: usize,
    /// Seed of every random choice, container ids included.
    pub seed: u64,
    /// First timestamp of a batch corpus, in UTC nanoseconds since the Unix epoch (see
    /// [`parse_start`]). Ignored in live mode, which uses the wall clock.
    pub start_ns: i64,
    /// Time range a batch corpus covers, in seconds: lines arrive as a Poisson process with
    /// mean gap `span_seconds / lines`. Stack-trace events span several lines, so the last
    /// timestamp lands somewhat before `start + span`.
    pub span_seconds: f64,
    /// Rare word inserted into messages for "find the needle" searches; letters, digits,
    /// `-`, `_` and `.` only, so it stays one token and needs no JSON escaping.
    pub needle: String,
    /// Probability that a message gets the needle (about 0.7 messages per line).
    pub needle_prob: f64,
    /// Probability per event of a 16-48 KiB line, which dockerd splits into 16 KiB partial
    /// records.
    pub partial_prob: f64,
    /// Vocabulary size: ~580 real words plus made-up ones, Zipf distributed (s = 1.07).
    pub vocab_size: usize,
}

impl Default for GenConfig {
    /// The reference script's defaults: 100k lines over 16 containers and two hours.
    fn default() -> Self {
        Self {
            lines: 100_000,
            containers: 16,
            seed: 42,
            start_ns: DEFAULT_START_NS,
            span_seconds: 7200.0,
            needle: DEFAULT_NEEDLE.to_owned(),
            needle_prob: 1e-4,
            partial_prob: 0.0,
            vocab_size: 30_000,
        }
    }
}

impl GenConfig {
    pub(crate) fn validate(&self) -> Result<(), GenError> {
        if self.containers == 0 {
            return Err(invalid("containers", "must be at least 1"));
        }
        if !(self.span_seconds.is_finite() && self.span_seconds > 0.0) {
            return Err(invalid(
                "span-seconds",
                format!(
                    "must be a positive number of seconds, got {}",
                    self.span_seconds
                ),
            ));
        }
        for (field, p) in [
            ("needle-prob", self.needle_prob),
            ("partial-prob", self.partial_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(invalid(
                    field,
                    format!("must be a probability between 0 and 1, got {p}"),
                ));
            }
        }
        let needle_ok = !self.needle.is_empty()
            && self
                .needle
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !needle_ok {
            return Err(invalid(
                "needle",
                format!(
                    "{:?} must be non-empty and use only letters, digits, '-', '_' and '.'",
                    self.needle
                ),
            ));
        }
        if self.vocab_size > MAX_VOCAB {
            return Err(invalid(
                "vocab-size",
                format!(
                    "at most {MAX_VOCAB} words are supported, got {}",
                    self.vocab_size
                ),
            ));
        }
        Ok(())
    }
}

/// Parses an RFC 3339 time (`2026-11-20T10:00:00Z`, offsets allowed) into UTC nanoseconds
/// for [`GenConfig::start_ns`].
pub fn parse_start(s: &str) -> Result<i64, GenError> {
    let bad = |reason: String| GenError::BadStart {
        input: s.to_owned(),
        reason,
    };
    let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|e| bad(e.to_string()))?;
    t.timestamp_nanos_opt()
        .ok_or_else(|| bad("outside the years 1677..2262".to_owned()))
}

/// Which pipe a record was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The json-file spelling: `"stdout"` or `"stderr"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One container of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// 64 hex digits: sha256 of `docker-bench-{seed}-{index}`.
    pub id: String,
    /// The service it runs (also the `service` field of its JSON logs).
    pub service: String,
}

impl ContainerInfo {
    /// Where Docker keeps its log under a containers root: `<root>/<id>/<id>-json.log`.
    pub fn log_path(&self, root: &Path) -> PathBuf {
        root.join(&self.id).join(format!("{}-json.log", self.id))
    }
}

/// One json-file record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Index into [`Generator::containers`].
    pub container: usize,
    /// The record's `time`, in UTC nanoseconds.
    pub time_ns: i64,
    /// The record's `stream`.
    pub stream: Stream,
    /// The full record, `{"log":…,"stream":…,"time":…}`, without the trailing newline.
    pub line: String,
}

/// Produces a corpus in memory, record by record in time order across all containers.
///
/// As an [`Iterator`] it yields exactly [`GenConfig::lines`] records with synthetic
/// timestamps starting at [`GenConfig::start_ns`]; [`generate_batch`](crate::generate_batch)
/// writes precisely this sequence to disk.
pub struct Generator {
    src: EventSource,
    /// Drives time gaps and container choice, apart from payload content.
    clock_rng: Rng,
    containers: Vec<ContainerInfo>,
    container_cum: Vec<f64>,
    limit: u64,
    emitted: u64,
    clock_ns: i64,
    mean_gap_ns: f64,
    pending: VecDeque<(LogLine, u32)>,
    scratch: Vec<Payload>,
    needle_count: u64,
}

/// Docker-style container id for the `index`-th container of a corpus.
fn container_id(seed: u64, index: usize) -> String {
    let digest = Sha256::digest(format!("docker-bench-{seed}-{index}").as_bytes());
    let mut id = String::with_capacity(64);
    for chunk in digest.chunks(8) {
        let mut v = 0u64;
        for &b in chunk {
            v = (v << 8) | u64::from(b);
        }
        push_hex(&mut id, v, 16);
    }
    id
}

impl Generator {
    /// Builds the vocabulary, templates and containers for `cfg`.
    pub fn new(cfg: &GenConfig) -> Result<Self, GenError> {
        cfg.validate()?;
        let containers: Vec<ContainerInfo> = (0..cfg.containers)
            .map(|i| ContainerInfo {
                id: container_id(cfg.seed, i),
                service: SERVICES[i % SERVICES.len()].to_owned(),
            })
            .collect();
        let mut weights: Vec<f64> = (0..cfg.containers)
            .map(|i| 1.0 / ((i + 1) as f64).powf(0.8))
            .collect();
        Rng::new(cfg.seed ^ 0xC0DE).shuffle(&mut weights);
        let mut acc = 0.0;
        let container_cum = weights
            .iter()
            .map(|w| {
                acc += w;
                acc
            })
            .collect();
        Ok(Self {
            src: EventSource::new(
                cfg.seed,
                cfg.vocab_size,
                &cfg.needle,
                cfg.needle_prob,
                cfg.partial_prob,
            ),
            clock_rng: Rng::new(cfg.seed ^ 0x71AE),
            containers,
            container_cum,
            limit: cfg.lines,
            emitted: 0,
            clock_ns: cfg.start_ns,
            mean_gap_ns: cfg.span_seconds * 1e9 / cfg.lines.max(1) as f64,
            pending: VecDeque::new(),
            scratch: Vec::new(),
            needle_count: 0,
        })
    }

    /// The corpus's containers, indexed by [`LogLine::container`].
    pub fn containers(&self) -> &[ContainerInfo] {
        &self.containers
    }

    /// Needle occurrences in the records handed out so far.
    pub fn needle_count(&self) -> u64 {
        self.needle_count
    }

    /// Events generated so far, by kind (an event cut short by the line limit still counts).
    pub fn event_counts(&self) -> EventCounts {
        self.src.counts
    }

    fn pick_container(&mut self) -> usize {
        let total = self.container_cum[self.container_cum.len() - 1];
        pick_cumulative(&self.container_cum, self.clock_rng.f64() * total)
    }

    /// Generates one whole event for a weighted-random container, every record stamped
    /// `time_ns` (what live mode does with the wall clock). Independent of the iterator's
    /// line limit; its needles count towards [`Generator::needle_count`] at once.
    pub fn next_event_at(&mut self, time_ns: i64) -> Vec<LogLine> {
        let ci = self.pick_container();
        self.src
            .event(&self.containers[ci].service, time_ns, &mut self.scratch);
        let mut out = Vec::with_capacity(self.scratch.len());
        for p in self.scratch.drain(..) {
            self.needle_count += u64::from(p.needles);
            encode_records(&p.text, p.stream, time_ns, |line, _| {
                out.push(LogLine {
                    container: ci,
                    time_ns,
                    stream: p.stream,
                    line,
                });
            });
        }
        out
    }

    fn queue_event(&mut self) {
        self.clock_ns += self.clock_rng.exp(self.mean_gap_ns) as i64 + 1;
        let ci = self.pick_container();
        let event_ns = self.clock_ns;
        self.src
            .event(&self.containers[ci].service, event_ns, &mut self.scratch);
        for p in self.scratch.drain(..) {
            let ts = self.clock_ns;
            encode_records(&p.text, p.stream, ts, |line, last| {
                let rec = LogLine {
                    container: ci,
                    time_ns: ts,
                    stream: p.stream,
                    line,
                };
                // Needles are credited with the record that completes their line, so a
                // corpus cut mid-event never counts a needle it does not contain.
                self.pending
                    .push_back((rec, if last { p.needles } else { 0 }));
            });
            // Lines of one stack trace are microseconds apart, like a real logger's.
            self.clock_ns += self.clock_rng.range(1000, 200_000) as i64;
        }
    }
}

impl Iterator for Generator {
    type Item = LogLine;

    fn next(&mut self) -> Option<LogLine> {
        if self.emitted >= self.limit {
            return None;
        }
        while self.pending.is_empty() {
            self.queue_event();
        }
        let (line, needles) = self.pending.pop_front()?;
        self.emitted += 1;
        self.needle_count += u64::from(needles);
        Some(line)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.limit - self.emitted).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_match_the_reference_script() {
        // hashlib.sha256(b"docker-bench-42-0").hexdigest()
        assert_eq!(
            container_id(42, 0),
            "82c3130c1557f7883022d75aab255aa518ff1910176aa4c4456e9d8d3b9bb481"
        );
        assert_eq!(
            container_id(7, 3),
            "5492053f280639e4c3981da3d3575e91ea13ca3fd9b4b4d3eaa397f6694e875e"
        );
    }

    #[test]
    fn bad_configs_are_rejected_with_the_flag_name() {
        let cases: [(GenConfig, &str); 4] = [
            (
                GenConfig {
                    containers: 0,
                    ..GenConfig::default()
                },
                "containers",
            ),
            (
                GenConfig {
                    needle: "two words".into(),
                    ..GenConfig::default()
                },
                "needle",
            ),
            (
                GenConfig {
                    needle_prob: 1.5,
                    ..GenConfig::default()
                },
                "needle-prob",
            ),
            (
                GenConfig {
                    span_seconds: f64::NAN,
                    ..GenConfig::default()
                },
                "span-seconds",
            ),
        ];
        for (cfg, field) in cases {
            let err = Generator::new(&cfg).err().expect("config must be rejected");
            assert!(err.to_string().contains(field), "{err}");
        }
        assert!(parse_start("yesterday")
            .unwrap_err()
            .to_string()
            .contains("RFC 3339"));
        assert_eq!(
            parse_start("2026-11-20T10:00:00Z").unwrap(),
            DEFAULT_START_NS
        );
        assert_eq!(
            parse_start("2026-11-20T11:00:00.5+01:00").unwrap(),
            DEFAULT_START_NS + 500_000_000
        );
    }

    #[test]
    fn iterator_yields_exactly_lines_in_time_order() {
        let cfg = GenConfig {
            lines: 5_000,
            containers: 4,
            ..GenConfig::default()
        };
        let lines: Vec<LogLine> = Generator::new(&cfg).unwrap().collect();
        assert_eq!(lines.len(), 5_000);
        assert!(lines.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
        assert!(lines[0].time_ns > cfg.start_ns);
        assert!(lines.iter().all(|l| l.container < 4));
    }
}
