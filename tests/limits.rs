//! One request must never take the server down: each test sends what used to crash or
//! cripple the real server, then checks that it answered with a clear error, that it
//! still answers the next request, and that its memory (read from `/proc`) stayed
//! under a stated bound.

mod common;

use common::{client, record_line, Server};
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

fn peak_rss_mib(server: &Server) -> u64 {
    server.proc_status("VmHWM") / 1024
}

/// The server is up and answers a real search.
fn still_serves(server: &Server) {
    let (status, health) = server.get_json("/healthz");
    assert_eq!(status, 200, "{health}");
    let r = server.search(&[("q", "*"), ("limit", "1")]);
    assert!(r["total"].is_u64(), "{r}");
}

fn reason(v: &Value) -> String {
    v["error"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn deeply_nested_queries_are_refused_on_every_route_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let line = record_line("2026-11-20T10:00:00Z", "web", "info", "hello", "s", 1);
    assert_eq!(server.ingest(line.into_bytes(), None).status(), 200);
    server.wait_total("hello", 1);

    let nested = |n: usize| format!("{}hello{}", "(".repeat(n), ")".repeat(n));
    // 2,000 levels fit in a URL (12 KB) and aborted the process before.
    let deep_url = nested(2_000);
    for path in [
        "/api/v1/search",
        "/api/v1/tail",
        "/api/v1/fields",
        "/api/v1/sources",
        "/es/_search",
        "/es/_count",
    ] {
        let r = client()
            .get(format!("{}{path}", server.url))
            .query(&[("q", deep_url.as_str())])
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let v: Value = r.json().unwrap();
        assert!(
            reason(&v).contains("--max-query-depth"),
            "{path}: {}",
            reason(&v)
        );
    }
    // 10^5 levels go through bodies.
    let deep = nested(100_000);
    let (status, v) = server.post_json(
        "/api/v1/aggregate",
        json!({"q": deep, "aggs": {"n": {"value_count": {"field": "level"}}}}).to_string(),
    );
    assert_eq!(status, 400, "{v}");
    assert!(reason(&v).contains("more than 100 levels"), "{v}");
    for body in [
        json!({"query": {"query_string": {"query": deep}}}),
        json!({"query": {"bool": {"must": [{"query_string": {"query": deep}}]}}}),
    ] {
        let (status, v) = server.post_json("/es/_search", body.to_string());
        assert_eq!(status, 400, "{v}");
        assert!(reason(&v).contains("--max-query-depth"), "{v}");
    }
    // JSON nested 10^5 deep (the DSL's own nesting, aggregations) is refused by the JSON
    // reader's depth limit before anything walks it.
    let deep_bool = format!(
        "{}{}{}",
        r#"{"bool":{"must":["#.repeat(100_000),
        r#"{"match_all":{}}"#,
        "]}}".repeat(100_000)
    );
    assert!(deep_bool.len() < 2 << 20);
    let (status, v) = server.post_json("/es/_search", format!(r#"{{"query":{deep_bool}}}"#));
    assert!(status == 400 || status == 413, "{status} {v}");
    let deep_aggs = format!(
        "{}{}{}",
        r#"{"a":{"terms":{"field":"level"},"aggs":"#.repeat(50_000),
        "{}",
        "}}".repeat(50_000)
    );
    let (status, v) = server.post_json("/api/v1/aggregate", format!(r#"{{"aggs":{deep_aggs}}}"#));
    assert!(status == 400 || status == 413, "{status} {v}");

    // A dashboard holding such a query is stored as text and fails only where it runs.
    let (status, v) = server.post_json(
        "/api/v1/dashboards",
        json!({"title": "deep", "query": nested(10_000), "panels": [
            {"type": "count_over_time", "field": "level"}]})
        .to_string(),
    );
    assert!(status == 201 || status == 400, "{status} {v}");
    let (status, _) = server.get_json("/api/v1/dashboards");
    assert_eq!(status, 200);
    // A wildcard ten times the longest pattern the automaton takes.
    let long = "*a".repeat(635);
    let (status, v) = server.get_json(&format!("/api/v1/search?q={long}"));
    assert_eq!(status, 400, "{v}");
    assert!(reason(&v).contains("at most 127 bytes"), "{v}");
    still_serves(&server);
    assert!(
        peak_rss_mib(&server) < 1024,
        "{} MiB",
        peak_rss_mib(&server)
    );
}

#[test]
fn bodies_over_the_limit_are_refused_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    // Twice the default --max-request-bytes: small enough for the client to finish
    // sending before the server answers and closes (far larger bodies are the streamed
    // 1.5 GB below, where a closed connection is an answer too).
    let big = vec![b' '; 2 << 20];
    for path in [
        "/api/v1/aggregate",
        "/api/v1/dashboards",
        "/api/v1/admin/reset-seq",
        "/es/_search",
        "/es/_count",
        "/es/_msearch",
        "/es/logs/_search",
    ] {
        let (status, v) = server.post_json(path, big.clone());
        assert_eq!(status, 413, "{path}: {v}");
        assert!(reason(&v).contains("--max-request-bytes"), "{path}: {v}");
        if path.starts_with("/es") {
            assert_eq!(v["status"], 413, "ES shape under /es: {v}");
        }
    }
    // A body streamed without a length is cut off at the limit too. 1.5 GB took 4 GB of
    // memory before; the server now stops reading after a megabyte.
    let chunks = (0..1_536).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1 << 20]));
    let body = reqwest::blocking::Body::new(ChunkReader::new(chunks));
    let r = client()
        .post(format!("{}/api/v1/dashboards", server.url))
        .body(body)
        .send();
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    still_serves(&server);
    assert!(peak_rss_mib(&server) < 512, "{} MiB", peak_rss_mib(&server));
}

/// A reader over a stream of chunks, sent without a `Content-Length`.
struct ChunkReader<I> {
    chunks: I,
    current: std::io::Cursor<Vec<u8>>,
}

impl<I> ChunkReader<I> {
    fn new(chunks: I) -> Self {
        ChunkReader {
            chunks,
            current: std::io::Cursor::new(Vec::new()),
        }
    }
}

impl<I: Iterator<Item = std::io::Result<Vec<u8>>>> std::io::Read for ChunkReader<I> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            match self.chunks.next() {
                Some(c) => self.current = std::io::Cursor::new(c?),
                None => return Ok(0),
            }
        }
    }
}

