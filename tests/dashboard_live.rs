//! Discover's live tail in headless Chromium against the real server: new matching
//! lines appear on top as they are ingested, others do not; scrolling away pauses it and
//! counts what waits; "Jump to newest" brings them; a burst keeps the table bounded and
//! says how many older rows left the view.

mod browser;
mod common;

use browser::Browser;
use common::Server;
use serde_json::json;

fn line(container: &str, message: &str, seq: u64) -> String {
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    json!({"@timestamp": ts, "host": "node-1", "container": container, "level": "info",
        "message": message, "_source_id": format!("node-1/{container}"), "_seq": seq})
    .to_string()
        + "\n"
}

fn top_message(b: &Browser) -> String {
    b.js(
        "return document.querySelector('tr.row td.m')?.textContent || ''",
        json!([]),
    )
    .as_str()
    .unwrap()
    .to_string()
}

#[test]
fn live_tail_streams_pauses_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let mut body = String::new();
    for i in 1..=150 {
        body.push_str(&line("web", &format!("history {i}"), i));
    }
    assert_eq!(s.ingest(body.into_bytes(), None).status(), 200);
    s.wait_total("container:web", 150);
    let b = Browser::start();
    b.goto(&format!("{}/?live=1&q=container:web", s.url));
    b.wait("the live tail", "document.querySelector('#live-bar.live')");
    // The last 100 matches first, newest on top.
    b.wait(
        "the history",
        "document.querySelectorAll('tr.row').length === 100",
    );
    assert_eq!(top_message(&b), "history 150");

    // A new matching line appears on top; a line that does not match never does.
    assert_eq!(
        s.ingest(line("db", "not for this view", 1).into_bytes(), None)
            .status(),
        200
    );
    assert_eq!(
        s.ingest(line("web", "brand new line", 151).into_bytes(), None)
            .status(),
        200
    );
    b.wait(
        "the new line",
        "document.querySelector('tr.row td.m')?.textContent === 'brand new line'",
    );
    assert_eq!(
        b.js(
            "return document.querySelectorAll('tr.row').length",
            json!([])
        ),
        101
    );
    let msgs = b.js(
        "return [...document.querySelectorAll('tr.row td.m')].map(t => t.textContent)",
        json!([]),
    );
    assert!(!msgs
        .as_array()
        .unwrap()
        .contains(&json!("not for this view")));

    // Scrolled away: paused, and it says how many lines wait.
    b.js(
        "document.querySelector('#main').scrollTop = 2000",
        json!([]),
    );
    b.wait("paused", "document.querySelector('#live-bar.paused')");
    let mut body = String::new();
    for i in 152..=154 {
        body.push_str(&line("web", &format!("while away {i}"), i));
    }
    assert_eq!(s.ingest(body.into_bytes(), None).status(), 200);
    b.wait(
        "the waiting count",
        "document.querySelector('#live-bar').textContent.includes('3 new lines waiting')",
    );
    assert_eq!(
        top_message(&b),
        "brand new line",
        "nothing inserted while paused"
    );
    b.click("#live-jump");
    b.wait(
        "the waiting lines",
        "document.querySelector('tr.row td.m')?.textContent === 'while away 154'",
    );
    assert!(b
        .js(
            "return document.querySelector('#live-bar.live') !== null",
            json!([])
        )
        .as_bool()
        .unwrap());

    // A burst: the DOM keeps 500 rows and says how many older ones left the view.
    let mut body = String::new();
    for i in 155..=854 {
        body.push_str(&line("web", &format!("burst {i}"), i));
    }
    assert_eq!(s.ingest(body.into_bytes(), None).status(), 200);
    b.wait(
        "the end of the burst",
        "document.querySelector('tr.row td.m')?.textContent === 'burst 854'",
    );
    assert_eq!(
        b.js(
            "return document.querySelectorAll('tr.row').length",
            json!([])
        ),
        500
    );
    // 104 rows before the burst + 700 = 804 received, 500 kept.
    let foot = b.js(
        "return document.querySelector('.table-foot').textContent",
        json!([]),
    );
    assert!(
        foot.as_str()
            .unwrap()
            .starts_with("304 older lines left this live view"),
        "{foot}"
    );

    // Live off: back to a normal search of the range.
    b.click("#live-toggle");
    b.wait("the search", "document.querySelector('#hits')");
    assert_eq!(
        b.js(
            "return new URLSearchParams(location.search).get('live')",
            json!([])
        ),
        serde_json::Value::Null
    );
    let errors = b.console_errors();
    assert!(errors.is_empty(), "{errors:?}");
}
