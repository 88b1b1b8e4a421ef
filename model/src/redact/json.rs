//! The strings of a JSON text, found without parsing it into values, so that a text
//! can be checked string by string and rewritten with everything else kept byte for
//! byte (numbers as written, key order, spacing).

use std::borrow::Cow;
use std::ops::{ControlFlow, Range};

/// One string of a JSON text.
pub(super) struct JsonString<'a> {
    /// The string as written, quotes included.
    pub quoted: &'a str,
    /// Where [`quoted`](Self::quoted) is in the text.
    pub span: Range<usize>,
    /// Whether it holds an escape (its content differs from what is written).
    pub escaped: bool,
    /// Whether it is an object key (the next token is `:`).
    pub is_key: bool,
    /// How many objects and arrays it is in: 1 for the keys and values of a top object.
    pub depth: usize,
}

impl<'a> JsonString<'a> {
    /// The string's content, escapes decoded; `None` when an escape is invalid (a lone
    /// surrogate, which serde_json refuses).
    pub fn content(&self) -> Option<Cow<'a, str>> {
        if !self.escaped {
            let inner = self.quoted.get(1..self.quoted.len().saturating_sub(1))?;
            return Some(Cow::Borrowed(inner));
        }
        serde_json::from_str::<String>(self.quoted)
            .ok()
            .map(Cow::Owned)
    }
}

/// Calls `f` with every string of `text`, a JSON text, in order, until it breaks.
///
/// Structure is tracked only as far as this needs: depth from brackets outside strings,
/// and keys told from values by the `:` after them. Text that is not valid JSON gives
/// some reading of it and never a panic.
pub(super) fn strings<'a>(text: &'a str, mut f: impl FnMut(&JsonString<'a>) -> ControlFlow<()>) {
    let b = text.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let mut j = i + 1;
                let mut escaped = false;
                let end = loop {
                    match b
                        .get(j..)
                        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
                    {
                        Some(k) if b[j + k] == b'\\' => {
                            escaped = true;
                            j += k + 2;
                        }
                        Some(k) => break j + k + 1,
                        None => break b.len(),
                    }
                };
                let mut next = end;
                while next < b.len() && b[next].is_ascii_whitespace() {
                    next += 1;
                }
                let s = JsonString {
                    quoted: &text[i..end],
                    span: i..end,
                    escaped,
                    is_key: b.get(next) == Some(&b':'),
                    depth,
                };
                if f(&s).is_break() {
                    return;
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<(String, bool, usize)> {
        let mut out = Vec::new();
        strings(text, |s| {
            out.push((s.content().unwrap().into_owned(), s.is_key, s.depth));
            ControlFlow::Continue(())
        });
        out
    }

    #[test]
    fn keys_values_depths_and_escapes() {
        let text = r#"{"a" : "x\"y", "b":[1,"c\u0040d",{"e":"f"}], "g":2.50, "h":"\\"}"#;
        let got = all(text);
        let want = [
            ("a", true, 1),
            ("x\"y", false, 1),
            ("b", true, 1),
            ("c@d", false, 2),
            ("e", true, 3),
            ("f", false, 3),
            ("g", true, 1),
            ("h", true, 1),
            ("\\", false, 1),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(s, k, d)| (s.to_string(), *k, *d))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn broken_text_reads_without_panicking() {
        for text in ["\"", "\"abc", "{\"a\\", "{\"a\\\"", "]]]\"x\"", "\"\\u12\""] {
            strings(text, |s| {
                let _ = s.content();
                ControlFlow::Continue(())
            });
        }
    }
}
