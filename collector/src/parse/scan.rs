//! Byte scanning shared by the hot paths: finding the bytes a JSON string must escape
//! eight at a time, and a single-pass scanner of a JSON object's members.
//!
//! The agent reads every line's JSON twice over (the json-file frame, then the
//! application's own JSON in it) and writes JSON strings back out. Going through
//! serde_json for that built a key and a value per member and was the largest share of
//! the agent's CPU; these scan the bytes once, without allocating.
//!
//! [`object_members`] only ever answers for objects serde_json would read the same way:
//! anything it is not sure of (escaped keys, deep nesting, too many members, anything
//! invalid) is `None`, and the caller falls back to serde_json, whose answer then
//! decides. The tests check its members against serde_json's on random and hostile
//! text.

/// `0x0101…01`: one in every byte.
const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
/// `0x8080…80`: the high bit of every byte.
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit set in each byte of `x` that is below `n` (n ≤ 128). Bytes above the
/// lowest flagged one may be flagged wrongly (a borrow), so only the lowest is used.
#[inline(always)]
fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * n as u64) & !x & HIGHS
}

/// The high bit set in each byte of `x` equal to `b` (the same caveat as [`below`]).
#[inline(always)]
fn equal(x: u64, b: u8) -> u64 {
    below(x ^ (ONES * b as u64), 1)
}

/// Index (from `from`) of the first `"`, `\` or control byte (< 0x20) in `s`: the bytes
/// that end or escape a JSON string, or make it invalid. `s.len()` when there is none.
#[inline]
pub fn find_string_special(s: &[u8], mut from: usize) -> usize {
    while from + 8 <= s.len() {
        let x = u64::from_le_bytes(s[from..from + 8].try_into().expect("8 bytes"));
        let hit = equal(x, b'"') | equal(x, b'\\') | below(x, 0x20);
        if hit != 0 {
            return from + (hit.trailing_zeros() / 8) as usize;
        }
        from += 8;
    }
    while from < s.len() {
        let c = s[from];
        if c == b'"' || c == b'\\' || c < 0x20 {
            return from;
        }
        from += 1;
    }
    s.len()
}

/// The high bit set in the lowest byte of `x` (little-endian) that is `"` or `\`, if
/// any (higher bits may be set wrongly).
#[inline(always)]
pub fn quote_or_backslash(x: u64) -> u64 {
    equal(x, b'"') | equal(x, b'\\')
}

/// Index (from `from`) of the first `"` or `\` in `s`, `s.len()` when there is none.
#[inline]
pub fn find_quote_or_backslash(s: &[u8], mut from: usize) -> usize {
    while from + 8 <= s.len() {
        let x = u64::from_le_bytes(s[from..from + 8].try_into().expect("8 bytes"));
        let hit = equal(x, b'"') | equal(x, b'\\');
        if hit != 0 {
            return from + (hit.trailing_zeros() / 8) as usize;
        }
        from += 8;
    }
    while from < s.len() {
        if matches!(s[from], b'"' | b'\\') {
            return from;
        }
        from += 1;
    }
    s.len()
}

/// Appends `s` as a JSON string literal, escaped exactly as serde_json escapes it (so
/// the bytes are the same as `serde_json::to_writer(out, s)` writes): runs with nothing
/// to escape are copied whole.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut start = 0;
    loop {
        let i = find_string_special(b, start);
        out.extend_from_slice(&b[start..i]);
        if i == b.len() {
            break;
        }
        let c = b[i];
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 0xf) as usize]);
            }
        }
        start = i + 1;
    }
    out.push(b'"');
}

/// Most members [`object_members`] reads; an object with more goes to serde_json.
pub const MAX_MEMBERS: usize = 32;
/// Deepest nesting [`object_members`] follows (serde_json's own limit is 128).
const MAX_DEPTH: usize = 64;

/// The members of one JSON object: each key's text between its quotes (keys with
/// escapes are not read here) and its value's text exactly as written.
#[derive(Debug)]
pub struct Members<'a> {
    entries: [(&'a str, &'a str); MAX_MEMBERS],
    len: usize,
}

impl<'a> Members<'a> {
    /// The members in the order written, duplicates kept.
    pub fn as_slice(&self) -> &[(&'a str, &'a str)] {
        &self.entries[..self.len]
    }
}

