//! The dashboard in a real browser (Debian's headless Chromium through chromedriver)
//! against the real server with a known corpus: Discover's query, errors, histogram
//! zoom and Back, record expansion, filters, columns, zone switch, keyboard; dashboards
//! created in the page, reloaded and found again. Fails when Chromium is missing.

mod browser;
mod common;

use browser::Browser;
use common::Server;
use serde_json::{json, Value};

/// One record of the corpus, as the test knows it.
struct Rec {
    t: i64,
    container: &'static str,
    level: &'static str,
    message: String,
}

const N: i64 = 300;

/// 300 records 2 s apart starting 12 minutes ago (on a whole minute).
fn corpus(s: &Server) -> (Vec<Rec>, i64) {
    let now = chrono::Utc::now().timestamp_millis();
    let base = (now - 12 * 60_000) / 60_000 * 60_000;
    let mut recs = Vec::new();
    let mut body = String::new();
    for i in 0..N {
        let r = Rec {
            t: base + i * 2000,
            container: ["web", "api", "db"][(i % 3) as usize],
            level: ["info", "info", "warn", "error", "debug"][(i % 5) as usize],
            message: if i % 7 == 0 {
                format!("upstream timeout after {i} ms")
            } else {
                format!("request {i} served")
            },
        };
        let ts = chrono::DateTime::from_timestamp_millis(r.t)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        body.push_str(
            &json!({"@timestamp": ts, "host": "node-1", "container": r.container, "level": r.level,
                "stream": "stdout", "message": r.message, "fields": {"latency_ms": i * 3, "path": format!("/api/{}", i % 4)},
                "_source_id": format!("node-1/{}/stdout", r.container), "_seq": i + 1})
            .to_string(),
        );
        body.push('\n');
        recs.push(r);
    }
    assert_eq!(s.ingest(body.into_bytes(), None).status(), 200);
    s.wait_total("*", N as u64);
    (recs, base)
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn hits(b: &Browser) -> u64 {
    b.wait(
        "the hit count",
        "document.querySelector('#hits')?.textContent",
    )
    .as_str()
    .unwrap()
    .replace(',', "")
    .parse()
    .unwrap()
}

/// Waits until the hit count shows `want` (searches are asynchronous).
fn wait_hits(b: &Browser, want: usize) {
    b.wait(
        &format!("{want} hits"),
        &format!("document.querySelector('#hits')?.textContent.replace(/,/g, '') === '{want}' && document.querySelector('#status .muted')"),
    );
}

fn url_param(b: &Browser, name: &str) -> Option<String> {
    let v = b.js(
        "return new URLSearchParams(location.search).get(arguments[0]);",
        json!([name]),
    );
    v.as_str().map(str::to_string)
}

#[test]
fn discover_queries_zooms_expands_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let (recs, base) = corpus(&s);
    let b = Browser::start();
    let (start, end) = (base - 60_000, base + 11 * 60_000);
    b.goto(&format!("{}/?start={}&end={}", s.url, iso(start), iso(end)));
    wait_hits(&b, N as usize);
    assert_eq!(
        b.js(
            "return document.querySelectorAll('tr.row').length",
            json!([])
        ),
        50,
        "first page"
    );
    // Newest first, and the zone is on the time column (the browser runs in UTC+05:30).
    let first_time = b.js(
        "return document.querySelector('tr.row td.t').textContent",
        json!([]),
    );
    assert!(
        first_time.as_str().unwrap().ends_with("+05:30"),
        "{first_time}"
    );
    let last = &recs[N as usize - 1];
    let first_msg = b.js(
        "return document.querySelector('tr.row td.m').textContent",
        json!([]),
    );
    assert_eq!(first_msg, json!(last.message));
    // Infinite scroll: the next page comes when the table's end is reached.
    b.js("document.querySelector('#main').scrollTop = 1e9", json!([]));
    b.wait(
        "a second page",
        "document.querySelectorAll('tr.row').length === 100",
    );

    // A query typed and run with Enter; terms highlighted.
    b.type_into("#q", "timeout\u{E007}");
    let want = recs
        .iter()
        .filter(|r| r.message.contains("timeout"))
        .count();
    wait_hits(&b, want);
    assert_eq!(url_param(&b, "q").as_deref(), Some("timeout"));
    let marks = b.js(
        "return [...document.querySelectorAll('tr.row td.m mark')].map(m => m.textContent)",
        json!([]),
    );
    assert!(
        !marks.as_array().unwrap().is_empty()
            && marks.as_array().unwrap().iter().all(|m| m == "timeout"),
        "{marks}"
    );

    // A bad query: the error is shown at its position, under the input.
    b.type_into("#q", "level:(error\u{E007}");
    let err = b.wait("the query error", "!document.querySelector('#query-error').hidden && document.querySelector('#query-error').textContent");
    assert!(err.as_str().unwrap().contains("position 13"), "{err}");
    assert_eq!(
        b.js(
            "return document.querySelector('.err-at').textContent",
            json!([])
        ),
        " "
    );
    b.type_into("#q", "level:error OR level:warn\u{E007}");
    let want = recs
        .iter()
        .filter(|r| r.level == "error" || r.level == "warn")
        .count();
    wait_hits(&b, want);
    assert!(b
        .js(
            "return document.querySelector('#query-error').hidden",
            json!([])
        )
        .as_bool()
        .unwrap());

    // Histogram: bars stacked by level in Grafana's colours; a click zooms to one bar.
    b.wait(
        "the histogram",
        "document.querySelectorAll('#histogram g.bar').length > 10",
    );
    let colours = b.js("return [...new Set([...document.querySelectorAll('#histogram g.bar rect:not(.hit)')].map(r => r.getAttribute('fill')))].sort()", json!([]));
    assert_eq!(
        colours,
        json!(["#e24d42", "#eab839"]),
        "error red and warn yellow"
    );
    let agg: Value = common::client()
        .post(format!("{}/api/v1/aggregate", s.url))
        .body(json!({"start": iso(start), "end": iso(end), "aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "auto", "buckets": 60}}}}).to_string())
        .send().unwrap().json().unwrap();
    let interval = match agg["aggregations"]["h"]["interval"].as_str().unwrap() {
        i if i.ends_with('s') => i.trim_end_matches('s').parse::<i64>().unwrap() * 1000,
        i if i.ends_with('m') => i.trim_end_matches('m').parse::<i64>().unwrap() * 60_000,
        i => panic!("interval {i}"),
    };
    let bar_t = base + 4 * 60_000;
    b.click(&format!("#histogram g.bar[data-t='{bar_t}']"));
    let want = recs
        .iter()
        .filter(|r| {
            (r.level == "error" || r.level == "warn") && r.t >= bar_t && r.t < bar_t + interval
        })
        .count();
    wait_hits(&b, want);
    assert_eq!(url_param(&b, "start").as_deref(), Some(iso(bar_t).as_str()));
    // Back undoes the zoom.
    b.back();
    wait_hits(
        &b,
        recs.iter()
            .filter(|r| r.level == "error" || r.level == "warn")
            .count(),
    );
    assert_eq!(url_param(&b, "start").as_deref(), Some(iso(start).as_str()));
    // Dragging across the middle half zooms to a span inside the range.
    b.wait(
        "the histogram again",
        "document.querySelectorAll('#histogram g.bar').length > 10",
    );
    let w = b
        .js(
            "return document.querySelector('#histogram svg').getBoundingClientRect().width",
            json!([]),
        )
        .as_f64()
        .unwrap() as i64;
    b.drag("#histogram svg", (w / 3, 60), (2 * w / 3, 60));
    b.wait(
        "a narrower range",
        "new URLSearchParams(location.search).get('end') !== arguments[0]"
            .replace("arguments[0]", &format!("'{}'", iso(end)))
            .as_str(),
    );
    let (zs, ze) = (
        url_param(&b, "start").unwrap(),
        url_param(&b, "end").unwrap(),
    );
    let (zs, ze) = (
        chrono::DateTime::parse_from_rfc3339(&zs)
            .unwrap()
            .timestamp_millis(),
        chrono::DateTime::parse_from_rfc3339(&ze)
            .unwrap()
            .timestamp_millis(),
    );
    assert!(
        start < zs && zs < ze && ze < end,
        "{zs}..{ze} inside {start}..{end}"
    );
    let want = recs
        .iter()
        .filter(|r| (r.level == "error" || r.level == "warn") && r.t >= zs && r.t <= ze)
        .count();
    wait_hits(&b, want);
    b.back();

    // Expand a record: table and JSON views.
    b.type_into("#q", "\u{E007}");
    wait_hits(&b, N as usize);
    b.click("tr.row td.m");
    b.wait(
        "the expanded record",
        "document.querySelector('tr.detail table.kv')",
    );
    let names = b.js(
        "return [...document.querySelectorAll('tr.detail td.fname')].map(t => t.textContent)",
        json!([]),
    );
    for f in [
        "@timestamp",
        "container",
        "level",
        "message",
        "fields.latency_ms",
        "fields.path",
    ] {
        assert!(
            names.as_array().unwrap().contains(&json!(f)),
            "{f} in {names}"
        );
    }
    b.click("tr.detail button[data-tab=JSON]");
    let shown: Value = serde_json::from_str(
        b.js(
            "return document.querySelector('tr.detail pre.json').textContent",
            json!([]),
        )
        .as_str()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(shown["message"], json!(last.message));
    assert_eq!(shown["fields"]["latency_ms"], json!((N - 1) * 3));

    // Filter for a value from the record: a pill, the URL, the count.
    b.click("tr.detail button[data-tab=Table]");
    b.click("tr.detail tr[data-field=container] button[data-act=for]");
    wait_hits(
        &b,
        recs.iter()
            .filter(|r| r.container == last.container)
            .count(),
    );
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#pills .pill').length",
            json!([])
        ),
        1
    );
    let f = b.js(
        "return new URLSearchParams(location.search).getAll('f')",
        json!([]),
    );
    assert_eq!(f, json!([format!("container:\"{}\"", last.container)]));
    // Invert, disable, remove.
    b.click("#pills .pill button[data-act=invert]");
    wait_hits(
        &b,
        recs.iter()
            .filter(|r| r.container != last.container)
            .count(),
    );
    b.click("#pills .pill button[data-act=toggle]");
    wait_hits(&b, N as usize);
    b.click("#pills .pill button[data-act=remove]");
    b.wait(
        "no pills",
        "document.querySelectorAll('#pills .pill').length === 0",
    );

    // The sidebar: a field's top values, filtered against from there.
    b.click("#fields li[data-field=level] .field-row");
    b.wait(
        "top values",
        "document.querySelector('#fields li[data-field=level] .top-value[data-value=error]')",
    );
    b.click("#fields li[data-field=level] .top-value[data-value=error] button[data-act=against]");
    wait_hits(&b, recs.iter().filter(|r| r.level != "error").count());
    assert!(b
        .js(
            "return document.querySelector('#pills .pill').classList.contains('neg')",
            json!([])
        )
        .as_bool()
        .unwrap());

    // A field as a column, from the sidebar.
    b.click("#fields li[data-field='fields.latency_ms'] .add-col");
    b.wait("the column", "[...document.querySelectorAll('table.docs th')].some(t => t.textContent.startsWith('fields.latency_ms'))");
    assert_eq!(url_param(&b, "cols").as_deref(), Some("fields.latency_ms"));
    let cell = b.wait(
        "a column value",
        "document.querySelector('tr.row td.col')?.textContent",
    );
    assert_eq!(cell, json!(((N - 1) * 3).to_string()));

    // Surrounding lines: the same container around a record, whatever the query; Esc closes.
    b.click("tr.row td.m");
    b.click("tr.detail button[data-act=copy]");
    b.wait(
        "the copy confirmation",
        "document.querySelector('.toast')?.textContent === 'Copied the record as JSON'",
    );
    b.click("tr.detail button[data-act=surrounding]");
    let anchor = b.wait(
        "surrounding lines",
        "document.querySelector('#flyout .anchor')?.textContent",
    );
    assert!(anchor.as_str().unwrap().contains(&last.message), "{anchor}");
    let lines = b.js(
        "return document.querySelectorAll('#flyout .sline').length",
        json!([]),
    );
    assert_eq!(lines, 10, "ten before it and none after the newest");
    b.keys("\u{E00C}");
    b.wait("the flyout closed", "!document.querySelector('#flyout')");

    // The time picker: an absolute range typed in the zone shown (UTC+05:30 here), a
    // quick range, and auto-refresh; Esc closes it.
    b.click("#time-button");
    let abs_start = chrono::DateTime::from_timestamp_millis(base + 330 * 60_000)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let abs_end = chrono::DateTime::from_timestamp_millis(base + 332 * 60_000 - 1)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S.%3f")
        .to_string();
    b.type_into("#time-pop [name=start]", &abs_start);
    b.type_into("#time-pop [name=end]", &abs_end);
    b.click("#time-apply");
    // 10:00 local in UTC+05:30 is 04:30 UTC: two minutes of records from `base`.
    let want = recs
        .iter()
        .filter(|r| r.level != "error" && r.t >= base && r.t < base + 120_000)
        .count();
    wait_hits(&b, want);
    assert_eq!(url_param(&b, "start").as_deref(), Some(iso(base).as_str()));
    b.click("#time-button");
    b.click("#time-pop button[data-range='now-1h']");
    b.wait(
        "the quick range",
        "new URLSearchParams(location.search).get('start') === 'now-1h'",
    );
    wait_hits(&b, recs.iter().filter(|r| r.level != "error").count());
    b.js(
        "const s = document.querySelector('#refresh'); s.value = '5s'; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    assert_eq!(url_param(&b, "refresh").as_deref(), Some("5s"));
    b.click("#time-button");
    b.keys("\u{E00C}");
    assert!(b
        .js(
            "return document.querySelector('#time-pop').hidden",
            json!([])
        )
        .as_bool()
        .unwrap());

    // Keyboard: / focuses the query. The zone switch shows UTC with its offset.
    b.js("document.activeElement.blur()", json!([]));
    b.keys("/");
    assert_eq!(b.js("return document.activeElement.id", json!([])), "q");
    b.click("#tz-toggle");
    b.wait("UTC times", "document.querySelector('tr.row td.t').textContent.endsWith('+00:00') && document.querySelector('th.t').textContent === 'Time (UTC)'");
    assert_eq!(url_param(&b, "tz").as_deref(), Some("utc"));
    b.click("#theme-toggle");
    let theme = b.js("return document.documentElement.dataset.theme", json!([]));
    assert_eq!(url_param(&b, "theme").as_deref(), theme.as_str());

    // The whole view comes back from the URL alone.
    let url = b.url();
    b.goto("about:blank");
    b.goto(&url);
    wait_hits(&b, recs.iter().filter(|r| r.level != "error").count());
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#pills .pill.neg').length",
            json!([])
        ),
        1
    );
    // The bad query's three 400s (histogram, page, fields) are expected; nothing else
    // may have failed.
    let (bad_query, errors): (Vec<String>, Vec<String>) = b
        .console_errors()
        .into_iter()
        .partition(|e| e.contains("the server responded with a status of 400"));
    assert_eq!(bad_query.len(), 3, "{bad_query:?}");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        hits(&b),
        recs.iter().filter(|r| r.level != "error").count() as u64
    );
}

