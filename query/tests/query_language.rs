//! Every form of the query language, end to end: records over several daily partitions,
//! each query's answer computed independently from the generated records.

mod common;

use common::config;
use skein_indexer::{Engine, PreparedBatch};
use skein_model::{Level, Record, Timestamp};
use skein_query::{search, SearchRequest};
use std::time::{Duration, Instant};

/// What a query should match, computed from the record itself.
type Predicate = Box<dyn Fn(&Record) -> bool>;

const HOUR: i64 = 3_600_000_000_000;
const N: usize = 240;
const CONTAINERS: [&str; 4] = ["api-1", "api-22", "web-worker", "web"];

fn rec(i: usize, t: i64) -> Record {
    let mut r = Record::new(
        Timestamp(t),
        match i % 4 {
            0 => format!("request {i} failed: connection reset by peer"),
            1 => format!("request {i} timeout after retry"),
            2 => format!("reset connection {i}"),
            _ => format!("request {i} ok"),
        },
    );
    r.host = "node-1".into();
    r.container = CONTAINERS[i % 4].into();
    r.stream = if i.is_multiple_of(5) {
        "stderr"
    } else {
        "stdout"
    }
    .into();
    r.level = match i % 3 {
        0 => Some(Level::Error),
        1 => Some(Level::Info),
        _ => None,
    };
    r.labels.insert(
        "com.docker.compose.service".into(),
        if i.is_multiple_of(2) { "web" } else { "worker" }.into(),
    );
    r.fields.insert("i".into(), serde_json::json!(i));
    r.fields
        .insert("latency_ms".into(), serde_json::json!((i * 37) % 2000));
    r.fields.insert("user_id".into(), serde_json::json!(i % 50));
    r.fields.insert(
        "path".into(),
        serde_json::json!(format!("/api/v1/items/{}", i % 7)),
    );
    r.fields
        .insert("ok".into(), serde_json::json!(i.is_multiple_of(4)));
    r.fields.insert(
        "flag".into(),
        serde_json::json!(if i.is_multiple_of(5) { "true" } else { "no" }),
    );
    if i.is_multiple_of(6) {
        r.fields.insert("error".into(), serde_json::json!("boom"));
    }
    r.source_id = Some(format!("node-1/day-{}", r.timestamp.day_number()));
    r.seq = Some(i as u64 + 1);
    r
}

