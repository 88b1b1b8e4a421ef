//! Aggregations against answers computed here from the records themselves: over three
//! daily partitions, with several segments each, and while more records arrive.

mod common;

use common::{config, wait_total};
use serde_json::{json, Value};
use skein_indexer::{Engine, PreparedBatch};
use skein_model::{Level, Record, Timestamp};
use skein_query::{aggregate, AggregateError, AggregateRequest};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MINUTE: i64 = 60_000_000_000;
const HOUR: i64 = 60 * MINUTE;

/// A small deterministic generator, so the corpus is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const CONTAINERS: [&str; 3] = ["api-1", "web", "worker"];

fn base() -> i64 {
    Timestamp::parse_rfc3339("2026-11-19T20:00:00Z").unwrap().0
}

/// 3,000 records from 20:00 on day one to about 04:00 on day three: three partitions.
fn corpus() -> Vec<Record> {
    let mut rng = Lcg(7);
    let mut t = base();
    (0..3000)
        .map(|i| {
            t += (rng.below(40) as i64 + 1) * 2_000_000_000;
            let mut r = Record::new(Timestamp(t), format!("request {i}"));
            r.host = if i % 7 == 0 { "node-2" } else { "node-1" }.into();
            // Uneven shares, so top-N orders are not ties.
            let c = match rng.below(10) {
                0..=5 => 0,
                6..=8 => 1,
                _ => 2,
            };
            r.container = CONTAINERS[c].into();
            r.level = match rng.below(20) {
                0 => None,
                1..=2 => Some(Level::Error),
                3..=5 => Some(Level::Warn),
                6 => Some(Level::Debug),
                _ => Some(Level::Info),
            };
            let latency = rng.below(1000) * rng.below(3);
            r.fields.insert("latency_ms".into(), json!(latency));
            // Path k has weight k+1 out of 55, and 1 record in 11 has none.
            if rng.below(11) != 0 {
                let mut x = rng.below(55);
                let mut k = 0;
                while x > k {
                    x -= k + 1;
                    k += 1;
                }
                r.fields
                    .insert("path".into(), json!(format!("/api/items/{k}")));
            }
            r.fields
                .insert("user_id".into(), json!(rng.below(400) as i64 + 1));
            // Skewed towards small numbers with a long tail of singletons: a
            // high-cardinality keyword.
            let span = 1 + rng.below(3000);
            r.fields
                .insert("trace".into(), json!(format!("t{}", rng.below(span))));
            r.source_id = Some(format!("test/{}", r.timestamp.day_number()));
            r.seq = Some(i as u64 + 1);
            r
        })
        .collect()
}

fn level_name(r: &Record) -> Option<&'static str> {
    r.level.map(|l| l.as_str())
}

fn ingest(engine: &Engine, records: &[Record], rt: &tokio::runtime::Runtime) {
    for chunk in records.chunks(250) {
        let out = rt
            .block_on(engine.ingest(PreparedBatch::new(chunk.to_vec(), None)))
            .unwrap();
        assert_eq!(out.accepted, chunk.len());
        // A commit between batches: several segments per partition.
        std::thread::sleep(Duration::from_millis(110));
    }
}