/// `copies` concatenated frames each decompressing to 1 MiB of zeros.
fn bomb(encoding: &str, copies: usize) -> Vec<u8> {
    let zeros = vec![0u8; 1 << 20];
    let frame = match encoding {
        "zstd" => zstd::encode_all(&zeros[..], 19).unwrap(),
        _ => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&zeros).unwrap();
            e.finish().unwrap()
        }
    };
    frame.repeat(copies)
}

#[test]
fn concurrent_decompression_bombs_stop_at_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let bombs = [bomb("zstd", 1024), bomb("gzip", 1024)];
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (encoding, body) = if i % 2 == 0 {
                    ("zstd", bombs[0].clone())
                } else {
                    ("gzip", bombs[1].clone())
                };
                let url = server.url.clone();
                s.spawn(move || {
                    client()
                        .post(format!("{url}/api/v1/ingest"))
                        .header("Content-Encoding", encoding)
                        .body(body)
                        .send()
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for s in &statuses {
        assert!(*s == 413 || *s == 429, "{statuses:?}");
    }
    assert!(statuses.contains(&413), "{statuses:?}");
    still_serves(&server);
    // 16 × 1 GiB reached 4.7 GB before; the in-flight budget is 256 MiB.
    let peak = peak_rss_mib(&server);
    eprintln!("16 bombs: {statuses:?}, peak RSS {peak} MiB");
    assert!(peak < 900, "peak RSS {peak} MiB");
}

#[test]
fn a_batch_spanning_400_days_stays_within_the_writer_pool_and_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &["--max-open-partitions", "4"]);
    let day0 = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    // Days interleaved (every 7th day, wrapping), each source's `_seq` growing: the
    // grouping by day must not reorder the dedupe.
    let mut lines = Vec::new();
    for i in 0..1200u64 {
        let day = day0 + chrono::Duration::days(((i * 7) % 400) as i64);
        let ts = format!("{day}T{:02}:00:00Z", i % 24);
        lines.push(record_line(
            &ts,
            "backfill",
            "info",
            "old",
            &format!("s{}", i % 3),
            i + 1,
        ));
    }
    let body = lines.join("\n").into_bytes();
    let threads_before = server.proc_status("Threads");
    let r: Value = server.ingest(body.clone(), None).json().unwrap();
    assert_eq!(r["accepted"], 1200, "{r}");
    server.wait_total_within("old", 1200, Duration::from_secs(90));
    let threads = server.proc_status("Threads");
    assert!(
        threads < threads_before + 60,
        "{threads} threads (before: {threads_before}); 400 open writers had 3,205"
    );
    assert!(
        peak_rss_mib(&server) < 1024,
        "{} MiB",
        peak_rss_mib(&server)
    );
    let (_, health) = server.get_json("/healthz");
    assert_eq!(health["partitions"], 400, "{health}");

    // The same batch again is all duplicates, also after a crash and replay.
    server.kill9();
    let server = server.restart();
    server.wait_total_within("old", 1200, Duration::from_secs(90));
    let r: Value = server.ingest(body, None).json().unwrap();
    assert_eq!(r["duplicates"], 1200, "{r}");
    std::thread::sleep(Duration::from_millis(1500));
    server.wait_total_within("old", 1200, Duration::from_secs(90));
    let per_day = server.search(&[
        ("q", "old"),
        ("start", "2024-01-08T00:00:00Z"),
        ("end", "2024-01-08T23:59:59Z"),
        ("limit", "0"),
    ]);
    assert_eq!(per_day["total"], 3, "{per_day}");
}

