//! Time as skein stores it (UTC nanoseconds) and as users type it.
//!
//! [`Timestamp::parse_expr`] accepts what Kibana and Elasticsearch users write in a time
//! picker or a range query: RFC 3339 (`2026-11-20T10:00:00.123456789Z`), a bare date
//! (`2026-11-20`, midnight UTC), and date math anchored at `now` or at a date followed by
//! `||` (`now-15m`, `now+1h`, `now/d`, `now-1d/d`, `2026-11-20||+1M/d`).

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use thiserror::Error;

/// Nanoseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// Why a time or time expression could not be understood.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TimeError {
    /// Not RFC 3339 and not date math.
    #[error("cannot parse time {input:?}: {reason}; use RFC 3339 (2026-11-20T10:00:00Z) or date math (now-15m, now/d)")]
    Invalid {
        /// What the user wrote.
        input: String,
        /// What exactly was wrong.
        reason: String,
    },
    /// A valid expression whose result lies outside what can be represented.
    #[error("time {0:?} is out of range (years 1678 to 2261 are supported)")]
    OutOfRange(String),
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        Timestamp::from_datetime(&Utc::now()).unwrap_or_default()
    }

    /// Converts from chrono; `None` outside the representable range (about 1678–2261).
    pub fn from_datetime(dt: &DateTime<Utc>) -> Option<Timestamp> {
        dt.timestamp_nanos_opt().map(Timestamp)
    }

    /// Converts to chrono.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }

    /// Whole seconds since the epoch (floor).
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SEC)
    }

    /// The UTC day this instant falls in, as days since 1970-01-01.
    pub fn day_number(self) -> i64 {
        self.0.div_euclid(86_400 * NANOS_PER_SEC)
    }

    /// Parses strict RFC 3339 with any number of fractional digits (nanoseconds kept).
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, TimeError> {
        let dt = DateTime::parse_from_rfc3339(s).map_err(|e| TimeError::Invalid {
            input: s.to_string(),
            reason: e.to_string(),
        })?;
        Timestamp::from_datetime(&dt.with_timezone(&Utc))
            .ok_or_else(|| TimeError::OutOfRange(s.to_string()))
    }

    /// Parses a time expression (RFC 3339, a bare date, or date math) relative to `now`.
    pub fn parse_expr(s: &str, now: Timestamp) -> Result<Timestamp, TimeError> {
        let input = s.trim();
        let invalid = |reason: &str| TimeError::Invalid {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        if input.is_empty() {
            return Err(invalid("empty time"));
        }
        let (anchor, math) = if let Some(rest) = input.strip_prefix("now") {
            (now.to_datetime(), rest)
        } else if let Some((date, rest)) = input.split_once("||") {
            (Self::parse_absolute(date)?.to_datetime(), rest)
        } else {
            return Self::parse_absolute(input);
        };
        let dt = apply_math(anchor, math).map_err(|r| invalid(&r))?;
        Timestamp::from_datetime(&dt).ok_or_else(|| TimeError::OutOfRange(input.to_string()))
    }

    fn parse_absolute(s: &str) -> Result<Timestamp, TimeError> {
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            let dt = Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"));
            return Timestamp::from_datetime(&dt).ok_or_else(|| TimeError::OutOfRange(s.into()));
        }
        Self::parse_rfc3339(s)
    }

    /// Formats as RFC 3339 in UTC with all nine fractional digits, as dockerd does.
    pub fn to_rfc3339(self) -> String {
        let mut out = String::with_capacity(30);
        self.write_rfc3339(&mut out);
        out
    }

    /// Appends the RFC 3339 form to `out` without intermediate allocations.
    pub fn write_rfc3339(self, out: &mut String) {
        let bytes = self.rfc3339_bytes();
        out.push_str(std::str::from_utf8(&bytes).expect("ASCII digits"));
    }

    /// The RFC 3339 form as fixed-size ASCII (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`).
    ///
    /// Written by hand rather than through chrono and `fmt`: the agent formats one per
    /// record, and this is several times cheaper. Every `i64` nanosecond count falls in
    /// years 1677 to 2262, so the year always has four digits.
    pub fn rfc3339_bytes(self) -> [u8; 30] {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u32;
        let mut b = *b"0000-00-00T00:00:00.000000000Z";
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, sod / 3600);
        put(14, 2, sod / 60 % 60);
        put(17, 2, sod % 60);
        put(20, 9, nanos);
        b
    }
}

