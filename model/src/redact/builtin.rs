//! The built-in rules, and the card check that keeps `card` off ordinary long numbers.

use std::ops::Range;

/// A rule that ships with skein, turned on by its name alone (`--redact email`).
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// The name it is turned on by, and its `rule` label on `/metrics`.
    pub name: &'static str,
    /// What it finds, for help texts.
    pub about: &'static str,
    pub(super) pattern: &'static str,
    pub(super) replacement: &'static str,
    pub(super) check: Check,
    /// False for a text the pattern cannot match in: a scan far cheaper than the
    /// regex, which rules the rule out of most texts.
    pub(super) gate: fn(&[u8]) -> bool,
}

/// What a match must also pass to be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// Nothing: every match is replaced.
    None,
    /// The match is a run of digits; only the card numbers in it are replaced
    /// ([`card_ranges`]).
    Card,
}

/// Every built-in rule.
///
/// The patterns use ASCII word boundaries (`(?-u)`): the regex engine's fast DFA
/// cannot run Unicode ones over non-ASCII text, and the secrets these find are ASCII.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "bearer",
        about: "the token after `Bearer ` (an HTTP Authorization header), 8 or more token characters; `Bearer` is kept",
        pattern: r"(?i-u)\b(bearer)[ \t]+[A-Za-z0-9._~+/-]{8,}=*",
        replacement: "$1 [REDACTED:bearer]",
        check: Check::None,
        gate: has_bearer,
    },
    Builtin {
        name: "url-password",
        about: "the password of a URL's `user:password@` (postgres://app:s3cret@db/…); scheme, user and host are kept",
        // The password runs to the last `@` before the path, as URL parsers read it, so
        // an unencoded `@` in it does not leave its end behind.
        pattern: r#"(?-u:\b)([A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@"'<>]*:)[^\s/?#"'<>]+@"#,
        replacement: "${1}[REDACTED:url-password]@",
        check: Check::None,
        gate: has_scheme_then_at,
    },
    Builtin {
        name: "card",
        about: "payment card numbers: 13 to 19 digits starting with 2 to 6, together or in groups of 3 or more split by single spaces or dashes, not glued to letters, that pass the Luhn check",
        pattern: r"[0-9](?:[ -]?[0-9]){12,}",
        replacement: "[REDACTED:card]",
        check: Check::Card,
        gate: has_long_digit_run,
    },
    Builtin {
        name: "email",
        about: "e-mail addresses (name@domain.tld, a top-level domain of 2 or more letters)",
        pattern: r"(?-u)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
        replacement: "[REDACTED:email]",
        check: Check::None,
        gate: has_at_then_dot,
    },
];

/// The built-in named `name`.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The card numbers in `run`, a match of the `card` pattern (digits, with single
/// spaces or dashes between some of them), as byte ranges of `run`. `glued_start` and
/// `glued_end` say whether a letter touches the run before or after it.
///
/// A card number is 13 to 19 digits whose first is 2 to 6 (the payment networks'
/// ranges: so epoch times in milliseconds or nanoseconds, which start with 1 until
/// 2033, are not taken for one) and which pass the Luhn check. Written in groups, each
/// group has 3 or more digits (4-4-4-4, 4-6-5, 4-4-4-4-3): a run of short numbers such
/// as "1 2 3 4 5 …" is no card. Digits glued to a letter are part of a word, as in the
/// hex of a request id (`54c2188079697398`), and no card either. Within a run, the
/// longest card starting at the leftmost group is taken, then the search goes on after
/// it, so a card written after an order number ("order 1234 4111 1111 1111 1111") is
/// still found.
pub(super) fn card_ranges(
    run: &str,
    glued_start: bool,
    glued_end: bool,
) -> impl Iterator<Item = Range<usize>> + '_ {
    let groups: Vec<Range<usize>> = run
        .split([' ', '-'])
        .scan(0usize, |at, g| {
            let start = *at;
            *at += g.len() + 1;
            Some(start..start + g.len())
        })
        .filter(|g| !g.is_empty())
        .collect();
    let last = groups.len().saturating_sub(1);
    let mut i = usize::from(glued_start);
    std::iter::from_fn(move || {
        while i < groups.len() {
            let mut found = None;
            let mut digits = 0;
            for (j, g) in groups.iter().enumerate().skip(i) {
                if g.len() < 3 {
                    break;
                }
                digits += g.len();
                if digits > 19 || (j == last && glued_end) {
                    break;
                }
                let range = groups[i].start..g.end;
                if digits >= 13 && is_card_number(&run[range.clone()]) {
                    found = Some((j, range));
                }
            }
            match found {
                Some((j, range)) => {
                    i = j + 1;
                    return Some(range);
                }
                None => i += 1,
            }
        }
        None
    })
}

/// Whether `text` (digits, spaces and dashes) holds 13 to 19 digits, the first 2 to 6,
/// that pass the Luhn check.
fn is_card_number(text: &str) -> bool {
    let mut digits = [0u8; 19];
    let mut n = 0;
    for b in text.bytes().filter(u8::is_ascii_digit) {
        if n == digits.len() {
            return false;
        }
        digits[n] = b - b'0';
        n += 1;
    }
    (13..=19).contains(&n) && (2..=6).contains(&digits[0]) && luhn(&digits[..n])
}

