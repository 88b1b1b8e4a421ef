//! The parsed query to a Tantivy query over the partition schema.
//!
//! | field | exact (`v`, `"v"`) | wildcard | `/regex/` | range | `_exists_` |
//! |---|---|---|---|---|---|
//! | bare value, `message` | words / phrase (Tantivy's parser) | [`wildcard`](super::wildcard) over words | regex over words | — | all |
//! | `host` … `level` | term | [`wildcard`](super::wildcard) on the term dictionary | regex on it | string range | column |
//! | `labels.<path>` | term (Tantivy's parser) | regex on the term dictionary | same | range | column |
//! | `fields.<path>`, other names | one-value range, scanned from the column | `abc*` only, as a string range | — | numeric / string range, from the column | column |
//! | `@timestamp` | that instant | — | — | RFC 3339 or date math | all |

use super::ast::{Leaf, Node, Value, WildPart};
use super::bool_column::BoolColumnQuery;
use super::wildcard::{Glob, WildcardQuery};
use skein_indexer::schema::{names, to_tantivy_time};
use skein_model::Timestamp;
use std::ops::Bound;
use tantivy::query::{
    AllQuery, BooleanQuery, ExistsQuery, Occur, Query, QueryParser, RangeQuery, RegexQuery,
    TermQuery,
};
use tantivy::query_grammar::{
    Delimiter, UserInputAst, UserInputBound, UserInputLeaf, UserInputLiteral,
};
use tantivy::schema::{Field, IndexRecordOption, Schema};
use tantivy::Term;

/// Why a parsed query cannot run: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// 1-based character position of the leaf at fault.
    pub pos: usize,
    /// What is wrong.
    pub message: String,
}

/// Compiles parsed queries for one schema; `now` anchors date math.
pub struct Compiler<'a> {
    schema: &'a Schema,
    parser: QueryParser,
    now: Timestamp,
}

/// Where a field name points.
enum Target {
    Message(Field),
    Keyword(Field, &'static str),
    Timestamp,
    /// `fields.<path>`: columns only.
    Fields(Field, String),
    /// `labels.<path>`: indexed.
    Labels(Field, String),
}

impl<'a> Compiler<'a> {
    /// A compiler for `schema`.
    pub fn new(schema: &'a Schema, now: Timestamp) -> Self {
        let message = schema.get_field("message").expect("schema has message");
        let mut parser = QueryParser::new(
            schema.clone(),
            vec![message],
            skein_indexer::schema::tokenizers(),
        );
        parser.set_conjunction_by_default();
        Compiler {
            schema,
            parser,
            now,
        }
    }

    fn field(&self, name: &str) -> Field {
        self.schema.get_field(name).expect("schema field")
    }

