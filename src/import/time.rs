//! The time a plain log line carries at its start, for `skein import`.
//!
//! Recognised without help (at the start of the line, after an optional syslog
//! priority `<N>` and an optional `[`):
//!
//! - RFC 3339 / ISO 8601, `T` or a space between date and time, `-` or `/` in the date,
//!   a fraction after `.` or `,` (`2026-11-20 10:00:00,123`), with or without a zone
//!   (`Z`, `+01:00`, `+0100`, ` UTC`);
//! - syslog's `Nov 20 10:00:00` (no year: `--year`, else the current year, or the one
//!   before when that would put the line in the future; a file running from December
//!   into January moves on a year);
//! - ctime as Apache's error log writes it, `Fri Nov 20 10:00:00 2026`;
//! - Android logcat's `11-20 10:00:00.123` (no year, as syslog);
//! - Unix time at the very start: 10 digits of seconds (with an optional fraction) or
//!   13 of milliseconds;
//! - anywhere in the first 200 bytes, the common log format of Apache and nginx access
//!   logs, `[20/Nov/2026:10:00:00 +0000]`.
//!
//! `--time-format` adds a chrono strftime format, tried first; a format without a year
//! gets one the way syslog times do. Times without a zone are in `--timezone` (local
//! time unless told otherwise).

use anyhow::{bail, Result};
use chrono::{
    DateTime, Datelike, FixedOffset, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};
use skein_model::Timestamp;

/// The zone of times written without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// This machine's local time (the `TZ` environment variable, else /etc/localtime).
    Local,
    /// A fixed offset from UTC.
    Fixed(FixedOffset),
}

impl Zone {
    /// Reads `local`, `UTC` (or `Z`), or an offset such as `+05:30` or `-0700`.
    pub fn parse(s: &str) -> Result<Zone> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") || t == "GMT" {
            return Ok(Zone::Fixed(FixedOffset::east_opt(0).expect("zero offset")));
        }
        match offset(t.as_bytes()) {
            Some((secs, n)) if n == t.len() => Ok(Zone::Fixed(
                FixedOffset::east_opt(secs).expect("offset within a day"),
            )),
            _ => bail!(
                "cannot understand time zone {s:?}; use local, UTC, or an offset such as +05:30"
            ),
        }
    }

    fn resolve(self, n: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            Zone::Fixed(o) => o.from_local_datetime(&n).single().map(|d| d.to_utc()),
            // A time repeated when clocks go back is taken the first time; one skipped
            // when they go forward is read an hour later, as the clock then showed.
            Zone::Local => Local
                .from_local_datetime(&n)
                .earliest()
                .or_else(|| {
                    Local
                        .from_local_datetime(&(n + chrono::Duration::hours(1)))
                        .earliest()
                })
                .map(|d| d.to_utc()),
        }
    }

    fn now_local(self, now: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Fixed(o) => now.with_timezone(&o).naive_local(),
            Zone::Local => now.with_timezone(&Local).naive_local(),
        }
    }
}

/// How one file's line times are read (see the module docs). It keeps the year of
/// year-less times from line to line, so make one per file.
#[derive(Debug, Clone)]
pub struct LineTimes {
    format: Option<Custom>,
    zone: Zone,
    now: DateTime<Utc>,
    /// `--year`: the year of the first year-less time.
    year: Option<i32>,
    /// The year year-less times get now, once the first one was read, and its month.
    yearless: Option<(i32, u32)>,
    /// Whether a year had to be guessed (no `--year`), for the notice.
    guessed_year: bool,
}

#[derive(Debug, Clone)]
struct Custom {
    format: String,
    /// The format names no year: the line is read with one put in front.
    add_year: bool,
}

/// The time found at the start of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// When.
    pub time: Timestamp,
}

impl LineTimes {
    /// Times read with `format` (chrono strftime) first when given, `year` for year-less
    /// times, `zone` for times without a zone; year guesses are relative to `now`.
    pub fn new(
        format: Option<&str>,
        year: Option<i32>,
        zone: Zone,
        now: DateTime<Utc>,
    ) -> LineTimes {
        LineTimes {
            format: format.map(|f| Custom {
                format: f.to_string(),
                add_year: ![
                    "%Y", "%y", "%G", "%g", "%C", "%s", "%+", "%c", "%D", "%F", "%x",
                ]
                .iter()
                .any(|d| f.contains(d)),
            }),
            zone,
            now,
            year,
            yearless: None,
            guessed_year: false,
        }
    }

