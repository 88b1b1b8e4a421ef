//! The query string to a Tantivy query.
//!
//! Free terms and phrases search `message`; `field:value` matches the exact value of a
//! keyword field (`host`, `container`, `container_id`, `image`, `stream`, `level`) or of
//! a JSON path (`fields.user_id:42`, `labels.app:web`). Terms are combined with AND
//! unless `OR` is written; `-term` and parentheses work as in Lucene. An empty
//! query or `*` matches everything.
//!
//! `fields` values are columns only (no inverted index), so an exact value on a
//! `fields.` path is rewritten into the one-value range `[v TO v]`, which Tantivy answers
//! by scanning the column.

use skein_indexer::schema::{self as skein_schema};
use tantivy::query::{AllQuery, Query, QueryParser};
use tantivy::schema::Schema;
use thiserror::Error;

/// A query string that could not be understood.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid query {query:?}: {reason}")]
pub struct QueryError {
    /// What the user typed.
    pub query: String,
    /// What is wrong, and where when known.
    pub reason: String,
}

/// Parses `q` against the partition schema.
pub fn parse_query(schema: &Schema, q: &str) -> Result<Box<dyn Query>, QueryError> {
    let trimmed = q.trim();
    if trimmed.is_empty() || trimmed == "*" {
        return Ok(Box::new(AllQuery));
    }
    let message = schema.get_field("message").expect("schema has message");
    let mut parser = QueryParser::new(schema.clone(), vec![message], skein_schema::tokenizers());
    parser.set_conjunction_by_default();
    parser
        .parse_query(&rewrite_fields_terms(trimmed))
        .map_err(|e| QueryError {
            query: q.to_string(),
            reason: describe(&e),
        })
}

fn describe(e: &tantivy::query::QueryParserError) -> String {
    use tantivy::query::QueryParserError as E;
    match e {
        E::SyntaxError(s) => format!("syntax error: {s}; check quotes, parentheses and `field:value` pairs"),
        E::FieldDoesNotExist(f) => format!(
            "unknown field `{f}`; use message, host, container, container_id, image, stream, level, fields.<name> or labels.<name>"
        ),
        other => other.to_string(),
    }
}

/// Rewrites `fields.<path>:<value>` (a bare word or a quoted string) into
/// `fields.<path>:[<value> TO <value>]`, leaving quoted text and ranges alone.
fn rewrite_fields_terms(q: &str) -> String {
    let b = q.as_bytes();
    let mut out = String::with_capacity(q.len() + 16);
    let mut i = 0;
    let mut token_start = true;
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            let end = quoted_end(b, i);
            out.push_str(&q[i..end]);
            i = end;
            token_start = false;
            continue;
        }
        if token_start && q[i..].starts_with("fields.") {
            let path_end = i + q[i..]
                .find(|ch: char| !(ch.is_alphanumeric() || "._-@".contains(ch)))
                .unwrap_or(q.len() - i);
            if b.get(path_end) == Some(&b':') {
                let v = path_end + 1;
                let value_end = match b.get(v) {
                    Some(b'"') => Some(quoted_end(b, v)),
                    Some(ch) if !b"[{<>(/ ".contains(ch) => Some(
                        v + q[v..]
                            .find(|ch: char| ch.is_whitespace() || ch == ')')
                            .unwrap_or(q.len() - v),
                    ),
                    _ => None,
                };
                if let Some(value_end) = value_end {
                    let value = &q[v..value_end];
                    out.push_str(&q[i..v]);
                    out.push_str(&format!("[{value} TO {value}]"));
                    i = value_end;
                    token_start = false;
                    continue;
                }
            }
        }
        token_start = c.is_ascii_whitespace() || b"(-+".contains(&c);
        let ch_len = q[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&q[i..i + ch_len]);
        i += ch_len;
    }
    out
}

/// Index just past the closing quote of the string opening at `start`.
fn quoted_end(b: &[u8], start: usize) -> usize {
    let mut j = start + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_fields_values_become_one_value_ranges() {
        assert_eq!(
            rewrite_fields_terms("fields.user_id:42"),
            "fields.user_id:[42 TO 42]"
        );
        assert_eq!(
            rewrite_fields_terms(r#"level:error AND (fields.path:"/api/pay" OR -fields.a.b:x)"#),
            r#"level:error AND (fields.path:["/api/pay" TO "/api/pay"] OR -fields.a.b:[x TO x])"#
        );
        for untouched in [
            "fields.latency_ms:[100 TO 500]",
            "fields.latency_ms:>1000",
            r#""fields.path:x" in a phrase"#,
            "myfields.x:1",
            "timeout",
        ] {
            assert_eq!(rewrite_fields_terms(untouched), untouched);
        }
    }
}