fn agg(engine: &Engine, q: &str, range: Option<(i64, i64)>, aggs: Value) -> (u64, Value) {
    let r = aggregate(
        engine.catalog(),
        &AggregateRequest {
            q: q.into(),
            start: range.map(|r| Timestamp(r.0)),
            end: range.map(|r| Timestamp(r.1)),
            aggs,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (r.total, r.aggregations)
}

fn buckets(v: &Value) -> &Vec<Value> {
    v["buckets"].as_array().expect("buckets")
}

fn count(v: &Value) -> u64 {
    v["doc_count"].as_u64().unwrap()
}

/// Exact percentile by nearest rank.
fn exact_percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

#[test]
fn aggregations_match_answers_computed_from_the_records() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(tmp.path())).unwrap();
    let records = corpus();
    ingest(&engine, &records, &rt);
    wait_total(&engine, "*", records.len() as u64);
    assert_eq!(engine.catalog().len(), 3, "the corpus spans three days");
    assert!(
        engine
            .catalog()
            .all()
            .iter()
            .any(|p| p.searcher().segment_readers().len() > 1),
        "partitions of several segments"
    );

    // Count per level per hour, over the whole range and across both midnights.
    let (total, out) = agg(
        &engine,
        "",
        None,
        json!({"per_hour": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"},
            "aggs": {"per_level": {"terms": {"field": "level", "missing": "none"}}}}}),
    );
    assert_eq!(total, records.len() as u64);
    let mut want: BTreeMap<i64, BTreeMap<&str, u64>> = BTreeMap::new();
    for r in &records {
        let hour = r.timestamp.0.div_euclid(HOUR) * HOUR / 1_000_000;
        *want
            .entry(hour)
            .or_default()
            .entry(level_name(r).unwrap_or("none"))
            .or_default() += 1;
    }
    let got_hours = buckets(&out["per_hour"]);
    assert_eq!(
        got_hours.len(),
        want.len(),
        "one bucket per hour, none empty"
    );
    for b in got_hours {
        let key = b["key"].as_i64().expect("integer epoch-ms key");
        let levels = &want[&key];
        assert_eq!(count(b), levels.values().sum::<u64>(), "hour {key}");
        let got: BTreeMap<&str, u64> = buckets(&b["per_level"])
            .iter()
            .map(|l| (l["key"].as_str().unwrap(), count(l)))
            .collect();
        assert_eq!(&got, levels, "levels in hour {key}");
        assert!(b["key_as_string"].as_str().unwrap().ends_with('Z'));
    }

    // Top 5 paths, with the records lacking one counted under `missing`.
    let (_, out) = agg(
        &engine,
        "",
        None,
        json!({"paths": {"terms": {"field": "path", "size": 5, "missing": "(none)"}}}),
    );
    let mut paths: BTreeMap<String, u64> = BTreeMap::new();
    for r in &records {
        let p = r
            .fields
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("(none)");
        *paths.entry(p.to_string()).or_default() += 1;
    }
    let mut want_counts: Vec<u64> = paths.values().copied().collect();
    want_counts.sort_unstable_by(|a, b| b.cmp(a));
    let got = buckets(&out["paths"]);
    assert_eq!(
        got.iter().map(count).collect::<Vec<_>>(),
        want_counts[..5],
        "top 5 counts"
    );
    for b in got {
        assert_eq!(count(b), paths[b["key"].as_str().unwrap()], "{b}");
    }
    assert_eq!(
        out["paths"]["sum_other_doc_count"].as_u64().unwrap(),
        want_counts[5..].iter().sum::<u64>()
    );
    assert_eq!(out["paths"]["doc_count_error_upper_bound"], 0);

    // Top values of a high-cardinality field: exact, with ties ordered by value, the
    // same through the per-segment counting and through Tantivy's terms.
    let mut traces: BTreeMap<String, u64> = BTreeMap::new();
    for r in records.iter().filter(|r| r.level != Some(Level::Debug)) {
        *traces
            .entry(r.fields["trace"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let mut ranked: Vec<(String, u64)> = traces.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert!(ranked.len() > 1000, "{} distinct", ranked.len());
    for size in [1, 10, 40] {
        let want: Vec<Value> = ranked[..size]
            .iter()
            .map(|(k, n)| json!({"key": k, "doc_count": n}))
            .collect();
        let other: u64 = ranked[size..].iter().map(|t| t.1).sum();
        for extra in [json!({}), json!({"shard_size": 100_000})] {
            let mut terms = json!({"field": "trace", "size": size});
            terms
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let (total, out) = agg(
                &engine,
                "NOT level:debug",
                None,
                json!({"t": {"terms": terms}}),
            );
            assert_eq!(out["t"]["buckets"], json!(want), "size {size}, {extra}");
            assert_eq!(
                out["t"]["sum_other_doc_count"], other,
                "size {size}, {extra}"
            );
            assert_eq!(total, ranked.iter().map(|t| t.1).sum::<u64>());
        }
    }

    // The same top values with sub-aggregations: the top values are chosen first and
    // only they are aggregated, which must answer exactly what aggregating every value
    // does (a `shard_size` that still keeps every term takes Tantivy's whole path).
    for size in [1, 10, 40] {
        let sub = json!({"lat": {"avg": {"field": "latency_ms"}},
            "pct": {"percentiles": {"field": "latency_ms", "percents": [50, 99]}},
            "per_container": {"terms": {"field": "container"}}});
        let (_, chosen) = agg(
            &engine,
            "NOT level:debug",
            None,
            json!({"t": {"terms": {"field": "trace", "size": size}, "aggs": sub}}),
        );
        let (_, whole) = agg(
            &engine,
            "NOT level:debug",
            None,
            json!({"t": {"terms": {"field": "trace", "size": size,
                "shard_size": u32::MAX - 1}, "aggs": sub}}),
        );
        assert_eq!(chosen, whole, "size {size}");
        let keys: Vec<(String, u64)> = buckets(&chosen["t"])
            .iter()
            .map(|b| (b["key"].as_str().unwrap().to_string(), count(b)))
            .collect();
        assert_eq!(keys, ranked[..size].to_vec(), "size {size}");
        let other: u64 = ranked[size..].iter().map(|t| t.1).sum();
        assert_eq!(chosen["t"]["sum_other_doc_count"], other, "size {size}");
    }

    // Distinct values over everything (read straight from the columns) and under a
    // query (read per matching record), strings and numbers, within the sketch's error.
    for (q, field) in [("", "trace"), ("", "user_id"), ("NOT level:debug", "trace")] {
        let exact: HashSet<String> = records
            .iter()
            .filter(|r| q.is_empty() || r.level != Some(Level::Debug))
            .map(|r| r.fields[field].to_string())
            .collect();
        let (_, out) = agg(
            &engine,
            q,
            None,
            json!({"d": {"cardinality": {"field": field}}}),
        );
        let est = out["d"]["value"].as_f64().unwrap();
        let n = exact.len() as f64;
        assert!((est - n).abs() <= n * 0.02, "{q:?} {field}: {est} vs {n}");
    }

    // Metrics, histogram and ranges over a query and a range crossing midnight.
    let lo = Timestamp::parse_rfc3339("2026-11-20T22:30:00Z").unwrap().0;
    let hi = Timestamp::parse_rfc3339("2026-11-21T01:30:00Z").unwrap().0;
    let (total, out) = agg(
        &engine,
        "container:api-1 OR level:error",
        Some((lo, hi)),
        json!({
            "stats": {"stats": {"field": "latency_ms"}},
            "avg": {"avg": {"field": "fields.latency_ms"}},
            "max": {"max": {"field": "latency_ms"}},
            "hist": {"histogram": {"field": "latency_ms", "interval": 250}},
            "ranges": {"range": {"field": "latency_ms", "ranges": [
                {"to": 100}, {"from": 100, "to": 500}, {"from": 500}]}},
            "pct": {"percentiles": {"field": "latency_ms", "percents": [50, 95, 99]}},
            "users": {"cardinality": {"field": "user_id"}},
            "first": {"min": {"field": "@timestamp"}},
        }),
    );
    let chosen: Vec<&Record> = records
        .iter()
        .filter(|r| (lo..=hi).contains(&r.timestamp.0))
        .filter(|r| r.container == "api-1" || r.level == Some(Level::Error))
        .collect();
    assert!(chosen.len() > 100, "the range holds enough records");
    assert_eq!(total, chosen.len() as u64);
    let first = chosen.iter().map(|r| r.timestamp.0).min().unwrap();
    assert_eq!(out["first"]["value"].as_f64().unwrap(), first as f64 / 1e6);
    let text = out["first"]["value_as_string"].as_str().unwrap();
    assert!(
        (Timestamp::parse_rfc3339(text).unwrap().0 - first).abs() <= 256,
        "{text}"
    );
    let lat: Vec<f64> = chosen
        .iter()
        .map(|r| r.fields["latency_ms"].as_f64().unwrap())
        .collect();
    let sum: f64 = lat.iter().sum();
    assert_eq!(out["stats"]["count"], chosen.len() as u64);
    assert_eq!(out["stats"]["sum"].as_f64().unwrap(), sum);
    assert!((out["avg"]["value"].as_f64().unwrap() - sum / lat.len() as f64).abs() < 1e-9);
    let max = lat.iter().cloned().fold(f64::MIN, f64::max);
    assert_eq!(out["max"]["value"].as_f64().unwrap(), max);
    assert_eq!(
        out["stats"]["min"].as_f64().unwrap(),
        lat.iter().cloned().fold(f64::MAX, f64::min)
    );
    let mut hist: BTreeMap<i64, u64> = BTreeMap::new();
    for l in &lat {
        *hist.entry((*l as i64 / 250) * 250).or_default() += 1;
    }
    let got: BTreeMap<i64, u64> = buckets(&out["hist"])
        .iter()
        .filter(|b| count(b) > 0)
        .map(|b| (b["key"].as_f64().unwrap() as i64, count(b)))
        .collect();
    assert_eq!(got, hist);
    let in_range = |a: f64, b: f64| lat.iter().filter(|l| **l >= a && **l < b).count() as u64;
    let r = buckets(&out["ranges"]);
    assert_eq!(count(&r[0]), in_range(f64::MIN, 100.0));
    assert_eq!(count(&r[1]), in_range(100.0, 500.0));
    assert_eq!(count(&r[2]), in_range(500.0, f64::MAX));
    let mut sorted = lat.clone();
    sorted.sort_by(f64::total_cmp);
    for p in [50.0, 95.0, 99.0] {
        let exact = exact_percentile(&sorted, p);
        let got = out["pct"]["values"][format!("{p:.1}")].as_f64().unwrap();
        // The sketch is accurate to 1% of the value; a rank may fall either side.
        let rank = sorted.partition_point(|v| *v < got * 0.98);
        let within = (got - exact).abs() <= exact * 0.02 + 1.0
            || (rank..sorted.len()).any(|i| (sorted[i] - got).abs() <= sorted[i] * 0.02);
        assert!(within, "p{p}: got {got}, exact {exact}");
    }
    let users: HashSet<i64> = chosen
        .iter()
        .map(|r| r.fields["user_id"].as_i64().unwrap())
        .collect();
    let est = out["users"]["value"].as_f64().unwrap();
    assert!(
        (est - users.len() as f64).abs() <= users.len() as f64 * 0.03,
        "cardinality {est}, exact {}",
        users.len()
    );

    // Nested three deep: per container, per hour, average latency; hours without
    // records are buckets of 0 between the first and the last.
    let (_, out) = agg(
        &engine,
        "",
        Some((lo, hi)),
        json!({"c": {"terms": {"field": "container", "order": {"_key": "asc"}},
            "aggs": {"h": {"date_histogram": {"fixed_interval": "1h"},
                "aggs": {"lat": {"avg": {"field": "latency_ms"}}}}}}}),
    );
    let cs = buckets(&out["c"]);
    assert_eq!(
        cs.iter()
            .map(|c| c["key"].as_str().unwrap())
            .collect::<Vec<_>>(),
        CONTAINERS
    );
    for c in cs {
        for h in buckets(&c["h"]) {
            let start = h["key"].as_i64().unwrap() * 1_000_000;
            let inside: Vec<f64> = records
                .iter()
                .filter(|r| r.container == c["key"].as_str().unwrap())
                .filter(|r| (lo..=hi).contains(&r.timestamp.0))
                .filter(|r| (start..start + HOUR).contains(&r.timestamp.0))
                .map(|r| r.fields["latency_ms"].as_f64().unwrap())
                .collect();
            assert_eq!(count(h), inside.len() as u64);
            if !inside.is_empty() {
                let avg = inside.iter().sum::<f64>() / inside.len() as f64;
                assert!((h["lat"]["value"].as_f64().unwrap() - avg).abs() < 1e-9);
            }
        }
    }

    // The same sums whether asked for the whole range or one partition at a time.
    let per_day: u64 = engine
        .catalog()
        .all()
        .iter()
        .map(|p| {
            let (_, out) = agg(
                &engine,
                "level:warn",
                Some((p.key.start().0, p.key.end().0 - 1)),
                json!({"s": {"sum": {"field": "latency_ms"}}}),
            );
            out["s"]["value"].as_f64().unwrap() as u64
        })
        .sum();
    let (_, whole) = agg(
        &engine,
        "level:warn",
        None,
        json!({"s": {"sum": {"field": "latency_ms"}}}),
    );
    let want: u64 = records
        .iter()
        .filter(|r| r.level == Some(Level::Warn))
        .map(|r| r.fields["latency_ms"].as_u64().unwrap())
        .sum();
    assert_eq!(per_day, want);
    assert_eq!(whole["s"]["value"].as_f64().unwrap() as u64, want);

    // An automatic interval: a round one giving at most the buckets asked for, over the
    // whole requested range.
    let (total, out) = agg(
        &engine,
        "",
        Some((lo, hi)),
        json!({"t": {"auto_date_histogram": {"field": "@timestamp", "buckets": 20}}}),
    );
    assert_eq!(out["t"]["interval"], "10m");
    let b = buckets(&out["t"]);
    assert_eq!(b.iter().map(count).sum::<u64>(), total);
    assert_eq!(b.first().unwrap()["key"].as_i64().unwrap(), lo / 1_000_000);
    assert!(b.len() <= 20 + 1);
    let (_, out) = agg(
        &engine,
        "",
        None,
        json!({"t": {"date_histogram": {"fixed_interval": "auto", "buckets": 40}}}),
    );
    assert_eq!(out["t"]["interval"], "1h", "32 hours of data in 40 buckets");
}

#[test]
fn answers_stay_exact_while_records_arrive() {
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(config(tmp.path())).unwrap());
    let records = corpus();
    let (old, _) = records.split_at(1500);
    ingest(&engine, old, &rt);
    wait_total(&engine, "*", old.len() as u64);
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for r in old {
        *want.entry(r.container.clone()).or_default() += 1;
    }

    // A writer keeps adding records of another container into the same days.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (engine, stop, rt) = (engine.clone(), stop.clone(), rt.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<Record> = (0..50)
                    .map(|_| {
                        i += 1;
                        let mut r = Record::new(Timestamp(base() + (i as i64 % 30) * HOUR), "late");
                        r.container = "late".into();
                        r
                    })
                    .collect();
                rt.block_on(engine.ingest(PreparedBatch::new(batch, None)))
                    .unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
            i
        })
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut rounds = 0;
    while Instant::now() < deadline {
        let (_, out) = agg(
            &engine,
            "NOT container:late",
            None,
            json!({"c": {"terms": {"field": "container"}}}),
        );
        let got: BTreeMap<String, u64> = buckets(&out["c"])
            .iter()
            .map(|b| (b["key"].as_str().unwrap().to_string(), count(b)))
            .collect();
        assert_eq!(got, want, "round {rounds}");
        // Over everything, each answer is one consistent snapshot per partition: the
        // total is the sum of the buckets.
        let (total, out) = agg(
            &engine,
            "",
            None,
            json!({"h": {"date_histogram": {"fixed_interval": "1h", "min_doc_count": 1}}}),
        );
        assert_eq!(buckets(&out["h"]).iter().map(count).sum::<u64>(), total);
        assert!(total >= old.len() as u64);
        rounds += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    wait_total(&engine, "*", old.len() as u64 + written);
    assert!(
        rounds > 3 && written > 100,
        "{rounds} rounds, {written} written"
    );
}