    /// Checks a `--time-format` before any file is read, so a typo is an error up front
    /// rather than a file full of lines timed at the import.
    pub fn check_format(format: &str) -> Result<()> {
        let items: Vec<_> = chrono::format::StrftimeItems::new(format).collect();
        if items
            .iter()
            .any(|i| matches!(i, chrono::format::Item::Error))
        {
            bail!("--time-format {format:?} is not a valid strftime format (see chrono's strftime documentation: %Y-%m-%d %H:%M:%S, %b %e %T, %s…)");
        }
        Ok(())
    }

    /// The year that year-less times were given, when it was guessed rather than
    /// passed with `--year`.
    pub fn guessed_year(&self) -> Option<i32> {
        self.guessed_year
            .then(|| self.yearless.map(|(y, _)| y))
            .flatten()
    }

    /// The time at the start of `line`, if it carries one that can be read.
    pub fn parse(&mut self, line: &str) -> Option<Found> {
        if let Some(t) = self.custom(line) {
            return Some(Found { time: t });
        }
        let b = line.as_bytes();
        let mut s = b;
        // Syslog priority (RFC 3164 and 5424), and 5424's version.
        if s.first() == Some(&b'<') {
            let n = s[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if (1..=3).contains(&n) && s.get(1 + n) == Some(&b'>') {
                s = &s[2 + n..];
                if s.starts_with(b"1 ") {
                    s = &s[2..];
                }
            }
        }
        if s.first() == Some(&b'[') {
            s = &s[1..];
        }
        let t = self
            .iso(s)
            .or_else(|| self.syslog(s))
            .or_else(|| self.ctime(s))
            .or_else(|| self.logcat(s))
            .or_else(|| epoch(b))
            .or_else(|| self.clf_anywhere(b))?;
        Timestamp::from_datetime(&t).map(|time| Found { time })
    }

    fn custom(&mut self, line: &str) -> Option<Timestamp> {
        let c = self.format.clone()?;
        let (input, format) = if c.add_year {
            // Only the year is unknown; read the rest first to learn the month.
            let probe = format!("2000 {line}");
            let fmt = format!("%Y {}", c.format);
            let (month, day) = NaiveDateTime::parse_and_remainder(&probe, &fmt)
                .map(|(n, _)| (n.month(), n.day()))
                .or_else(|_| {
                    DateTime::parse_and_remainder(&probe, &fmt).map(|(d, _)| (d.month(), d.day()))
                })
                .ok()?;
            let year = self.year_for(month, day);
            (format!("{year} {line}"), fmt)
        } else {
            (line.to_string(), c.format.clone())
        };
        if let Ok((d, _)) = DateTime::parse_and_remainder(&input, &format) {
            return Timestamp::from_datetime(&d.to_utc());
        }
        if let Ok((n, _)) = NaiveDateTime::parse_and_remainder(&input, &format) {
            return Timestamp::from_datetime(&self.zone.resolve(n)?);
        }
        // A format with a date only.
        if let Ok((d, _)) = NaiveDate::parse_and_remainder(&input, &format) {
            return Timestamp::from_datetime(&self.zone.resolve(d.and_time(NaiveTime::MIN))?);
        }
        None
    }

    /// The year for a year-less time on `month`/`day`: `--year` or a guess for the
    /// first one, then the same year, moving on one when the month goes back by more
    /// than half a year (December to January).
    fn year_for(&mut self, month: u32, day: u32) -> i32 {
        let year = match self.yearless {
            None => match self.year {
                Some(y) => y,
                None => {
                    self.guessed_year = true;
                    let now = self.zone.now_local(self.now);
                    // A day still to come this year (a day of slack for zones): last year's.
                    if (month, day) > (now.month(), now.day() + 1) {
                        now.year() - 1
                    } else {
                        now.year()
                    }
                }
            },
            Some((y, last)) if month + 6 < last => y + 1,
            Some((y, _)) => y,
        };
        self.yearless = Some((year, month));
        year
    }

    fn iso(&self, s: &[u8]) -> Option<DateTime<Utc>> {
        if s.len() < 19 {
            return None;
        }
        let sep = s[4];
        if !(sep == b'-' || sep == b'/') || s[7] != sep || !(s[10] == b'T' || s[10] == b' ') {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(num(&s[0..4])? as i32, num(&s[5..7])?, num(&s[8..10])?)?;
        let (time, n) = clock(&s[11..])?;
        let rest = &s[11 + n..];
        let naive = date.and_time(time);
        match zone_suffix(rest) {
            Some(secs) => Some(naive.and_utc() - chrono::Duration::seconds(secs as i64)),
            None => self.zone.resolve(naive),
        }
    }

    fn syslog(&mut self, s: &[u8]) -> Option<DateTime<Utc>> {
        // `Nov 20 10:00:00`, the day space-padded or not.
        let month = month(s.get(..3)?)?;
        if s.get(3) != Some(&b' ') {
            return None;
        }
        let rest = &s[4..];
        let rest = rest.strip_prefix(b" ").unwrap_or(rest);
        let dn = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=2).contains(&dn) || rest.get(dn) != Some(&b' ') {
            return None;
        }
        let day = num(&rest[..dn])?;
        let (time, _) = clock(&rest[dn + 1..])?;
        let year = self.year_for(month, day);
        let date = NaiveDate::from_ymd_opt(year, month, day)?;
        self.zone.resolve(date.and_time(time))
    }

    fn ctime(&self, s: &[u8]) -> Option<DateTime<Utc>> {
        // `Fri Nov 20 10:00:00 2026` (Apache 2.4 adds a fraction to the seconds).
        let day_name = s.get(..4)?;
        if !day_name[..3].iter().all(u8::is_ascii_alphabetic) || day_name[3] != b' ' {
            return None;
        }
        let s = &s[4..];
        let month = month(s.get(..3)?)?;
        let rest = s.get(4..)?;
        let rest = rest.strip_prefix(b" ").unwrap_or(rest);
        let dn = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=2).contains(&dn) || rest.get(dn) != Some(&b' ') {
            return None;
        }
        let day = num(&rest[..dn])?;
        let (time, n) = clock(&rest[dn + 1..])?;
        let rest = &rest[dn + 1 + n..];
        let year = num(rest.strip_prefix(b" ")?.get(..4)?)? as i32;
        let date = NaiveDate::from_ymd_opt(year, month, day)?;
        self.zone.resolve(date.and_time(time))
    }

