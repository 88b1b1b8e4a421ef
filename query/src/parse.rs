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
use tantivy::query_grammar::{UserInputAst, UserInputBound, UserInputLeaf};
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
    let ast = tantivy::query_grammar::parse_query(trimmed).map_err(|_| QueryError {
        query: q.to_string(),
        reason: "syntax error; check quotes, parentheses and `field:value` pairs".into(),
    })?;
    parser
        .build_query_from_user_input_ast(rewrite_fields_terms(ast))
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

/// Rewrites each `fields.<path>:<value>` leaf (a word or a quoted string, not a prefix)
/// into the one-value range `[value TO value]`, which Tantivy answers from the column.
fn rewrite_fields_terms(ast: UserInputAst) -> UserInputAst {
    match ast {
        UserInputAst::Clause(clauses) => UserInputAst::Clause(
            clauses
                .into_iter()
                .map(|(occur, a)| (occur, rewrite_fields_terms(a)))
                .collect(),
        ),
        UserInputAst::Boost(a, boost) => {
            UserInputAst::Boost(Box::new(rewrite_fields_terms(*a)), boost)
        }
        UserInputAst::Leaf(leaf) => match *leaf {
            UserInputLeaf::Literal(lit)
                if !lit.prefix
                    && lit
                        .field_name
                        .as_deref()
                        .is_some_and(|f| f.starts_with("fields.")) =>
            {
                UserInputAst::Leaf(Box::new(UserInputLeaf::Range {
                    field: lit.field_name,
                    lower: UserInputBound::Inclusive(lit.phrase.clone()),
                    upper: UserInputBound::Inclusive(lit.phrase),
                }))
            }
            other => UserInputAst::Leaf(Box::new(other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parses(q: &str) -> Result<(), QueryError> {
        parse_query(&skein_indexer::schema::build_schema().0, q).map(|_| ())
    }

    #[test]
    fn exact_fields_values_parse() {
        for q in [
            "fields.user_id:42",
            r#"fields.path:"/api/pay""#,
            r#"level:error AND (fields.path:"/api/v1/items/1" OR -fields.a.b:x)"#,
            "fields.latency_ms:[100 TO 500]",
            "fields.latency_ms:>1000",
            "timeout \"fields.path:x\"",
        ] {
            parses(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
        assert!(parses("container:(").is_err());
    }
}
