//! The query language: Lucene style, as typed in Kibana's search bar.
//!
//! - [`ast`]: what a query says, independent of the index.
//! - [`parser`]: the query string to an [`ast::Node`], with errors that name the
//!   character position and what was expected there.
//! - [`compile`]: an [`ast::Node`] to a Tantivy query over the partition schema. Leaves
//!   that Tantivy's own query parser handles well (text, JSON values and ranges) are
//!   handed to it; the rest (negation, wildcards, regexes, time ranges) is built here.
//! - [`wildcard`]: `*`/`?` patterns matched over a term dictionary in linear time.
//! - [`bool_column`]: `fields.x:true`, a scan of a boolean column.
//! - [`print`](mod@print): an [`ast::Node`] back to query text, escaped so that it parses back to
//!   the same tree; other query forms (the Elasticsearch DSL) are translated through it.

pub mod ast;
pub mod bool_column;
pub mod compile;
pub mod parser;
pub mod print;
pub mod wildcard;
