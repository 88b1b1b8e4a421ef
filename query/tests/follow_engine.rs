//! Following over a real engine while batches are ingested: history and live meet
//! with no gap and no duplicate wherever the follower starts, an overflowing follower
//! is told how many lines it missed and gets them from the index, and a cursor resumes
//! exactly after the last record received.

mod common;

use skein_indexer::{Engine, PreparedBatch};
use skein_model::{Record, Timestamp};
use skein_query::follow::{Follow, FollowCursor, FollowEvent, FollowRequest, Hub, HubLimits};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const BATCHES: u64 = 150;
const PER_BATCH: u64 = 10;

fn record(n: u64, base: i64) -> Record {
    let mut r = Record::new(Timestamp(base + n as i64 * 1_000_000), format!("line {n}"));
    r.container = if n.is_multiple_of(3) { "b" } else { "a" }.into();
    r.source_id = Some("src".into());
    r.seq = Some(n + 1);
    r
}

/// Ingests `BATCHES` batches, pausing a little between them.
async fn writer(engine: Arc<Engine>, base: i64) {
    for b in 0..BATCHES {
        let records = (b * PER_BATCH..(b + 1) * PER_BATCH)
            .map(|n| record(n, base))
            .collect();
        engine
            .ingest(PreparedBatch::new(records, None))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

fn wanted() -> Vec<u64> {
    (0..BATCHES * PER_BATCH)
        .filter(|n| !n.is_multiple_of(3))
        .collect()
}

fn number(r: &Record) -> u64 {
    r.message.strip_prefix("line ").unwrap().parse().unwrap()
}

fn request(n: Option<usize>, cursor: Option<FollowCursor>) -> FollowRequest {
    FollowRequest {
        q: "container:a".into(),
        since: None,
        until: None,
        n,
        follow: true,
        cursor,
        now: Timestamp::now(),
    }
}

/// Reads events until `want` records arrived (or 20 s passed): (numbers, cursors, missed).
async fn collect(
    rx: &mut mpsc::Receiver<FollowEvent>,
    want: usize,
) -> (Vec<u64>, Vec<FollowCursor>, Vec<u64>) {
    let (mut got, mut cursors, mut missed) = (Vec::new(), Vec::new(), Vec::new());
    while got.len() < want {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(FollowEvent::Record { record, cursor })) => {
                got.push(number(&record));
                cursors.push(cursor);
            }
            Ok(Some(FollowEvent::Missed { count })) => missed.push(count),
            Ok(Some(FollowEvent::Warning(w))) => panic!("warning: {w}"),
            Ok(None) | Err(_) => break,
        }
    }
    (got, cursors, missed)
}

fn start(
    engine: &Arc<Engine>,
    hub: &Hub,
    req: FollowRequest,
    cap: usize,
) -> mpsc::Receiver<FollowEvent> {
    let (tx, rx) = mpsc::channel(cap);
    let f = Follow::new(engine.clone(), hub.clone(), req).unwrap();
    tokio::spawn(async move { f.run(tx).await.unwrap() });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_started_during_ingest_get_every_line_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(common::config(dir.path())).unwrap());
    let hub = Hub::start(&engine, HubLimits::default()).unwrap();
    let base = Timestamp::now().0 - 3_600_000_000_000;
    let w = tokio::spawn(writer(engine.clone(), base));
    let mut followers = Vec::new();
    // Start followers at different moments of the ingest, so the seam falls before,
    // during and after index commits.
    for i in 0..8 {
        followers.push(start(&engine, &hub, request(None, None), 4096));
        tokio::time::sleep(Duration::from_millis(40 + i * 7)).await;
    }
    w.await.unwrap();
    let all = wanted();
    for (i, mut rx) in followers.into_iter().enumerate() {
        let (got, _, missed) = collect(&mut rx, all.len()).await;
        assert!(missed.is_empty(), "follower {i} overflowed: {missed:?}");
        assert_eq!(got, all, "follower {i}");
    }
    // A late follower asking for the last 5 gets exactly those, then nothing more.
    let mut rx = start(&engine, &hub, request(Some(5), None), 16);
    let (got, _, _) = collect(&mut rx, 5).await;
    assert_eq!(got, all[all.len() - 5..].to_vec());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "nothing after the history while nothing is ingested"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_overflowing_follower_is_told_and_catches_up_from_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(common::config(dir.path())).unwrap());
    let hub = Hub::start(
        &engine,
        HubLimits {
            records: 20,
            batches: 4,
        },
    )
    .unwrap();
    let base = Timestamp::now().0 - 3_600_000_000_000;
    // A follower that does not read while everything is ingested: its one-slot channel
    // blocks it, and its hub queue overflows.
    let mut rx = start(&engine, &hub, request(Some(0), None), 1);
    writer(engine.clone(), base).await;
    let all = wanted();
    let (got, _, missed) = collect(&mut rx, all.len()).await;
    assert!(!missed.is_empty(), "the follower was told it fell behind");
    assert_eq!(got, all);
    assert!(
        missed.iter().sum::<u64>() <= all.len() as u64,
        "missed {missed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cursor_resumes_after_the_last_record_received() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(common::config(dir.path())).unwrap());
    let hub = Hub::start(&engine, HubLimits::default()).unwrap();
    let base = Timestamp::now().0 - 3_600_000_000_000;
    let w = tokio::spawn(writer(engine.clone(), base));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let all = wanted();
    // Three connections in a row, each dropped after a few records, cut once inside
    // the history and then while live.
    let mut got = Vec::new();
    let mut cursor = None;
    for take in [7usize, 300, 50] {
        let mut rx = start(&engine, &hub, request(None, cursor), 4096);
        let (part, cursors, _) = collect(&mut rx, take).await;
        drop(rx);
        got.extend(part);
        cursor = cursors.last().copied();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    w.await.unwrap();
    let mut rx = start(&engine, &hub, request(None, cursor), 4096);
    let (rest, _, _) = collect(&mut rx, all.len() - got.len()).await;
    got.extend(rest);
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len(), "no line twice");
    assert_eq!(sorted, all, "no line missing");
}
