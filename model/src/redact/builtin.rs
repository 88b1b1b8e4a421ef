//! The built-in rules, and the card check that keeps `card` off ordinary long numbers.

use std::ops::Range;

/// A rule that ships with skein, turned on by its name alone (`--redact email`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    /// The name it is turned on by, and its `rule` label on `/metrics`.
    pub name: &'static str,
    /// What it finds, for help texts.
    pub about: &'static str,
    pub(super) pattern: &'static str,
    pub(super) replacement: &'static str,
    pub(super) check: Check,
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
    },
    Builtin {
        name: "url-password",
        about: "the password of a URL's `user:password@` (postgres://app:s3cret@db/…); scheme, user and host are kept",
        // The password runs to the last `@` before the path, as URL parsers read it, so
        // an unencoded `@` in it does not leave its end behind.
        pattern: r#"(?-u:\b)([A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@"'<>]*:)[^\s/?#"'<>]+@"#,
        replacement: "${1}[REDACTED:url-password]@",
        check: Check::None,
    },
    Builtin {
        name: "card",
        about: "payment card numbers: 13 to 19 digits starting with 2 to 6, together or in groups of 3 or more split by single spaces or dashes, that pass the Luhn check",
        pattern: r"[0-9](?:[ -]?[0-9]){12,}",
        replacement: "[REDACTED:card]",
        check: Check::Card,
    },
    Builtin {
        name: "email",
        about: "e-mail addresses (name@domain.tld, a top-level domain of 2 or more letters)",
        pattern: r"(?-u)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
        replacement: "[REDACTED:email]",
        check: Check::None,
    },
];

/// The built-in named `name`.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The card numbers in `run`, a match of the `card` pattern (digits, with single
/// spaces or dashes between some of them), as byte ranges of `run`.
///
/// A card number is 13 to 19 digits whose first is 2 to 6 (the payment networks'
/// ranges: so epoch times in milliseconds or nanoseconds, which start with 1 until
/// 2033, are not taken for one) and which pass the Luhn check. Written in groups, each
/// group has 3 or more digits (4-4-4-4, 4-6-5, 4-4-4-4-3): a run of short numbers such
/// as "1 2 3 4 5 …" is no card. Within a run, the longest card starting at the
/// leftmost group is taken, then the search goes on after it, so a card written after
/// an order number ("order 1234 4111 1111 1111 1111") is still found.
pub(super) fn card_ranges(run: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let groups: Vec<Range<usize>> = run
        .split([' ', '-'])
        .scan(0usize, |at, g| {
            let start = *at;
            *at += g.len() + 1;
            Some(start..start + g.len())
        })
        .filter(|g| !g.is_empty())
        .collect();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < groups.len() {
            let mut found = None;
            let mut digits = 0;
            for (j, g) in groups.iter().enumerate().skip(i) {
                if g.len() < 3 {
                    break;
                }
                digits += g.len();
                if digits > 19 {
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
