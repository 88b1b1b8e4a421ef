//! The query string to a Tantivy query.
//!
//! Free terms and phrases search `message`; `field:value` matches the exact value of a
//! keyword field (`host`, `container`, `container_id`, `image`, `stream`, `level`) or of
//! a JSON path (`fields.user_id:42`, `labels.app:web`). Terms are combined with AND
//! unless `OR` is written; `NOT`, `-term` and parentheses work as in Lucene. An empty
//! query or `*` matches everything.

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
    parser.parse_query(trimmed).map_err(|e| QueryError {
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