/// Reads `text` as one JSON object (whitespace around it allowed), the way
/// `serde_json::from_str` reads it into keys and `RawValue`s, in one pass and without
/// allocating; `None` for anything else, and for what it leaves to serde_json (see the
/// module docs).
pub fn object_members(text: &str) -> Option<Members<'_>> {
    let b = text.as_bytes();
    let mut members = Members {
        entries: [("", ""); MAX_MEMBERS],
        len: 0,
    };
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let key_start = i + 1;
            let key_end = find_string_special(b, key_start);
            // A key with an escape (or a control byte, or no end) is left to serde_json.
            if b.get(key_end) != Some(&b'"') {
                return None;
            }
            i = skip_ws(b, key_end + 1);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(b, i + 1);
            let value_start = i;
            i = skip_value(b, i, 0)?;
            if members.len == MAX_MEMBERS {
                return None;
            }
            // Slicing at ASCII bytes of a `str` keeps both parts `str`s.
            members.entries[members.len] = (&text[key_start..key_end], &text[value_start..i]);
            members.len += 1;
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(b, i) == b.len()).then_some(members)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The index just past the JSON value starting at `i`, or `None` if there is none.
fn skip_value(b: &[u8], i: usize, depth: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => skip_string(b, i + 1),
        b'{' => {
            if depth >= MAX_DEPTH {
                return None;
            }
            let mut i = skip_ws(b, i + 1);
            if b.get(i) == Some(&b'}') {
                return Some(i + 1);
            }
            loop {
                if b.get(i) != Some(&b'"') {
                    return None;
                }
                i = skip_ws(b, skip_string(b, i + 1)?);
                if b.get(i) != Some(&b':') {
                    return None;
                }
                i = skip_ws(b, skip_value(b, skip_ws(b, i + 1), depth + 1)?);
                match b.get(i)? {
                    b',' => i = skip_ws(b, i + 1),
                    b'}' => return Some(i + 1),
                    _ => return None,
                }
            }
        }
        b'[' => {
            if depth >= MAX_DEPTH {
                return None;
            }
            let mut i = skip_ws(b, i + 1);
            if b.get(i) == Some(&b']') {
                return Some(i + 1);
            }
            loop {
                i = skip_ws(b, skip_value(b, i, depth + 1)?);
                match b.get(i)? {
                    b',' => i = skip_ws(b, i + 1),
                    b']' => return Some(i + 1),
                    _ => return None,
                }
            }
        }
        b't' => literal(b, i, b"true"),
        b'f' => literal(b, i, b"false"),
        b'n' => literal(b, i, b"null"),
        b'-' | b'0'..=b'9' => skip_number(b, i),
        _ => None,
    }
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    b[i..].starts_with(word).then_some(i + word.len())
}

/// Past the closing quote of a string whose body starts at `i`; `None` if it is not a
/// valid JSON string (a control byte, a bad escape, no end).
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i = find_string_special(b, i);
        match *b.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => match *b.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                b'u' => {
                    let hex = b.get(i + 2..i + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    i += 6;
                }
                _ => return None,
            },
            _ => return None,
        }
    }
}

/// Past a number in JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn skip_number(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match *b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(b, i),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let end = digits(b, i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let end = digits(b, i);
        if end == i {
            return None;
        }
        i = end;
    }
    Some(i)
}