/// Applies `+N<unit>`, `-N<unit>` and `/<unit>` operations left to right.
fn apply_math(mut dt: DateTime<Utc>, mut math: &str) -> Result<DateTime<Utc>, String> {
    // By character, not byte: the text is the user's and may start with any character.
    while let Some(op) = math.chars().next() {
        math = &math[op.len_utf8()..];
        match op {
            '+' | '-' => {
                let digits = math.bytes().take_while(u8::is_ascii_digit).count();
                let n: i64 = if digits == 0 {
                    1
                } else {
                    math[..digits].parse().map_err(|_| "number too large")?
                };
                math = &math[digits..];
                let (unit, rest) = take_unit(math)?;
                math = rest;
                let n = if op == '-' { -n } else { n };
                dt = shift(dt, n, unit).ok_or("result out of range")?;
            }
            '/' => {
                let (unit, rest) = take_unit(math)?;
                math = rest;
                dt = round_down(dt, unit);
            }
            other => {
                return Err(format!(
                    "unexpected {other:?} in date math; expected +, - or /"
                ))
            }
        }
    }
    Ok(dt)
}

fn take_unit(s: &str) -> Result<(&str, &str), String> {
    for unit in ["ms", "y", "M", "w", "d", "h", "H", "m", "s"] {
        if let Some(rest) = s.strip_prefix(unit) {
            return Ok((unit, rest));
        }
    }
    Err(format!(
        "expected a unit (y, M, w, d, h, m, s, ms) at {:?}",
        s.chars().take(8).collect::<String>()
    ))
}

fn shift(dt: DateTime<Utc>, n: i64, unit: &str) -> Option<DateTime<Utc>> {
    Some(match unit {
        "y" => add_months(dt, n.checked_mul(12)?)?,
        "M" => add_months(dt, n)?,
        "w" => dt.checked_add_signed(Duration::try_weeks(n)?)?,
        "d" => dt.checked_add_signed(Duration::try_days(n)?)?,
        "h" | "H" => dt.checked_add_signed(Duration::try_hours(n)?)?,
        "m" => dt.checked_add_signed(Duration::try_minutes(n)?)?,
        "s" => dt.checked_add_signed(Duration::try_seconds(n)?)?,
        "ms" => dt.checked_add_signed(Duration::try_milliseconds(n)?)?,
        _ => return None,
    })
}

fn add_months(dt: DateTime<Utc>, n: i64) -> Option<DateTime<Utc>> {
    let n = i32::try_from(n).ok()?;
    let months = chrono::Months::new(n.unsigned_abs());
    if n >= 0 {
        dt.checked_add_months(months)
    } else {
        dt.checked_sub_months(months)
    }
}

