//! Masking: a message split into tokens, each classified by hand-written scanners
//! (number, hex, IP, UUID, path, URL, time, quoted, `key=value`) instead of a regex per
//! token, so the hot path is a few byte loops and no allocation.
//!
//! A token keeps its surrounding punctuation (`(0)` becomes `(<num>)`, `(uid=0)` `(uid=<*>)`), and its
//! *key* is the FNV-1a hash of that masked text, computed piecewise so that it equals
//! [`hash_str`] of the masked text built later (templates are stored as text and their
//! keys recomputed on load).

use std::fmt;

/// The kind of a variable: what a masked token looked like. `Any` is what a template
/// position becomes when lines disagree there.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum VarKind {
    /// A decimal number, maybe signed, with a decimal part or a short unit (`12ms`).
    Num,
    /// `0x…` or a long run of hex digits.
    Hex,
    /// An IPv4 address, maybe with a port.
    Ip,
    /// A UUID (8-4-4-4-12 hex digits).
    Uuid,
    /// An absolute path (`/var/log`, `C:\…`).
    Path,
    /// A URL (`scheme://…`).
    Url,
    /// A time or date (`12:30:45`, `2024-01-02`).
    Time,
    /// A quoted value (`"…"` or `'…'`).
    Quoted,
    /// A name of three or more dotted parts: a host (`proxy.cse.cuhk.edu.hk`), a bundle or
    /// job id (`com.apple.CacheDelete.daily`).
    Name,
    /// Any other token with a digit in it (`blk_123`, `job_2015_01`).
    Id,
    /// Lines disagree here.
    Any,
}

impl VarKind {
    /// The placeholder shown in templates.
    pub fn placeholder(self) -> &'static str {
        match self {
            VarKind::Num => "<num>",
            VarKind::Hex => "<hex>",
            VarKind::Ip => "<ip>",
            VarKind::Uuid => "<uuid>",
            VarKind::Path => "<path>",
            VarKind::Url => "<url>",
            VarKind::Time => "<time>",
            VarKind::Quoted => "<quoted>",
            VarKind::Name => "<name>",
            VarKind::Id => "<id>",
            VarKind::Any => "<*>",
        }
    }

    /// The kind a placeholder names, for templates read back from saved state.
    pub fn from_placeholder(s: &str) -> Option<VarKind> {
        Some(match s {
            "<num>" => VarKind::Num,
            "<hex>" => VarKind::Hex,
            "<ip>" => VarKind::Ip,
            "<uuid>" => VarKind::Uuid,
            "<path>" => VarKind::Path,
            "<url>" => VarKind::Url,
            "<time>" => VarKind::Time,
            "<quoted>" => VarKind::Quoted,
            "<name>" => VarKind::Name,
            "<id>" => VarKind::Id,
            "<*>" => VarKind::Any,
            _ => return None,
        })
    }
}

impl fmt::Display for VarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.placeholder())
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, continued from `h`: stable across runs and machines (keys are persisted).
#[inline]
pub fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The key of a token's masked text.
pub fn hash_str(s: &str) -> u64 {
    fnv(FNV_OFFSET, s.as_bytes())
}

/// One token of a message, as byte offsets into it.
#[derive(Clone, Copy, Debug)]
pub struct Token {
    /// Start of the token in the message.
    pub start: u32,
    /// End (exclusive).
    pub end: u32,
    /// Bytes at the start kept verbatim when `var` is set (punctuation, `key=`).
    pub pre: u16,
    /// Bytes at the end kept verbatim when `var` is set.
    pub suf: u16,
    /// The variable between `pre` and `suf`, if any.
    pub var: Option<VarKind>,
    /// FNV-1a of the masked text.
    pub key: u64,
    /// The key the prefix tree files the token under: [`WILD`] for variables and tokens
    /// with a digit (Drain's rule: a variable in the first positions must not split a
    /// pattern), else `key`.
    pub level: u64,
}