#[test]
fn seq_is_bounded_and_a_poisoned_source_can_be_reset() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &[]);
    let send = |server: &Server, seq: u64, msg: &str| -> Value {
        let line = record_line(
            "2026-11-20T10:00:00Z",
            "web",
            "info",
            msg,
            "node-1/web",
            seq,
        );
        server.ingest(line.into_bytes(), None).json().unwrap()
    };
    let r = send(&server, u64::MAX, "poison");
    assert_eq!(r["accepted"], 0, "{r}");
    assert!(
        r["rejected"][0]["error"].as_str().unwrap().contains("2^53"),
        "{r}"
    );
    // At the limit it is accepted, and then silences the source...
    assert_eq!(send(&server, 1 << 53, "poison")["accepted"], 1);
    assert_eq!(send(&server, 7, "lost")["duplicates"], 1);
    // ...until an admin resets it.
    let (status, v) = server.post_json(
        "/api/v1/admin/reset-seq",
        json!({"source_id": "node-1/web"}).to_string(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["previous_seq"], json!(1u64 << 53));
    assert_eq!(send(&server, 7, "back")["accepted"], 1);
    // The reset and the new mark survive a crash: 7 is a duplicate, 8 is new.
    server.kill9();
    let server = server.restart();
    assert_eq!(send(&server, 7, "back")["duplicates"], 1);
    assert_eq!(send(&server, 8, "back")["accepted"], 1);
    server.wait_total("back", 2);
    server.wait_total("poison", 1);
    let (status, v) = server.post_json(
        "/api/v1/admin/reset-seq",
        json!({"source": "x"}).to_string(),
    );
    assert_eq!(status, 400, "{v}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && server.get_json("/healthz").0 != 200 {
        std::thread::sleep(Duration::from_millis(50));
    }
    still_serves(&server);
}

#[test]
fn a_record_with_200000_field_names_keeps_them_in_its_source_and_searches_stay_fast() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let mut wide = serde_json::Map::new();
    for i in 0..200_000 {
        wide.insert(format!("k{i}"), json!(i));
    }
    let day = "2026-11-20T10:00:00Z";
    let mut lines = vec![json!({"@timestamp": day, "message": "wide", "fields": wide}).to_string()];
    for i in 0..100 {
        lines.push(
            json!({"@timestamp": day, "message": "narrow", "fields": {"user": format!("u{i}")}})
                .to_string(),
        );
    }
    let r: Value = client()
        .post(format!("{}/api/v1/ingest", server.url))
        .body(lines.join("\n"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["accepted"], 101, "{r}");
    server.wait_total("wide OR narrow", 101);
    // The first 1,000 paths are columns; the rest are returned from the stored record.
    let hit = &server.search(&[("q", "wide")])["hits"][0];
    assert_eq!(hit["fields"].as_object().unwrap().len(), 200_000);
    assert_eq!(hit["fields"]["k199999"], 199_999);
    let found = server.search(&[("q", "fields.k10:10"), ("limit", "0")]);
    assert_eq!(found["total"], 1, "{found}");
    let beyond = server.search(&[("q", "fields.k150000:150000"), ("limit", "0")]);
    assert_eq!(beyond["total"], 0, "{beyond}");
    // Searches of the day read hits without opening 200,000 columns.
    let narrow = server.search(&[("q", "narrow"), ("limit", "100")]);
    assert_eq!(narrow["hits"].as_array().unwrap().len(), 100);
    let (_, health) = server.get_json("/healthz");
    let problems = health["problems"].to_string();
    assert!(problems.contains("--max-fields-per-record"), "{health}");
    still_serves(&server);
}

