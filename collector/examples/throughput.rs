//! Single-core throughput of the parsing stages on a synthetic json-file log shaped like
//! `gen_docker_logs.py` output (~60% JSON application logs, ~30% nginx access lines,
//! ~10% plain text; ~320-byte lines).
//!
//! `cargo run --release -p skein-collector --example throughput [MiB]`

use skein_collector::parse::json_file::{encode_line, JsonFileDecoder};
use skein_collector::parse::{cri, payload};
use skein_collector::{records_from_json_file, JsonFileOptions, PartialMerger, SourceMeta, Stream};
use skein_model::Timestamp;
use std::hint::black_box;
use std::time::Instant;

const WORDS: [&str; 24] = [
    "account",
    "batch",
    "cache",
    "checkout",
    "cluster",
    "commit",
    "connection",
    "cursor",
    "deadline",
    "dispatch",
    "endpoint",
    "evict",
    "gateway",
    "handshake",
    "inventory",
    "ledger",
    "manifest",
    "payment",
    "queue",
    "replica",
    "session",
    "shard",
    "token",
    "upstream",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn word(&mut self) -> &'static str {
        WORDS[self.below(WORDS.len() as u64) as usize]
    }
    fn sentence(&mut self, n: usize) -> String {
        (0..n).map(|_| self.word()).collect::<Vec<_>>().join(" ")
    }
}

fn payload_line(r: &mut Rng, t: Timestamp) -> (String, Stream) {
    match r.below(10) {
        0..=5 => {
            let level = ["info", "info", "info", "debug", "warn", "error"][r.below(6) as usize];
            let stream = if level == "error" {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            let line = format!(
                r#"{{"level":"{level}","service":"checkout","msg":"{}","user_id":{},"latency_ms":{},"path":"/api/v1/{}/{}","method":"POST","status":{},"trace_id":"{:016x}{:016x}"}}"#,
                r.sentence(6),
                r.below(2_000_000),
                r.below(3000),
                r.word(),
                r.below(99999),
                [200, 201, 404, 500][r.below(4) as usize],
                r.next(),
                r.next()
            );
            (line, stream)
        }
        6..=8 => {
            let line = format!(
                r#"10.{}.{}.{} - - [20/Nov/2026:10:00:00 +0000] "GET /api/v1/{}/{}?q={} HTTP/1.1" {} {} "https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0" rt=0.{:03} uct="0.000" req_id={:016x}"#,
                r.below(256),
                r.below(256),
                r.below(254) + 1,
                r.word(),
                r.below(99999),
                r.word(),
                [200, 304, 404, 502][r.below(4) as usize],
                r.below(100_000),
                r.below(1000),
                r.next()
            );
            (line, Stream::Stdout)
        }
        _ => {
            let dt = t.to_rfc3339();
            let line = format!(
                "{} {}.{} INFO  [checkout] {} for {} after {}ms and a few more words to fill",
                &dt[..10],
                &dt[11..19],
                &dt[20..23],
                r.sentence(8),
                r.word(),
                r.below(5000)
            );
            (line, Stream::Stdout)
        }
    }
}

fn corpus(bytes: usize) -> (Vec<u8>, Vec<u8>, usize) {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut json_file, mut cri_file, mut lines) = (Vec::new(), Vec::new(), 0);
    let mut t = Timestamp::parse_rfc3339("2026-11-20T10:00:00Z").unwrap();
    while json_file.len() < bytes {
        t = Timestamp(t.0 + 1 + r.below(2_000_000) as i64);
        let (p, stream) = payload_line(&mut r, t);
        json_file.extend_from_slice(encode_line(&format!("{p}\n"), stream, t).as_bytes());
        cri_file.extend_from_slice(cri::encode_line(t, stream, true, &p).as_bytes());
        lines += 1;
    }
    (json_file, cri_file, lines)
}

fn best_of<F: FnMut() -> u64>(runs: usize, mut f: F) -> (f64, u64) {
    let mut best = f64::MAX;
    let mut check = 0;
    for _ in 0..runs {
        let start = Instant::now();
        check = f();
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, check)
}

