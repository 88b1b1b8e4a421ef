//! Reading what the application wrote: a JSON object, logfmt, or plain text.
//!
//! The rules, in order (the first that applies wins):
//!
//! 1. **JSON object** (the whole line): `message` from the first string among `msg`,
//!    `message`, `log`; `level` from `level`, `lvl`, `severity`, `loglevel` or
//!    `log.level` (also nested as `{"log":{"level":…}}`), key names matched without
//!    regard to case, values normalised by [`Level::parse_loose`] plus pino/bunyan's
//!    numeric levels (10…60). Every other key goes into `fields`, nested objects kept.
//!    Without a message key the whole line is the message, so `skein logs` still shows
//!    something readable.
//! 2. **logfmt** (`ts=… level=warn msg="slow query" took_ms=1830`): at least two pairs
//!    that cover at least three quarters of the line's non-blank bytes, so an access log
//!    with a couple of `key=value` tails stays plain text. `msg`/`message` becomes the
//!    message (else the whole line), `level`/`lvl`/… the level, the rest `fields`; bare
//!    numbers become JSON numbers and bare `true`/`false` booleans, quoted values stay
//!    strings.
//! 3. **Plain text**: the whole line is the message and [`guess_level`] looks for a
//!    severity token at its start.
//!
//! Nothing is ever dropped: text that fails one rule falls through to the next, and
//! invalid UTF-8 is replaced (lossily) rather than rejected. With
//! [`PayloadConfig::time_from_payload`], a `time`/`ts`/`timestamp`/`@timestamp` key that
//! parses as a time becomes [`Payload::time`].

use super::{rfc3339, scan};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};
use skein_model::{Level, Timestamp};
use std::borrow::Cow;

/// How payloads are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayloadConfig {
    /// Take the record time from a time key of a JSON or logfmt payload when present
    /// and parseable (default off: the runtime's time is what the line was written at,
    /// and application clocks and formats are less trustworthy).
    pub time_from_payload: bool,
}

/// Which rule read the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// A JSON object.
    Json,
    /// logfmt pairs.
    Logfmt,
    /// Anything else.
    Plain,
}

/// The parts of a record a payload provides.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// Which rule read it.
    pub kind: PayloadKind,
    /// The human-readable text.
    pub message: String,
    /// The severity, when one was found.
    pub level: Option<Level>,
    /// Other keys of a structured payload (empty while they are in `raw_fields`).
    pub fields: Map<String, Value>,
    /// The other keys of a JSON payload as a JSON object text, exactly as the payload
    /// wrote their values. The agent's hot path keeps them so, since building
    /// `Value`s only to write them out again was a large share of its CPU; call
    /// [`materialize`](Payload::materialize) to have them in `fields`.
    pub raw_fields: Option<String>,
    /// The payload's own time, only with [`PayloadConfig::time_from_payload`].
    pub time: Option<Timestamp>,
}

impl Payload {
    /// Moves [`raw_fields`](Payload::raw_fields) into [`fields`](Payload::fields).
    pub fn materialize(&mut self) {
        if let Some(raw) = self.raw_fields.take() {
            self.fields = serde_json::from_str(&raw).expect("raw fields are a JSON object");
        }
    }
}

const MESSAGE_KEYS: [&str; 3] = ["msg", "message", "log"];
const LEVEL_KEYS: [&str; 5] = ["level", "lvl", "severity", "loglevel", "log.level"];
const TIME_KEYS: [&str; 4] = ["time", "ts", "timestamp", "@timestamp"];

/// Reads one logical line (a trailing `"\r"` is dropped). Never fails.
pub fn parse(text: Vec<u8>, config: &PayloadConfig) -> Payload {
    let mut text = text;
    if text.last() == Some(&b'\r') {
        text.pop();
    }
    let line = match String::from_utf8(text) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    let trimmed = line.trim_ascii();
    if trimmed.starts_with('{') && trimmed.ends_with('}') {
        if let Some(p) = from_json_raw(trimmed, &line, config) {
            return p;
        }
        if let Ok(entries) = serde_json::from_str::<Entries>(trimmed) {
            return from_json(entries, line, config);
        }
    }
    if memchr::memchr(b'=', line.as_bytes()).is_some() {
        if let Some(pairs) = logfmt_pairs(&line) {
            return from_logfmt(pairs, &line, config);
        }
    }
    Payload {
        kind: PayloadKind::Plain,
        level: guess_level(&line),
        message: line,
        fields: Map::new(),
        raw_fields: None,
        time: None,
    }
}

/// [`parse`] of borrowed text: a JSON payload is read without copying the line into a
/// `String` of its own first (it would be dropped at once: the message and the fields
/// are copied out of it); anything else goes through [`parse`]. The same payload either
/// way.
pub fn parse_slice(text: &[u8], config: &PayloadConfig) -> Payload {
    let t = text.strip_suffix(b"\r").unwrap_or(text);
    if t.trim_ascii().starts_with(b"{") && t.trim_ascii().ends_with(b"}") {
        if let Ok(line) = std::str::from_utf8(t) {
            if let Some(p) = from_json_raw(line.trim_ascii(), line, config) {
                return p;
            }
        }
    }
    parse(text.to_vec(), config)
}