/// The tree key of the wildcard child.
pub const WILD: u64 = 0;

#[inline]
fn level_of(key: u64) -> u64 {
    // A literal whose hash happens to be WILD's must not land on the wildcard child.
    if key == WILD {
        1
    } else {
        key
    }
}

impl Token {
    /// The whole token is one variable (no punctuation kept around it).
    #[inline]
    pub fn is_var(&self) -> bool {
        self.var.is_some() && self.pre == 0 && self.suf == 0
    }

    /// The masked text, as shown in templates.
    pub fn masked(&self, msg: &str) -> String {
        let text = &msg[self.start as usize..self.end as usize];
        match self.var {
            None => text.to_string(),
            Some(kind) => {
                let mut s = String::with_capacity(text.len());
                s.push_str(&text[..self.pre as usize]);
                s.push_str(kind.placeholder());
                s.push_str(&text[text.len() - self.suf as usize..]);
                s
            }
        }
    }
}

/// Splits `msg` into masked tokens, appended to `out` (cleared first). At most
/// `max_tokens` tokens: the rest of a very long line is folded into the last one, so one
/// odd line cannot make a template of thousands of positions.
pub fn tokenize(msg: &str, out: &mut Vec<Token>, max_tokens: usize) {
    out.clear();
    let b = msg.as_bytes();
    let n = b.len();
    let mut i = 0;
    while i < n {
        while i < n && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        if out.len() + 1 == max_tokens {
            // The rest of the line as one variable token, trailing blanks dropped.
            let mut end = n;
            while end > start && b[end - 1].is_ascii_whitespace() {
                end -= 1;
            }
            out.push(var_token(start, end, 0, 0, VarKind::Any, b));
            break;
        }
        // A quoted value may hold blanks: it runs to its closing quote.
        let q = b[i];
        let mut end;
        if (q == b'"' || q == b'\'') && i + 1 < n {
            match memchr_from(q, b, i + 1) {
                Some(close) if close > i + 1 => {
                    end = close + 1;
                    // Punctuation glued after the closing quote stays with it.
                    while end < n && !b[end].is_ascii_whitespace() {
                        end += 1;
                    }
                }
                _ => {
                    end = i;
                    while end < n && !b[end].is_ascii_whitespace() {
                        end += 1;
                    }
                }
            }
        } else {
            end = i;
            while end < n && !b[end].is_ascii_whitespace() {
                // key="a quoted value": the value runs to its closing quote.
                if b[end] == b'=' && end + 1 < n && (b[end + 1] == b'"' || b[end + 1] == b'\'') {
                    if let Some(close) = memchr_from(b[end + 1], b, end + 2) {
                        end = close;
                    }
                }
                end += 1;
            }
        }
        out.push(classify_token(b, start, end));
        i = end;
    }
}

fn memchr_from(needle: u8, b: &[u8], from: usize) -> Option<usize> {
    b[from..]
        .iter()
        .position(|&c| c == needle)
        .map(|p| p + from)
}

fn var_token(start: usize, end: usize, pre: usize, suf: usize, kind: VarKind, b: &[u8]) -> Token {
    let mut h = fnv(FNV_OFFSET, &b[start..start + pre]);
    h = fnv(h, kind.placeholder().as_bytes());
    h = fnv(h, &b[end - suf..end]);
    Token {
        start: start as u32,
        end: end as u32,
        pre: pre as u16,
        suf: suf as u16,
        var: Some(kind),
        key: h,
        level: if pre == 0 && suf == 0 {
            WILD
        } else {
            level_of(h)
        },
    }
}

fn word_token(start: usize, end: usize, b: &[u8]) -> Token {
    let mut key = FNV_OFFSET;
    let mut digit = false;
    for &c in &b[start..end] {
        key = (key ^ c as u64).wrapping_mul(FNV_PRIME);
        digit |= c.is_ascii_digit();
    }
    Token {
        start: start as u32,
        end: end as u32,
        pre: 0,
        suf: 0,
        var: None,
        key,
        level: if digit { WILD } else { level_of(key) },
    }
}