fn digits(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
    use serde_json::value::RawValue;
    use std::borrow::Cow;

    /// serde_json's reading of an object: keys unescaped, values as written.
    struct Reference<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

    impl<'de> Deserialize<'de> for Reference<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Reference<'de>, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Reference<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(
                    self,
                    mut a: A,
                ) -> Result<Reference<'de>, A::Error> {
                    let mut v = Vec::new();
                    while let Some(k) = a.next_key::<Cow<'de, str>>()? {
                        v.push((k, a.next_value::<&'de RawValue>()?));
                    }
                    Ok(Reference(v))
                }
            }
            d.deserialize_map(V)
        }
    }

    /// Whenever the scanner answers, serde_json reads the same members.
    fn agrees(text: &str) -> Result<(), TestCaseError> {
        if let Some(m) = object_members(text) {
            let r: Reference<'_> = serde_json::from_str(text)
                .map_err(|e| TestCaseError::fail(format!("serde refused {text:?}: {e}")))?;
            let theirs: Vec<(&str, &str)> =
                r.0.iter().map(|(k, v)| (k.as_ref(), v.get())).collect();
            prop_assert_eq!(m.as_slice(), &theirs[..], "{:?}", text);
        }
        Ok(())
    }

    #[test]
    fn reads_objects_as_serde_does() {
        for text in [
            r#"{}"#,
            r#" { } "#,
            r#"{"a":1,"b":"x\"y","c":[1,{"d":null}],"e":{"f":[true,false]},"a":-0.5e+3}"#,
            r#"{ "k" : "v" , "n" : 0 }"#,
            r#"{"u":"\u00e9\ud83d\ude00","s":"tab\tline\n"}"#,
            r#"{"deep":[[[[[[[[[[{"x":[]}]]]]]]]]]]}"#,
            "{\"k\":\"\u{e9}\u{1F600}\"}",
        ] {
            assert!(object_members(text).is_some(), "{text}");
            agrees(text).unwrap();
        }
    }

    #[test]
    fn leaves_what_it_is_unsure_of() {
        for text in [
            "",
            "{",
            "[]",
            r#"{"a":1} x"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.1}"#,
            r#"{"a":1e}"#,
            r#"{"a":-}"#,
            r#"{"a":+1}"#,
            r#"{"a":tru}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":1,}"#,
            r#"{,"a":1}"#,
            r#"{"a" 1}"#,
            r#"{"k\"q":1}"#,
            r#"{'a':1}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":{"b":1,}}"#,
            r#"{"a":NaN}"#,
        ] {
            assert!(object_members(text).is_none(), "{text}");
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
        assert!(object_members(&deep).is_none());
        let many: Vec<String> = (0..=MAX_MEMBERS).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(object_members(&format!("{{{}}}", many.join(","))).is_none());
    }

    #[test]
    fn writes_strings_as_serde_does() {
        for s in [
            "",
            "plain",
            "q\"b\\s/",
            "\u{0}\u{1}\u{8}\u{c}\n\r\t\u{1f}\u{7f}",
            "é😀 ok",
        ] {
            let mut out = Vec::new();
            write_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap());
        }
    }

    /// JSON-ish text from pieces that make scanners stumble.
    fn jsonish() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("{".to_string()),
                Just("}".to_string()),
                Just("[".to_string()),
                Just("]".to_string()),
                Just(":".to_string()),
                Just(",".to_string()),
                Just("\"".to_string()),
                Just("\\".to_string()),
                Just("\\\"".to_string()),
                Just("\\u00e9".to_string()),
                Just("\\ud83d".to_string()),
                Just("\\n".to_string()),
                Just(" ".to_string()),
                Just("\t".to_string()),
                Just("\n".to_string()),
                Just("-".to_string()),
                Just("0".to_string()),
                Just("1".to_string()),
                Just(".".to_string()),
                Just("e".to_string()),
                Just("+".to_string()),
                Just("true".to_string()),
                Just("null".to_string()),
                Just("fals".to_string()),
                Just("\u{1}".to_string()),
                Just("é".to_string()),
                Just("\"k\":".to_string()),
                Just("\"v\"".to_string()),
                "[a-z0-9]{0,3}",
            ],
            0..30,
        )
        .prop_map(|parts| parts.concat())
    }

    /// A valid object of random members, some nested, some keys repeated.
    fn object() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| serde_json::to_string(&f).unwrap()),
            Just("true".to_string()),
            Just("null".to_string()),
            Just("-0.0e-0".to_string()),
        ];
        let value = leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[ {} ]", v.join(" ,"))),
                proptest::collection::vec(("[a-z]{0,3}", inner), 0..4).prop_map(|v| {
                    let m: Vec<String> = v.iter().map(|(k, v)| format!("\"{k}\" :{v}")).collect();
                    format!("{{{}}}", m.join(","))
                }),
            ]
        });
        proptest::collection::vec(
            (
                prop_oneof![
                    Just("msg".to_string()),
                    Just("level".to_string()),
                    "[a-zA-Z_. é]{0,5}"
                ],
                value,
            ),
            0..10,
        )
        .prop_map(|members| {
            let m: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            format!("{{{}}}", m.join(","))
        })
    }

    proptest! {
        #[test]
        fn agrees_with_serde_on_jsonish_text(text in jsonish()) {
            agrees(&text)?;
            agrees(&format!("{{\"a\":{text}}}"))?;
            agrees(&format!("{{\"a\":\"{text}\"}}"))?;
        }

        #[test]
        fn agrees_with_serde_on_objects(text in object()) {
            // Plain keys, a few members, shallow: the scanner reads these itself.
            prop_assert!(object_members(&text).is_some(), "{:?}", text);
            agrees(&text)?;
        }

        #[test]
        fn agrees_with_serde_on_any_text(text in "\\PC{0,40}") {
            agrees(&text)?;
            agrees(&format!("{{{text}}}"))?;
        }

        #[test]
        fn finds_specials_as_a_byte_loop_does(bytes in proptest::collection::vec(any::<u8>(), 0..64), from in 0usize..64) {
            let from = from.min(bytes.len());
            let want = bytes[from..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).map_or(bytes.len(), |p| from + p);
            prop_assert_eq!(find_string_special(&bytes, from), want);
            let want = bytes[from..].iter().position(|&c| c == b'"' || c == b'\\').map_or(bytes.len(), |p| from + p);
            prop_assert_eq!(find_quote_or_backslash(&bytes, from), want);
        }

        #[test]
        fn writes_any_string_as_serde_does(s in any::<String>()) {
            let mut out = Vec::new();
            write_json_str(&mut out, &s);
            prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
        }
    }
}