/// CPU seconds the server process has used.
fn cpu_seconds(server: &Server) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.child.id())).unwrap();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn heavy_server(dir: &std::path::Path) -> Server {
    let server = Server::start(&dir.join("data"), &[]);
    for b in 0..10 {
        let lines: Vec<String> = (0..10_000)
            .map(|i| {
                let n = b * 10_000 + i;
                json!({"@timestamp": format!("2026-11-20T{:02}:{:02}:00Z", n % 24, n % 60),
                    "container": format!("c{}", n % 7), "message": format!("GET /items/{n}"),
                    "fields": {"user": format!("u{}", n % 5000), "n": n % 1000}})
                .to_string()
            })
            .collect();
        let r = server.ingest(lines.join("\n").into_bytes(), None);
        assert_eq!(r.status(), 200);
    }
    server.wait_total("items", 100_000);
    server
}

const HEAVY: &str = r#"{"aggs":{"t":{"terms":{"field":"fields.user","size":5000},
    "aggs":{"p":{"percentiles":{"field":"fields.n","percents":[1,50,99]}}}}}}"#;

fn raw_request(server: &Server, body: &str) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    write!(
        s,
        "POST /api/v1/aggregate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    s
}

#[test]
fn work_stops_when_its_clients_disconnect_and_time_limits_answer_partial_results() {
    let dir = tempfile::tempdir().unwrap();
    let server = heavy_server(dir.path());
    // What eight of these cost when their clients wait for the answers.
    let before = cpu_seconds(&server);
    let waited: Vec<_> = (0..8).map(|_| raw_request(&server, HEAVY)).collect();
    for mut s in waited {
        let mut head = [0u8; 12];
        std::io::Read::read_exact(&mut s, &mut head).unwrap();
        assert_eq!(&head[9..12], b"200");
    }
    let complete = cpu_seconds(&server) - before;
    // The same eight, their clients gone after 100 ms.
    let before = cpu_seconds(&server);
    let gone: Vec<_> = (0..8).map(|_| raw_request(&server, HEAVY)).collect();
    std::thread::sleep(Duration::from_millis(100));
    drop(gone);
    std::thread::sleep(Duration::from_secs(3));
    let abandoned = cpu_seconds(&server) - before;
    eprintln!("CPU-s: eight finished {complete:.2}, eight abandoned {abandoned:.2}");
    assert!(
        abandoned < complete * 0.5,
        "abandoned requests used {abandoned:.2} CPU-s, finished ones {complete:.2}"
    );
    // A time limit answers what was found in time, marked as such.
    let mut body: Value = serde_json::from_str(HEAVY).unwrap();
    body["timeout"] = json!("1ms");
    let (status, v) = server.post_json("/api/v1/aggregate", body.to_string());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["timed_out"], true, "{v}");
    let r = server.search(&[("q", "*tem*"), ("timeout", "1ms")]);
    assert_eq!(r["timed_out"], true, "{r}");
    assert!(r["cursor"].is_null(), "{r}");
    let r = server.search(&[("q", "items"), ("limit", "5")]);
    assert_eq!(r["timed_out"], false, "{r}");
    assert_eq!(r["total"], 100_000, "{r}");
    let (status, v) = server.get_json("/api/v1/search?q=a&timeout=soon");
    assert_eq!(status, 400, "{v}");
    let (status, v) = server.post_json(
        "/es/_search?timeout=1ms",
        json!({"query": {"query_string": {"query": "*tem*"}}}).to_string(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["timed_out"], true, "{v}");
    still_serves(&server);
}

#[test]
fn a_kill_9_while_the_pool_closes_writers_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // No checkpoint for a minute: only the writers the pool closes commit, each stamped
    // with the WAL entry it is complete up to, and replay must add to each day only what
    // that day lacks.
    let args = [
        "--max-open-partitions",
        "3",
        "--commit-interval-ms",
        "60000",
    ];
    let mut server = Server::start(&dir.path().join("data"), &args);
    let day0 = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let mut seq = 0;
    for batch in 0..4u64 {
        let lines: Vec<String> = (0..150u64)
            .map(|i| {
                seq += 1;
                let day = day0 + chrono::Duration::days(((batch * 150 + i) * 11 % 60) as i64);
                record_line(&format!("{day}T10:00:00Z"), "c", "info", "spread", "s", seq)
            })
            .collect();
        let r: Value = server
            .ingest(lines.join("\n").into_bytes(), None)
            .json()
            .unwrap();
        assert_eq!(r["accepted"], 150, "{r}");
    }
    std::thread::sleep(Duration::from_millis(300));
    server.kill9();
    let server = server.restart_with(&["--max-open-partitions", "3"]);
    server.wait_total("spread", 600);
    std::thread::sleep(Duration::from_millis(1500));
    server.wait_total("spread", 600);
    let all = server.all("spread");
    let mut seqs: Vec<u64> = all.iter().map(|r| r["_seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=600).collect::<Vec<_>>());
}