/// The Luhn check: from the right, every second digit doubled (9 taken off past 9),
/// the sum a multiple of 10.
pub(super) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The `bearer` gate: `bearer` in any ASCII case. The regex engine's prefilter for a
/// case-insensitive literal (SIMD over its case variants) beats looking at every `b`
/// (a third less time on the bench corpus).
fn has_bearer(text: &[u8]) -> bool {
    static BEARER: std::sync::LazyLock<regex::bytes::Regex> = std::sync::LazyLock::new(|| {
        regex::bytes::Regex::new("(?i-u)bearer").expect("a valid regex")
    });
    BEARER.is_match(text)
}

/// The `url-password` gate: `://` with an `@` after it. The `@` is looked for first:
/// it is rare, where `://` is in every access log line that has a referrer.
fn has_scheme_then_at(text: &[u8]) -> bool {
    static SCHEME: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"://"));
    memchr::memrchr(b'@', text).is_some_and(|at| SCHEME.find(&text[..at]).is_some())
}

/// The `email` gate: an `@` with a `.` after it.
fn has_at_then_dot(text: &[u8]) -> bool {
    memchr::memchr(b'@', text).is_some_and(|at| memchr::memchr(b'.', &text[at..]).is_some())
}

/// The `card` gate: 13 digits in a row, a single space or dash allowed between two.
///
/// Most log lines hold digits (times, addresses, ids), so this runs over nearly every
/// text, and a byte-by-byte scan is a chain of dependent steps (about 1.5 ns a byte
/// here). So blocks of 64 bytes are first turned into bit masks of digits and
/// separators, 8 bytes at a time, and bit operations find 13 bytes in a row that are
/// digits or separators after a digit, in a few dozen instructions a block (about a
/// third of the time): only the few texts that pass are scanned exactly.
fn has_long_digit_run(text: &[u8]) -> bool {
    maybe_long_digit_run(text) && long_digit_run(text)
}

/// The exact test: 13 digits, each after the previous or after a single separator
/// after it.
pub(super) fn long_digit_run(text: &[u8]) -> bool {
    let mut run = 0;
    let mut after_digit = false;
    for &c in text {
        if c.is_ascii_digit() {
            run += 1;
            if run >= 13 {
                return true;
            }
            after_digit = true;
        } else if after_digit && (c == b' ' || c == b'-') {
            after_digit = false;
        } else {
            run = 0;
            after_digit = false;
        }
    }
    false
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The bytes of `x` that are zero, as their high bit.
fn zero_bytes(x: u64) -> u64 {
    !(((x & !HIGH).wrapping_add(!HIGH)) | x) & HIGH
}

/// The high bits of the bytes of `m` as 8 bits, byte 0 lowest.
fn gather(m: u64) -> u64 {
    ((m >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// The digits and the separators (space, dash) of up to 64 bytes, bit i for byte i.
fn digit_masks(block: &[u8]) -> (u64, u64) {
    let (mut digits, mut separators) = (0u64, 0u64);
    let mut words = block.chunks_exact(8);
    for (k, word) in (&mut words).enumerate() {
        let x = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        // Each byte's low 7 bits plus a constant never carries into the next byte.
        let low = x & !HIGH;
        let at_least_0 = low.wrapping_add(ONES * (0x80 - b'0' as u64));
        let above_9 = low.wrapping_add(ONES * (0x7F - b'9' as u64));
        let digit = at_least_0 & !above_9 & !x & HIGH;
        let separator = zero_bytes(x ^ (ONES * b' ' as u64)) | zero_bytes(x ^ (ONES * b'-' as u64));
        digits |= gather(digit) << (8 * k);
        separators |= gather(separator) << (8 * k);
    }
    let base = block.len() - words.remainder().len();
    for (i, &c) in words.remainder().iter().enumerate() {
        digits |= u64::from(c.is_ascii_digit()) << (base + i);
        separators |= u64::from(c == b' ' || c == b'-') << (base + i);
    }
    (digits, separators)
}

/// Whether `text` may hold a [`long_digit_run`]: 13 bytes in a row, each a digit or a
/// separator right after one. Never false when that is true.
pub(super) fn maybe_long_digit_run(text: &[u8]) -> bool {
    // The run reaching the end of the blocks so far, and whether their last byte is
    // a digit.
    let (mut run, mut last_digit) = (0u32, 0u64);
    for block in text.chunks(64) {
        let (digits, separators) = digit_masks(block);
        let joined = digits | (separators & ((digits << 1) | last_digit));
        // Bit i of `r` set when bits i.. i+n-1 are, for n = 2, 4, 8 and then 13.
        let mut r = joined & (joined >> 1);
        r &= r >> 2;
        r &= r >> 4;
        let len = block.len() as u32;
        if r & (r >> 5) != 0 || run + joined.trailing_ones().min(len) >= 13 {
            return true;
        }
        let all = if len == 64 { !0 } else { (1u64 << len) - 1 };
        run = if joined & all == all {
            run + len
        } else {
            (joined << (64 - len)).leading_ones()
        };
        last_digit = (digits >> (len - 1)) & 1;
    }
    false
}