    fn logcat(&mut self, s: &[u8]) -> Option<DateTime<Utc>> {
        // `11-20 10:00:00.123`
        if s.len() < 14 || s[2] != b'-' || s[5] != b' ' {
            return None;
        }
        let month = num(&s[0..2])?;
        let day = num(&s[3..5])?;
        let (time, _) = clock(&s[6..])?;
        if !(1..=12).contains(&month) {
            return None;
        }
        let year = self.year_for(month, day);
        let date = NaiveDate::from_ymd_opt(year, month, day)?;
        self.zone.resolve(date.and_time(time))
    }

    fn clf_anywhere(&self, b: &[u8]) -> Option<DateTime<Utc>> {
        // `[20/Nov/2026:10:00:00 +0000]`, within the first 200 bytes.
        let head = &b[..b.len().min(200)];
        for i in memchr_iter(b'[', head) {
            let s = &b[i + 1..];
            if s.len() < 26 || s[2] != b'/' || s[6] != b'/' || s[11] != b':' {
                continue;
            }
            let (Some(day), Some(month), Some(year)) =
                (num(&s[0..2]), month(&s[3..6]), num(&s[7..11]))
            else {
                continue;
            };
            let Some((time, n)) = clock(&s[12..]) else {
                continue;
            };
            let Some(date) = NaiveDate::from_ymd_opt(year as i32, month, day) else {
                continue;
            };
            let naive = date.and_time(time);
            let rest = &s[12 + n..];
            return match zone_suffix(rest) {
                Some(secs) => Some(naive.and_utc() - chrono::Duration::seconds(secs as i64)),
                None => self.zone.resolve(naive),
            };
        }
        None
    }
}

fn memchr_iter(needle: u8, hay: &[u8]) -> impl Iterator<Item = usize> + '_ {
    hay.iter()
        .enumerate()
        .filter(move |(_, c)| **c == needle)
        .map(|(i, _)| i)
}

/// Unix time at the very start: 10 digits of seconds (2001 to 2286; an optional
/// fraction) or 13 of milliseconds, followed by the end of the line or a non-digit.
fn epoch(b: &[u8]) -> Option<DateTime<Utc>> {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let next = b.get(n);
    if next.is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let digits = std::str::from_utf8(&b[..n]).ok()?;
    match n {
        10 => {
            let secs: i64 = digits.parse().ok()?;
            let mut nanos = 0u32;
            if next == Some(&b'.') {
                let frac = &b[11..];
                let f = frac.iter().take_while(|c| c.is_ascii_digit()).count();
                if f > 0 {
                    let take = f.min(9);
                    nanos = num(&frac[..take])? * 10u32.pow(9 - take as u32);
                }
            }
            DateTime::from_timestamp(secs, nanos)
        }
        13 => DateTime::from_timestamp_millis(digits.parse().ok()?),
        _ => None,
    }
}