#[inline]
fn is_open(c: u8) -> bool {
    matches!(c, b'(' | b'[' | b'{' | b'<' | b'"' | b'\'')
}

#[inline]
fn is_close(c: u8) -> bool {
    matches!(
        c,
        b')' | b']' | b'}' | b'>' | b'"' | b'\'' | b',' | b';' | b'.' | b':' | b'!' | b'?'
    )
}

fn classify_token(b: &[u8], start: usize, end: usize) -> Token {
    let tok = &b[start..end];
    // Quoted as a whole: the value between the quotes is a variable.
    if tok.len() >= 2 && (tok[0] == b'"' || tok[0] == b'\'') {
        if let Some(close) = tok[1..].iter().position(|&c| c == tok[0]) {
            // The quotes are part of the variable: `<quoted>` stands for `"…"`.
            let close = close + 1;
            return var_token(start, end, 0, tok.len() - close - 1, VarKind::Quoted, b);
        }
    }
    let mut s = 0;
    while s < tok.len() && is_open(tok[s]) {
        s += 1;
    }
    let mut e = tok.len();
    while e > s && is_close(tok[e - 1]) {
        e -= 1;
    }
    // A path or number keeps a trailing dot only when something follows it.
    let core = &tok[s..e];
    if core.is_empty() {
        return word_token(start, end, b);
    }
    // key=value: the key stays, the value is masked (whatever it looks like).
    if let Some(eq) = core.iter().position(|&c| c == b'=') {
        if eq > 0 && core[..eq].iter().all(|&c| is_key_char(c)) {
            let value = &core[eq + 1..];
            if !value.is_empty() {
                let vstart = s + eq + 1;
                if value[0] == b'"' || value[0] == b'\'' {
                    // The quotes belong to the value (`key=<quoted>`), the stripped end
                    // punctuation may not.
                    if let Some(close) = tok[vstart + 1..].iter().position(|&c| c == value[0]) {
                        let vend = vstart + 1 + close + 1;
                        return var_token(start, end, vstart, tok.len() - vend, VarKind::Quoted, b);
                    }
                }
                // Untyped: the same key takes numbers, hex and words by turns (`vis=40000500`,
                // `vis=4000050a`), and a typed placeholder would make those differ.
                return var_token(start, end, s + eq + 1, tok.len() - e, VarKind::Any, b);
            }
        }
    }
    if let Some(kind) = classify(core) {
        return var_token(start, end, s, tok.len() - e, kind, b);
    }
    word_token(start, end, b)
}

/// A unit that follows a number (`5 KB`, `3 ms`, `<1 sec`), punctuation around it ignored.
pub fn is_unit(word: &str) -> bool {
    let w = word.trim_matches(|c: char| c.is_ascii() && (is_open(c as u8) || is_close(c as u8)));
    const UNITS: [&str; 24] = [
        "b", "kb", "mb", "gb", "tb", "kib", "mib", "gib", "ms", "us", "ns", "s", "sec", "secs",
        "second", "seconds", "min", "mins", "minute", "minutes", "h", "hr", "hour", "hours",
    ];
    w.len() <= 7 && UNITS.iter().any(|u| u.eq_ignore_ascii_case(w))
}

