//! One record as a line of output: `text` (coloured `container |` prefix, optional
//! timestamp), `json` (the record) or `raw` (the message only, like `docker logs`),
//! with the record's control characters escaped when asked ([`crate::escape`]).

use crate::escape::{visible, visible_json};
use skein_model::Record;
use std::borrow::Cow;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Prefixed, optionally coloured lines.
    Text,
    /// One JSON record per line.
    Json,
    /// The message only.
    Raw,
}

/// How lines look.
#[derive(Debug, Clone)]
pub struct Style {
    /// Output format.
    pub output: Output,
    /// ANSI colours.
    pub colour: bool,
    /// `container |` before each line.
    pub prefix: bool,
    /// Put the host in the prefix too.
    pub hosts: bool,
    /// RFC 3339 time before each message.
    pub timestamps: bool,
    /// Show control characters of the record escaped (stdout is a terminal and no
    /// `--raw-control`).
    pub escape: bool,
    /// Hosts seen so far: a second one turns `hosts` on.
    first_host: Option<String>,
    /// Widest prefix so far, to keep messages aligned.
    width: usize,
}

/// The colours of `docker compose logs`, in its order.
const PALETTE: [u8; 6] = [36, 33, 32, 35, 34, 31];

/// A line split so a caller can cut it to a width without breaking colour codes.
pub struct Line {
    /// The prefix without colour codes (may be empty).
    pub prefix: String,
    /// Its colour.
    pub colour: Option<u8>,
    /// The rest.
    pub body: String,
}

impl Line {
    /// The full line, coloured as styled.
    pub fn render(&self) -> String {
        match self.colour {
            Some(c) if !self.prefix.is_empty() => {
                format!("\x1b[{c}m{}\x1b[0m{}", self.prefix, self.body)
            }
            _ => format!("{}{}", self.prefix, self.body),
        }
    }
}

impl Style {
    /// A style; `hosts` can still turn on when a second host shows up.
    pub fn new(
        output: Output,
        colour: bool,
        prefix: bool,
        hosts: bool,
        timestamps: bool,
        escape: bool,
    ) -> Style {
        Style {
            output,
            colour,
            prefix,
            hosts,
            timestamps,
            escape,
            first_host: None,
            width: 0,
        }
    }

    /// `s` as it may be printed: escaped when the style says so. Newlines of messages
    /// stay (they are printed as lines, as before); in names they are escaped.
    fn text<'a>(&self, s: &'a str, keep_newlines: bool) -> Cow<'a, str> {
        if self.escape {
            visible(s, keep_newlines)
        } else {
            Cow::Borrowed(s)
        }
    }

    /// Formats `r` (no trailing newline).
    pub fn line(&mut self, r: &Record) -> Line {
        match self.output {
            Output::Json => {
                let json = r.to_json();
                Line {
                    prefix: String::new(),
                    colour: None,
                    body: if self.escape {
                        visible_json(&json).into_owned()
                    } else {
                        json
                    },
                }
            }
            Output::Raw => Line {
                prefix: String::new(),
                colour: None,
                body: self.text(&r.message, true).into_owned(),
            },
            Output::Text => {
                match &self.first_host {
                    None => self.first_host = Some(r.host.clone()),
                    Some(h) if *h != r.host => self.hosts = true,
                    _ => {}
                }
                let mut prefix = String::new();
                let mut colour = None;
                if self.prefix {
                    let container = self.text(&r.container, false);
                    let name = if self.hosts {
                        format!("{}/{container}", self.text(&r.host, false))
                    } else {
                        container.into_owned()
                    };
                    self.width = self.width.max(name.chars().count());
                    prefix = format!("{name:<w$} | ", w = self.width);
                    if self.colour {
                        colour = Some(PALETTE[(fnv(&name) % PALETTE.len() as u64) as usize]);
                    }
                }
                let mut body = String::new();
                if self.timestamps {
                    r.timestamp.write_rfc3339(&mut body);
                    body.push(' ');
                }
                body.push_str(&self.text(&r.message, true));
                Line {
                    prefix,
                    colour,
                    body,
                }
            }
        }
    }
}

/// A stable hash, so a container keeps its colour from one run to the next.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skein_model::Timestamp;

    fn rec(host: &str, container: &str, msg: &str) -> Record {
        let mut r = Record::new(Timestamp(0), msg);
        r.host = host.into();
        r.container = container.into();
        r
    }

    #[test]
    fn prefixes_colours_and_hosts() {
        let mut s = Style::new(Output::Text, true, true, false, true, false);
        let a = s.line(&rec("h1", "web", "hello")).render();
        assert_eq!(
            a,
            format!(
                "\x1b[{}mweb | \x1b[0m1970-01-01T00:00:00.000000000Z hello",
                PALETTE[(fnv("web") % 6) as usize]
            )
        );
        // A second host turns on host prefixes; widths only grow.
        let b = s.line(&rec("h2", "web", "x")).render();
        assert!(b.contains("h2/web | "), "{b}");
        let c = s.line(&rec("h1", "a", "y"));
        assert_eq!(c.prefix, "h1/a   | ");
        let mut plain = Style::new(Output::Raw, false, true, false, true, false);
        assert_eq!(
            plain.line(&rec("h", "web", "only this")).render(),
            "only this"
        );
        let mut none = Style::new(Output::Text, false, false, false, false, false);
        assert_eq!(none.line(&rec("h", "web", "m")).render(), "m");
    }

    #[test]
    fn every_output_escapes_record_controls_when_asked() {
        let evil = "\x1b]0;pwned\x07\x1b[2J\x1b[31mFAKE\nsecond\u{202e}line";
        let r = rec("h\x1b[1m", "web\x1b[5m", evil);
        for output in [Output::Text, Output::Raw, Output::Json] {
            let mut s = Style::new(output, true, true, true, false, true);
            let line = s.line(&r);
            let text = format!("{}{}", line.prefix, line.body);
            assert!(!text.contains('\x1b'), "{output:?}: {text:?}");
            assert!(!text.contains('\u{202e}'), "{output:?}: {text:?}");
            // The colour the CLI adds still reaches the terminal.
            if output == Output::Text {
                assert!(line.render().starts_with("\x1b["), "{:?}", line.render());
                assert!(text.starts_with("h\\x1b[1m/web\\x1b[5m | "), "{text:?}");
                assert!(text.ends_with("FAKE\nsecond\\u{202e}line"), "{text:?}");
            }
            let mut raw = Style::new(output, false, true, true, false, false);
            let line = raw.line(&r);
            assert!(line.body.contains("\x1b[2J") || output == Output::Json);
        }
        let mut json = Style::new(Output::Json, false, false, false, false, true);
        let back: serde_json::Value = serde_json::from_str(&json.line(&r).body).unwrap();
        assert_eq!(back["message"], evil);
    }
}