/// `HH:MM:SS` with an optional fraction after `.`, `,` or `:` (three digits, as
/// some Java formats write milliseconds); the time and the bytes it took.
fn clock(s: &[u8]) -> Option<(NaiveTime, usize)> {
    if s.len() < 8 || s[2] != b':' || s[5] != b':' {
        return None;
    }
    let (h, m, sec) = (num(&s[0..2])?, num(&s[3..5])?, num(&s[6..8])?);
    let mut n = 8;
    let mut nanos = 0;
    if let Some(&sep) = s.get(8) {
        let frac = &s[9..];
        let f = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        let ok = match sep {
            b'.' | b',' => f > 0,
            b':' => f == 3,
            _ => false,
        };
        if ok {
            let take = f.min(9);
            nanos = num(&frac[..take])? * 10u32.pow(9 - take as u32);
            n = 9 + f;
        }
    }
    // A leap second is kept as the last nanosecond chrono can hold of that minute.
    let time = if sec == 60 {
        NaiveTime::from_hms_nano_opt(h, m, 59, 1_000_000_000 + nanos.min(999_999_999))?
    } else {
        NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?
    };
    Some((time, n))
}

/// A zone right after a time: `Z`, `+01:00`, `+0100`, `+01`, optionally after one
/// space, or ` UTC` / ` GMT`; its offset in seconds east of UTC.
fn zone_suffix(s: &[u8]) -> Option<i32> {
    if s.first() == Some(&b'Z') && !s.get(1).is_some_and(u8::is_ascii_alphanumeric) {
        return Some(0);
    }
    let t = s.strip_prefix(b" ").unwrap_or(s);
    if (t.starts_with(b"UTC") || t.starts_with(b"GMT"))
        && !t.get(3).is_some_and(u8::is_ascii_alphanumeric)
    {
        return Some(0);
    }
    let (secs, n) = offset(t)?;
    (!t.get(n).is_some_and(u8::is_ascii_digit)).then_some(secs)
}

