//! Security end to end against the real binary: tokens and scopes on every route, token
//! changes on a running server, cross-site writes and foreign hosts, failed-attempt
//! limits, the first start beyond loopback, `--insecure`, and `skein up`'s own agent.
//! TLS, the agent and the CLI over HTTPS are in tests/tls.rs.

mod common;

use common::{client, create_token as token, free_port, record_line, Server};
use reqwest::Method;
use serde_json::Value;
use skein_web::auth::Access;
use skein_web::auth::Scope;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn token_cmd(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_skein"))
        .arg("token")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A concrete path for a route pattern (a tail that ends by itself).
fn concrete(pattern: &str) -> String {
    if pattern == "/api/v1/tail" {
        return "/api/v1/tail?follow=false".into();
    }
    pattern
        .replace("{index}", "logs-app")
        // An operation skein does not route (`_doc` has routes of its own).
        .replace("{op}", "_termvectors")
        .replace("{more}", "1")
        .replace("{rest}", "x")
        .replace("{id}", "d1")
        .replace("{name}", "t1")
        .replace("{*path}", "js/app.js")
}

/// The method to send for a route's method entry (`*` stands for the others).
fn method_of(pattern: &str, m: &str) -> Method {
    match m {
        "*" if pattern == "/es/{index}" => Method::DELETE,
        "*" => Method::POST,
        m => m.parse().unwrap(),
    }
}

const SECRET_MARK: &str = "needle-7f3a-secret-record";

fn ingest_marked(server: &Server) {
    let line = record_line(
        "2026-11-20T10:00:00Z",
        "billing",
        "info",
        &format!("card token {SECRET_MARK}"),
        "sec",
        1,
    );
    let r = server.ingest(format!("{line}\n").into_bytes(), None);
    assert_eq!(r.status(), 200);
    server.wait_total(SECRET_MARK, 1);
}

fn send(server: &Server, method: Method, path: &str, auth: Option<&str>) -> (u16, String, bool) {
    let mut r = client()
        .request(method.clone(), format!("{}{path}", server.url))
        .header("Content-Type", "application/json");
    if let Some(a) = auth {
        r = r.header("Authorization", a);
    }
    if method != Method::GET && method != Method::HEAD && method != Method::DELETE {
        r = r.body("{}");
    }
    let resp = r.send().unwrap();
    let status = resp.status().as_u16();
    let challenged = resp.headers().contains_key("www-authenticate");
    (status, resp.text().unwrap_or_default(), challenged)
}

#[test]
fn every_route_refuses_missing_revoked_and_wrong_scope_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ingest = token(&data, "ingest", "shipper");
    let query = token(&data, "query", "reader");
    let both = token(&data, "ingest,query", "both");
    let admin = token(&data, "admin", "root");
    let revoked = token(&data, "admin", "gone");
    token_cmd(&data, &["revoke", "gone"]);
    // Every route is tried with bad tokens from one address, more than the default
    // limit of failed attempts allows.
    let mut server = Server::start(
        &data,
        &[
            "--commit-interval-ms",
            "100",
            "--auth-failures-per-minute",
            "100000",
        ],
    );
    server.token = Some(admin.clone());
    ingest_marked(&server);

    let table = skein_web::routes::table();
    assert!(table.len() > 40, "the route table lists every route");
    let mut checked = 0;
    for route in table {
        let path = concrete(route.path);
        let method = method_of(route.path, route.method);
        let what = format!("{method} {path}");
        if route.access == Access::Open {
            continue;
        }
        for (label, auth) in [
            ("no token", None),
            ("revoked token", Some(format!("Bearer {revoked}"))),
            (
                "unknown token",
                Some("Bearer skein_not-a-token".to_string()),
            ),
        ] {
            let (status, body, challenged) = send(&server, method.clone(), &path, auth.as_deref());
            assert_eq!(status, 401, "{what} with {label}: {body}");
            assert!(challenged, "{what}: a 401 carries WWW-Authenticate");
            assert!(
                !body.contains(SECRET_MARK),
                "{what} with {label} leaked a record"
            );
        }
        if let Access::Needs(scope) = route.access {
            let wrong = match scope {
                Scope::Ingest => &query,
                Scope::Query => &ingest,
                Scope::Admin => &both,
            };
            let (status, body, _) = send(
                &server,
                method.clone(),
                &path,
                Some(&format!("Bearer {wrong}")),
            );
            assert_eq!(status, 403, "{what} with a token lacking {scope}: {body}");
            assert!(
                !body.contains(SECRET_MARK),
                "{what} with the wrong scope leaked a record"
            );
            if path.starts_with("/es") && method != Method::HEAD {
                let v: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["error"]["type"], "security_exception", "{what}: {body}");
                assert_eq!(v["status"], 403);
            }
        }
        let (status, body, _) = send(
            &server,
            method.clone(),
            &path,
            Some(&format!("Bearer {admin}")),
        );
        assert!(
            status != 401 && status != 403,
            "{what} with an admin token: {status} {body}"
        );
        checked += 1;
    }
    assert!(checked > 35, "checked {checked} guarded routes");

    // Open routes reveal nothing: /healthz answers status only.
    let (status, body, _) = send(&server, Method::GET, "/healthz", None);
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"status":"ok"}"#);
    let (_, body, _) = send(
        &server,
        Method::GET,
        "/healthz",
        Some(&format!("Bearer {query}")),
    );
    assert!(
        body.contains("partitions"),
        "a query token sees the details: {body}"
    );
    let (status, body, _) = send(&server, Method::GET, "/api/v1/session", None);
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["auth"], true);
    assert_eq!(v["session"], false);

    // The right scopes work, and admin implies the others.
    let (status, body, _) = send(
        &server,
        Method::GET,
        &format!("/api/v1/search?q={SECRET_MARK}"),
        Some(&format!("Bearer {query}")),
    );
    assert_eq!(status, 200);
    assert!(body.contains(SECRET_MARK));
    let line = record_line("2026-11-20T10:00:01Z", "billing", "info", "more", "sec", 2);
    let r = client()
        .post(format!("{}/api/v1/ingest", server.url))
        .bearer_auth(&ingest)
        .body(format!("{line}\n"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // No token in a log line.
    let log = std::fs::read_to_string(&server.log).unwrap();
    for t in [&ingest, &query, &both, &admin, &revoked] {
        assert!(
            !log.contains(t.as_str()),
            "a token appeared in the server log"
        );
    }
}

#[test]
fn token_changes_reach_a_running_server_within_a_second() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let secret_file = tmp.path().join("shipper.token");
    std::fs::write(&secret_file, "skein_preshared-by-the-orchestrator\n").unwrap();
    let server = Server::start(
        &data,
        &[
            "--accept-token-file",
            &format!("ingest:{}", secret_file.display()),
        ],
    );
    // A pre-shared token turns auth on by itself; it may ingest, not read.
    let get = |auth: Option<&str>| {
        let mut r = client().get(format!("{}/api/v1/search?limit=0", server.url));
        if let Some(t) = auth {
            r = r.bearer_auth(t);
        }
        r.send().unwrap().status().as_u16()
    };
    assert_eq!(get(None), 401);
    assert_eq!(get(Some("skein_preshared-by-the-orchestrator")), 403);
    let r = client()
        .post(format!("{}/api/v1/ingest", server.url))
        .bearer_auth("skein_preshared-by-the-orchestrator")
        .body(format!(
            "{}\n",
            record_line("2026-11-20T10:00:00Z", "a", "info", "x", "p", 1)
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    let wait_for = |want: u16, auth: Option<&str>, what: &str| {
        let start = Instant::now();
        loop {
            if get(auth) == want {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{what} never took effect"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let t = token(&data, "query", "late");
    let took = wait_for(200, Some(&t), "creating a token");
    eprintln!("a created token worked after {took:?}");
    // Last use is recorded for `token list`.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listed = token_cmd(&data, &["list", "--json"]);
        let late: Value = listed
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v["name"] == "late")
            .unwrap();
        assert!(!listed.contains(&t), "list never shows a secret");
        if late["last_used"].is_string() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "last use never recorded: {listed}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    token_cmd(&data, &["revoke", "late"]);
    let took = wait_for(401, Some(&t), "revoking a token");
    eprintln!("a revoked token was refused after {took:?}");

    // Expiry.
    let out = Command::new(env!("CARGO_BIN_EXE_skein"))
        .args([
            "token",
            "create",
            "--scope",
            "query",
            "--expires",
            "1s",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let short = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let born = Instant::now();
    wait_for(200, Some(&short), "a short-lived token");
    std::thread::sleep(Duration::from_millis(3100).saturating_sub(born.elapsed()));
    let r = client()
        .get(format!("{}/api/v1/search", server.url))
        .bearer_auth(&short)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().unwrap().contains("expired"));

    // The file holds hashes only, readable by its owner only.
    let file = data.join("auth/tokens.json");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&t) && !text.contains(&short));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn cross_site_writes_and_foreign_hosts_are_refused_even_with_auth_off() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &["--allowed-hosts", "logs.internal"],
    );
    let line = record_line("2026-11-20T10:00:00Z", "a", "info", "forged", "x", 1);
    // What a page elsewhere can send without a preflight: a text/plain form POST.
    for (origin, site) in [
        ("http://evil.example", "cross-site"),
        ("http://127.0.0.1:1", "same-site"),
        ("null", "cross-site"),
    ] {
        let r = client()
            .post(format!("{}/api/v1/ingest", server.url))
            .header("Content-Type", "text/plain")
            .header("Origin", origin)
            .header("Sec-Fetch-Site", site)
            .body(format!("{line}\n"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "ingest from {origin}");
        let r = client()
            .post(format!("{}/api/v1/dashboards", server.url))
            .header("Content-Type", "text/plain")
            .header("Origin", origin)
            .body(r#"{"title":"forged","panels":[]}"#)
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "dashboard from {origin}");
    }
    // The server's own page may write.
    let own = server.url.clone();
    let r = client()
        .post(format!("{}/api/v1/dashboards", server.url))
        .header("Content-Type", "application/json")
        .header("Origin", &own)
        .header("Sec-Fetch-Site", "same-origin")
        .body(r#"{"title":"mine","panels":[]}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, list) = server.get_json("/api/v1/dashboards");
    let titles = list.to_string();
    assert!(
        titles.contains("mine") && !titles.contains("forged"),
        "{titles}"
    );
    assert_eq!(server.search(&[("q", "forged")])["total"], 0);

    // DNS rebinding: a name that is not this server's is refused; IPs, localhost and
    // --allowed-hosts names are served.
    for (host, want) in [
        ("evil.example:80", 403),
        ("attacker.test", 403),
        ("localhost:9280", 200),
        ("LOGS.internal:9280", 200),
        ("127.0.0.1:9280", 200),
        ("[::1]:9280", 200),
    ] {
        let r = client()
            .get(format!("{}/api/v1/search?limit=0", server.url))
            .header("Host", host)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), want, "Host: {host}");
    }

    // Security headers, and no CORS.
    let r = client()
        .get(format!("{}/", server.url))
        .header("Origin", "http://evil.example")
        .send()
        .unwrap();
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(!h.contains_key("access-control-allow-origin"));
    let page = r.text().unwrap();
    assert!(!page.contains("<script>"), "the page has no inline script");
}

#[test]
fn failed_attempts_are_counted_and_rate_limited() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let admin = token(&data, "admin", "root");
    let server = Server::start(&data, &[]);
    let try_with = |t: &str| {
        client()
            .get(format!("{}/api/v1/search", server.url))
            .bearer_auth(t)
            .send()
            .unwrap()
    };
    for i in 0..5 {
        assert_eq!(try_with(&format!("skein_guess{i}")).status(), 401);
    }
    let metrics = try_with(&admin);
    assert_eq!(metrics.status(), 200);
    let m = client()
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let failures: f64 = m
        .lines()
        .filter(|l| l.starts_with("skein_auth_failures_total") && l.contains("unknown"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(failures >= 5.0, "failures on /metrics: {failures}\n{m}");
    let mut limited = None;
    for i in 0..40 {
        let r = try_with(&format!("skein_guess-more{i}"));
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status(), 401);
    }
    let r = limited.expect("guessing is rate-limited");
    assert!(r.headers().contains_key("retry-after"));
    // While limited, even a right guess is not confirmed.
    assert_eq!(try_with(&admin).status(), 429);
}

fn spawn_logged(args: &[&str], log: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_skein"))
        .args(args)
        .stdout(std::fs::File::create(log.with_extension("out")).unwrap())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn wait_healthy(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while client().get(format!("{url}/healthz")).send().is_err() {
        assert!(Instant::now() < deadline, "{url} did not come up");
        std::thread::sleep(Duration::from_millis(30));
    }
}

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn first_start_beyond_loopback_writes_an_admin_token_file_and_insecure_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let log = tmp.path().join("server.log");
    let listen = format!("0.0.0.0:{port}");
    let args = [
        "server",
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        &listen,
    ];
    let child = Killed(spawn_logged(&args, &log));
    let url = format!("http://127.0.0.1:{port}");
    wait_healthy(&url);
    let path = data.join("auth/admin.token");
    let secret = std::fs::read_to_string(&path).unwrap().trim().to_string();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::thread::sleep(Duration::from_millis(300));
    let said = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(log.with_extension("out")).unwrap();
    assert!(
        said.contains(path.to_str().unwrap()),
        "the path is printed: {said}"
    );
    assert!(!said.contains(&secret), "the token itself is never printed");
    let status = |auth: Option<&str>| {
        let mut r = client().get(format!("{url}/api/v1/search?limit=0"));
        if let Some(t) = auth {
            r = r.bearer_auth(t);
        }
        r.send().unwrap().status().as_u16()
    };
    assert_eq!(status(None), 401);
    assert_eq!(status(Some(&secret)), 200);
    drop(child);

    // --insecure: auth off whatever exists, said at every start.
    let log2 = tmp.path().join("insecure.log");
    let mut args2 = args.to_vec();
    args2.push("--insecure");
    let _child = Killed(spawn_logged(&args2, &log2));
    wait_healthy(&url);
    assert_eq!(status(None), 200);
    std::thread::sleep(Duration::from_millis(300));
    assert!(std::fs::read_to_string(&log2)
        .unwrap()
        .contains("auth is OFF (--insecure)"));
}

#[test]
fn skein_up_keeps_its_own_agent_shipping_after_a_token_appears() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let logs = tmp.path().join("app.log");
    std::fs::write(&logs, "first line before any token\n").unwrap();
    let port = free_port();
    let glob = logs.display().to_string();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "up",
        "--no-docker",
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        &listen,
        "--path",
        &glob,
        "--batch-wait-ms",
        "100",
    ];
    let _up = Killed(spawn_logged(&args, &tmp.path().join("up.log")));
    let url = format!("http://127.0.0.1:{port}");
    wait_healthy(&url);
    let total = |q: &str, auth: Option<&str>| -> u64 {
        let mut r = client()
            .get(format!("{url}/api/v1/search"))
            .query(&[("q", q), ("limit", "0")]);
        if let Some(t) = auth {
            r = r.bearer_auth(t);
        }
        r.send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .and_then(|v| v["total"].as_u64())
            .unwrap_or(0)
    };
    let wait = |q: &str, auth: Option<&str>| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while total(q, auth) < 1 {
            assert!(Instant::now() < deadline, "{q:?} never arrived");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait("before", None);
    let t = token(&data, "query", "me");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(total("before", None), 0, "auth is on now");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&logs)
        .unwrap();
    use std::io::Write;
    writeln!(f, "second line after the token").unwrap();
    wait("after", Some(&t));
    let said = std::fs::read_to_string(tmp.path().join("up.log")).unwrap();
    assert!(!said.contains(&t), "no secret in the log: {said}");
}