    /// Compiles `node`.
    pub fn compile(&self, node: &Node) -> Result<Box<dyn Query>, CompileError> {
        Ok(match node {
            Node::All => Box::new(AllQuery),
            Node::Leaf(leaf) => self.leaf(leaf)?,
            Node::Not(inner) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
                (Occur::MustNot, self.compile(inner)?),
            ])),
            Node::And(items) => {
                let mut clauses = Vec::with_capacity(items.len() + 1);
                for item in items {
                    clauses.push(match item {
                        Node::Not(inner) => (Occur::MustNot, self.compile(inner)?),
                        other => (Occur::Must, self.compile(other)?),
                    });
                }
                if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Node::Or(items) => Box::new(BooleanQuery::new(
                items
                    .iter()
                    .map(|i| Ok((Occur::Should, self.compile(i)?)))
                    .collect::<Result<Vec<_>, CompileError>>()?,
            )),
        })
    }

    fn resolve(&self, name: Option<&str>, pos: usize) -> Result<Target, CompileError> {
        let name = name.unwrap_or("message");
        // Tantivy ends JSON paths with control bytes (`\0`, `\x01`); no record field
        // name holds one, and Tantivy panics on a path that does.
        if let Some(c) = name.chars().find(|c| c.is_control()) {
            return Err(CompileError {
                pos,
                message: format!(
                    "field name {name:?} holds the control character {c:?}; field names are \
                     printable text"
                ),
            });
        }
        let path = |p: &str, root: &str| -> Result<String, CompileError> {
            if p.is_empty() {
                Err(CompileError {
                    pos,
                    message: format!("expected a path after `{root}.`, as in `{root}.name`"),
                })
            } else {
                Ok(p.to_string())
            }
        };
        Ok(if name == "message" {
            Target::Message(self.field("message"))
        } else if let Some(k) = names::KEYWORDS.iter().find(|k| **k == name) {
            Target::Keyword(self.field(k), k)
        } else if name == names::TIMESTAMP {
            Target::Timestamp
        } else if name == "fields" || name == "labels" {
            return Err(CompileError {
                pos,
                message: format!("expected a path after `{name}.`, as in `{name}.name`"),
            });
        } else if let Some(p) = name.strip_prefix("labels.") {
            Target::Labels(self.field("labels"), path(p, "labels")?)
        } else {
            // Any other name is a payload field: `user_id` = `fields.user_id`.
            let p = name.strip_prefix("fields.").unwrap_or(name);
            Target::Fields(self.field("fields"), path(p, "fields")?)
        })
    }

    fn leaf(&self, leaf: &Leaf) -> Result<Box<dyn Query>, CompileError> {
        let pos = leaf.pos;
        let fail = |message: String| CompileError { pos, message };
        if leaf.field.as_deref() == Some(names::ORD) {
            // The ingest order, which generated `_id`s stand for (`/es` `ids` queries).
            let ord = match &leaf.value {
                Value::Word(w) | Value::Phrase(w) => w.parse::<u64>().ok(),
                _ => None,
            }
            .ok_or_else(|| fail(format!("`{}` takes one whole number", names::ORD)))?;
            let t = Term::from_field_u64(self.field(names::ORD), ord);
            return Ok(Box::new(RangeQuery::new(
                Bound::Included(t.clone()),
                Bound::Included(t),
            )));
        }
        let target = self.resolve(leaf.field.as_deref(), pos)?;
        let wildcard_query =
            |parts: &[WildPart], field: Field| -> Result<Box<dyn Query>, CompileError> {
                Glob::new(parts)
                    .map(|g| Box::new(WildcardQuery::new(field, g)) as Box<dyn Query>)
                    .map_err(fail)
            };
        let regex_query = |pattern: &str, field: Field| -> Result<Box<dyn Query>, CompileError> {
            RegexQuery::from_pattern(pattern, field)
                .map(|q| Box::new(q) as Box<dyn Query>)
                .map_err(|e| fail(format!("invalid regex /{pattern}/: {e}")))
        };
        match (target, &leaf.value) {
            (Target::Message(_), Value::Word(w)) => self.tantivy_literal("message", w, false, pos),
            (Target::Message(_), Value::Phrase(w)) => self.tantivy_literal("message", w, true, pos),
            (Target::Message(f), Value::Wildcard(parts)) => {
                // Words are indexed lower-cased.
                let lower: Vec<WildPart> = parts
                    .iter()
                    .flat_map(|p| match p {
                        WildPart::Lit(c) => c.to_lowercase().map(WildPart::Lit).collect(),
                        other => vec![other.clone()],
                    })
                    .collect();
                wildcard_query(&lower, f)
            }
            (Target::Message(f), Value::Regex(r)) => regex_query(r, f),
            (Target::Message(_) | Target::Timestamp, Value::Exists) => Ok(Box::new(AllQuery)),
            (Target::Message(_), Value::Range { .. }) => Err(fail(
                "ranges apply to fields, labels, keyword fields and @timestamp, not to message text"
                    .into(),
            )),

            (Target::Keyword(f, "pattern"), Value::Word(w) | Value::Phrase(w)) => {
                Ok(pattern_query(f, w))
            }
            (Target::Keyword(f, _), Value::Word(w) | Value::Phrase(w)) => Ok(Box::new(
                TermQuery::new(Term::from_field_text(f, w), IndexRecordOption::Basic),
            )),
            (Target::Keyword(f, _), Value::Wildcard(parts)) => wildcard_query(parts, f),
            (Target::Keyword(f, _), Value::Regex(r)) => regex_query(r, f),
            (Target::Keyword(f, _), Value::Range { lower, upper }) => Ok(Box::new(RangeQuery::new(
                lower.as_ref().map(|v| Term::from_field_text(f, v)),
                upper.as_ref().map(|v| Term::from_field_text(f, v)),
            ))),
            (Target::Keyword(_, name), Value::Exists) => {
                Ok(Box::new(ExistsQuery::new(name.to_string(), false)))
            }

            (Target::Timestamp, Value::Word(w) | Value::Phrase(w)) => {
                let t = self.time(w, pos)?;
                Ok(time_range(Bound::Included(t.clone()), Bound::Included(t)))
            }
            (Target::Timestamp, Value::Range { lower, upper }) => Ok(time_range(
                self.time_bound(lower, pos)?,
                self.time_bound(upper, pos)?,
            )),
            (Target::Timestamp, Value::Wildcard(_) | Value::Regex(_)) => Err(fail(
                "wildcards and /regex/ do not apply to @timestamp; use a range such as `@timestamp:>now-1h` or `@timestamp:[2026-11-20 TO now]`".into(),
            )),

            (Target::Labels(_, p), Value::Word(w)) => {
                self.tantivy_literal(&format!("labels.{p}"), w, false, pos)
            }
            (Target::Labels(_, p), Value::Phrase(w)) => {
                self.tantivy_literal(&format!("labels.{p}"), w, true, pos)
            }
            (Target::Labels(f, p), Value::Wildcard(parts)) => {
                regex_query(&json_str_regex(f, &p, &wildcard_regex(parts)), f)
            }
            (Target::Labels(f, p), Value::Regex(r)) => {
                // Check the user's pattern alone first, so errors point at it.
                regex_query(r, f)?;
                regex_query(&json_str_regex(f, &p, &format!("(?:{r})")), f)
            }
            (Target::Labels(_, p), Value::Range { lower, upper }) => {
                self.tantivy_range(&format!("labels.{p}"), lower, upper, pos)
            }
            (Target::Labels(_, p), Value::Exists) => {
                Ok(Box::new(ExistsQuery::new(format!("labels.{p}"), true)))
            }

            // `fields` are columns without an inverted index: exact values are one-value
            // ranges, which Tantivy answers by scanning the column. A bare `true` or
            // `false` is the boolean or the text; quoted, only the text.
            (Target::Fields(f, p), Value::Word(w)) if w == "true" || w == "false" => {
                Ok(Box::new(BooleanQuery::union(vec![
                    Box::new(BoolColumnQuery::new(format!("fields.{p}"), w == "true")),
                    string_exact_range(f, &p, w),
                ])))
            }
            (Target::Fields(f, p), Value::Phrase(w)) if w == "true" || w == "false" => {
                Ok(string_exact_range(f, &p, w))
            }
            (Target::Fields(_, p), Value::Word(w) | Value::Phrase(w)) => {
                let b = Bound::Included(w.clone());
                self.tantivy_range(&format!("fields.{p}"), &b, &b, pos)
            }
            (Target::Fields(f, p), Value::Wildcard(parts)) => {
                match Value::trailing_wildcard_prefix(parts) {
                    Some(prefix) => Ok(string_prefix_range(f, &p, &prefix)),
                    None => Err(fail(format!(
                        "`fields.{p}` takes only a trailing wildcard (`abc*`): payload fields are columns without an index, so leading or inner wildcards are not supported there; use an exact value, a range or `abc*`"
                    ))),
                }
            }
            (Target::Fields(_, p), Value::Regex(_)) => Err(fail(format!(
                "/regex/ is not supported on `fields.{p}`: payload fields are columns without an index; use an exact value, a range or a trailing wildcard (`abc*`)"
            ))),
            (Target::Fields(_, p), Value::Range { lower, upper }) => {
                self.tantivy_range(&format!("fields.{p}"), lower, upper, pos)
            }
            (Target::Fields(_, p), Value::Exists) => {
                Ok(Box::new(ExistsQuery::new(format!("fields.{p}"), true)))
            }
        }
    }

    fn time(&self, s: &str, pos: usize) -> Result<Term, CompileError> {
        let t = Timestamp::parse_expr(s, self.now).map_err(|e| CompileError {
            pos,
            message: e.to_string(),
        })?;
        Ok(Term::from_field_date(
            self.field(names::TIMESTAMP),
            to_tantivy_time(t),
        ))
    }

    fn time_bound(&self, b: &Bound<String>, pos: usize) -> Result<Bound<Term>, CompileError> {
        Ok(match b {
            Bound::Included(s) => Bound::Included(self.time(s, pos)?),
            Bound::Excluded(s) => Bound::Excluded(self.time(s, pos)?),
            Bound::Unbounded => Bound::Unbounded,
        })
    }

    /// One leaf through Tantivy's query parser (text analysis, JSON value typing).
    fn tantivy_leaf(
        &self,
        leaf: UserInputLeaf,
        pos: usize,
    ) -> Result<Box<dyn Query>, CompileError> {
        self.parser
            .build_query_from_user_input_ast(UserInputAst::Leaf(Box::new(leaf)))
            .map_err(|e| CompileError {
                pos,
                message: e.to_string(),
            })
    }

    fn tantivy_literal(
        &self,
        field: &str,
        phrase: &str,
        quoted: bool,
        pos: usize,
    ) -> Result<Box<dyn Query>, CompileError> {
        self.tantivy_leaf(
            UserInputLeaf::Literal(UserInputLiteral {
                field_name: Some(field.to_string()),
                phrase: phrase.to_string(),
                delimiter: if quoted {
                    Delimiter::DoubleQuotes
                } else {
                    Delimiter::None
                },
                slop: 0,
                prefix: false,
            }),
            pos,
        )
    }

    fn tantivy_range(
        &self,
        field: &str,
        lower: &Bound<String>,
        upper: &Bound<String>,
        pos: usize,
    ) -> Result<Box<dyn Query>, CompileError> {
        let conv = |b: &Bound<String>| match b {
            Bound::Included(v) => UserInputBound::Inclusive(v.clone()),
            Bound::Excluded(v) => UserInputBound::Exclusive(v.clone()),
            Bound::Unbounded => UserInputBound::Unbounded,
        };
        self.tantivy_leaf(
            UserInputLeaf::Range {
                field: Some(field.to_string()),
                lower: conv(lower),
                upper: conv(upper),
            },
            pos,
        )
    }
}

