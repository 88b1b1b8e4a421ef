//! Fast RFC 3339 parsing for the timestamps container runtimes write.
//!
//! dockerd writes `2026-11-20T10:00:00.123456789Z` (always nine digits) and containerd
//! writes Go's `RFC3339Nano` (trailing zeros trimmed, sometimes a numeric offset). Every
//! log line carries one, so going through chrono's general parser would cost more than
//! the rest of the line's framing. The fast path below handles those shapes directly and
//! hands anything unusual (leap seconds, lowercase or space separators, more than nine
//! fractional digits, out-of-range years) to [`Timestamp::parse_rfc3339`], so the result
//! is always the one the model crate would give.

use skein_model::{TimeError, Timestamp};

/// Parses an RFC 3339 time, keeping nanoseconds.
pub fn parse(s: &[u8]) -> Result<Timestamp, TimeError> {
    if let Some(t) = parse_fast(s) {
        return Ok(t);
    }
    match std::str::from_utf8(s) {
        Ok(text) => Timestamp::parse_rfc3339(text),
        Err(_) => Err(TimeError::Invalid {
            input: String::from_utf8_lossy(s).into_owned(),
            reason: "not UTF-8".into(),
        }),
    }
}

/// The common shapes only; `None` means "ask chrono", not "invalid".
fn parse_fast(s: &[u8]) -> Option<Timestamp> {
    if s.len() < 20
        || s[4] != b'-'
        || s[7] != b'-'
        || s[10] != b'T'
        || s[13] != b':'
        || s[16] != b':'
    {
        return None;
    }
    let year = digits(&s[0..4])? as i64;
    let month = digits(&s[5..7])?;
    let day = digits(&s[8..10])?;
    let hour = digits(&s[11..13])?;
    let minute = digits(&s[14..16])?;
    let second = digits(&s[17..19])?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        nanos = digits(&frac[..n])? as i64 * 10i64.pow(9 - n as u32);
        rest = &frac[n..];
    }
    let offset_secs = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i64;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64 - offset_secs;
    secs.checked_mul(1_000_000_000)?
        .checked_add(nanos)
        .map(Timestamp)
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn model(s: &str) -> Result<Timestamp, TimeError> {
        Timestamp::parse_rfc3339(s)
    }

    #[test]
    fn runtime_shapes() {
        for s in [
            "2026-11-20T10:00:00.123456789Z",
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:00.1Z",
            "2026-11-20T10:00:00.12345+01:00",
            "2026-11-20T10:00:00.000000001-05:30",
            "2024-02-29T23:59:59.999999999Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.5Z",
        ] {
            assert!(parse_fast(s.as_bytes()).is_some(), "{s}");
            assert_eq!(parse(s.as_bytes()), model(s), "{s}");
        }
    }

    #[test]
    fn unusual_shapes_fall_back_to_the_model() {
        for s in [
            "2026-11-20t10:00:00Z",
            "2026-11-20 10:00:00Z",
            "2026-11-20T10:00:00.1234567891Z",
            "2016-12-31T23:59:60Z",
            "2500-01-01T00:00:00Z",
        ] {
            assert_eq!(parse(s.as_bytes()), model(s), "{s}");
        }
        for bad in [
            "",
            "2026-11-20",
            "2026-02-30T00:00:00Z",
            "2026-11-20T24:00:00Z",
            "2026-11-20T10:00:00",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_model(
            secs in -9_000_000_000i64..9_000_000_000i64,
            nanos in 0u32..1_000_000_000,
            digits in 0usize..=9,
            offset_min in -(23 * 60 + 59)..=(23i32 * 60 + 59),
        ) {
            let t = Timestamp(secs * 1_000_000_000 + nanos as i64);
            // Render with a given number of fraction digits and a given offset, as Go does.
            let dt = t.to_datetime().with_timezone(
                &chrono::FixedOffset::east_opt(offset_min * 60).unwrap(),
            );
            let frac = format!("{:09}", nanos);
            let mut s = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
            if digits > 0 {
                s.push('.');
                s.push_str(&frac[..digits]);
            }
            if offset_min == 0 {
                s.push('Z');
            } else {
                s.push_str(&dt.format("%:z").to_string());
            }
            prop_assert_eq!(parse(s.as_bytes()), model(&s), "{}", s);
        }
    }
}