/// The JSON rule without building `Value`s for the fields: keys are borrowed where
/// they need no unescaping and values stay as the text the payload wrote. `None`
/// hands the line to [`from_json`], which covers what this does not: payload times,
/// ECS's nested `{"log":{"level":…}}`, and `\uD8xx` escapes (a lone surrogate must
/// make the line plain text, as `from_json` decides, rather than reach the server).
fn from_json_raw(trimmed: &str, line: &str, config: &PayloadConfig) -> Option<Payload> {
    if config.time_from_payload || has_surrogate_escape(trimmed) {
        return None;
    }
    // The scanner reads the common objects in one pass without allocating; serde_json
    // reads the rest (and refuses what is not JSON), with the same members either way.
    if let Some(members) = scan::object_members(trimmed) {
        return from_members(members.as_slice(), trimmed, line);
    }
    let RawEntries(entries) = serde_json::from_str(trimmed).ok()?;
    let entries: Vec<(&str, &str)> = entries.iter().map(|(k, v)| (k.as_ref(), v.get())).collect();
    from_members(&entries, trimmed, line)
}

/// Whether `text` holds `\ud` or `\uD`: one pass over the backslashes, which are few
/// in an application's JSON (two `memmem`s made two passes and two searchers a line).
fn has_surrogate_escape(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr_iter(b'\\', b)
        .any(|i| b.get(i + 1) == Some(&b'u') && matches!(b.get(i + 2), Some(b'd' | b'D')))
}

/// [`from_json_raw`] with serde_json reading every object, as before the scanner: what
/// the scanner's answers are checked against.
#[cfg(test)]
fn from_json_raw_serde(trimmed: &str, line: &str) -> Option<Payload> {
    if memchr::memmem::find(trimmed.as_bytes(), b"\\ud").is_some()
        || memchr::memmem::find(trimmed.as_bytes(), b"\\uD").is_some()
    {
        return None;
    }
    let RawEntries(entries) = serde_json::from_str(trimmed).ok()?;
    let entries: Vec<(&str, &str)> = entries.iter().map(|(k, v)| (k.as_ref(), v.get())).collect();
    from_members(&entries, trimmed, line)
}

/// The JSON rule on an object's members: keys unescaped, values as written.
fn from_members(entries: &[(&str, &str)], trimmed: &str, line: &str) -> Option<Payload> {
    // At most two members are taken (the message and the level): their indexes, not a
    // vector of flags per line.
    let mut taken = [usize::MAX; 2];
    let mut n_taken = 0;
    let mut find = |keys: &[&str], accept: &mut dyn FnMut(&str) -> bool| {
        for key in keys {
            for (i, (k, v)) in entries.iter().enumerate() {
                if !taken.contains(&i) && k.eq_ignore_ascii_case(key) && accept(v) {
                    taken[n_taken] = i;
                    n_taken += 1;
                    return;
                }
            }
        }
    };
    let mut message = None;
    find(&MESSAGE_KEYS, &mut |v| {
        message = match v.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            // Nothing escaped: the text between the quotes is the message.
            Some(plain) if !plain.contains('\\') => Some(plain.to_string()),
            Some(_) => serde_json::from_str::<String>(v).ok(),
            None => None,
        };
        message.is_some()
    });
    let mut level = None;
    find(&LEVEL_KEYS, &mut |text| {
        level = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            // The common case, a plain string: no `Value` to build.
            Some(plain) if !plain.contains('\\') => Level::parse_loose(plain),
            _ => serde_json::from_str::<Value>(text)
                .ok()
                .as_ref()
                .and_then(level_of),
        };
        level.is_some()
    });
    let rest = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| !taken.contains(i))
        .map(|(_, e)| e);
    if level.is_none() && rest.clone().any(|(k, v)| *k == "log" && v.starts_with('{')) {
        return None;
    }
    let mut raw = String::new();
    for (k, v) in rest {
        if raw.is_empty() {
            raw.reserve(trimmed.len());
            raw.push('{');
        } else {
            raw.push(',');
        }
        if k.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            raw.push('"');
            raw.push_str(k);
            raw.push('"');
        } else {
            raw.push_str(&serde_json::to_string(k).expect("a string serializes"));
        }
        raw.push(':');
        raw.push_str(v);
    }
    if !raw.is_empty() {
        raw.push('}');
    }
    Some(Payload {
        kind: PayloadKind::Json,
        message: message.unwrap_or_else(|| line.to_string()),
        level,
        fields: Map::new(),
        raw_fields: (!raw.is_empty()).then_some(raw),
        time: None,
    })
}

