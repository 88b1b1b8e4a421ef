//! Escape sequences in log data must not drive the terminal of whoever reads the logs:
//! the real `skein search` and `skein logs` run under a pseudo-terminal (`script`), so
//! they see a terminal on stdout, against a real server holding a hostile record.

mod common;

use common::{record_line, Server};
use std::process::{Command, Stdio};

/// Retitles the window, clears the screen and fakes a colour.
const EVIL: &str = "\x1b]0;pwned\x07\x1b[2J\x1b[31mFAKE";
/// How the CLI shows it on a terminal.
const SHOWN: &str = "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mFAKE";

/// The message: the sequence, a C1 CSI, a bidi override, and a second line.
fn message() -> String {
    format!("{EVIL} csi\u{9b}2J rtl\u{202e}exe.txt\n  second line")
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Runs `skein ARGS` with a pseudo-terminal as stdout; returns what it printed there,
/// with the terminal's CR LF turned back into LF.
fn on_terminal(server: &str, args: &[&str], colour: bool) -> String {
    let cmd = std::iter::once(env!("CARGO_BIN_EXE_skein"))
        .chain(args.iter().copied())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .env("SKEIN_SERVER", server)
        .env("TZ", "UTC")
        .stdin(Stdio::null());
    if colour {
        c.env_remove("NO_COLOR");
    } else {
        c.env("NO_COLOR", "1");
    }
    let out = c.output().expect("script (util-linux) runs");
    let text = String::from_utf8(out.stdout).unwrap().replace("\r\n", "\n");
    assert!(out.status.success(), "skein {args:?} failed:\n{text}");
    text
}

/// Runs `skein ARGS` with stdout a pipe.
fn piped(server: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_skein"))
        .args(args)
        .env("SKEIN_SERVER", server)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn assert_escaped(what: &str, text: &str) {
    assert!(
        text.contains(SHOWN),
        "{what} shows the sequence escaped: {text:?}"
    );
    assert!(text.contains("csi\\u{9b}2J"), "{what} escapes C1: {text:?}");
    assert!(
        text.contains("rtl\\u{202e}exe"),
        "{what} escapes bidi: {text:?}"
    );
    assert!(
        !text.contains('\x1b') && !text.contains('\u{9b}') && !text.contains('\u{202e}'),
        "{what}: nothing from the data reaches the terminal: {text:?}"
    );
}

#[test]
fn control_characters_from_records_are_shown_escaped_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    let ts = skein_model::Timestamp::now().to_rfc3339();
    let line = record_line(&ts, "evil", "error", &message(), "node-1/evil/stdout", 1);
    assert_eq!(
        server
            .ingest(format!("{line}\n").into_bytes(), None)
            .status(),
        200
    );
    server.wait_total("container:evil", 1);
    let url = server.url.as_str();

    // search, table: escaped, and the second line stays a continuation line.
    let table = on_terminal(url, &["search", "container:evil"], false);
    assert_escaped("search", &table);
    let row = table.lines().find(|l| l.contains("FAKE")).unwrap();
    assert!(row.contains(" evil ") && row.contains("error"), "{row:?}");
    let next = table.lines().skip_while(|l| !l.contains("FAKE")).nth(1);
    assert!(
        next.is_some_and(|l| l.starts_with("          ") && l.trim() == "second line"),
        "continuation line indented: {table:?}"
    );
    // With colour on, the CLI's own colour codes still arrive, the data's do not.
    let coloured = on_terminal(url, &["search", "container:evil"], true);
    assert!(
        coloured.contains("\x1b[31merror"),
        "level colour: {coloured:?}"
    );
    assert!(coloured.contains(SHOWN), "{coloured:?}");
    for raw in ["\x1b]0;", "\x1b[2J", "\x1b[31mFAKE", "\u{9b}", "\u{202e}"] {
        assert!(!coloured.contains(raw), "{raw:?} reached: {coloured:?}");
    }
    // --raw-control: as sent.
    let raw = on_terminal(url, &["search", "container:evil", "--raw-control"], false);
    assert!(raw.contains(EVIL), "{raw:?}");
    // JSON on a terminal: C0 escaped by JSON, C1 and bidi as \uNNNN; same value.
    let json = on_terminal(url, &["search", "container:evil", "-o", "json"], false);
    assert!(
        !json.chars().any(|c| c.is_control() && c != '\n'),
        "{json:?}"
    );
    assert!(!json.contains('\u{202e}'), "{json:?}");
    let hit: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(hit["message"], message());

    // logs: text, raw and json outputs.
    let text = on_terminal(url, &["logs", "evil"], false);
    assert_escaped("logs", &text);
    assert!(text.contains("FAKE csi"), "{text:?}");
    assert!(
        text.contains("\n  second line"),
        "message lines as before: {text:?}"
    );
    let raw_out = on_terminal(url, &["logs", "evil", "--output", "raw"], false);
    assert_escaped("logs --output raw", &raw_out);
    let json = on_terminal(url, &["logs", "evil", "--output", "json"], false);
    assert!(
        !json.chars().any(|c| c.is_control() && c != '\n'),
        "{json:?}"
    );
    let rec: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(rec["message"], message());
    let raw = on_terminal(url, &["logs", "evil", "--raw-control"], false);
    assert!(raw.contains(EVIL), "{raw:?}");
    assert!(raw.contains("rtl\u{202e}exe"), "{raw:?}");

    // Not a terminal: the bytes as sent, for files and scripts.
    assert_eq!(
        piped(url, &["logs", "evil", "--output", "raw"]),
        format!("{}\n", message())
    );
    assert!(piped(url, &["search", "container:evil"]).contains(EVIL));
    // -p redraws a window of one screen line per record: raw controls would break it.
    let out = Command::new(env!("CARGO_BIN_EXE_skein"))
        .args(["logs", "evil", "-p", "3", "--raw-control", "--server", url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "clap refuses the combination");
}