fn time_range(lower: Bound<Term>, upper: Bound<Term>) -> Box<dyn Query> {
    Box::new(RangeQuery::new(lower, upper))
}

/// A wildcard pattern as a regex matching the whole value.
fn wildcard_regex(parts: &[WildPart]) -> String {
    let mut s = String::new();
    for p in parts {
        match p {
            WildPart::Any => s.push_str(".*"),
            WildPart::One => s.push('.'),
            WildPart::Lit(c) => s.push_str(&escape_char(*c)),
        }
    }
    s
}

fn escape_char(c: char) -> String {
    if c.is_alphanumeric() {
        c.to_string()
    } else {
        format!("\\x{{{:x}}}", c as u32)
    }
}

/// A regex over a JSON field's term dictionary matching string values at `path` that
/// match `value_regex`: the term is the encoded path, the end-of-path byte, the string
/// type code, then the value.
fn json_str_regex(f: Field, path: &str, value_regex: &str) -> String {
    let mut t = Term::from_field_json_path(f, path, true);
    t.append_type_and_str("");
    let prefix = String::from_utf8_lossy(t.serialized_value_bytes()).into_owned();
    let mut s: String = prefix.chars().map(escape_char).collect();
    s.push_str(value_regex);
    s
}

/// String values of `fields.<path>` starting with `prefix`, as a range over the column.
/// The term of the text `v` at `path` of the JSON field `f`.
fn json_text_term(f: Field, path: &str, v: &str) -> Term {
    let mut t = Term::from_field_json_path(f, path, true);
    t.append_type_and_str(v);
    t
}