/// A JSON object's members with their values as written.
struct RawEntries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawEntries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawEntries<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
                Ok(Cow::Owned(v.to_string()))
            }
        }
        struct Key<'a>(Cow<'a, str>);
        impl<'de> Deserialize<'de> for Key<'de> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
                d.deserialize_str(KeyVisitor).map(Key)
            }
        }
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawEntries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<RawEntries<'de>, A::Error> {
                let mut entries = Vec::with_capacity(12);
                while let Some(Key(k)) = access.next_key()? {
                    let v: &'de RawValue = access.next_value()?;
                    entries.push((k, v));
                }
                Ok(RawEntries(entries))
            }
        }
        d.deserialize_map(ObjectVisitor)
    }
}

/// [`parse`] for text already in a `str`.
pub fn parse_str(text: &str, config: &PayloadConfig) -> Payload {
    parse(text.as_bytes().to_vec(), config)
}

fn from_json(entries: Entries, line: String, config: &PayloadConfig) -> Payload {
    let mut entries = entries.0;
    let message = match take(&mut entries, &MESSAGE_KEYS, Value::is_string) {
        Some(Value::String(s)) => s,
        _ => line,
    };
    let mut level = take(&mut entries, &LEVEL_KEYS, |v| level_of(v).is_some())
        .as_ref()
        .and_then(level_of);
    if level.is_none() {
        // ECS writes `{"log":{"level":"info"}}`.
        if let Some(i) = entries.iter().position(|(k, _)| k == "log") {
            if let Value::Object(log) = &mut entries[i].1 {
                level = log.get("level").and_then(level_of);
                if level.is_some() {
                    log.shift_remove("level");
                    if log.is_empty() {
                        entries.remove(i);
                    }
                }
            }
        }
    }
    let time = if config.time_from_payload {
        let read = |v: &Value| match v {
            Value::String(s) => rfc3339::parse(s.as_bytes()).ok(),
            Value::Number(n) => epoch_to_timestamp(n),
            _ => None,
        };
        take(&mut entries, &TIME_KEYS, |v| read(v).is_some())
            .as_ref()
            .and_then(read)
    } else {
        None
    };
    let mut fields = Map::with_capacity(entries.len());
    fields.extend(entries);
    Payload {
        kind: PayloadKind::Json,
        message,
        level,
        fields,
        raw_fields: None,
        time,
    }
}

/// A JSON object's members in order. Gathering them in a `Vec` first lets the keys that
/// become record parts be taken out before the field map is built at its final size,
/// which is measurably cheaper than inserting everything and removing some.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Entries, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(12));
                while let Some(entry) = access.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(ObjectVisitor)
    }
}

/// Removes and returns the value of the first of `candidates` (in candidate order, names
/// compared without case) whose value passes `accept`.
fn take(
    entries: &mut Vec<(String, Value)>,
    candidates: &[&str],
    accept: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let i = candidates.iter().find_map(|c| {
        entries
            .iter()
            .position(|(k, v)| k.eq_ignore_ascii_case(c) && accept(v))
    })?;
    Some(entries.remove(i).1)
}

