//! How the query commands print for people: times in the local zone (or UTC) with the
//! offset shown, levels in Grafana's colours, and colour only on a terminal without
//! `NO_COLOR`.

use chrono::{DateTime, Local, Utc};
use skein_model::Timestamp;
use std::io::IsTerminal;

/// Output choices shared by the commands.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// ANSI colours on.
    pub color: bool,
    /// Times in UTC rather than the local zone.
    pub utc: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty (no-color.org).
    pub fn detect(utc: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: std::io::stdout().is_terminal() && !no_color,
            utc,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// The level padded to 5 columns, coloured as Grafana colours log levels.
    pub fn level(&self, level: &str) -> String {
        let code = match level {
            "fatal" | "critical" => "35",
            "error" => "31",
            "warn" => "33",
            "info" => "32",
            "debug" => "34",
            "trace" => "36",
            _ => "2",
        };
        self.paint(code, &format!("{level:<5}"))
    }

    /// Dimmed text, for secondary columns and footers.
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Bold text, for headers.
    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    /// A record time (RFC 3339) as `2026-11-25 10:43:24.123 +01:00`.
    pub fn time(&self, rfc3339: &str) -> String {
        match Timestamp::parse_rfc3339(rfc3339) {
            Ok(t) => self.timestamp(t, "%Y-%m-%d %H:%M:%S%.3f %:z"),
            Err(_) => rfc3339.to_string(),
        }
    }

    /// A bucket start given in epoch milliseconds, as `2026-11-25 10:43 +01:00`
    /// (seconds shown only when the interval is below a minute).
    pub fn bucket_time(&self, epoch_ms: i64, seconds: bool) -> String {
        let fmt = if seconds {
            "%Y-%m-%d %H:%M:%S %:z"
        } else {
            "%Y-%m-%d %H:%M %:z"
        };
        self.timestamp(Timestamp(epoch_ms.saturating_mul(1_000_000)), fmt)
    }

    fn timestamp(&self, t: Timestamp, fmt: &str) -> String {
        let utc: DateTime<Utc> = t.to_datetime();
        if self.utc {
            utc.format(fmt).to_string()
        } else {
            utc.with_timezone(&Local).format(fmt).to_string()
        }
    }
}

/// Columns of the terminal, when stdout is one.
pub fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills a winsize struct we own; nothing else is touched.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_col > 0).then_some(ws.ws_col as usize)
}

/// `n` with thousands separators: `12,345`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_output_is_readable() {
        let s = Style {
            color: false,
            utc: true,
        };
        assert_eq!(
            s.time("2026-11-25T10:43:24.123456789Z"),
            "2026-11-25 10:43:24.123 +00:00"
        );
        assert_eq!(
            s.bucket_time(1_795_132_800_000, false),
            "2026-11-20 00:00 +00:00"
        );
        assert_eq!(s.level("warn"), "warn ");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        let c = Style {
            color: true,
            utc: true,
        };
        assert_eq!(c.level("error"), "\x1b[31merror\x1b[0m");
    }
}