/// `+HH:MM`, `+HHMM` or `+HH` (or `-`); the offset in seconds and the bytes it took.
fn offset(s: &[u8]) -> Option<(i32, usize)> {
    let sign = match s.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h = num(s.get(1..3)?)? as i32;
    let (m, n) = if s.get(3) == Some(&b':') {
        (num(s.get(4..6)?)? as i32, 6)
    } else if s
        .get(3..5)
        .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    {
        (num(&s[3..5])? as i32, 5)
    } else {
        (0, 3)
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some((sign * (h * 3600 + m * 60), n))
}

fn num(d: &[u8]) -> Option<u32> {
    if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    d.iter().try_fold(0u32, |acc, c| {
        acc.checked_mul(10)?.checked_add((c - b'0') as u32)
    })
}

fn month(s: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let lower = [
        s.first()?.to_ascii_lowercase(),
        s.get(1)?.to_ascii_lowercase(),
        s.get(2)?.to_ascii_lowercase(),
    ];
    MONTHS
        .iter()
        .position(|m| **m == lower)
        .map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> Zone {
        Zone::parse("UTC").unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-25T12:00:00Z".parse().unwrap()
    }

    fn read(line: &str) -> Option<String> {
        LineTimes::new(None, None, utc(), now())
            .parse(line)
            .map(|f| f.time.to_string())
    }

    #[test]
    fn common_formats() {
        for (line, want) in [
            (
                "2026-11-20T10:00:00Z started",
                "2026-11-20T10:00:00.000000000Z",
            ),
            (
                "2026-11-20T10:00:00.123456789+01:00 x",
                "2026-11-20T09:00:00.123456789Z",
            ),
            (
                "2026-11-20 10:00:00,123 INFO x",
                "2026-11-20T10:00:00.123000000Z",
            ),
            (
                "2026-11-20 10:00:00.5 -0700 x",
                "2026-11-20T17:00:00.500000000Z",
            ),
            ("2026/11/20 10:00:00 x", "2026-11-20T10:00:00.000000000Z"),
            (
                "2016-09-28 04:30:30, Info  CBS",
                "2016-09-28T04:30:30.000000000Z",
            ),
            ("[2026-11-20 10:00:00] x", "2026-11-20T10:00:00.000000000Z"),
            (
                "2026-11-20 10:00:00 UTC x",
                "2026-11-20T10:00:00.000000000Z",
            ),
            (
                "Nov 20 10:00:00 host sshd[1]: x",
                "2026-11-20T10:00:00.000000000Z",
            ),
            (
                "Jul  1 09:00:55 host kernel[0]: x",
                "2026-07-01T09:00:55.000000000Z",
            ),
            (
                "<34>Nov  2 10:00:00 host x",
                "2026-11-02T10:00:00.000000000Z",
            ),
            (
                "<165>1 2026-11-20T10:00:00.003Z host app",
                "2026-11-20T10:00:00.003000000Z",
            ),
            (
                "[Sun Dec 04 04:47:44 2005] [notice] x",
                "2005-12-04T04:47:44.000000000Z",
            ),
            (
                "Fri Nov 20 10:00:00.250 2026 x",
                "2026-11-20T10:00:00.250000000Z",
            ),
            (
                "03-17 16:13:38.811  1702 D x",
                "2026-03-17T16:13:38.811000000Z",
            ),
            ("1763632800 x", "2025-11-20T10:00:00.000000000Z"),
            ("1763632800.25 x", "2025-11-20T10:00:00.250000000Z"),
            ("1763632800123", "2025-11-20T10:00:00.123000000Z"),
            (
                "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 2326",
                "2000-10-10T20:55:36.000000000Z",
            ),
            ("20171223-22:15:29:606|x", "none"),
            ("134681 node-246 unix.hw 1077804742", "none"),
            ("\tat com.example.Foo(Foo.java:1)", "none"),
            ("2026-13-20 10:00:00 bad month", "none"),
            ("", "none"),
        ] {
            assert_eq!(read(line).as_deref().unwrap_or("none"), want, "{line:?}");
        }
    }

    #[test]
    fn years_for_year_less_times() {
        // Without --year: this year, or last year's when that is in the future.
        assert_eq!(
            read("Dec 31 23:59:59 x").unwrap(),
            "2025-12-31T23:59:59.000000000Z"
        );
        assert_eq!(
            read("Nov 27 10:00:00 x").unwrap(),
            "2025-11-27T10:00:00.000000000Z"
        );
        assert_eq!(
            read("Nov 26 10:00:00 x").unwrap(),
            "2026-11-26T10:00:00.000000000Z"
        );
        let mut t = LineTimes::new(None, Some(2015), utc(), now());
        let times: Vec<String> = [
            "Dec 31 23:00:00 a",
            "Dec 31 23:59:59 b",
            "Jan  1 00:00:01 c",
        ]
        .iter()
        .map(|l| t.parse(l).unwrap().time.to_string())
        .collect();
        assert_eq!(
            times,
            [
                "2015-12-31T23:00:00.000000000Z",
                "2015-12-31T23:59:59.000000000Z",
                "2016-01-01T00:00:01.000000000Z"
            ]
        );
        assert_eq!(t.guessed_year(), None);
        let mut g = LineTimes::new(None, None, utc(), now());
        g.parse("Nov 20 10:00:00 x").unwrap();
        assert_eq!(g.guessed_year(), Some(2026));
    }

    #[test]
    fn custom_formats_and_zones() {
        let mut t = LineTimes::new(Some("%y%m%d %H%M%S"), None, utc(), now());
        assert_eq!(
            t.parse("081109 203615 148 INFO dfs.DataNode")
                .unwrap()
                .time
                .to_string(),
            "2008-11-09T20:36:15.000000000Z"
        );
        // Falls back to the built-in formats.
        assert!(t.parse("2026-11-20T10:00:00Z x").is_some());
        let mut t = LineTimes::new(Some("[%m.%d %H:%M:%S]"), Some(2016), utc(), now());
        assert_eq!(
            t.parse("[10.30 16:49:06] chrome.exe - proxy")
                .unwrap()
                .time
                .to_string(),
            "2016-10-30T16:49:06.000000000Z"
        );
        let mut t = LineTimes::new(
            Some("%Y%m%d-%H:%M:%S:%3f"),
            None,
            Zone::parse("+08:00").unwrap(),
            now(),
        );
        assert_eq!(
            t.parse("20171223-22:15:29:606|Step_LSC|30002312")
                .unwrap()
                .time
                .to_string(),
            "2017-12-23T14:15:29.606000000Z"
        );
        let mut t = LineTimes::new(Some("%d/%b/%Y:%H:%M:%S %z"), None, utc(), now());
        assert_eq!(
            t.parse("10/Oct/2000:13:55:36 -0700 x")
                .unwrap()
                .time
                .to_string(),
            "2000-10-10T20:55:36.000000000Z"
        );
        assert!(LineTimes::check_format("%Y-%m-%d %Q").is_err());
        assert!(LineTimes::check_format("%Y-%m-%d %H").is_ok());
        assert!(Zone::parse("+0530").is_ok());
        assert!(Zone::parse("Mars/Olympus").is_err());
    }
}