fn level_of(v: &Value) -> Option<Level> {
    match v {
        Value::String(s) => Level::parse_loose(s),
        Value::Number(n) => match n.as_u64()? {
            // pino and bunyan.
            10 => Some(Level::Trace),
            20 => Some(Level::Debug),
            30 => Some(Level::Info),
            40 => Some(Level::Warn),
            50 => Some(Level::Error),
            60 => Some(Level::Fatal),
            // syslog severities.
            n @ 0..=7 => Level::parse_loose(&n.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// Reads a number as seconds, milliseconds, microseconds or nanoseconds since the epoch,
/// whichever gives a time after 1973. Integers are scaled exactly; fractions of
/// a unit (zap's `1763632800.123456`) are kept as far as `f64` carries them.
fn epoch_to_timestamp(n: &Number) -> Option<Timestamp> {
    const UNITS: [(f64, i64); 4] = [
        (1e11, 1_000_000_000),
        (1e14, 1_000_000),
        (1e17, 1_000),
        (f64::MAX, 1),
    ];
    let f = n.as_f64()?;
    if !f.is_finite() || f <= 0.0 {
        return None;
    }
    let scale = UNITS.iter().find(|(below, _)| f < *below)?.1;
    if let Some(i) = n.as_i64() {
        return i.checked_mul(scale).map(Timestamp);
    }
    let whole = f.trunc();
    if whole >= i64::MAX as f64 {
        return None;
    }
    let frac = ((f - whole) * scale as f64).round() as i64;
    (whole as i64)
        .checked_mul(scale)?
        .checked_add(frac)
        .map(Timestamp)
}

/// One `key=value` pair; `value` has quotes and escapes resolved.
struct Pair<'a> {
    key: &'a str,
    /// Borrowed from the line unless an escape was resolved: most lines with a `=`
    /// are access logs that turn out not to be logfmt, and they should cost nothing.
    value: Cow<'a, str>,
    quoted: bool,
}

/// Splits a line into logfmt pairs, or `None` when it does not look like logfmt.
fn logfmt_pairs(line: &str) -> Option<Vec<Pair<'_>>> {
    let b = line.as_bytes();
    let mut pairs = Vec::new();
    let (mut pair_bytes, mut other_bytes) = (0usize, 0usize);
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let key_end = start + b[start..].iter().take_while(|&&c| is_key_byte(c)).count();
        if key_end > start
            && (b[start].is_ascii_alphabetic() || b[start] == b'_')
            && b.get(key_end) == Some(&b'=')
        {
            let key = &line[start..key_end];
            let vstart = key_end + 1;
            if b.get(vstart) == Some(&b'"') {
                if let Some((value, end)) = unquote(line, vstart) {
                    pairs.push(Pair {
                        key,
                        value,
                        quoted: true,
                    });
                    pair_bytes += end - start;
                    i = end;
                    continue;
                }
                // An unterminated quote: the rest of the line is not pairs.
                other_bytes += b.len() - start;
                break;
            }
            let end = vstart
                + b[vstart..]
                    .iter()
                    .take_while(|c| !c.is_ascii_whitespace())
                    .count();
            pairs.push(Pair {
                key,
                value: Cow::Borrowed(&line[vstart..end]),
                quoted: false,
            });
            pair_bytes += end - start;
            i = end;
        } else {
            let end = start
                + b[start..]
                    .iter()
                    .take_while(|c| !c.is_ascii_whitespace())
                    .count();
            other_bytes += end - start;
            i = end;
        }
    }
    (pairs.len() >= 2 && pair_bytes * 4 >= (pair_bytes + other_bytes) * 3).then_some(pairs)
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/' | b'@')
}

/// Reads a Go-style quoted string starting at the quote at `start`; returns the value
/// and the index just past the closing quote.
fn unquote(line: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    let b = line.as_bytes();
    // Without a backslash before the closing quote, the value is the text between.
    let close = memchr::memchr2(b'"', b'\\', &b[start + 1..]).map(|i| start + 1 + i);
    if let Some(end) = close.filter(|&i| b[i] == b'"') {
        return Some((Cow::Borrowed(&line[start + 1..end]), end + 1));
    }
    let mut out = String::new();
    let mut i = start + 1;
    let mut seg = i;
    while i < b.len() {
        match b[i] {
            b'"' => {
                out.push_str(&line[seg..i]);
                return Some((Cow::Owned(out), i + 1));
            }
            b'\\' if i + 1 < b.len() => {
                out.push_str(&line[seg..i]);
                match b[i + 1] {
                    b'n' => out.push('\n'),
                    b't' => out.push('\t'),
                    b'r' => out.push('\r'),
                    b'"' => out.push('"'),
                    b'\\' => out.push('\\'),
                    // Unknown escapes are kept verbatim: losing text is worse than
                    // showing a backslash.
                    _ => {
                        out.push('\\');
                        seg = i + 1;
                        i += 1;
                        continue;
                    }
                }
                i += 2;
                seg = i;
            }
            _ => i += 1,
        }
    }
    None
}

fn from_logfmt(pairs: Vec<Pair<'_>>, line: &str, config: &PayloadConfig) -> Payload {
    let mut message = None;
    let mut level = None;
    let mut time = None;
    let mut fields = Map::new();
    for p in pairs {
        let is = |names: &[&str]| names.iter().any(|n| p.key.eq_ignore_ascii_case(n));
        if message.is_none() && is(&MESSAGE_KEYS[..2]) {
            message = Some(p.value.into_owned());
        } else if level.is_none() && is(&LEVEL_KEYS[..4]) && Level::parse_loose(&p.value).is_some()
        {
            level = Level::parse_loose(&p.value);
        } else if config.time_from_payload
            && time.is_none()
            && is(&TIME_KEYS)
            && rfc3339::parse(p.value.as_bytes()).is_ok()
        {
            time = rfc3339::parse(p.value.as_bytes()).ok();
        } else {
            let value = if p.quoted {
                Value::String(p.value.into_owned())
            } else {
                bare_value(p.value)
            };
            fields.insert(p.key.to_string(), value);
        }
    }
    Payload {
        kind: PayloadKind::Logfmt,
        message: message.unwrap_or_else(|| line.to_string()),
        level,
        fields,
        raw_fields: None,
        time,
    }
}

/// A bare logfmt value as JSON: numbers written the way JSON writes them and that survive
/// the trip exactly, `true`/`false`, else the text.
fn bare_value(v: Cow<'_, str>) -> Value {
    match v.as_ref() {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if is_json_number(v.as_bytes()) {
        let is_integer = !v.bytes().any(|c| matches!(c, b'.' | b'e' | b'E'));
        if is_integer {
            if let Ok(n) = v.parse::<i64>() {
                return Value::Number(n.into());
            }
            if let Ok(n) = v.parse::<u64>() {
                return Value::Number(n.into());
            }
        } else if let Some(n) = v.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(v.into_owned())
}

fn is_json_number(b: &[u8]) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > s
    };
    if b.first() == Some(&b'-') {
        i += 1;
    }
    if b.get(i) == Some(&b'0') {
        i += 1;
    } else if !digits(&mut i) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// Guesses the severity of a plain-text line from its first tokens, conservatively.
///
/// Recognised: a level word after an optional prefix of timestamps, numbers (pids),
/// separators (`-`, `|`) and bracketed groups (`[main]`), e.g. `ERROR …`, `[WARN] …`,
/// `2026-11-20 10:00:00.123 INFO …`, `2015-07-29 17:41:44,747 - WARN [...] …`,
/// `[2026-11-20T10:00:00Z INFO app] …`, `[10:00:00 INF] …`; `level=warn …`; glog's
/// `E1120 10:00:00.123456 …`. A bare level word must be upper case unless it follows a
/// timestamp or ends in `:` (`error: …`); single letters and digits never count. The
/// scan stops at the first other word, so access logs (`10.0.0.1 - - [20/Nov/2026…]
/// "GET …`) and prose (`3 errors found`) get no level.
pub fn guess_level(line: &str) -> Option<Level> {
    glog_level(line.as_bytes()).or_else(|| scan_level(line, true))
}

fn glog_level(b: &[u8]) -> Option<Level> {
    let level = match b.first()? {
        b'I' => Level::Info,
        b'W' => Level::Warn,
        b'E' => Level::Error,
        b'F' => Level::Fatal,
        _ => return None,
    };
    let shape = b"D0000 00:00:00";
    if b.len() < shape.len() {
        return None;
    }
    let matches = shape.iter().zip(b).skip(1).all(|(s, c)| match s {
        b'0' => c.is_ascii_digit(),
        s => s == c,
    });
    matches.then_some(level)
}

fn scan_level(s: &str, outer: bool) -> Option<Level> {
    let mut rest = s;
    let mut after_time = false;
    for _ in 0..8 {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if let Some(inner) = rest.strip_prefix('[') {
            let close = inner.find(']')?;
            let inside = inner[..close].trim();
            if let Some(l) = level_word(inside) {
                return Some(l);
            }
            if outer && inside.contains(' ') {
                if let Some(l) = scan_level(inside, false) {
                    return Some(l);
                }
            }
            rest = &inner[close + 1..];
            continue;
        }
        let end = rest
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let token = &rest[..end];
        if token.is_empty() {
            return None;
        }
        rest = &rest[end..];
        if let Some((key, value)) = token.split_once('=') {
            if ["level", "lvl", "severity"]
                .iter()
                .any(|k| key.eq_ignore_ascii_case(k))
            {
                return Level::parse_loose(value.trim_matches('"'));
            }
            return None;
        }
        if token
            .bytes()
            .all(|c| c.is_ascii_digit() || b"-/:.,+TZ|".contains(&c))
        {
            // Timestamps, pids and separators come before the level; remember whether
            // it was a time, which makes a lower-case level word believable.
            after_time |=
                token.len() >= 5 && token.bytes().any(|c| matches!(c, b':' | b'-' | b'/'));
            continue;
        }
        let word_len = token.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (word, tail) = token.split_at(word_len);
        let level = level_word(word)?;
        let upper = word.bytes().all(|c| c.is_ascii_uppercase());
        return match tail.bytes().next() {
            None if upper || after_time => Some(level),
            Some(b':') => Some(level),
            // logrus: `WARN[0003] …`.
            Some(b',' | b'|' | b';' | b'[') if upper => Some(level),
            _ => None,
        };
    }
    None
}

/// A word that names a level on its own. At least three letters, so that `I`, `e` or
/// `5` in ordinary text are never taken for one; includes the four-letter forms of
/// logrus (`ERRO`, `DEBU`, …) and the three-letter forms of Serilog and zerolog (`INF`).
fn level_word(w: &str) -> Option<Level> {
    if w.len() < 3 || w.len() > 9 {
        return None;
    }
    let mut buf = [0u8; 9];
    for (d, c) in buf.iter_mut().zip(w.bytes()) {
        *d = c.to_ascii_lowercase();
    }
    Some(match &buf[..w.len()] {
        b"trace" | b"trac" | b"trc" => Level::Trace,
        b"debug" | b"debu" | b"dbg" => Level::Debug,
        b"info" | b"inf" | b"notice" => Level::Info,
        b"warn" | b"warning" | b"wrn" => Level::Warn,
        b"error" | b"erro" | b"err" | b"severe" => Level::Error,
        b"fatal" | b"fata" | b"ftl" | b"crit" | b"critical" | b"panic" | b"pani" | b"emerg" => {
            Level::Fatal
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn p(s: &str) -> Payload {
        let mut p = parse_str(s, &PayloadConfig::default());
        p.materialize();
        p
    }

    #[test]
    fn json_application_log() {
        let line = r#"{"level":"error","service":"checkout","msg":"charge failed: card declined","user_id":184467,"latency_ms":1830,"path":"/api/v1/payments/88121/capture","method":"POST","status":502,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","error":"TimeoutException: upstream gateway"}"#;
        let r = p(line);
        assert_eq!(r.kind, PayloadKind::Json);
        assert_eq!(r.message, "charge failed: card declined");
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(r.fields["user_id"], 184467);
        assert_eq!(r.fields["path"], "/api/v1/payments/88121/capture");
        assert!(!r.fields.contains_key("msg") && !r.fields.contains_key("level"));
        let keys: Vec<_> = r.fields.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "service",
                "user_id",
                "latency_ms",
                "path",
                "method",
                "status",
                "trace_id",
                "error"
            ]
        );
        assert_eq!(r.time, None);
    }

    #[test]
    fn json_key_variants() {
        // zap: `msg` + `ts` (epoch seconds); time ignored unless configured.
        let zap = r#"{"level":"warn","ts":1763632800.123456,"caller":"server/http.go:88","msg":"slow request","took":"1.2s"}"#;
        assert_eq!(p(zap).level, Some(Level::Warn));
        assert!(p(zap).fields.contains_key("ts"));
        let cfg = PayloadConfig {
            time_from_payload: true,
        };
        let r = parse_str(zap, &cfg);
        assert_eq!(
            r.time.unwrap().to_rfc3339()[..26],
            *"2025-11-20T10:00:00.123456"
        );
        assert!(!r.fields.contains_key("ts"));
        // pino: numeric levels, epoch milliseconds.
        let pino =
            r#"{"level":50,"time":1763632800123,"pid":1,"hostname":"web-1","msg":"db down"}"#;
        let r = parse_str(pino, &cfg);
        assert_eq!(
            (r.level, r.message.as_str()),
            (Some(Level::Error), "db down")
        );
        assert_eq!(
            r.time.unwrap().to_rfc3339(),
            "2025-11-20T10:00:00.123000000Z"
        );
        // GCP style, capitalised keys, RFC 3339 time.
        let gcp =
            r#"{"severity":"WARNING","Message":"quota at 91%","time":"2026-11-20T10:00:00.5Z"}"#;
        let r = parse_str(gcp, &cfg);
        assert_eq!(
            (r.level, r.message.as_str()),
            (Some(Level::Warn), "quota at 91%")
        );
        assert_eq!(
            r.time.unwrap().to_rfc3339(),
            "2026-11-20T10:00:00.500000000Z"
        );
        // ECS: nested log.level, message key.
        let ecs = r#"{"@timestamp":"2026-11-20T10:00:00Z","log":{"level":"info","logger":"app"},"message":"started","service":{"name":"api"}}"#;
        let r = p(ecs);
        assert_eq!(
            (r.level, r.message.as_str()),
            (Some(Level::Info), "started")
        );
        assert_eq!(r.fields["log"], json!({"logger":"app"}));
        assert_eq!(r.fields["service"], json!({"name":"api"}));
        // `msg` that is not a string stays a field; `message` is used instead.
        let r = p(r#"{"msg":{"a":1},"message":"text","lvl":"dbg"}"#);
        assert_eq!((r.message.as_str(), r.level), ("text", Some(Level::Debug)));
        assert_eq!(r.fields["msg"], json!({"a":1}));
        // An unknown level stays a field.
        let r = p(r#"{"level":"loud","msg":"x"}"#);
        assert_eq!(r.level, None);
        assert_eq!(r.fields["level"], "loud");
    }

    #[test]
    fn json_without_message_keeps_the_line() {
        let line = r#"{"event":"login","user":"ana"}"#;
        let r = p(line);
        assert_eq!(r.kind, PayloadKind::Json);
        assert_eq!(r.message, line);
        assert_eq!(r.fields["user"], "ana");
    }

    #[test]
    fn broken_json_is_plain() {
        for line in [
            r#"{"level":"info","msg":"cut off"#,
            "{not json}",
            "[1,2,3]",
            r#"{"a":1} trailing"#,
        ] {
            let r = p(line);
            assert_eq!(r.kind, PayloadKind::Plain, "{line}");
            assert_eq!(r.message, line);
        }
    }

    #[test]
    fn logfmt() {
        let line = r#"time="2026-11-20T10:00:00Z" level=warning msg="slow query on \"orders\"" took_ms=1830 rows=12.5 cached=false big=123456789012345678901234567890 id=007 neg=-3"#;
        let r = p(line);
        assert_eq!(r.kind, PayloadKind::Logfmt);
        assert_eq!(r.message, "slow query on \"orders\"");
        assert_eq!(r.level, Some(Level::Warn));
        assert_eq!(r.fields["took_ms"], 1830);
        assert_eq!(r.fields["rows"], 12.5);
        assert_eq!(r.fields["cached"], false);
        assert_eq!(r.fields["neg"], -3);
        // Numbers that JSON cannot carry exactly stay text.
        assert_eq!(r.fields["big"], "123456789012345678901234567890");
        assert_eq!(r.fields["id"], "007");
        assert_eq!(r.fields["time"], "2026-11-20T10:00:00Z");

        let r = p("component=raft term=42 leader=node-2");
        assert_eq!(r.message, "component=raft term=42 leader=node-2");
        assert_eq!(r.level, None);
        assert_eq!(r.fields["term"], 42);
    }

    #[test]
    fn not_quite_logfmt_is_plain() {
        for line in [
            // An access log with a few pairs at the end.
            r#"10.42.7.19 - - [20/Nov/2026:10:00:00 +0000] "GET /api/v1/cart?page=2 HTTP/1.1" 200 5123 "-" "Mozilla/5.0" rt=0.012 uct="0.000" req_id=9f2c1ab04e7d3c11"#,
            "Starting server on port=8080 host=0.0.0.0",
            "only=one",
            r#"a=1 b="unterminated and a long tail of words that are not pairs"#,
        ] {
            let r = p(line);
            assert_eq!(r.kind, PayloadKind::Plain, "{line}");
            assert_eq!(r.message, line);
            assert_eq!(r.level, None, "{line}");
        }
    }

    #[test]
    fn plain_levels() {
        let cases: &[(&str, Option<Level>)] = &[
            ("ERROR connection refused", Some(Level::Error)),
            ("[WARN] disk 91% full", Some(Level::Warn)),
            ("[warn] disk 91% full", Some(Level::Warn)),
            ("2026-11-20 10:00:00.123 INFO  [cart] reserved 3 items", Some(Level::Info)),
            ("2026-11-20 10:00:00.123 ERROR 1 --- [nio-8080-exec-3] c.e.shop.PaymentService : charge failed", Some(Level::Error)),
            ("2026-11-20T10:00:00.123Z debug cache warm", Some(Level::Debug)),
            ("2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200", Some(Level::Info)),
            ("17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered signal handlers for [TERM, HUP, INT]", Some(Level::Info)),
            ("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating", Some(Level::Info)),
            ("[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6", Some(Level::Error)),
            ("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties", Some(Level::Info)),
            ("2026/11/20 10:00:00 [crit] 7#7: *1 connect() failed (111: Connection refused)", Some(Level::Fatal)),
            ("[2026-11-20T10:00:00Z WARN  skein::agent] spool at 80%", Some(Level::Warn)),
            ("[10:00:00 INF] Application started", Some(Level::Info)),
            ("WARN[0003] image pull slow", Some(Level::Warn)),
            ("WARNING:root:retrying in 5s", Some(Level::Warn)),
            ("E1120 10:00:00.123456       1 reflector.go:138] failed to list *v1.Pod", Some(Level::Error)),
            ("I1120 10:00:00.000001       1 leaderelection.go:248] attempting to acquire leader lease", Some(Level::Info)),
            ("level=error something broke, not logfmt at all really", Some(Level::Error)),
            ("error: cannot open config file", Some(Level::Error)),
            ("panic: runtime error: index out of range [3] with length 3", Some(Level::Fatal)),
            // Conservative: no level.
            (r#"10.42.7.19 - - [20/Nov/2026:10:00:00 +0000] "GET /error/500 HTTP/1.1" 500 512 "-" "curl/8.4.0""#, None),
            (r#"::1 - - [20/Nov/2026:10:00:00 +0000] "POST /api/v1/warn HTTP/1.1" 200 12 "-" "kube-probe/1.30""#, None),
            ("[GIN] 2026/11/20 - 10:00:00 | 500 |    1.2ms |  10.0.0.1 | GET \"/api/error\"", None),
            ("error connecting to the database, retrying", None),
            ("3 errors found during validation", None),
            ("1 error", None),
            ("Info about the build follows", None),
            ("E 10:00 not glog", None),
            ("Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186", None),
            ("03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogs", None),
            ("\tat com.shop.payment.GatewayClient.charge(GatewayClient.java:212)", None),
            ("", None),
        ];
        for (line, want) in cases {
            let r = p(line);
            assert_eq!(r.kind, PayloadKind::Plain, "{line}");
            assert_eq!(r.level, *want, "{line}");
            assert_eq!(r.message, *line);
        }
    }

    #[test]
    fn bytes_are_decoded_leniently() {
        let r = parse(b"GET /caf\xe9 failed\r".to_vec(), &PayloadConfig::default());
        assert_eq!(r.message, "GET /caf\u{FFFD} failed");
        let r = parse(b"{\"msg\":\"ok\"}\r".to_vec(), &PayloadConfig::default());
        assert_eq!((r.kind, r.message.as_str()), (PayloadKind::Json, "ok"));
    }

    proptest! {
        /// Whatever the bytes, parsing returns, and plain text is kept whole.
        #[test]
        fn raw_fields_agree_with_the_value_path(
            members in proptest::collection::vec(
                (
                    prop_oneof![
                        Just("msg"), Just("MESSAGE"), Just("log"), Just("level"), Just("Lvl"),
                        Just("severity"), Just("log.level"), Just("a"), Just("k\\\"q"), Just("n")
                    ],
                    prop_oneof![
                        "\\PC{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
                        Just("\"WARN\"".to_string()), Just("30".to_string()), Just("7".to_string()),
                        Just("-1.5e3".to_string()), Just("null".to_string()), Just("true".to_string()),
                        Just("[1, {\"x\" : \"y\"}]".to_string()), Just("{\"level\":\"info\"}".to_string()),
                        Just("\"tab\\tand \\u00e9\"".to_string()),
                    ],
                ),
                0..8,
            )
        ) {
            let body: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{}: {v}", serde_json::to_string(k).unwrap()))
                .collect();
            let line = format!("{{ {} }}", body.join(", "));
            let config = PayloadConfig::default();
            if let Some(mut fast) = from_json_raw(&line, &line, &config) {
                fast.materialize();
                let entries = serde_json::from_str::<Entries>(&line).unwrap();
                prop_assert_eq!(fast, from_json(entries, line.clone(), &config));
            }
        }

        /// The scanner's reading of a payload is serde_json's, on objects of the shapes
        /// applications write and on hostile ones.
        #[test]
        fn the_scanner_reads_payloads_as_serde_does(
            members in proptest::collection::vec(
                (
                    prop_oneof![
                        Just("msg"), Just("MESSAGE"), Just("log"), Just("level"), Just("Lvl"),
                        Just("severity"), Just("log.level"), Just("a"), Just("k\\\"q"), Just("n"),
                        Just("é"), Just("msg"),
                    ],
                    prop_oneof![
                        "\\PC{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
                        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
                        Just("\"WARN\"".to_string()), Just("30".to_string()), Just("7".to_string()),
                        Just("-1.5e3".to_string()), Just("null".to_string()), Just("true".to_string()),
                        Just("[1, {\"x\" : \"y\"}]".to_string()), Just("{\"level\":\"info\"}".to_string()),
                        Just("\"tab\\tand \\u00e9\"".to_string()), Just("\"a\\\"b\\\\c\"".to_string()),
                        Just("01".to_string()), Just("\"\\x\"".to_string()), Just("\"\u{1}\"".to_string()),
                        Just("{\"a\":[1,]}".to_string()), Just("\"\\ud83d\\ude00\"".to_string()),
                    ],
                ),
                0..12,
            ),
            spaced in proptest::bool::ANY,
            cut in 0usize..400,
        ) {
            let sep = if spaced { " , " } else { "," };
            let body: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
                .collect();
            let line = format!("{{{}}}", body.join(sep));
            let config = PayloadConfig::default();
            prop_assert_eq!(from_json_raw(&line, &line, &config), from_json_raw_serde(&line, &line));
            // Cut short, which is invalid JSON more often than not.
            let mut end = cut.min(line.len());
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            let short = &line[..end];
            prop_assert_eq!(from_json_raw(short, short, &config), from_json_raw_serde(short, short));
        }

        #[test]
        fn borrowed_text_is_read_as_owned_text(
            text in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..60),
                "\\PC{0,40}".prop_map(|s| format!("{{\"msg\":{},\"level\":\"warn\",\"n\":1}}\r", serde_json::to_string(&s).unwrap()).into_bytes()),
                "\\PC{0,40}".prop_map(|s| format!(" {{\"k\":\"{s}\"}} ").into_bytes()),
            ],
            time_from_payload in proptest::bool::ANY,
        ) {
            let config = PayloadConfig { time_from_payload };
            prop_assert_eq!(parse_slice(&text, &config), parse(text.clone(), &config));
        }

        #[test]
        fn never_panics_never_loses_text(text in proptest::collection::vec(any::<u8>(), 0..300)) {
            let r = parse(text.clone(), &PayloadConfig { time_from_payload: true });
            if r.kind == PayloadKind::Plain {
                let mut t = text;
                if t.last() == Some(&b'\r') {
                    t.pop();
                }
                prop_assert_eq!(r.message, String::from_utf8_lossy(&t).into_owned());
            }
        }

        #[test]
        fn plain_strings_are_kept(text in "\\PC{0,200}") {
            let r = p(&text);
            if r.kind == PayloadKind::Plain {
                prop_assert_eq!(&r.message, &text);
            }
        }

        /// Log-shaped strings exercise the level guesser and logfmt reader harder than
        /// uniform random text does.
        #[test]
        fn log_shaped_text_is_kept(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("ERROR".to_string()), Just("[warn]".to_string()), Just("2026-11-20".to_string()),
                    Just("10:00:00.123".to_string()), Just("level=".to_string()), Just("k=v".to_string()),
                    Just("x=\"a b\"".to_string()), Just("\"".to_string()), Just("[".to_string()),
                    Just("]".to_string()), Just("=".to_string()), Just("{".to_string()), Just("é".to_string()),
                    "[a-zA-Z0-9=\\[\\]\":]{0,6}",
                ],
                0..12,
            ),
            sep in prop_oneof![Just(" "), Just(""), Just("  "), Just("\t")],
        ) {
            let text = parts.join(sep);
            let r = p(&text);
            if r.kind == PayloadKind::Plain {
                prop_assert_eq!(&r.message, &text);
            }
        }
    }
}