#[inline]
fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// What variable `s` (punctuation already stripped) is, if it is one.
pub fn classify(s: &[u8]) -> Option<VarKind> {
    // One pass for what the scanners below need, so a plain word costs one loop.
    let (mut has_digit, mut has_dot, mut has_colon) = (false, false, false);
    for &c in s {
        has_digit |= c.is_ascii_digit();
        has_dot |= c == b'.';
        has_colon |= c == b':';
    }
    if has_colon && s.len() > 3 && s.windows(3).any(|w| w == b"://") {
        return Some(VarKind::Url);
    }
    if s[0] == b'/' && s.len() > 1 && s[1] != b'/' {
        return Some(VarKind::Path);
    }
    if s.len() > 2 && s[0].is_ascii_alphabetic() && s[1] == b':' && s[2] == b'\\' {
        return Some(VarKind::Path);
    }
    if !has_digit {
        if has_dot && is_dotted_name(s) {
            return Some(VarKind::Name);
        }
        return is_month_or_day(s).then_some(VarKind::Time);
    }
    if is_ipv4(s) {
        return Some(VarKind::Ip);
    }
    if is_num(s) {
        return Some(VarKind::Num);
    }
    if is_uuid(s) {
        return Some(VarKind::Uuid);
    }
    if is_hex(s) {
        return Some(VarKind::Hex);
    }
    if is_time(s) {
        return Some(VarKind::Time);
    }
    if has_dot && is_dotted_name(s) && s.iter().any(u8::is_ascii_alphabetic) {
        return Some(VarKind::Name);
    }
    if is_versioned_word(s) {
        return None;
    }
    Some(VarKind::Id)
}

/// Three or more non-empty parts of `[A-Za-z0-9_-]` joined by dots.
fn is_dotted_name(s: &[u8]) -> bool {
    let mut parts = 1;
    let mut len = 0;
    for &c in s {
        if c == b'.' {
            if len == 0 {
                return false;
            }
            parts += 1;
            len = 0;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' {
            len += 1;
        } else {
            return false;
        }
    }
    parts >= 3 && len > 0
}

/// English month and weekday names, short or long (`Jun`, `Friday`): parts of a date.
fn is_month_or_day(s: &[u8]) -> bool {
    const NAMES: [&str; 19] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "mon", "tue", "wed", "thu", "fri", "sat",
    ];
    const LONG: [&str; 20] = [
        "sun",
        "january",
        "february",
        "march",
        "april",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "tues",
    ];
    // Capitalised or all upper case only: `may` and `march` are also words.
    if s.len() < 3 || s.len() > 9 || !s[0].is_ascii_uppercase() {
        return false;
    }
    // Every name starts with one of these letters: most words stop here.
    if !matches!(
        s[0],
        b'J' | b'F' | b'M' | b'A' | b'S' | b'O' | b'N' | b'D' | b'T' | b'W'
    ) {
        return false;
    }
    let Ok(w) = std::str::from_utf8(s) else {
        return false;
    };
    NAMES
        .iter()
        .chain(LONG.iter())
        .any(|n| n.eq_ignore_ascii_case(w))
}

/// Letters then one or two digits (`SOCKS5`, `ssh2`, `utf8`, `IPv6`): a name, not a value.
fn is_versioned_word(s: &[u8]) -> bool {
    let letters = s.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    let digits = s.len() - letters;
    letters >= 2 && (1..=2).contains(&digits) && s[letters..].iter().all(u8::is_ascii_digit)
}

/// `[+-]digits[.digits]*` with an optional unit of up to 3 letters (`12ms`, `1.5KB`, `3%`).
fn is_num(s: &[u8]) -> bool {
    let mut i = 0;
    if s[0] == b'-' || s[0] == b'+' {
        i = 1;
    }
    let digits_start = i;
    let mut dots = 0;
    while i < s.len() && (s[i].is_ascii_digit() || (s[i] == b'.' && i > digits_start && dots == 0))
    {
        dots += (s[i] == b'.') as usize;
        i += 1;
    }
    if i == digits_start || s[i - 1] == b'.' {
        return false;
    }
    let unit = &s[i..];
    unit.len() <= 3 && unit.iter().all(|&c| c.is_ascii_alphabetic() || c == b'%')
}

