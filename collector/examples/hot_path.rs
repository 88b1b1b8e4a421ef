//! The agent's per-line work on json-file logs, alone and on one thread: decoding
//! (framing, partial lines, payload parsing), encoding into the compact batch form, and
//! zstd of 1 MiB batches, each timed in CPU time of its thread. Much steadier than `bench/agent` on a busy
//! machine, so it is what changes to the hot path were tried with; `bench/agent` says
//! what they are worth in the real agent.
//!
//! ```sh
//! cargo run --release -p skein-collector --example hot_path -- FILE-json.log… [--level N] [--rounds N] [--dump PATH]
//! ```

use skein_collector::decode::{Event, Format, SourceDecoder};
use skein_collector::encode::{BatchWriter, RecordEncoder};
use skein_collector::{PayloadConfig, SourceMeta};
use std::time::{Duration, Instant};

/// This thread's CPU time: on a machine others keep busy, wall time measures them too.
fn cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn main() {
    let mut files = Vec::new();
    let mut level = 1;
    let mut rounds = 3;
    let mut dump: Option<std::fs::File> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--level" => level = args.next().and_then(|v| v.parse().ok()).expect("--level N"),
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rounds N")
            }
            // The first 32 MiB of batch bodies, for `zstd -b` and the like.
            "--dump" => {
                dump = Some(
                    std::fs::File::create(args.next().expect("--dump PATH")).expect("dump file"),
                )
            }
            _ => files.push(std::fs::read(&a).unwrap_or_else(|e| panic!("{a}: {e}"))),
        }
    }
    let bytes: usize = files.iter().map(Vec::len).sum();
    let mut zstd = zstd::bulk::Compressor::new(level).expect("zstd level");
    for round in 0..rounds {
        let (mut decode, mut encode, mut compress) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let (mut body_bytes, mut zstd_bytes, mut records) = (0usize, 0usize, 0usize);
        let mut batch = BatchWriter::with_capacity(2 << 20);
        let mut events: Vec<Event> = Vec::new();
        for (n, file) in files.iter().enumerate() {
            let meta = SourceMeta::from_container_id("node-1", format!("{n:064x}"));
            let encoder = RecordEncoder::new(&meta, None);
            let mut decoder =
                SourceDecoder::new(Format::JsonFile, PayloadConfig::default(), None, 1 << 20);
            let now = Instant::now();
            let mut pos = 0;
            while pos < file.len() {
                // Rounds of 256 KiB, as the reader reads.
                let round_end = (pos + (256 << 10)).min(file.len());
                let t = cpu();
                while pos < round_end {
                    let end =
                        memchr::memchr(b'\n', &file[pos..]).map_or(file.len(), |i| pos + i + 1);
                    decoder.push_line(&file[pos..end], pos as u64, now, &mut events);
                    pos = end;
                }
                let t2 = cpu();
                records += events.len();
                for e in events.drain(..) {
                    encoder.encode(&e, 0, &mut batch);
                }
                let t3 = cpu();
                decode += t2 - t;
                encode += t3 - t2;
                if batch.len() >= 1 << 20 {
                    let t = cpu();
                    let z = zstd.compress(&batch.bytes).expect("zstd");
                    compress += cpu() - t;
                    body_bytes += batch.len();
                    if let Some(f) = &mut dump {
                        if body_bytes <= 32 << 20 {
                            std::io::Write::write_all(f, &batch.bytes).expect("dump");
                        }
                    }
                    zstd_bytes += z.len();
                    batch.clear();
                }
            }
        }
        let ns_per_byte = |d: Duration| d.as_nanos() as f64 / bytes as f64;
        println!(
            "round {round}: {records} records of {bytes} json-file bytes; ns per json-file byte: decode {:.2}, encode {:.2}, zstd-{level} {:.2} (body {:.3} B/B, x{:.2}); total {:.2}",
            ns_per_byte(decode),
            ns_per_byte(encode),
            ns_per_byte(compress),
            body_bytes as f64 / bytes as f64,
            body_bytes as f64 / zstd_bytes.max(1) as f64,
            ns_per_byte(decode + encode + compress),
        );
    }
}
