//! Severity levels, normalised from the many spellings applications use.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A normalised log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Finest detail.
    Trace,
    /// Diagnostic detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that was handled.
    Warn,
    /// An operation failed.
    Error,
    /// The process cannot go on.
    Fatal,
}

impl Level {
    /// All levels, least severe first.
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    /// The canonical lower-case name (`"warn"`, `"error"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// Parses the spellings seen in the wild, case-insensitively: `WARNING`, `err`,
    /// `crit`, `notice`, syslog numbers `0`–`7`, and so on. `None` when unknown.
    pub fn parse_loose(s: &str) -> Option<Level> {
        let s = s.trim();
        if s.len() > 11 {
            return None;
        }
        let mut buf = [0u8; 11];
        for (d, c) in buf.iter_mut().zip(s.bytes()) {
            *d = c.to_ascii_lowercase();
        }
        Some(match &buf[..s.len()] {
            b"trace" | b"trc" | b"finest" | b"finer" | b"7" => Level::Trace,
            b"debug" | b"dbg" | b"fine" | b"verbose" | b"d" => Level::Debug,
            b"info" | b"inf" | b"information" | b"informational" | b"notice" | b"i" | b"6"
            | b"5" => Level::Info,
            b"warn" | b"warning" | b"wrn" | b"w" | b"4" => Level::Warn,
            b"error" | b"err" | b"e" | b"severe" | b"3" => Level::Error,
            b"fatal" | b"crit" | b"critical" | b"alert" | b"emerg" | b"emergency" | b"panic"
            | b"f" | b"0" | b"1" | b"2" => Level::Fatal,
            _ => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Level::parse_loose(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown level {s:?}; use one of trace, debug, info, warn, error, fatal"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_normalise() {
        assert_eq!(Level::parse_loose("WARNING"), Some(Level::Warn));
        assert_eq!(Level::parse_loose(" Err "), Some(Level::Error));
        assert_eq!(Level::parse_loose("crit"), Some(Level::Fatal));
        assert_eq!(Level::parse_loose("notice"), Some(Level::Info));
        assert_eq!(Level::parse_loose("bogus"), None);
        assert_eq!(Level::parse_loose("informationalx"), None);
        for l in Level::ALL {
            assert_eq!(Level::parse_loose(l.as_str()), Some(l));
        }
    }
}
