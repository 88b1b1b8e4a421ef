//! Control characters from log data, made visible before they reach a terminal.
//!
//! A log line is written by whoever runs the container; printed as sent, its escape
//! sequences would retitle the window, clear the screen, move the cursor or fake the
//! colours `skein` itself uses. So on a terminal every value taken from a record goes
//! through [`visible`] (or [`visible_json`] for JSON output), and only the colour codes
//! the CLI adds reach the terminal; `--raw-control` turns this off.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal as sent: C0 controls but tab and newline, DEL,
/// C1 controls (U+0080–U+009F, which some terminals obey as 8-bit escapes) and the bidi
/// embeddings, overrides and isolates that reorder text on screen (Trojan Source).
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\0'..='\x08' | '\x0b'..='\x1f' | '\x7f' | '\u{80}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character written as an escape: C0 and DEL as `\xNN` (ESC is
/// `\x1b`), C1 controls as `\u{NN}`, bidi controls as `\u{NNNN}`. Tabs stay. Newlines
/// (and a CR right before one) stay when `keep_newlines`, for messages whose lines the
/// caller lays out; otherwise they become `\x0a` (and `\x0d`), for one-line columns.
pub fn visible(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let keep = |c: char, next: Option<char>| {
        c == '\t' || (keep_newlines && (c == '\n' || (c == '\r' && next == Some('\n'))))
    };
    let clean =
        |c: char, next: Option<char>| !(is_unsafe(c) || c == '\n' || c == '\r') || keep(c, next);
    let mut chars = s.chars().peekable();
    let mut at = 0;
    // Most lines have nothing to escape: hand them back without copying.
    while let Some(c) = chars.next() {
        if !clean(c, chars.peek().copied()) {
            break;
        }
        at += c.len_utf8();
    }
    if at == s.len() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..at]);
    let mut chars = s[at..].chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        if clean(c, next) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// A JSON text with the unsafe characters JSON itself leaves raw (DEL, C1 controls and
/// bidi controls) written as `\uNNNN`. The value is unchanged for any JSON reader: those
/// characters can only occur inside strings (JSON's own syntax is ASCII), where `\uNNNN`
/// means the same character. C0 controls are already escaped by every JSON writer.
pub fn visible_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if is_unsafe(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        assert_eq!(
            visible("\x1b]0;pwned\x07\x1b[2J\x1b[31mFAKE", true),
            "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mFAKE"
        );
        assert_eq!(visible("a\u{7f}b\0c", false), "a\\x7fb\\x00c");
        assert_eq!(visible("csi \u{9b}31m", false), "csi \\u{9b}31m");
        assert_eq!(
            visible("admin\u{202e}txt.exe\u{2066}", false),
            "admin\\u{202e}txt.exe\\u{2066}"
        );
        // A CR alone rewrites the start of the line on screen.
        assert_eq!(visible("ok\rEVIL", true), "ok\\x0dEVIL");
    }

    #[test]
    fn tabs_newlines_and_text_stay() {
        let s = "plain\ttext, ünïcödé 日本 🎉";
        assert!(matches!(visible(s, false), Cow::Borrowed(_)));
        assert_eq!(visible("a\nb\r\nc", true), "a\nb\r\nc");
        assert_eq!(visible("a\nb\r\nc", false), "a\\x0ab\\x0d\\x0ac");
        // Backslashes are text, not escapes, and are left alone.
        assert_eq!(visible("C:\\temp\\x1b", false), "C:\\temp\\x1b");
    }

    #[test]
    fn json_keeps_its_value() {
        let v = serde_json::json!({"message": "a\x1b[2J\u{7f}\u{9b}\u{202e}z", "n": 1});
        let text = v.to_string();
        let safe = visible_json(&text);
        assert!(!safe.chars().any(|c| is_unsafe(c) || c == '\n'), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }

    fn allowed(c: char, keep_newlines: bool) -> bool {
        c == '\t' || (keep_newlines && (c == '\n' || c == '\r'))
    }

    /// Strings rich in the characters that matter: controls, bidi, CR/LF, backslashes.
    fn hostile() -> impl Strategy<Value = String> {
        let c = prop_oneof![
            any::<char>(),
            (0u32..0xa0).prop_map(|n| char::from_u32(n).unwrap()),
            (0x2066u32..0x206a).prop_map(|n| char::from_u32(n).unwrap()),
            (0x202au32..0x202f).prop_map(|n| char::from_u32(n).unwrap()),
            Just('\\'),
        ];
        prop::collection::vec(c, 0..64).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn no_control_gets_through(s in hostile(), keep in any::<bool>()) {
            let out = visible(&s, keep);
            for (i, c) in out.char_indices() {
                let control = c.is_control() || is_unsafe(c);
                prop_assert!(!control || allowed(c, keep), "{c:?} at {i} in {out:?}");
                if c == '\r' {
                    prop_assert_eq!(out[i + 1..].chars().next(), Some('\n'));
                }
            }
            // Nothing else changes: without any escape character the text is as sent.
            if !s.chars().any(|c| is_unsafe(c) || c == '\n' || c == '\r') {
                prop_assert_eq!(out.as_ref(), s.as_str());
            }
        }

        #[test]
        fn json_stays_the_same_value(s in hostile()) {
            let text = serde_json::Value::String(s.clone()).to_string();
            let safe = visible_json(&text);
            prop_assert!(!safe.chars().any(|c| c.is_control() || is_unsafe(c)));
            let back: String = serde_json::from_str(&safe).unwrap();
            prop_assert_eq!(back, s);
        }
    }
}
