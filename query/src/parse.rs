//! The query string to a Tantivy query: see [`crate::lang`] for the language.
//!
//! Free terms and phrases search `message`; `field:value` matches the exact value of a
//! keyword field (`host`, `container`, `container_id`, `image`, `stream`, `level`), a
//! label (`labels.app:web`) or a payload field (`fields.user_id:42`, or just
//! `user_id:42`); `AND`, `OR`, `NOT`, `-`, `+`, parentheses, wildcards, `/regex/`,
//! ranges, `@timestamp` date math and `_exists_:` work as in Kibana's Lucene syntax.
//! An empty query or `*` matches everything.

use crate::lang::{compile::Compiler, parser};
use skein_model::Timestamp;
use tantivy::query::Query;
use tantivy::schema::Schema;
use thiserror::Error;

/// A query string that could not be understood.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid query {query:?}: {reason}")]
pub struct QueryError {
    /// What the user typed.
    pub query: String,
    /// What is wrong and where: `at position N: expected …`.
    pub reason: String,
    /// 1-based character position of the problem.
    pub position: usize,
}

/// Parses `q` against the partition schema, with date math relative to the current time.
pub fn parse_query(schema: &Schema, q: &str) -> Result<Box<dyn Query>, QueryError> {
    parse_query_at(schema, q, Timestamp::now())
}

/// Parses `q` against the partition schema; date math (`now-1h`) is relative to `now`.
pub fn parse_query_at(
    schema: &Schema,
    q: &str,
    now: Timestamp,
) -> Result<Box<dyn Query>, QueryError> {
    let err = |position: usize, message: String| QueryError {
        query: q.to_string(),
        reason: format!("at position {position}: {message}"),
        position,
    };
    let ast = parser::parse(q).map_err(|e| err(e.pos, e.message))?;
    Compiler::new(schema, now)
        .compile(&ast)
        .map_err(|e| err(e.pos, e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parses(q: &str) -> Result<(), QueryError> {
        parse_query(&skein_indexer::schema::build_schema().0, q).map(|_| ())
    }

    #[test]
    fn control_characters_in_field_names_are_refused() {
        for q in ["lev\0l:errkr", "a\u{1}b:>3", "labels.a\u{7f}:x"] {
            let e = parses(q).unwrap_err();
            assert!(e.reason.contains("control character"), "{e}");
        }
    }

    #[test]
    fn every_form_compiles() {
        for q in [
            "",
            "*",
            "timeout",
            "\"connection reset\"",
            "fields.user_id:42",
            "user_id:42",
            r#"fields.path:"/api/pay""#,
            r#"level:error AND (fields.path:"/api/v1/items/1" OR -fields.a.b:x)"#,
            "fields.latency_ms:[100 TO 500]",
            "fields.latency_ms:{100 TO 500}",
            "fields.latency_ms:>1000",
            "fields.latency_ms:<=1000",
            "timeout \"fields.path:x\"",
            "labels.com.docker.compose.service:web",
            "labels.com.docker.compose.service:w*",
            "labels.com.docker.compose.service:/w.b/",
            "container:api-* OR container:*-worker OR container:/api-[0-9]+/",
            "NOT stream:stderr",
            "@timestamp:>now-1h",
            "@timestamp:[2026-11-20 TO 2026-11-20T12:00:00Z}",
            "_exists_:fields.error AND _exists_:level",
            r"fields.path:\/api*",
            "tim?out OR /time.*/",
        ] {
            parses(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }

    #[test]
    fn unsupported_forms_say_where_and_why() {
        for (q, pos, msg) in [
            (
                "level:error fields.path:*items",
                13,
                "only a trailing wildcard",
            ),
            (
                "fields.path:/a.*/",
                1,
                "/regex/ is not supported on `fields.path`",
            ),
            ("container:/a[/", 1, "invalid regex"),
            ("x @timestamp:>yesterday", 3, "cannot parse time"),
            ("@timestamp:2026*", 1, "do not apply to @timestamp"),
            ("message:[a TO b]", 1, "ranges apply to"),
            ("fields:1", 1, "expected a path after `fields.`"),
            ("labels.:1", 1, "expected a path after `labels.`"),
        ] {
            let e = parses(q).expect_err(q);
            assert_eq!(e.position, pos, "{q}: {e}");
            assert!(e.reason.contains(msg), "{q}: {e}");
            assert!(e.reason.starts_with(&format!("at position {pos}: ")), "{e}");
        }
    }
}