#[test]
fn dashboards_are_created_in_the_page_and_survive_reload_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let (recs, _) = corpus(&s);
    let b = Browser::start();
    b.goto(&format!("{}/?view=dashboards", s.url));
    b.wait(
        "the list",
        "document.querySelector('#dash-list a[data-id=overview]')",
    );
    b.click("#dash-list a[data-id=overview]");
    b.wait("every Overview panel drawn", "document.querySelectorAll('.panel').length === 9 && document.querySelectorAll('.panel.ready').length === 9");
    assert_eq!(
        b.js(
            "return document.querySelectorAll('.panel .error-text').length",
            json!([])
        ),
        0
    );
    assert_eq!(
        url_param(&b, "start").as_deref(),
        Some("now-24h"),
        "the URL carries the view"
    );
    let records = b.js(
        "return document.querySelector('.panel[data-id=p1] .metric-value').dataset.value",
        json!([]),
    );
    assert_eq!(records, json!(N.to_string()));
    let share = b.js("return Number(document.querySelector('.panel[data-id=p2] .metric-value').dataset.value)", json!([])).as_f64().unwrap();
    let errors = recs.iter().filter(|r| r.level == "error").count() as f64;
    assert!(
        (share - 100.0 * errors / N as f64).abs() < 1e-9,
        "error rate {share}"
    );
    let bars = b.js("return [...document.querySelectorAll('.panel[data-id=p6] .hbar')].map(g => g.dataset.value)", json!([]));
    assert_eq!(bars.as_array().unwrap().len(), 3, "{bars}");
    // The count-over-time panels carry the server's forecast.
    b.wait("a forecast band", "document.querySelector('.panel[data-id=p5] svg .band') && document.querySelector('.panel[data-id=p5] svg .forecast-line')");
    // The dashboard-wide query applies to every panel.
    b.type_into("#q", "container:web\u{E007}");
    let web = recs.iter().filter(|r| r.container == "web").count();
    b.wait(
        "the dashboard query applied",
        &format!("new URLSearchParams(location.search).get('q') === 'container:web' && document.querySelector('.panel[data-id=p1] .metric-value')?.dataset.value === '{web}' && document.querySelectorAll('.panel[data-id=p6] .hbar').length === 1"),
    );

    // A dashboard made in the page.
    b.goto(&format!("{}/?view=dashboards", s.url));
    // The list is drawn after the page has asked for the session and the dashboards.
    b.wait(
        "the dashboards list",
        "document.querySelector('#new-dashboard input')",
    );
    b.type_into("#new-dashboard input", "Team board\u{E007}");
    b.wait("the new dashboard", "new URLSearchParams(location.search).get('id') === 'team-board' && document.querySelector('#add-panel')");
    b.click("#add-panel");
    b.js("const f = document.querySelector('#panel-editor form'); f.type.value = 'top_values'; f.type.dispatchEvent(new Event('change'));", json!([]));
    b.type_into("#panel-editor [name=title]", "Levels");
    b.type_into("#panel-editor [name=field]", "level");
    b.click("#panel-save");
    b.wait(
        "the panel drawn",
        "document.querySelector('.panel.ready .hbar')",
    );
    b.click("#add-panel");
    b.type_into("#panel-editor [name=title]", "Volume");
    b.click("#panel-save");
    b.wait(
        "two panels",
        "document.querySelectorAll('.panel.ready').length === 2",
    );
    // Reorder: the second panel moves first.
    b.click(".panel:nth-child(2) button[data-act=left]");
    b.wait("the new order", "[...document.querySelectorAll('.panel-title')].map(t => t.textContent).join() === 'Volume,Levels'");

    b.refresh();
    b.wait("the panels after reload", "[...document.querySelectorAll('.panel-title')].map(t => t.textContent).join() === 'Volume,Levels' && document.querySelectorAll('.panel.ready').length === 2");
    let levels = b.js(
        "return [...document.querySelectorAll('.hbar')].map(g => g.dataset.value).sort()",
        json!([]),
    );
    assert_eq!(levels, json!(["debug", "error", "info", "warn"]));

    // And after a server restart.
    let mut s = s;
    s.stop();
    let s = s.restart();
    b.refresh();
    b.wait(
        "the panels after a restart",
        "document.querySelectorAll('.panel.ready').length === 2",
    );
    b.click(".panel:nth-child(2) button[data-act=edit]");
    b.type_into("#panel-editor [name=title]", "Levels (edited)");
    b.click("#panel-save");
    b.wait(
        "the edited title",
        "document.querySelectorAll('.panel-title')[1]?.textContent === 'Levels (edited)'",
    );
    b.click(".panel:nth-child(1) button[data-act=remove]");
    b.wait(
        "one panel",
        "document.querySelectorAll('.panel').length === 1",
    );
    let (_, d) = s.get_json("/api/v1/dashboards/team-board");
    assert_eq!(d["panels"].as_array().unwrap().len(), 1);
    assert_eq!(d["panels"][0]["title"], "Levels (edited)");
    assert_eq!(d["panels"][0]["field"], "level");
    let errors = b.console_errors();
    assert!(errors.is_empty(), "{errors:?}");
}
