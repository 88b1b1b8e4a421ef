//! Text formatting on the hot path: timestamps, numbers, hex and dockerd's JSON escaping.
//!
//! Hand-written because a million-line corpus formats several timestamps and a dozen
//! numbers per line; going through `chrono`/`fmt` for each would dominate the run time.

/// Calendar fields of a UTC instant.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Howard Hinnant's days-to-civil algorithm, valid for the whole proleptic Gregorian range.
fn civil(unix_secs: i64) -> Civil {
    let days = unix_secs.div_euclid(86_400);
    let rem = unix_secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem / 60 % 60,
        second: rem % 60,
    }
}

fn push_2(out: &mut String, v: u32) {
    out.push((b'0' + (v / 10) as u8) as char);
    out.push((b'0' + (v % 10) as u8) as char);
}

fn push_year(out: &mut String, y: i64) {
    if (0..10_000).contains(&y) {
        push_2(out, (y / 100) as u32);
        push_2(out, (y % 100) as u32);
    } else {
        push_i64(out, y);
    }
}

/// Decimal digits of `v` without going through `fmt`.
pub(crate) fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

pub(crate) fn push_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_u64(out, v.unsigned_abs());
}

/// `digits` lowercase hex digits of `v`, zero padded (at most 16).
pub(crate) fn push_hex(out: &mut String, v: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for k in (0..digits).rev() {
        out.push(HEX[((v >> (4 * k)) & 0xf) as usize] as char);
    }
}

fn split_ns(ns: i64) -> (i64, u32) {
    (
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
}

/// `2026-11-20<sep>10:00:00.` for the time `secs`, the part both ISO-style formats share.
fn push_date_time(out: &mut String, secs: i64, sep: char) {
    let c = civil(secs);
    push_year(out, c.year);
    out.push('-');
    push_2(out, c.month);
    out.push('-');
    push_2(out, c.day);
    out.push(sep);
    push_2(out, c.hour);
    out.push(':');
    push_2(out, c.minute);
    out.push(':');
    push_2(out, c.second);
    out.push('.');
}

/// `2026-11-20T10:00:00.123456789Z`: RFC 3339 with the fixed nine fraction digits dockerd
/// writes in json-file `time`.
pub(crate) fn push_rfc3339_nanos(out: &mut String, ns: i64) {
    let (secs, frac) = split_ns(ns);
    push_date_time(out, secs, 'T');
    let mut digits = [b'0'; 9];
    let mut f = frac;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (f % 10) as u8;
        f /= 10;
    }
    for &d in &digits {
        out.push(d as char);
    }
    out.push('Z');
}

/// RFC 3339 for people (manifest `start`): the fraction only when there is one.
pub(crate) fn rfc3339_short(ns: i64) -> String {
    let mut s = String::with_capacity(30);
    push_rfc3339_nanos(&mut s, ns);
    if s.ends_with(".000000000Z") {
        s.truncate(s.len() - ".000000000Z".len());
        s.push('Z');
    }
    s
}

/// nginx `$time_local` in UTC: `20/Nov/2026:10:00:00 +0000`.
pub(crate) fn push_nginx_time(out: &mut String, ns: i64) {
    let c = civil(split_ns(ns).0);
    push_2(out, c.day);
    out.push('/');
    out.push_str(MONTHS[(c.month - 1) as usize]);
    out.push('/');
    push_year(out, c.year);
    out.push(':');
    push_2(out, c.hour);
    out.push(':');
    push_2(out, c.minute);
    out.push(':');
    push_2(out, c.second);
    out.push_str(" +0000");
}

/// Spring Boot / logback style `2026-11-20 10:00:00.123` (milliseconds).
pub(crate) fn push_app_time(out: &mut String, ns: i64) {
    let (secs, frac) = split_ns(ns);
    push_date_time(out, secs, ' ');
    let ms = frac / 1_000_000;
    out.push((b'0' + (ms / 100) as u8) as char);
    push_2(out, ms % 100);
}

/// Escapes `s` as the body of a JSON string exactly like dockerd's json-file writer
/// (`ffjsonWriteJSONBytesAsString`): besides `"` and `\`, it turns `<`, `>`, `&` and every
/// control byte other than `\n`/`\r` (tab included) into `\u00XX`, and U+2028/U+2029 into
/// `\u2028`/`\u2029`. Matching it keeps the collector's parser honest about real files.
pub(crate) fn push_docker_escaped(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, ch) in s.char_indices() {
        let esc: Option<&str> = match ch {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let b = ch as u8;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
        }
        start = i + ch.len_utf8();
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    #[test]
    fn timestamps_match_chrono() {
        let samples = [
            0i64,
            1_795_168_800_000_000_000,
            1_795_168_800_123_456_789,
            951_782_400_000_000_001, // 2000-02-29
            4_107_542_399_999_999_999,
            -1,
        ];
        for ns in samples {
            let dt = DateTime::<Utc>::from_timestamp_nanos(ns);
            let mut s = String::new();
            push_rfc3339_nanos(&mut s, ns);
            assert_eq!(s, dt.format("%Y-%m-%dT%H:%M:%S.%9fZ").to_string());
            s.clear();
            push_nginx_time(&mut s, ns);
            assert_eq!(s, dt.format("%d/%b/%Y:%H:%M:%S +0000").to_string());
            s.clear();
            push_app_time(&mut s, ns);
            assert_eq!(s, dt.format("%Y-%m-%d %H:%M:%S.%3f").to_string());
        }
        assert_eq!(
            rfc3339_short(1_795_168_800_000_000_000),
            "2026-11-20T10:00:00Z"
        );
    }

    #[test]
    fn docker_escaping_round_trips_and_matches_dockerd() {
        let raw = "a\"b\\c\td&e<f>g\nh\u{1}i\u{2028}é";
        let mut s = String::from("\"");
        push_docker_escaped(&mut s, raw);
        s.push('"');
        assert_eq!(
            s,
            r#""a\"b\\c\u0009d\u0026e\u003cf\u003eg\nh\u0001i\u2028é""#
        );
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, raw);
    }

    #[test]
    fn numbers_and_hex() {
        let mut s = String::new();
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, u64::MAX);
        s.push(' ');
        push_i64(&mut s, -42);
        s.push(' ');
        push_hex(&mut s, 0xabc, 6);
        assert_eq!(s, "0 18446744073709551615 -42 000abc");
    }
}
