//! Field-sorted search over real partitions: segments where the column is absent, a
//! path with numbers in some records and text in others, ties, both directions,
//! missing values last, and pages walked with the key of the last hit.

mod common;

use common::{config, wait_total};
use serde_json::{json, Value};
use skein_indexer::{Engine, PreparedBatch};
use skein_model::{Level, Record, Timestamp};
use skein_query::sort_by_field::{
    cmp_value, search_sorted, FieldKey, FieldSearch, SortField, SortValue,
};
use skein_query::{search, Order, PartitionShard, SearchRequest, Stop};
use std::cmp::Ordering;
use std::time::Duration;

const DAY: i64 = 86_400_000_000_000;

fn rec(i: usize, t: i64, status: Option<Value>) -> Record {
    let mut r = Record::new(Timestamp(t), format!("request {i}"));
    r.host = format!("node-{}", i % 3);
    r.level = Some(if i.is_multiple_of(4) {
        Level::Error
    } else {
        Level::Info
    });
    if let Some(s) = status {
        r.fields.insert("status".into(), s);
    }
    r.source_id = Some(format!("src-{}", r.timestamp.day_number()));
    r.seq = Some(i as u64 + 1);
    r
}

/// The value a record has for `field`, read off the record itself.
fn value_of(r: &Record, field: &str) -> SortValue {
    match field {
        "level" => r
            .level
            .map_or(SortValue::Missing, |l| SortValue::Str(l.as_str().into())),
        "host" => SortValue::Str(r.host.clone()),
        "@timestamp" => SortValue::Int(r.timestamp.0.div_euclid(1_000_000)),
        "fields.status" => match r.fields.get("status") {
            None => SortValue::Missing,
            Some(Value::String(s)) => SortValue::Str(s.clone()),
            Some(v) if v.is_i64() => SortValue::Int(v.as_i64().unwrap()),
            Some(v) => SortValue::Float(v.as_f64().unwrap()),
        },
        other => panic!("no value for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_walk_every_record_once_in_key_order() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(tmp.path())).unwrap();
    let base = Timestamp::parse_rfc3339("2026-11-19T10:00:00Z").unwrap().0;
    let mut n = 0;
    let mut batch =
        |range: std::ops::Range<usize>, day: i64, status: &dyn Fn(usize) -> Option<Value>| {
            let out: Vec<Record> = range
                .map(|i| {
                    rec(
                        i,
                        base + day * DAY + (i as i64 / 4) * 1_000_000_000,
                        status(i),
                    )
                })
                .collect();
            n += out.len();
            out
        };
    // Day one, first segment: no record has `status` (the column is absent).
    let a = batch(0..30, 0, &|_| None);
    // Day one, second segment: numbers, ties, a few missing.
    let b = batch(30..70, 0, &|i| (i % 5 != 0).then(|| json!((i % 4) * 100)));
    // Day two: numbers, floats, text in a few records.
    let c = batch(70..120, 1, &|i| match i % 6 {
        0 => Some(json!("n/a")),
        1 => Some(json!(150.5)),
        2 => None,
        _ => Some(json!((i % 3) * 100)),
    });
    for chunk in [a, b, c] {
        engine
            .ingest(PreparedBatch::new(chunk, None))
            .await
            .unwrap();
        // A commit between batches: one segment each.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    wait_total(&engine, "*", n as u64);

    // Every record with its ingest order, from the time-sorted search.
    let all = search(
        engine.catalog(),
        &SearchRequest {
            q: "*".into(),
            limit: 10_000,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(all.hits.len(), n);
    let shards = PartitionShard::overlapping(engine.catalog(), None, None);
    assert_eq!(shards.len(), 2, "two daily partitions");

    let cases: Vec<Vec<(&str, Order)>> = vec![
        vec![("fields.status", Order::Asc)],
        vec![("fields.status", Order::Desc)],
        vec![("level", Order::Asc), ("fields.status", Order::Desc)],
        vec![("host", Order::Desc), ("@timestamp", Order::Asc)],
        vec![("level", Order::Desc)],
    ];
    for case in cases {
        let keys: Vec<SortField> = case
            .iter()
            .map(|(f, o)| SortField {
                field: f.to_string(),
                order: *o,
            })
            .collect();
        let mut expected: Vec<FieldKey> = all
            .hits
            .iter()
            .zip(&all.keys)
            .map(|(r, k)| FieldKey {
                values: keys.iter().map(|s| value_of(r, &s.field)).collect(),
                ord: k.ord,
            })
            .collect();
        expected.sort_by(|a, b| {
            for ((s, x), y) in keys.iter().zip(&a.values).zip(&b.values) {
                match cmp_value(x, y, s.order) {
                    Ordering::Equal => {}
                    o => return o,
                }
            }
            a.ord.cmp(&b.ord)
        });
        // Missing values come last in both orders.
        if keys[0].field == "fields.status" {
            let first_missing = expected
                .iter()
                .position(|k| k.values[0] == SortValue::Missing)
                .unwrap();
            assert!(expected[first_missing..]
                .iter()
                .all(|k| k.values[0] == SortValue::Missing));
        }
        for page in [1, 7, 50, 500] {
            let mut got: Vec<FieldKey> = Vec::new();
            let mut after = None;
            loop {
                let req = FieldSearch {
                    q: "*".into(),
                    now: Timestamp::now(),
                    start: None,
                    end: None,
                    keys: keys.clone(),
                    limit: page,
                    after: after.clone(),
                    ties_only: false,
                    count: true,
                    stop: Stop::never(),
                };
                let sorted = search_sorted(&shards, &req).unwrap();
                let (total, hits) = (sorted.total, sorted.hits);
                assert_eq!(
                    sorted.numeric,
                    keys.iter()
                        .map(|k| k.field != "level" && k.field != "host")
                        .collect::<Vec<_>>()
                );
                assert_eq!(total, n as u64, "the total ignores the position");
                got.extend(hits.iter().map(|h| h.0.clone()));
                if hits.len() < page {
                    break;
                }
                after = hits.last().map(|h| h.0.clone());
            }
            assert_eq!(got, expected, "keys {case:?}, pages of {page}");
        }

        // The rest of a tie: only hits with the same values, after the given one.
        let first = expected[0].clone();
        let ties = search_sorted(
            &shards,
            &FieldSearch {
                q: "*".into(),
                now: Timestamp::now(),
                start: None,
                end: None,
                keys: keys.clone(),
                limit: 10_000,
                after: Some(first.clone()),
                ties_only: true,
                count: false,
                stop: Stop::never(),
            },
        )
        .unwrap()
        .hits;
        let want: Vec<&FieldKey> = expected[1..]
            .iter()
            .take_while(|k| k.values == first.values)
            .collect();
        assert_eq!(ties.iter().map(|h| &h.0).collect::<Vec<_>>(), want);
        // After a key whose tiebreaker is past every record: strictly after its values.
        let past = FieldKey {
            values: first.values.clone(),
            ord: u64::MAX,
        };
        let rest = search_sorted(
            &shards,
            &FieldSearch {
                q: "*".into(),
                now: Timestamp::now(),
                start: None,
                end: None,
                keys: keys.clone(),
                limit: 10_000,
                after: Some(past),
                ties_only: false,
                count: false,
                stop: Stop::never(),
            },
        )
        .unwrap()
        .hits;
        assert_eq!(
            rest.iter().map(|h| &h.0).collect::<Vec<_>>(),
            expected[1 + want.len()..].iter().collect::<Vec<_>>()
        );
    }
}
