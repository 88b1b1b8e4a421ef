//! Time arguments as `docker logs` takes them (`--since`, `--until`): durations before
//! now (`10m`, `1h30m`), Unix seconds, RFC 3339 with or without a zone (without means
//! local time), a bare date, or the server's date math (`now-1h`), passed through.

use anyhow::{bail, Result};
use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone};
use skein_model::Timestamp;

/// The argument as the server's `start`/`end` parameter: RFC 3339 in UTC, or date math.
pub fn to_server_time(arg: &str, now: Timestamp) -> Result<String> {
    let s = arg.trim();
    if s.starts_with("now") {
        return Ok(s.to_string());
    }
    if let Some(ns) = duration_nanos(s) {
        return Ok(Timestamp(now.0.saturating_sub(ns)).to_string());
    }
    if let Ok(secs) = s.parse::<f64>() {
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Ok(Timestamp((secs * 1e9) as i64).to_string());
        }
    }
    if let Ok(t) = Timestamp::parse_rfc3339(s) {
        return Ok(t.to_string());
    }
    let local = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    if let Some(naive) = local {
        if let Some(dt) = Local.from_local_datetime(&naive).earliest() {
            if let Some(t) = Timestamp::from_datetime(&dt.with_timezone(&chrono::Utc)) {
                return Ok(t.to_string());
            }
        }
    }
    bail!(
        "cannot read the time {arg:?}; give a duration before now (10m, 1h30m), Unix seconds, \
         RFC 3339 (2026-11-25T10:00:00Z, or without a zone for local time), or now-1h"
    )
}

/// A Go-style duration (`90s`, `1h30m`, `1.5h`, `500ms`, also `2d`), in nanoseconds.
fn duration_nanos(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86_400e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * unit;
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_docker_logs_reads() {
        let now = Timestamp::parse_rfc3339("2026-11-25T12:00:00Z").unwrap();
        let t = |s: &str| to_server_time(s, now).unwrap();
        let at = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        assert_eq!(at(&t("10m")), at("2026-11-25T11:50:00Z"));
        assert_eq!(at(&t("1h30m")), at("2026-11-25T10:30:00Z"));
        assert_eq!(at(&t("1795132800")), at("2026-11-20T00:00:00Z"));
        assert_eq!(
            at(&t("2026-11-20T01:00:00+01:00")),
            at("2026-11-20T00:00:00Z")
        );
        assert_eq!(t("now-1h"), "now-1h");
        let local = Local
            .from_local_datetime(
                &NaiveDate::from_ymd_opt(2026, 11, 20)
                    .unwrap()
                    .and_hms_opt(8, 0, 0)
                    .unwrap(),
            )
            .earliest()
            .unwrap();
        let want = Timestamp::from_datetime(&local.with_timezone(&chrono::Utc))
            .unwrap()
            .to_string();
        assert_eq!(t("2026-11-20T08:00:00"), want);
        assert!(to_server_time("yesterday", now).is_err());
        assert!(to_server_time("10x", now).is_err());
    }
}