/// The records whose text at `path` is exactly `v`, whatever `v` looks like.
fn string_exact_range(f: Field, path: &str, v: &str) -> Box<dyn Query> {
    let t = json_text_term(f, path, v);
    Box::new(RangeQuery::new(
        Bound::Included(t.clone()),
        Bound::Included(t),
    ))
}

fn string_prefix_range(f: Field, path: &str, prefix: &str) -> Box<dyn Query> {
    let term = |v: &str| json_text_term(f, path, v);
    // The smallest string above every string that starts with `prefix`.
    let mut succ: Vec<char> = prefix.chars().collect();
    let upper = loop {
        match succ.pop() {
            None => break Bound::Unbounded,
            Some(c) => {
                if let Some(n) = (c as u32 + 1..=char::MAX as u32).find_map(char::from_u32) {
                    succ.push(n);
                    break Bound::Excluded(term(&succ.iter().collect::<String>()));
                }
            }
        }
    };
    Box::new(RangeQuery::new(Bound::Included(term(prefix)), upper))
}

/// `pattern:ID`: the records stored under `ID` and under every id merged with it
/// ([`skein_indexer::patterns::equivalents`]).
fn pattern_query(field: Field, value: &str) -> Box<dyn Query> {
    let term = |v: &str| -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, v),
            IndexRecordOption::Basic,
        ))
    };
    let ids = value
        .parse()
        .ok()
        .and_then(skein_indexer::patterns::equivalents);
    match ids {
        Some(ids) => Box::new(BooleanQuery::new(
            ids.iter()
                .map(|id| (Occur::Should, term(&id.to_string())))
                .collect(),
        )),
        None => term(value),
    }
}