mod no_bypass {
    //! A property test: no spelling of the header, the token or the path reaches data
    //! without a token holding the `query` scope.

    use super::*;
    use base64::Engine as _;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    struct Fixture {
        server: Server,
        ingest: String,
        query: String,
        revoked: String,
        _tmp: tempfile::TempDir,
    }

    /// One server for every case (owned by the test, so it is stopped with it).
    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let ingest = token(&data, "ingest", "shipper");
        let query = token(&data, "query", "reader");
        let revoked = token(&data, "admin", "gone");
        let admin = token(&data, "admin", "root");
        token_cmd(&data, &["revoke", "gone"]);
        let mut server = Server::start(
            &data,
            &[
                "--commit-interval-ms",
                "100",
                "--auth-failures-per-minute",
                "1000000",
            ],
        );
        server.token = Some(admin);
        ingest_marked(&server);
        server.token = Some(query.clone());
        Fixture {
            server,
            ingest,
            query,
            revoked,
            _tmp: tmp,
        }
    }

    const ROUTES: &[&str] = &[
        "/api/v1/search?q=MARK",
        "/api/v1/tail?follow=false&q=MARK",
        "/api/v1/sources",
        "/es/_search?q=MARK",
        "/es/_count?q=MARK",
    ];

    /// Ways to spell a path that a careless router or guard might treat differently.
    fn mangle(path: &str, how: u8) -> String {
        let (p, q) = path.split_once('?').map_or((path, ""), |(p, q)| (p, q));
        let q = if q.is_empty() {
            String::new()
        } else {
            format!("?{q}")
        };
        let p = match how {
            0 => p.to_string(),
            1 => p.to_ascii_uppercase(),
            2 => p.replacen('/', "//", 2),
            3 => p.replacen("/v1", "/./v1", 1).replacen("/_", "/./_", 1),
            4 => p
                .replacen("/v1", "/x/../v1", 1)
                .replacen("/_", "/x/../_", 1),
            5 => p.replacen('s', "%73", 1),
            6 => format!("/{}", p[1..].replacen('/', "%2F", 2)),
            7 => format!("{p}/"),
            8 => p.replacen('_', "%5F", 1),
            9 => p.replacen("api", "API", 1).replacen("es/", "ES/", 1),
            _ => format!("{p};x=1"),
        };
        format!("{p}{q}")
    }

    /// Credentials that must not reach data (none holds the query scope).
    fn credential(f: &Fixture, how: u8) -> Vec<(&'static str, String)> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let q = &f.query;
        match how {
            0 => vec![],
            1 => vec![("authorization", format!("Bearer {}", f.ingest))],
            2 => vec![("AUTHORIZATION", format!("bearer {}", f.revoked))],
            3 => vec![("authorization", format!("Bearer {q}x"))],
            4 => vec![("authorization", format!("Bearer {}", &q[..q.len() - 1]))],
            5 => vec![(
                "authorization",
                format!("Bearer {}", q.to_ascii_uppercase()),
            )],
            6 => vec![("authorization", format!("Token {q}"))],
            7 => vec![(
                "authorization",
                format!("Basic {}", b64(&format!("{q}:nope"))),
            )],
            8 => vec![("authorization", format!("Basic {}", b64(q)))],
            9 => vec![(
                "authorization",
                format!("ApiKey {}", b64(&format!("{q}x:"))),
            )],
            10 => vec![("cookie", format!("skein_session={q}"))],
            11 => vec![("cookie", "skein_session=skein_forged".to_string())],
            12 => vec![("authorization", "Bearer ".to_string())],
            13 => vec![("authorization", format!("Bearer\t{}", f.ingest))],
            _ => vec![("x-authorization", format!("Bearer {q}"))],
        }
    }

    fn attempt(
        f: &Fixture,
        route: usize,
        path_how: u8,
        cred_how: u8,
        post: bool,
    ) -> Result<(), TestCaseError> {
        let path = mangle(&ROUTES[route].replace("MARK", SECRET_MARK), path_how);
        let method = if post && route >= 3 {
            Method::POST
        } else {
            Method::GET
        };
        let mut r = client().request(method.clone(), format!("{}{path}", f.server.url));
        for (k, v) in credential(f, cred_how) {
            r = r.header(k, v);
        }
        if method == Method::POST {
            r = r.header("Content-Type", "application/json").body("{}");
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().unwrap_or_default();
        prop_assert!(
            !body.contains(SECRET_MARK) && !body.contains("billing"),
            "{method} {path} with credential #{cred_how}: {status} {body}"
        );
        prop_assert!(
            !(200..300).contains(&status),
            "{method} {path} with credential #{cred_how} answered {status}: {body}"
        );
        Ok(())
    }

    #[test]
    fn no_spelling_reaches_data_without_the_query_scope() {
        let f = fixture();
        // So that the property cannot pass because nothing ever answers: the right
        // token does reach the data on every route.
        for route in ROUTES {
            let path = route.replace("MARK", SECRET_MARK);
            let resp = f.server.request(Method::GET, &path).send().unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            let body = resp.text().unwrap();
            assert!(
                body.contains("billing") || body.contains("\"count\":1"),
                "{path}: {body}"
            );
        }
        let mut runner = TestRunner::new(Config {
            cases: 400,
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = (0..ROUTES.len(), 0u8..11, 0u8..15, any::<bool>());
        runner
            .run(&strategy, |(route, path_how, cred_how, post)| {
                attempt(&f, route, path_how, cred_how, post)
            })
            .unwrap();
    }
}
