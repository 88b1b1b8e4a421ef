//! Date histogram intervals: parsing what Elasticsearch accepts, and choosing one for a
//! target bucket count.

use skein_model::Timestamp;
use std::fmt;

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;

/// Intervals an automatic histogram picks from: round numbers people read easily.
const NICE: &[i64] = &[
    SECOND,
    2 * SECOND,
    5 * SECOND,
    10 * SECOND,
    15 * SECOND,
    30 * SECOND,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    WEEK,
    2 * WEEK,
    30 * DAY,
    90 * DAY,
    365 * DAY,
];

/// A fixed-length bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    millis: i64,
    /// Weeks start on Monday, as in Elasticsearch; epoch-aligned buckets of 7 days
    /// would start on Thursday.
    monday_aligned: bool,
}

impl Interval {
    /// Parses `30s`, `5m`, `1h`, `1d`, `1w`, `250ms`, or a calendar unit of fixed length
    /// (`second`, `minute`, `hour`, `day`, `week`).
    pub fn parse(spec: &str) -> Result<Interval, String> {
        let s = spec.trim();
        let named = match s {
            "second" => Some(SECOND),
            "minute" => Some(MINUTE),
            "hour" => Some(HOUR),
            "day" => Some(DAY),
            "week" => Some(WEEK),
            _ => None,
        };
        let millis = match named {
            Some(ms) => ms,
            None => {
                let digits = s.bytes().take_while(u8::is_ascii_digit).count();
                let (n, unit) = s.split_at(digits);
                let n: i64 = n.parse().map_err(|_| {
                    format!("interval {spec:?} is not a number and a unit such as 5m or 1h")
                })?;
                let unit_ms = match unit {
                    "ms" => 1,
                    "s" => SECOND,
                    "m" => MINUTE,
                    "h" => HOUR,
                    "d" => DAY,
                    "w" => WEEK,
                    "M" | "q" | "y" => 0,
                    _ => {
                        return Err(format!(
                            "interval {spec:?} has an unknown unit; use ms, s, m, h, d or w"
                        ))
                    }
                };
                if unit_ms == 0 {
                    return Err(month_like(spec));
                }
                if n <= 0 {
                    return Err(format!("interval {spec:?} must be positive"));
                }
                n.checked_mul(unit_ms)
                    .ok_or_else(|| format!("interval {spec:?} is too long"))?
            }
        };
        if matches!(s, "month" | "quarter" | "year") {
            return Err(month_like(spec));
        }
        Ok(Interval {
            millis,
            monday_aligned: millis % WEEK == 0,
        })
    }

    /// Width in milliseconds.
    pub fn millis(self) -> i64 {
        self.millis
    }

    /// The width as Tantivy's `fixed_interval`.
    pub fn fixed(self) -> String {
        format!("{}ms", self.millis)
    }

    /// The offset of bucket starts from the epoch this interval implies.
    pub fn offset_ms(self) -> i64 {
        if self.monday_aligned {
            4 * DAY
        } else {
            0
        }
    }
}

fn month_like(spec: &str) -> String {
    format!(
        "calendar interval {spec:?} has no fixed length and is not supported; use a fixed \
         interval such as 1d, 7d or 30d"
    )
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.millis;
        for (unit, name) in [
            (WEEK, "w"),
            (DAY, "d"),
            (HOUR, "h"),
            (MINUTE, "m"),
            (SECOND, "s"),
        ] {
            if ms % unit == 0 {
                return write!(f, "{}{name}", ms / unit);
            }
        }
        write!(f, "{ms}ms")
    }
}

/// The smallest round interval giving at most `buckets` buckets over `range`
/// (one second when there is no range: nothing matched).
pub fn auto(range: Option<(Timestamp, Timestamp)>, buckets: u64) -> Interval {
    let span_ms = range.map_or(0, |(a, b)| (b.0.saturating_sub(a.0)) / 1_000_000 + 1);
    let buckets = buckets.max(1) as i64;
    let millis = NICE
        .iter()
        .copied()
        .find(|iv| (span_ms + iv - 1) / iv <= buckets)
        .unwrap_or(*NICE.last().expect("NICE is not empty"));
    Interval {
        millis,
        monday_aligned: millis % WEEK == 0,
    }
}

/// Parses an `offset` such as `+1h`, `-30m`, in milliseconds.
pub fn parse_offset(s: &str) -> Result<i64, String> {
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    };
    Interval::parse(rest)
        .map(|iv| sign * iv.millis)
        .map_err(|e| format!("`offset`: {e}"))
}

/// The offset from UTC of a fixed-offset zone (`UTC`, `Z`, `+01:00`, `-0530`), in
/// milliseconds.
pub fn parse_time_zone(tz: &str) -> Result<i64, String> {
    if matches!(tz, "UTC" | "Z" | "Etc/UTC" | "GMT") {
        return Ok(0);
    }
    let bad = || {
        format!(
            "time_zone {tz:?} is not supported; give UTC or a fixed offset such as +01:00 \
             (named zones with daylight saving are not)"
        )
    };
    let (sign, rest) = match tz.as_bytes().first() {
        Some(b'+') => (1, &tz[1..]),
        Some(b'-') => (-1, &tz[1..]),
        _ => return Err(bad()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let h: i64 = digits[..2].parse().map_err(|_| bad())?;
    let m: i64 = digits[2..].parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * HOUR + m * MINUTE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_elasticsearch_accepts() {
        assert_eq!(Interval::parse("90s").unwrap().millis(), 90_000);
        assert_eq!(Interval::parse("minute").unwrap().to_string(), "1m");
        assert_eq!(Interval::parse("1w").unwrap().offset_ms(), 4 * DAY);
        assert_eq!(Interval::parse("2h").unwrap().fixed(), "7200000ms");
        for bad in ["1M", "month", "1y", "5", "m", "0m", "5 minutes"] {
            assert!(Interval::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_offset("-30m").unwrap(), -30 * MINUTE);
        assert_eq!(parse_time_zone("+05:30").unwrap(), 5 * HOUR + 30 * MINUTE);
        assert_eq!(parse_time_zone("-0100").unwrap(), -HOUR);
        assert!(parse_time_zone("Europe/Paris").is_err());
    }

    #[test]
    fn automatic_interval_is_the_smallest_that_fits() {
        let r = |ms: i64| Some((Timestamp(0), Timestamp(ms * 1_000_000 - 1_000_000)));
        assert_eq!(auto(r(HOUR), 60).to_string(), "1m");
        assert_eq!(auto(r(HOUR), 59).to_string(), "2m");
        assert_eq!(auto(r(DAY), 50).to_string(), "30m");
        assert_eq!(auto(r(15 * MINUTE), 100).to_string(), "10s");
        assert_eq!(auto(None, 10).to_string(), "1s");
    }
}
