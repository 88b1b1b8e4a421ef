//! `--redact` in the agent: the rules ([`skein_model::redact`]) applied to each event's
//! message and to the string values of its fields, after parsing and before encoding,
//! so that a secret reaches neither the spool on disk nor the wire.
//!
//! The source's metadata (host, container, image, labels) and the delivery identity are
//! not redacted: they come from the container runtime, not from what the application
//! wrote, are what records are found and grouped by, and are encoded once per source.

use crate::parse::payload::Payload;
use skein_model::redact::{Hits, Redactor};

/// The agent's rules and their counters, `skein_agent_redactions_total{rule}`.
#[derive(Debug)]
pub struct Redaction {
    redactor: Redactor,
    counters: Vec<metrics::Counter>,
}

impl Redaction {
    /// Takes `redactor`'s rules and registers a counter per rule with the installed
    /// metrics recorder, so that each shows on `/metrics` (at 0) from the start. Made
    /// before a recorder is installed, it counts nowhere.
    pub fn new(redactor: Redactor) -> Redaction {
        let counters = redactor
            .rule_names()
            .iter()
            .map(|name| metrics::counter!("skein_agent_redactions_total", "rule" => name.clone()))
            .collect();
        Redaction { redactor, counters }
    }

    /// The rules.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Redacts `payload`'s message and field values (nested ones too; keys stay) and
    /// counts what was replaced; answers how many replacements were made. A payload no
    /// rule matches is left as it was, without an allocation.
    pub fn payload(&self, payload: &mut Payload) -> u64 {
        let mut hits = Hits::default();
        self.redactor.redact_string(&mut payload.message, &mut hits);
        match &mut payload.raw_fields {
            // JSON payloads keep their other keys as text (the hot path): checked as
            // text and, only when something may match, rewritten as text.
            Some(raw) => {
                if self.redactor.may_match_json(raw) {
                    if let Some(redacted) = self.redactor.redact_json(raw, &[], &mut hits) {
                        *raw = redacted;
                    }
                }
            }
            None => {
                self.redactor.redact_fields(&mut payload.fields, &mut hits);
            }
        }
        for (rule, n) in hits.iter() {
            self.counters[rule].increment(n);
        }
        hits.total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::payload::{parse_str, PayloadConfig, PayloadKind};

    fn redaction() -> Redaction {
        Redaction::new(Redactor::from_args(&["bearer", "url-password", "card", "email"]).unwrap())
    }

    #[test]
    fn json_logfmt_and_plain_payloads() {
        let r = redaction();
        let config = PayloadConfig::default();

        let mut json = parse_str(
            r#"{"level":"info","msg":"login a@b.io","user":{"mail":"c@d.io","id":7},"card":"4111 1111 1111 1111","n":2.50}"#,
            &config,
        );
        assert_eq!(json.kind, PayloadKind::Json);
        assert!(
            json.raw_fields.is_some(),
            "the hot path keeps fields as text"
        );
        assert_eq!(r.payload(&mut json), 3);
        assert_eq!(json.message, "login [REDACTED:email]");
        assert_eq!(
            json.raw_fields.as_deref(),
            Some(
                r#"{"user":{"mail":"[REDACTED:email]","id":7},"card":"[REDACTED:card]","n":2.50}"#
            )
        );

        let mut logfmt = parse_str(
            r#"level=warn msg="db down" dsn="postgres://app:s3cret@db/shop" auth="Bearer abcdefgh12""#,
            &config,
        );
        assert_eq!(logfmt.kind, PayloadKind::Logfmt);
        assert_eq!(r.payload(&mut logfmt), 2);
        assert_eq!(
            logfmt.fields["dsn"],
            "postgres://app:[REDACTED:url-password]@db/shop"
        );
        assert_eq!(logfmt.fields["auth"], "Bearer [REDACTED:bearer]");

        let mut plain = parse_str("GET /x Authorization: Bearer eyJ0eXAiOiJKV1Qi", &config);
        assert_eq!(r.payload(&mut plain), 1);
        assert_eq!(
            plain.message,
            "GET /x Authorization: Bearer [REDACTED:bearer]"
        );

        let line = r#"{"msg":"ok","path":"/api/v1/items","status":200}"#;
        let mut clean = parse_str(line, &config);
        let before = clean.clone();
        assert_eq!(r.payload(&mut clean), 0);
        assert_eq!(clean, before);
    }
}