#[test]
fn bad_requests_say_which_aggregation_and_why() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(tmp.path())).unwrap();
    let run = |q: &str, aggs: Value| {
        aggregate(
            engine.catalog(),
            &AggregateRequest {
                q: q.into(),
                aggs,
                ..Default::default()
            },
        )
    };
    match run("level:(", json!({})) {
        Err(AggregateError::Query(e)) => assert!(e.reason.contains("position"), "{e}"),
        other => panic!("{other:?}"),
    }
    match run("", json!({"a": {"geohash_grid": {"field": "x"}}})) {
        Err(e @ AggregateError::Request { .. }) => {
            let m = e.to_string();
            assert!(m.contains("`a`") && m.contains("geohash_grid"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    match run(
        "",
        json!({"ok": {"avg": {"field": "x"}}, "bad": {"terms": {"field": "level", "colour": 1}}}),
    ) {
        Err(e @ AggregateError::Request { .. }) => {
            let m = e.to_string();
            assert!(
                m.starts_with("aggregation `bad`: `terms` has no option `colour`"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Nothing ingested: empty results in the requested shape, not an error.
    let r = run(
        "",
        json!({"a": {"terms": {"field": "level"}}, "b": {"avg": {"field": "x"}}}),
    )
    .unwrap();
    assert_eq!(r.total, 0);
    assert_eq!(r.aggregations["a"]["buckets"], json!([]));
    assert_eq!(r.aggregations["b"]["value"], Value::Null);
}

/// Hourly counts with a trend and a daily wave: what the forecast must continue.
fn expected_per_hour(h: i64) -> f64 {
    let phase = (h % 24) as f64 / 24.0 * std::f64::consts::TAU;
    30.0 + 0.05 * h as f64 + 15.0 * phase.sin()
}

#[test]
fn forecast_follows_a_daily_season_and_marks_a_spike() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(tmp.path())).unwrap();
    let day0 = Timestamp::parse_rfc3339("2026-11-10T00:00:00Z").unwrap().0;
    let hours = 24 * 6;
    let spike = 24 * 5 + 9;
    let mut records = Vec::new();
    for h in 0..hours {
        let mut n = expected_per_hour(h).round() as i64;
        if h == spike {
            n += 60;
        }
        for k in 0..n {
            let t = day0 + h * HOUR + k * (HOUR / n);
            records.push(Record::new(Timestamp(t), format!("hour {h} line {k}")));
        }
    }
    rt.block_on(engine.ingest(PreparedBatch::new(records.clone(), None)))
        .unwrap();
    wait_total(&engine, "*", records.len() as u64);
    let end = day0 + hours * HOUR - 1;
    let (_, out) = agg(
        &engine,
        "",
        Some((day0, end)),
        json!({"h": {"date_histogram": {"fixed_interval": "1h",
            "forecast": {"periods": 24, "confidence": 0.99}}}}),
    );
    let f = &out["h"]["forecast"];
    assert_eq!(f["model"], "holt-winters", "{f}");
    assert_eq!(f["season_buckets"], 24, "a daily season found on its own");
    let ahead = f["buckets"].as_array().unwrap();
    assert_eq!(ahead.len(), 24);
    for (i, b) in ahead.iter().enumerate() {
        let h = hours + i as i64;
        assert_eq!(b["key"].as_i64().unwrap() * 1_000_000, day0 + h * HOUR);
        let want = expected_per_hour(h);
        let (lo, hi) = (b["lower"].as_f64().unwrap(), b["upper"].as_f64().unwrap());
        assert!(
            lo <= want && want <= hi,
            "hour {h}: {want} outside [{lo}, {hi}]"
        );
        assert!((b["value"].as_f64().unwrap() - want).abs() < 6.0, "{b}");
    }
    let anomalies: Vec<i64> = f["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["key"].as_i64().unwrap() * 1_000_000 - day0) / HOUR)
        .collect();
    assert!(anomalies.contains(&spike), "{anomalies:?}");
    assert!(anomalies.len() <= 3, "few false alarms: {anomalies:?}");
}
