//! Time arguments (`--since`, `--until` of `logs`, `search` and `agg`) as `docker logs`
//! takes them: RFC 3339 with or without a zone (without means local time), a date, Unix
//! seconds (with a fraction), or a duration back from now such as `10m` or `1h30m`.

use anyhow::{bail, Result};
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use skein_model::Timestamp;

/// Parses `s` relative to `now` (for durations).
pub fn parse(s: &str, now: Timestamp) -> Result<Timestamp> {
    let s = s.trim();
    let help = "use RFC 3339 (2026-11-20T10:00:00Z, or without a zone for local time), \
                a date (2026-11-20), Unix seconds (1763632800) or a duration back from now (10m, 1h30m)";
    if s.is_empty() {
        bail!("empty time; {help}");
    }
    if let Some(d) = duration_nanos(s) {
        return Ok(Timestamp(now.0.saturating_sub(d)));
    }
    if let Some(t) = unix_seconds(s) {
        return Ok(t);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return utc(&dt.with_timezone(&Utc), s);
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return local(n, s);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return local(d.and_hms_opt(0, 0, 0).expect("midnight"), s);
    }
    bail!("cannot understand time {s:?}; {help}")
}

/// A duration such as `90d`, `12h` or `1h30m` (units ns to w).
pub fn duration(s: &str) -> Result<std::time::Duration> {
    match duration_nanos(s.trim()) {
        Some(n) if n > 0 => Ok(std::time::Duration::from_nanos(n as u64)),
        _ => bail!(
            "cannot understand duration {s:?}; use a number and a unit, e.g. 90d, 12h or 1h30m"
        ),
    }
}

/// The argument as the server's `start`/`end` parameter: RFC 3339 in UTC, or the
/// server's date math (`now-1h`, `now/d`) passed through unchanged.
pub fn to_server_time(s: &str, now: Timestamp) -> Result<String> {
    let s = s.trim();
    if s.starts_with("now") {
        return Ok(s.to_string());
    }
    Ok(parse(s, now)?.to_string())
}

fn utc(dt: &DateTime<Utc>, s: &str) -> Result<Timestamp> {
    match Timestamp::from_datetime(dt) {
        Some(t) => Ok(t),
        None => bail!("time {s:?} is out of range (years 1678 to 2261)"),
    }
}

fn local(n: NaiveDateTime, s: &str) -> Result<Timestamp> {
    match Local.from_local_datetime(&n).earliest() {
        Some(dt) => utc(&dt.with_timezone(&Utc), s),
        None => bail!(
            "{s:?} does not exist in the local time zone (a clock change); add a zone such as Z"
        ),
    }
}

/// `1600000000` or `1600000000.5`.
fn unix_seconds(s: &str) -> Option<Timestamp> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || secs.len() > 11 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let nanos: i64 = format!("{frac:0<9}").parse().ok()?;
    Some(Timestamp(secs.parse::<i64>().ok()? * 1_000_000_000 + nanos))
}

/// A Go-style duration (`1h30m`, `90s`, `1.5h`, `250ms`) in nanoseconds.
fn duration_nanos(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86_400e9,
            "w" => 604_800e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_forms() {
        let now = Timestamp::parse_rfc3339("2026-11-20T10:00:00Z").unwrap();
        let at = |s: &str| parse(s, now).unwrap().to_rfc3339();
        assert_eq!(at("10m"), "2026-11-20T09:50:00.000000000Z");
        assert_eq!(at("1h30m"), "2026-11-20T08:30:00.000000000Z");
        assert_eq!(at("1.5h"), "2026-11-20T08:30:00.000000000Z");
        assert_eq!(at("250ms"), "2026-11-20T09:59:59.750000000Z");
        assert_eq!(at("1763632800"), "2025-11-20T10:00:00.000000000Z");
        assert_eq!(at("1763632800.25"), "2025-11-20T10:00:00.250000000Z");
        assert_eq!(
            at("2026-11-20T10:00:00+02:00"),
            "2026-11-20T08:00:00.000000000Z"
        );
        let local = Local
            .from_local_datetime(
                &NaiveDate::from_ymd_opt(2026, 11, 20)
                    .unwrap()
                    .and_hms_opt(7, 0, 0)
                    .unwrap(),
            )
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse("2026-11-20T07:00:00", now).unwrap(),
            Timestamp::from_datetime(&local).unwrap()
        );
        assert_eq!(to_server_time("now-1h", now).unwrap(), "now-1h");
        assert_eq!(
            to_server_time("10m", now).unwrap(),
            "2026-11-20T09:50:00.000000000Z"
        );
        for bad in ["", "yesterday", "10x", "1h-5m", "2026-13-01"] {
            let e = parse(bad, now).unwrap_err().to_string();
            assert!(
                e.contains("RFC 3339") || e.contains("duration"),
                "{bad}: {e}"
            );
        }
    }
}