fn round_down(dt: DateTime<Utc>, unit: &str) -> DateTime<Utc> {
    let date = dt.date_naive();
    let midnight = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("valid"));
    match unit {
        "y" => midnight(NaiveDate::from_ymd_opt(date.year(), 1, 1).expect("valid")),
        "M" => midnight(NaiveDate::from_ymd_opt(date.year(), date.month(), 1).expect("valid")),
        "w" => midnight(date - Duration::days(date.weekday().num_days_from_monday() as i64)),
        "d" => midnight(date),
        "h" | "H" => dt
            .with_nanosecond(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_minute(0))
            .unwrap_or(dt),
        "m" => dt
            .with_nanosecond(0)
            .and_then(|t| t.with_second(0))
            .unwrap_or(dt),
        "s" => dt.with_nanosecond(0).unwrap_or(dt),
        "ms" => dt
            .with_nanosecond(dt.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(dt),
        _ => dt,
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.rfc3339_bytes();
        f.write_str(std::str::from_utf8(&bytes).expect("ASCII digits"))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn rfc3339_keeps_nanoseconds() {
        let t = ts("2026-11-20T10:00:00.123456789Z");
        assert_eq!(t.0 % 1_000_000_000, 123_456_789);
        assert_eq!(t.to_rfc3339(), "2026-11-20T10:00:00.123456789Z");
        assert_eq!(ts("2026-11-20T11:00:00+01:00"), ts("2026-11-20T10:00:00Z"));
    }

    #[test]
    fn date_math() {
        let now = ts("2026-11-20T10:17:42.5Z");
        let p = |s| Timestamp::parse_expr(s, now).unwrap();
        assert_eq!(p("now"), now);
        assert_eq!(p("now-15m"), ts("2026-11-20T10:02:42.5Z"));
        assert_eq!(p("now+1h"), ts("2026-11-20T11:17:42.5Z"));
        assert_eq!(p("now/d"), ts("2026-11-20T00:00:00Z"));
        assert_eq!(p("now-1d/d"), ts("2026-11-19T00:00:00Z"));
        assert_eq!(p("now/h"), ts("2026-11-20T10:00:00Z"));
        assert_eq!(p("now-1M"), ts("2026-10-20T10:17:42.5Z"));
        assert_eq!(p("now/w"), ts("2026-11-16T00:00:00Z"));
        assert_eq!(p("2026-11-20"), ts("2026-11-20T00:00:00Z"));
        assert_eq!(p("2026-11-20||+1d"), ts("2026-11-21T00:00:00Z"));
        assert_eq!(p(" 2026-11-20T10:00:00Z "), ts("2026-11-20T10:00:00Z"));
    }

    /// Found by bench/fuzz (query `@timestamp:<=now\u{8c79a}…-1d`): date math that goes
    /// on with a character of several bytes was cut inside it, and panicked.
    #[test]
    fn date_math_with_a_multibyte_character_is_an_error() {
        let now = ts("2026-11-20T10:17:42.5Z");
        for s in [
            "now\u{8c79a}-1d",
            "nowé",
            "2026-11-20||日-1d",
            "now-1d日",
            "now-1dé",
        ] {
            let e = Timestamp::parse_expr(s, now).unwrap_err();
            assert!(e.to_string().contains("date math"), "{s}: {e}");
        }
    }

    #[test]
    fn bad_expressions_say_why() {
        let now = Timestamp(0);
        for bad in ["", "now-15x", "now*2", "yesterday", "2026-13-01"] {
            let err = Timestamp::parse_expr(bad, now).unwrap_err();
            assert!(
                err.to_string().contains("cannot parse time"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn day_numbers_floor_before_epoch() {
        assert_eq!(Timestamp(-1).day_number(), -1);
        assert_eq!(ts("1970-01-02T00:00:00Z").day_number(), 1);
    }

    proptest::proptest! {
        #[test]
        fn rfc3339_roundtrips(n in -9_000_000_000_000_000_000i64..9_000_000_000_000_000_000i64) {
            let t = Timestamp(n);
            proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()).unwrap(), t);
        }
    }

    #[test]
    fn fast_format_agrees_with_chrono_everywhere() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let check = |t: i64| {
            let dt = Timestamp(t).to_datetime();
            let want = dt.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string();
            assert_eq!(Timestamp(t).to_rfc3339(), want, "{t}");
        };
        for t in [
            i64::MIN,
            i64::MIN + 1,
            -1,
            0,
            1,
            951_782_400_000_000_000,
            i64::MAX,
        ] {
            check(t);
        }
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check(x as i64);
        }
    }
}
