//! Properties of generated corpora, checked through the public API and the files on disk.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde_json::Value;
use skein_gen::{
    generate_batch, generate_live, GenConfig, Generator, LiveConfig, Manifest, Stream,
};

/// A parsed json-file record.
struct Rec {
    log: String,
    stream: String,
    time: String,
}

fn parse(line: &str) -> Rec {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let obj = v.as_object().expect("record is an object");
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(keys, ["log", "stream", "time"], "dockerd's field order");
    Rec {
        log: obj["log"].as_str().unwrap().to_owned(),
        stream: obj["stream"].as_str().unwrap().to_owned(),
        time: obj["time"].as_str().unwrap().to_owned(),
    }
}

fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            for (k, v) in read_tree(&path) {
                out.insert(format!("{name}/{k}"), v);
            }
        } else {
            out.insert(name, fs::read(&path).unwrap());
        }
    }
    out
}

fn small(lines: u64) -> GenConfig {
    GenConfig {
        lines,
        containers: 8,
        ..GenConfig::default()
    }
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seed_differs() {
    let cfg = small(20_000);
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let ma = generate_batch(&cfg, a.path()).unwrap();
    let mb = generate_batch(&cfg, b.path()).unwrap();
    assert_eq!(ma, mb);
    let (ta, tb) = (read_tree(a.path()), read_tree(b.path()));
    assert_eq!(ta.len(), 8 + 1, "8 logs and the manifest");
    assert!(ta == tb, "same config must give byte-identical trees");

    let other = GenConfig { seed: 43, ..cfg };
    generate_batch(&other, c.path()).unwrap();
    let tc = read_tree(c.path());
    assert!(
        ta.keys().zip(tc.keys()).any(|(x, y)| x != y),
        "ids depend on the seed"
    );
}

#[test]
fn record_mix_matches_the_reference_proportions() {
    let cfg = small(60_000);
    let mut gen = Generator::new(&cfg).unwrap();
    let (mut json, mut nginx, mut plain) = (0u64, 0u64, 0u64);
    let mut levels: HashMap<String, u64> = HashMap::new();
    for rec in gen.by_ref() {
        let r = parse(&rec.line);
        assert_eq!(r.stream, rec.stream.as_str());
        let payload = r.log.strip_suffix('\n').expect("whole lines end in \\n");
        if payload.starts_with('{') {
            json += 1;
            let v: Value = serde_json::from_str(payload).unwrap();
            for key in [
                "level",
                "service",
                "msg",
                "user_id",
                "latency_ms",
                "path",
                "method",
                "status",
                "trace_id",
            ] {
                assert!(v.get(key).is_some(), "{key} missing in {payload}");
            }
            let level = v["level"].as_str().unwrap();
            assert_eq!(v.get("error").is_some(), level == "error", "{payload}");
            assert_eq!(v["trace_id"].as_str().unwrap().len(), 32);
            *levels.entry(level.to_owned()).or_default() += 1;
        } else if payload.starts_with("10.") && payload.contains(" - - [") {
            nginx += 1;
            assert!(
                payload.contains(" HTTP/1.1\" ") && payload.contains(" rt="),
                "{payload}"
            );
        } else {
            plain += 1;
        }
    }
    let n = (json + nginx + plain) as f64;
    let share = |k: u64| k as f64 / n;
    assert!((share(json) - 0.60).abs() < 0.02, "json {}", share(json));
    assert!((share(nginx) - 0.30).abs() < 0.02, "nginx {}", share(nginx));
    assert!((share(plain) - 0.10).abs() < 0.02, "plain {}", share(plain));
    let info = levels["info"] as f64 / json as f64;
    assert!((info - 0.62).abs() < 0.02, "info share {info}");
    let counts = gen.event_counts();
    assert!(counts.stack > 0 && counts.plain > 0 && counts.long == 0);
}

#[test]
fn stack_traces_are_one_stderr_record_per_line() {
    let lines: Vec<_> = Generator::new(&small(30_000)).unwrap().collect();
    let frames: Vec<_> = lines
        .iter()
        .map(|l| (l, parse(&l.line)))
        .filter(|(_, r)| r.log.starts_with("\tat "))
        .collect();
    assert!(
        frames.len() > 100,
        "expected stack frames, got {}",
        frames.len()
    );
    for (l, r) in &frames {
        assert_eq!(l.stream, Stream::Stderr);
        assert!(r.log.ends_with(")\n"), "{:?}", r.log);
        // dockerd writes the tab as \u0009, not \t.
        assert!(l.line.starts_with(r#"{"log":"\u0009at "#), "{}", l.line);
    }
}

#[test]
fn needle_count_in_manifest_equals_occurrences_in_files() {
    let cfg = GenConfig {
        needle_prob: 0.01,
        ..small(20_000)
    };
    let dir = tempfile::tempdir().unwrap();
    let m = generate_batch(&cfg, dir.path()).unwrap();
    let mut found = 0u64;
    for (name, bytes) in read_tree(dir.path()) {
        if name.ends_with("-json.log") {
            let text = String::from_utf8(bytes).unwrap();
            found += text.matches(cfg.needle.as_str()).count() as u64;
        }
    }
    assert!(m.needle_count > 50, "needle_count {}", m.needle_count);
    assert_eq!(found, m.needle_count);
}

#[test]
fn manifest_agrees_with_the_files() {
    let cfg = small(10_000);
    let dir = tempfile::tempdir().unwrap();
    let m = generate_batch(&cfg, dir.path()).unwrap();
    assert_eq!(Manifest::load(dir.path()).unwrap(), m);
    assert_eq!(m.lines, 10_000);
    assert_eq!(m.files.len(), 8);
    assert_eq!(m.files.values().map(|f| f.lines).sum::<u64>(), m.lines);
    let gen = Generator::new(&cfg).unwrap();
    let (mut min_ns, mut max_ns, mut total) = (i64::MAX, i64::MIN, 0u64);
    for c in gen.containers() {
        let text = fs::read_to_string(c.log_path(dir.path())).unwrap();
        let entry = &m.files[&c.id];
        assert_eq!(entry.service, c.service);
        assert_eq!(entry.bytes, text.len() as u64);
        assert_eq!(entry.lines, text.lines().count() as u64);
        total += text.len() as u64;
        let mut prev = String::new();
        for line in text.lines() {
            let r = parse(line);
            // Fixed nine fraction digits sort as text in time order.
            assert_eq!(
                r.time.len(),
                "2026-11-20T10:00:00.123456789Z".len(),
                "{}",
                r.time
            );
            assert!(r.time.ends_with('Z') && r.time >= prev);
            let ns = skein_gen::parse_start(&r.time).unwrap();
            min_ns = min_ns.min(ns);
            max_ns = max_ns.max(ns);
            prev = r.time;
        }
    }
    assert_eq!(total, m.bytes);
    assert_eq!((m.first_ns, m.last_ns), (min_ns, max_ns));
    assert!(m.last_ns < cfg.start_ns + (cfg.span_seconds * 1.05e9) as i64);
    // Skewed shares: the busiest container has several times the quietest one's lines.
    let most = m.files.values().map(|f| f.lines).max().unwrap();
    let least = m.files.values().map(|f| f.lines).min().unwrap();
    assert!(most > 3 * least, "{most} vs {least}");
}

#[test]
fn long_lines_split_into_16k_partials_that_reassemble() {
    let cfg = GenConfig {
        partial_prob: 0.02,
        ..small(4_000)
    };
    let mut gen = Generator::new(&cfg).unwrap();
    let mut open: HashMap<usize, (String, usize, String)> = HashMap::new();
    let mut merged = Vec::new();
    for rec in gen.by_ref() {
        let r = parse(&rec.line);
        let (buf, parts, time) = open.entry(rec.container).or_default();
        if *parts > 0 {
            assert_eq!(&r.time, time, "partials of one line share its time");
        }
        buf.push_str(&r.log);
        *parts += 1;
        *time = r.time;
        if r.log.ends_with('\n') {
            let (text, n, _) = open.remove(&rec.container).unwrap();
            if n > 1 {
                merged.push((text, n));
            }
        } else {
            assert_eq!(
                r.log.len(),
                16 * 1024,
                "partial records carry exactly 16 KiB"
            );
        }
    }
    let long = gen.event_counts().long;
    assert!(long >= 20, "expected long lines, got {long}");
    // The last one may be cut short by the line limit and stay open.
    assert!(merged.len() as u64 + 1 >= long && !merged.is_empty());
    for (text, parts) in &merged {
        assert!(text.len() > 16 * 1024 + 100, "{}", text.len());
        assert_eq!(parts, &text.len().div_ceil(16 * 1024));
        assert!(text.contains("] large payload dump: "));
    }
}

#[test]
fn average_record_size_matches_the_reference() {
    // tools/gen_docker_logs.py at its defaults writes ~320.2 bytes per record.
    let dir = tempfile::tempdir().unwrap();
    let m = generate_batch(&small(50_000), dir.path()).unwrap();
    let per_line = m.bytes as f64 / m.lines as f64;
    assert!(
        (per_line - 320.2).abs() < 320.2 * 0.03,
        "{per_line} bytes/line"
    );
}

#[test]
fn live_mode_appends_and_rotates_by_rename() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LiveConfig {
        gen: GenConfig {
            lines: 3_000,
            containers: 2,
            ..GenConfig::default()
        },
        rate: 30_000.0,
        duration: Some(Duration::from_secs(20)),
        rotate_bytes: 64 * 1024,
        rotate_keep: 2,
    };
    let stop = AtomicBool::new(false);
    let stats = generate_live(&cfg, dir.path(), &stop).unwrap();
    assert_eq!(stats.lines, 3_000);
    assert!(stats.rotations >= 4, "{stats:?}");
    let gen = Generator::new(&cfg.gen).unwrap();
    let mut rotated_seen = false;
    for c in gen.containers() {
        let live = c.log_path(dir.path());
        let name = live.file_name().unwrap().to_string_lossy().into_owned();
        let one = live.with_file_name(format!("{name}.1"));
        let three = live.with_file_name(format!("{name}.3"));
        assert!(!three.exists(), "only rotate_keep files are kept");
        if one.exists() {
            rotated_seen = true;
            let text = fs::read_to_string(&one).unwrap();
            assert!(text.len() as u64 >= cfg.rotate_bytes);
            for line in text.lines() {
                parse(line);
            }
        }
        for line in fs::read_to_string(&live).unwrap().lines() {
            parse(line);
        }
    }
    assert!(rotated_seen, "expected an <id>-json.log.1");
}

#[test]
fn live_mode_honours_the_stop_flag() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LiveConfig {
        rate: 1_000.0,
        ..LiveConfig::default()
    };
    let stop = AtomicBool::new(true);
    let stats = generate_live(&cfg, dir.path(), &stop).unwrap();
    assert!(stats.elapsed < Duration::from_secs(1));
    let bad = LiveConfig {
        rate: 0.0,
        ..LiveConfig::default()
    };
    let err = generate_live(&bad, dir.path(), &stop).unwrap_err();
    assert!(err.to_string().contains("rate"), "{err}");
}
