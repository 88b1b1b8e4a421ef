//! `skein search` and `skein agg` as a user runs them, against a real server holding
//! records whose answers are computed here.

mod common;

use common::{free_port, Server};
use serde_json::{json, Value};
use skein_model::Timestamp;
use std::collections::BTreeMap;
use std::process::{Command, Output};

/// 2026-11-20T10:00:00Z
const T0: i64 = 1_795_168_800;

fn records() -> Vec<Value> {
    (0..240u64)
        .map(|i| {
            let container = ["api", "web", "worker"][(i % 3) as usize];
            let level = ["info", "info", "info", "warn", "error"][(i % 5) as usize];
            json!({
                "@timestamp": Timestamp((T0 + i as i64 * 30) * 1_000_000_000).to_string(),
                "host": "node-1", "container": container, "level": level, "stream": "stdout",
                "message": if i == 7 { "payment failed\n  at pay()\n  at main()".to_string() } else { format!("request {i} ok") },
                "fields": {"latency_ms": i * 10},
                "_source_id": "node-1/test", "_seq": i + 1,
            })
        })
        .collect()
}

fn skein(server: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skein"))
        .args(args)
        .env("SKEIN_SERVER", server)
        .env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn search_and_agg_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    let recs = records();
    let body: String = recs.iter().map(|r| format!("{r}\n")).collect();
    assert_eq!(server.ingest(body.into_bytes(), None).status(), 200);
    server.wait_total("*", recs.len() as u64);
    let url = server.url.as_str();

    // search --output json: the newest matches, printed oldest first.
    let out = ok(&skein(
        url,
        &[
            "search",
            "level:error AND container:api",
            "-n",
            "3",
            "-o",
            "json",
        ],
    ));
    let want: Vec<&Value> = recs
        .iter()
        .filter(|r| r["level"] == "error" && r["container"] == "api")
        .collect();
    let got = json_lines(&out);
    assert_eq!(got.len(), 3);
    let want_msgs: Vec<&Value> = want[want.len() - 3..]
        .iter()
        .map(|r| &r["message"])
        .collect();
    let got_msgs: Vec<&Value> = got.iter().map(|r| &r["message"]).collect();
    assert_eq!(got_msgs, want_msgs);

    // --since/--until in the forms docker logs takes; Unix seconds here.
    let since = (T0 + 600).to_string();
    let until = (T0 + 1199).to_string();
    let out = ok(&skein(
        url,
        &[
            "search", "", "--since", &since, "--until", &until, "-n", "1000", "-o", "json",
        ],
    ));
    assert_eq!(
        json_lines(&out).len(),
        20,
        "10 minutes of one record per 30 s"
    );

    // The table: a header, the time with its zone, continuation lines indented.
    let out = skein(
        url,
        &["search", "payment", "--since", "2026-11-20T09:00:00Z"],
    );
    let text = ok(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("TIME") && lines[0].contains("MESSAGE"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("2026-11-20 10:03:30.000 +00:00")
            && lines[1].contains("web")
            && lines[1].contains("payment failed"),
        "{text}"
    );
    assert!(
        lines[2].trim_start() == "at pay()" && lines[2].starts_with("   "),
        "{text}"
    );
    let footer = String::from_utf8_lossy(&out.stderr);
    assert!(footer.contains("1 of 1 matching records"), "{footer}");
    assert!(!text.contains('\x1b'), "NO_COLOR: no escapes");

    // agg --by level --interval: rows per value and time, counts from the records.
    let out = ok(&skein(
        url,
        &["agg", "--by", "level", "--interval", "30m", "-o", "json"],
    ));
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (i, r) in recs.iter().enumerate() {
        let t = (T0 + i as i64 * 30) / 1800 * 1800;
        *want
            .entry((
                r["level"].as_str().unwrap().to_string(),
                Timestamp(t * 1_000_000_000).to_string(),
            ))
            .or_default() += 1;
    }
    let got: BTreeMap<(String, String), u64> = json_lines(&out)
        .iter()
        .filter(|r| r["count"].as_u64().unwrap() > 0)
        .map(|r| {
            (
                (
                    r["level"].as_str().unwrap().to_string(),
                    r["time"].as_str().unwrap().to_string(),
                ),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);

    // The same as a pivot table: one column per level and a total per row.
    let text = ok(&skein(url, &["agg", "--by", "level", "--interval", "1h"]));
    let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        &header[..5],
        ["TIME", "info", "error", "warn", "TOTAL"],
        "{text}"
    );
    let first: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        first,
        ["2026-11-20", "10:00", "+00:00", "72", "24", "24", "120"],
        "{text}"
    );

    // --top with percentages; --stats per value.
    let text = ok(&skein(url, &["agg", "--top", "container", "--size", "2"]));
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][..3], ["api", "80", "33.3%"], "{text}");
    let out = ok(&skein(
        url,
        &[
            "agg",
            "--stats",
            "latency_ms",
            "--by",
            "container",
            "-o",
            "json",
        ],
    ));
    for row in json_lines(&out) {
        let c = row["container"].as_str().unwrap();
        let lat: Vec<f64> = recs
            .iter()
            .filter(|r| r["container"] == c)
            .map(|r| r["fields"]["latency_ms"].as_f64().unwrap())
            .collect();
        assert_eq!(row["count"], lat.len());
        assert_eq!(row["sum"].as_f64().unwrap(), lat.iter().sum::<f64>());
        assert_eq!(
            row["max"].as_f64().unwrap(),
            lat.iter().cloned().fold(0.0, f64::max)
        );
        assert!(row["p99"].as_f64().is_some());
    }
    // No flag: count over time with an automatic interval.
    let out = skein(url, &["agg"]);
    let text = ok(&out);
    let sum: u64 = text
        .lines()
        .skip(1)
        .map(|l| {
            l.split_whitespace()
                .nth(3)
                .unwrap()
                .replace(',', "")
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(sum, 240);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interval 5m"),
        "2 hours in 40 buckets"
    );

    // A forecast continues the steady 20 records per 10 minutes.
    let out = ok(&skein(
        url,
        &["agg", "--interval", "10m", "--forecast", "-o", "json"],
    ));
    let rows = json_lines(&out);
    let ahead: Vec<&Value> = rows
        .iter()
        .filter(|r| r.get("forecast").is_some())
        .collect();
    assert_eq!(ahead.len(), 3, "a quarter of 12 buckets: {out}");
    for r in &ahead {
        assert!((r["forecast"].as_f64().unwrap() - 20.0).abs() < 0.5, "{r}");
    }
    assert_eq!(
        ahead[0]["time"],
        Timestamp((T0 + 7200) * 1_000_000_000).to_string()
    );
    let text = ok(&skein(url, &["agg", "--interval", "10m", "--forecast"]));
    assert!(text.contains("FORECAST (holt"), "{text}");

    // Mistakes: the server's reason, exit status 1.
    let out = skein(url, &["search", "level:(error"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("position"),
        "{out:?}"
    );
    let out = skein(url, &["agg", "--top", "message"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("full text"),
        "{out:?}"
    );
    let out = skein(url, &["search", "x", "--since", "last tuesday"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot understand time"),
        "{out:?}"
    );
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let out = skein(&nobody, &["search", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach the skein server"),
        "{out:?}"
    );
}