fn report(name: &str, bytes: usize, lines: usize, (secs, check): (f64, u64)) {
    println!(
        "{name:<44} {:>8.0} MB/s {:>7.2} M lines/s  (check {check})",
        bytes as f64 / secs / 1e6,
        lines as f64 / secs / 1e6
    );
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(128);
    let (json_file, cri_file, lines) = corpus(mib << 20);
    println!(
        "corpus: {} json-file bytes, {lines} lines, {:.0} bytes/line",
        json_file.len(),
        json_file.len() as f64 / lines as f64
    );
    let mut meta = SourceMeta::from_container_id(
        "node-1",
        "3f2a9c1be0d84a7c9e51b2f6a8d04c1e7b93f5a2c6d8e0f1a3b5c7d9e1f2a4b6",
    );
    meta.container = "web".into();
    meta.image = "shop/web:1.4".into();
    meta.labels
        .insert("com.docker.compose.service".into(), "web".into());
    meta.labels
        .insert("com.docker.compose.project".into(), "shop".into());
    let pipeline = || {
        let records = records_from_json_file(&json_file[..], &meta, JsonFileOptions::default());
        black_box(records.map(|r| r.message.len() as u64).sum())
    };
    // `throughput MiB pipeline` runs only the whole pipeline, for profiling.
    if std::env::args().nth(2).as_deref() == Some("pipeline") {
        report(
            "records_from_json_file (whole pipeline)",
            json_file.len(),
            lines,
            best_of(5, pipeline),
        );
        return;
    }
    let line_slices: Vec<&[u8]> = json_file.split_inclusive(|&b| b == b'\n').collect();

    report(
        "json-file decode (fast path)",
        json_file.len(),
        lines,
        best_of(5, || {
            let mut d = JsonFileDecoder::new();
            let mut n = 0u64;
            for l in &line_slices {
                let e = d.decode(l).unwrap();
                n += e.log.len() as u64 + e.time.0 as u64 % 2;
            }
            black_box(n)
        }),
    );

    // The same lines laid out unusually (a leading space) go through serde_json.
    let spaced: Vec<Vec<u8>> = line_slices.iter().map(|l| [b" ", *l].concat()).collect();
    report(
        "json-file decode (serde_json fallback)",
        json_file.len(),
        lines,
        best_of(3, || {
            let mut d = JsonFileDecoder::new();
            let mut n = 0u64;
            for l in &spaced {
                n += d.decode(l).unwrap().log.len() as u64;
            }
            black_box(n)
        }),
    );

    report(
        "json-file decode + partial merge",
        json_file.len(),
        lines,
        best_of(5, || {
            let mut d = JsonFileDecoder::new();
            let mut m = PartialMerger::default();
            let mut out = Vec::with_capacity(2);
            let mut n = 0u64;
            let mut offset = 0u64;
            for l in &line_slices {
                let e = d.decode(l).unwrap();
                m.push(
                    e.stream,
                    e.time,
                    e.text(),
                    e.is_complete(),
                    offset,
                    &mut out,
                );
                offset += l.len() as u64;
                for line in out.drain(..) {
                    n += line.text.len() as u64;
                }
            }
            black_box(n)
        }),
    );

    let cri_lines: Vec<&[u8]> = cri_file.split_inclusive(|&b| b == b'\n').collect();
    report(
        "CRI decode",
        cri_file.len(),
        lines,
        best_of(5, || {
            let mut n = 0u64;
            for l in &cri_lines {
                n += cri::parse_line(l).unwrap().text.len() as u64;
            }
            black_box(n)
        }),
    );

    let payloads: Vec<Vec<u8>> = {
        let mut d = JsonFileDecoder::new();
        line_slices
            .iter()
            .map(|l| d.decode(l).unwrap().text().to_vec())
            .collect()
    };
    let payload_bytes: usize = payloads.iter().map(Vec::len).sum();
    let config = payload::PayloadConfig::default();
    report(
        "payload parse (JSON/logfmt/plain mix)",
        payload_bytes,
        lines,
        best_of(3, || {
            let mut n = 0u64;
            for p in &payloads {
                n += payload::parse(p.clone(), &config).fields.len() as u64;
            }
            black_box(n)
        }),
    );
    report(
        "records_from_json_file (whole pipeline)",
        json_file.len(),
        lines,
        best_of(3, pipeline),
    );
}