fn total(engine: &Engine, q: &str, now: i64) -> u64 {
    let req = SearchRequest {
        q: q.into(),
        limit: 0,
        now: Some(Timestamp(now)),
        ..Default::default()
    };
    search(engine.catalog(), &req)
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .total
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_of_the_query_language() {
    let tmp = tempfile::tempdir().unwrap();
    // From about three days ago up to now, one record every 18 minutes: some fall
    // exactly on `now-1d` and `now-2d`, which the request's `now` makes exact.
    let now = Timestamp::now().0;
    let records: Vec<Record> = (0..N)
        .map(|i| rec(i, now - (N - i) as i64 * (HOUR * 3 / 10)))
        .collect();
    let engine = Engine::open(config(tmp.path())).unwrap();
    for day in records.chunk_by(|a, b| a.timestamp.day_number() == b.timestamp.day_number()) {
        let out = engine
            .ingest(PreparedBatch::new(day.to_vec(), None))
            .await
            .unwrap();
        assert_eq!(out.accepted, day.len());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while total(&engine, "*", now) != N as u64 {
        assert!(Instant::now() < deadline, "records not searchable");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(engine.catalog().len() >= 3, "records span several days");

    let f = |r: &Record, k: &str| r.fields.get(k).cloned();
    let num = |r: &Record, k: &str| r.fields[k].as_i64().unwrap();
    let msg = |r: &Record, w: &str| {
        r.message
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .any(|t| t == w)
    };
    let level = |r: &Record, l: Level| r.level == Some(l);
    let one_hour_ago = now - HOUR;
    let cases: Vec<(&str, Predicate)> = vec![
        ("timeout", Box::new(move |r| msg(r, "timeout"))),
        ("TIMEOUT", Box::new(move |r| msg(r, "timeout"))),
        (
            "\"connection reset\"",
            Box::new(|r| r.message.contains("connection reset")),
        ),
        ("message:reset", Box::new(move |r| msg(r, "reset"))),
        ("level:error", Box::new(move |r| level(r, Level::Error))),
        ("Level:error", Box::new(|_| false)),
        ("container:web", Box::new(|r| r.container == "web")),
        (
            "fields.user_id:42",
            Box::new(move |r| num(r, "user_id") == 42),
        ),
        ("user_id:42", Box::new(move |r| num(r, "user_id") == 42)),
        // Booleans are columns of their own type: `true`/`false` match them exactly.
        ("fields.ok:true", Box::new(|r| r.fields["ok"] == true)),
        ("fields.ok:false", Box::new(|r| r.fields["ok"] == false)),
        ("ok:true", Box::new(|r| r.fields["ok"] == true)),
        ("fields.flag:true", Box::new(|r| r.fields["flag"] == "true")),
        ("fields.ok:\"true\"", Box::new(|_| false)),
        (
            "labels.com.docker.compose.service:web",
            Box::new(|r| r.labels["com.docker.compose.service"] == "web"),
        ),
        (
            "fields.path:\"/api/v1/items/3\"",
            Box::new(|r| r.fields["path"] == "/api/v1/items/3"),
        ),
        (
            "level:error AND container:web",
            Box::new(move |r| level(r, Level::Error) && r.container == "web"),
        ),
        (
            "level:error container:web",
            Box::new(move |r| level(r, Level::Error) && r.container == "web"),
        ),
        (
            "level:error OR container:web",
            Box::new(move |r| level(r, Level::Error) || r.container == "web"),
        ),
        ("NOT stream:stderr", Box::new(|r| r.stream != "stderr")),
        ("-stream:stderr", Box::new(|r| r.stream != "stderr")),
        (
            "+timeout -container:api-1",
            Box::new(move |r| msg(r, "timeout") && r.container != "api-1"),
        ),
        (
            "timeout AND NOT (container:api-1 OR level:info)",
            Box::new(move |r| {
                msg(r, "timeout") && !(r.container == "api-1" || level(r, Level::Info))
            }),
        ),
        (
            "level:(error OR info) AND NOT reset",
            Box::new(move |r| r.level.is_some() && !msg(r, "reset")),
        ),
        (
            "container:api-*",
            Box::new(|r| r.container.starts_with("api-")),
        ),
        (
            "container:*-worker",
            Box::new(|r| r.container.ends_with("-worker")),
        ),
        (
            "container:/api-[0-9]+/",
            Box::new(|r| r.container == "api-1" || r.container == "api-22"),
        ),
        (
            "container:/api-[0-9]/",
            Box::new(|r| r.container == "api-1"),
        ),
        (
            "labels.com.docker.compose.service:wor*",
            Box::new(|r| r.labels["com.docker.compose.service"] == "worker"),
        ),
        (
            "labels.com.docker.compose.service:/w.b/",
            Box::new(|r| r.labels["com.docker.compose.service"] == "web"),
        ),
        (
            r"fields.path:\/api/v1/items/1*",
            Box::new(|r| r.fields["path"] == "/api/v1/items/1"),
        ),
        ("tim*", Box::new(move |r| msg(r, "timeout"))),
        (
            "fields.latency_ms:>1000",
            Box::new(move |r| num(r, "latency_ms") > 1000),
        ),
        (
            "fields.latency_ms:>=1000",
            Box::new(move |r| num(r, "latency_ms") >= 1000),
        ),
        (
            "latency_ms:<100",
            Box::new(move |r| num(r, "latency_ms") < 100),
        ),
        (
            "fields.latency_ms:<=185",
            Box::new(move |r| num(r, "latency_ms") <= 185),
        ),
        (
            "fields.latency_ms:[100 TO 500]",
            Box::new(move |r| (100..=500).contains(&num(r, "latency_ms"))),
        ),
        (
            "fields.latency_ms:{111 TO 518}",
            Box::new(move |r| (112..518).contains(&num(r, "latency_ms"))),
        ),
        (
            "fields.latency_ms:[1500 TO *]",
            Box::new(move |r| num(r, "latency_ms") >= 1500),
        ),
        (
            "@timestamp:>now-1h",
            Box::new(move |r| r.timestamp.0 > one_hour_ago),
        ),
        (
            "@timestamp:[now-2d TO now-1d]",
            Box::new(move |r| (now - 48 * HOUR..=now - 24 * HOUR).contains(&r.timestamp.0)),
        ),
        (
            "_exists_:fields.error",
            Box::new(move |r| f(r, "error").is_some()),
        ),
        ("_exists_:error", Box::new(move |r| f(r, "error").is_some())),
        ("_exists_:level", Box::new(|r| r.level.is_some())),
        ("NOT _exists_:level", Box::new(|r| r.level.is_none())),
        ("level:*", Box::new(|r| r.level.is_some())),
        ("*", Box::new(|_| true)),
    ];
    for (q, want) in &cases {
        let expected = records.iter().filter(|r| want(r)).count() as u64;
        assert_eq!(total(&engine, q, now), expected, "query {q:?}");
    }
    // The hits are the right ones, not just the right number.
    let req = SearchRequest {
        q: "container:/api-[0-9]+/ AND fields.latency_ms:[100 TO 500]".into(),
        limit: 1000,
        ..Default::default()
    };
    let mut got: Vec<u64> = search(engine.catalog(), &req)
        .unwrap()
        .hits
        .iter()
        .map(|h| h.fields["i"].as_u64().unwrap())
        .collect();
    got.sort_unstable();
    let want: Vec<u64> = records
        .iter()
        .filter(|r| r.container.starts_with("api-") && (100..=500).contains(&num(r, "latency_ms")))
        .map(|r| num(r, "i") as u64)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);

    // Bad queries name the position and what was expected.
    let req = SearchRequest {
        q: "level:error AND (container:web".into(),
        ..Default::default()
    };
    let err = search(engine.catalog(), &req).unwrap_err().to_string();
    assert!(
        err.contains("at position 31: expected `)` to close the `(` at position 17"),
        "{err}"
    );
    engine.shutdown();
}