fn is_ipv4(s: &[u8]) -> bool {
    let mut parts = 0;
    let mut digits = 0;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_digit() {
            digits += 1;
            if digits > 3 {
                return false;
            }
        } else if c == b'.' {
            if digits == 0 {
                return false;
            }
            parts += 1;
            digits = 0;
        } else if c == b':' && parts == 3 && digits > 0 {
            // A port.
            return s[i + 1..].iter().all(u8::is_ascii_digit) && i + 1 < s.len();
        } else {
            return false;
        }
        i += 1;
    }
    parts == 3 && digits > 0
}

fn is_uuid(s: &[u8]) -> bool {
    if s.len() != 36 {
        return false;
    }
    s.iter().enumerate().all(|(i, &c)| match i {
        8 | 13 | 18 | 23 => c == b'-',
        _ => c.is_ascii_hexdigit(),
    })
}

fn is_hex(s: &[u8]) -> bool {
    if s.len() > 2 && s[0] == b'0' && (s[1] == b'x' || s[1] == b'X') {
        return s[2..].iter().all(u8::is_ascii_hexdigit);
    }
    // Long hex runs (hashes, container ids); colon-separated bytes (MAC addresses).
    (s.len() >= 8 && s.iter().all(u8::is_ascii_hexdigit))
        || (s.len() >= 11 && s.iter().all(|&c| c.is_ascii_hexdigit() || c == b':'))
}

/// Digits with `:`, `-`, `/`, `.`, `T`, `Z`, `,` between them: `12:30:45.123`, `2024-01-02`.
fn is_time(s: &[u8]) -> bool {
    s.iter().any(|&c| c == b':' || c == b'-' || c == b'/')
        && s[0].is_ascii_digit()
        && s.iter().all(|&c| {
            c.is_ascii_digit() || matches!(c, b':' | b'-' | b'/' | b'.' | b',' | b'T' | b'Z')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(msg: &str) -> Vec<String> {
        let mut v = Vec::new();
        tokenize(msg, &mut v, 64);
        v.iter().map(|t| t.masked(msg)).collect()
    }

    #[test]
    fn masks_each_kind() {
        assert_eq!(
            masked("took 12ms from 10.0.0.1:8080 at 12:30:45 id=abc (uid=0) 0xdeadbeef"),
            vec![
                "took",
                "<num>",
                "from",
                "<ip>",
                "at",
                "<time>",
                "id=<*>",
                "(uid=<*>)",
                "<hex>"
            ]
        );
        assert_eq!(
            masked(
                "open /var/log/x.log \"a b\" 123e4567-e89b-12d3-a456-426614174000 blk_-42, done."
            ),
            vec!["open", "<path>", "<quoted>", "<uuid>", "<id>,", "done."]
        );
        assert_eq!(
            masked("GET https://x.io/a?b=1 2024-01-02"),
            vec!["GET", "<url>", "<time>"]
        );
    }

    #[test]
    fn names_dates_and_words() {
        assert_eq!(
            masked("com.apple.CacheDelete.daily: at Fri Jun 17 via SOCKS5 on x.log may 3 KB"),
            vec![
                "<name>:", "at", "<time>", "<time>", "<num>", "via", "SOCKS5", "on", "x.log",
                "may", "<num>", "KB"
            ]
        );
        assert!(is_unit("KB)"));
        assert!(!is_unit("bytes"));
    }

    #[test]
    fn key_matches_masked_text() {
        let msg = "x (uid=0) 1190, \"q r\" plain";
        let mut v = Vec::new();
        tokenize(msg, &mut v, 64);
        for t in &v {
            assert_eq!(t.key, hash_str(&t.masked(msg)));
        }
    }

    #[test]
    fn long_lines_fold() {
        let mut v = Vec::new();
        tokenize("a b c d e f", &mut v, 3);
        assert_eq!(v.len(), 3);
        assert_eq!(v[2].masked("a b c d e f"), "<*>");
    }
}
