//! The query DSL subset that log tools send, translated into the query language's syntax
//! tree ([`Node`]) and printed as query text, so it runs through the same parser and
//! compiler as every other query and no value can turn into syntax.
//!
//! | DSL | translation |
//! |---|---|
//! | `match_all`, `match_none` | everything, nothing |
//! | `match` on `message` | its words (split and lower-cased as the index does), OR'd or AND'd per `operator` |
//! | `match` elsewhere, `term` | the exact value |
//! | `match_phrase` | a phrase on `message`, the exact value elsewhere |
//! | `multi_match` | OR of `match` (or `match_phrase` for `type: phrase`) per field |
//! | `query_string` | the query language as is (`default_operator: AND`, the only one it has) |
//! | `terms`, `ids` | OR of exact values |
//! | `range` | a range; on `@timestamp` with date math (`now-15m`, `now/d`), `format` and rounding as in Elasticsearch |
//! | `exists`, `prefix`, `wildcard`, `regexp` | the same forms of the language |
//! | `bool` | AND of must/filter, NOT of must_not, should with `minimum_should_match` |
//!
//! Field names go through [`alias`]: names moved out of `fields` by the document mapping
//! resolve to where they went, a `.keyword` suffix is dropped. Any other key, option or
//! query type is a 400 naming it.

use super::error::EsError;
use super::mapping::{alias, epoch_scaled, parse_time_str};
use serde_json::{Map, Value};
use skein_model::Timestamp;
use skein_query::lang::ast::{Leaf, Node, Value as V, WildPart};
use skein_query::lang::parser;
use std::ops::Bound;

/// Largest number of `should` combinations `minimum_should_match` may expand to.
const MAX_COMBINATIONS: u64 = 256;

fn bad(reason: impl Into<String>) -> EsError {
    EsError::bad_request("parsing_exception", reason)
}

fn leaf(field: &str, value: V) -> Node {
    Node::Leaf(Leaf {
        field: Some(field.to_string()),
        value,
        pos: 0,
    })
}

/// The document with `_id` `id`: a client's id is kept in `fields._id`; a generated
/// one stands for the ingest order of a document sent without one
/// ([`skein_indexer::ids::generated_id`]).
pub fn id_node(id: &str) -> Node {
    let given = leaf("_id", V::Phrase(id.to_string()));
    match skein_indexer::ids::generated_ord(id) {
        None => given,
        Some(ord) => Node::Or(vec![
            given,
            Node::And(vec![
                leaf(
                    skein_indexer::schema::names::ORD,
                    V::Phrase(ord.to_string()),
                ),
                Node::Not(Box::new(leaf("_id", V::Exists))),
            ]),
        ]),
    }
}

fn nothing() -> Node {
    Node::Not(Box::new(Node::All))
}

fn and(mut items: Vec<Node>) -> Node {
    match items.len() {
        0 => Node::All,
        1 => items.pop().expect("one"),
        _ => Node::And(items),
    }
}

fn or(mut items: Vec<Node>) -> Node {
    match items.len() {
        0 => nothing(),
        1 => items.pop().expect("one"),
        _ => Node::Or(items),
    }
}

/// Translates a DSL query (the value of `query`); `now` anchors date math.
pub fn translate(q: &Value, now: Timestamp) -> Result<Node, EsError> {
    let obj = q.as_object().ok_or_else(|| {
        bad(format!(
            "a query is an object such as {{\"match_all\":{{}}}}, not {q}"
        ))
    })?;
    let mut it = obj.iter();
    let (Some((kind, body)), None) = (it.next(), it.next()) else {
        return Err(bad(format!(
            "a query object holds exactly one query type, found {}",
            obj.len()
        )));
    };
    match kind.as_str() {
        "match_all" => {
            options(kind, body, &["boost"])?;
            Ok(Node::All)
        }
        "match_none" => {
            options(kind, body, &["boost"])?;
            Ok(nothing())
        }
        "match" => {
            let (field, opts) = field_query(kind, body, "query")?;
            options_map(
                kind,
                &opts,
                &["query", "operator", "zero_terms_query", "boost", "lenient"],
            )?;
            let text = scalar(kind, opts.get("query"))?;
            match_text(
                &field,
                &text,
                operator(kind, &opts)?,
                zero_terms(kind, &opts)?,
            )
        }
        "match_phrase" => {
            let (field, opts) = field_query(kind, body, "query")?;
            options_map(kind, &opts, &["query", "slop", "boost", "zero_terms_query"])?;
            if opts.get("slop").and_then(Value::as_u64).unwrap_or(0) != 0 {
                return Err(EsError::unsupported("`match_phrase.slop` other than 0"));
            }
            Ok(phrase(&field, &scalar(kind, opts.get("query"))?))
        }
        "multi_match" => multi_match(body),
        "query_string" => query_string(body),
        "term" => {
            let (field, opts) = field_query(kind, body, "value")?;
            options_map(kind, &opts, &["value", "boost", "case_insensitive"])?;
            if opts.get("case_insensitive") == Some(&Value::Bool(true)) {
                return Err(EsError::unsupported("`term.case_insensitive: true`"));
            }
            Ok(term(&field, &scalar(kind, opts.get("value"))?))
        }
        "terms" => {
            let o = object(kind, body)?;
            let mut field = None;
            for (k, v) in o {
                match k.as_str() {
                    "boost" => {}
                    _ if field.is_some() => {
                        return Err(bad("`terms` takes one field and its list of values"))
                    }
                    _ => field = Some((k, v)),
                }
            }
            let (name, values) =
                field.ok_or_else(|| bad("`terms` needs a field and its values"))?;
            let values = values.as_array().ok_or_else(|| {
                EsError::unsupported(format!(
                    "`terms.{name}` as {values} (terms lookup); give a list of values"
                ))
            })?;
            let field = alias(name);
            values
                .iter()
                .map(|v| Ok(term(&field, &scalar(kind, Some(v))?)))
                .collect::<Result<Vec<_>, EsError>>()
                .map(or)
        }
        "ids" => {
            let o = object(kind, body)?;
            options_map(kind, o, &["values", "boost"])?;
            let values = o
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("`ids` needs `values`, a list of ids"))?;
            values
                .iter()
                .map(|v| Ok(id_node(&scalar(kind, Some(v))?)))
                .collect::<Result<Vec<_>, EsError>>()
                .map(or)
        }
        "range" => range(body, now),
        "exists" => {
            let o = object(kind, body)?;
            options_map(kind, o, &["field", "boost"])?;
            let f = o
                .get("field")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("`exists` needs `field`"))?;
            Ok(leaf(&alias(f), V::Exists))
        }
        "prefix" => {
            let (field, opts) = field_query(kind, body, "value")?;
            options_map(kind, &opts, &["value", "boost"])?;
            let mut parts: Vec<WildPart> = scalar(kind, opts.get("value"))?
                .chars()
                .map(WildPart::Lit)
                .collect();
            parts.push(WildPart::Any);
            Ok(wildcard_node(&field, parts))
        }
        "wildcard" => {
            let (field, opts) = field_query(kind, body, "value")?;
            options_map(kind, &opts, &["value", "wildcard", "boost"])?;
            let pattern = match opts.get("value").or_else(|| opts.get("wildcard")) {
                Some(v) => scalar(kind, Some(v))?,
                None => return Err(bad("`wildcard` needs `value`")),
            };
            Ok(wildcard_node(&field, wildcard_parts(&pattern)))
        }
        "regexp" => {
            let (field, opts) = field_query(kind, body, "value")?;
            options_map(kind, &opts, &["value", "flags", "boost"])?;
            if opts.get("flags").is_some_and(|f| f != "ALL" && f != "NONE") {
                return Err(EsError::unsupported(
                    "`regexp.flags` other than ALL or NONE",
                ));
            }
            Ok(leaf(&field, V::Regex(scalar(kind, opts.get("value"))?)))
        }
        "bool" => bool_query(body, now),
        // Scores are not ranked by (hits sort by time): the filter is the query.
        "constant_score" => {
            let o = object(kind, body)?;
            options_map(kind, o, &["filter", "boost", "_name"])?;
            let filter = o
                .get("filter")
                .ok_or_else(|| bad("`constant_score` needs a `filter` query"))?;
            translate(filter, now)
        }
        other => Err(EsError::unsupported(format!("the `{other}` query"))),
    }
}

fn object<'a>(kind: &str, v: &'a Value) -> Result<&'a Map<String, Value>, EsError> {
    v.as_object()
        .ok_or_else(|| bad(format!("`{kind}` takes an object, not {v}")))
}

fn options(kind: &str, v: &Value, allowed: &[&str]) -> Result<(), EsError> {
    options_map(kind, object(kind, v)?, allowed)
}

fn options_map(kind: &str, o: &Map<String, Value>, allowed: &[&str]) -> Result<(), EsError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(EsError::unsupported(format!("`{kind}.{k}`"))),
        None => Ok(()),
    }
}

/// `{"field": value}` or `{"field": {"<main>": value, …options}}`: the field (aliased)
/// and the options, with the short form's value under `main`.
fn field_query(
    kind: &str,
    body: &Value,
    main: &str,
) -> Result<(String, Map<String, Value>), EsError> {
    let o = object(kind, body)?;
    let mut it = o.iter().filter(|(k, _)| k.as_str() != "boost");
    let (Some((field, v)), None) = (it.next(), it.next()) else {
        return Err(bad(format!("`{kind}` takes exactly one field")));
    };
    let opts = match v {
        Value::Object(opts) => opts.clone(),
        short => {
            let mut m = Map::new();
            m.insert(main.to_string(), short.clone());
            m
        }
    };
    Ok((alias(field), opts))
}

/// A value as text: strings as they are, numbers and booleans as written.
fn scalar(kind: &str, v: Option<&Value>) -> Result<String, EsError> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(other) => Err(bad(format!(
            "`{kind}` takes a string, number or boolean value, not {other}"
        ))),
        None => Err(bad(format!("`{kind}` needs a value"))),
    }
}

fn operator(kind: &str, opts: &Map<String, Value>) -> Result<bool, EsError> {
    match opts
        .get("operator")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
    {
        None => Ok(false),
        Some(o) if o == "or" => Ok(false),
        Some(o) if o == "and" => Ok(true),
        Some(o) => Err(bad(format!("`{kind}.operator` is and or or, not {o}"))),
    }
}

fn zero_terms(kind: &str, opts: &Map<String, Value>) -> Result<bool, EsError> {
    match opts.get("zero_terms_query").and_then(Value::as_str) {
        None | Some("none") => Ok(false),
        Some("all") => Ok(true),
        Some(o) => Err(bad(format!(
            "`{kind}.zero_terms_query` is none or all, not {o}"
        ))),
    }
}

/// Words as `message` is indexed: runs of letters and digits, lower-cased; words over
/// 64 bytes are not indexed, so they cannot match and are left out.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() <= 64)
        .map(str::to_lowercase)
        .collect()
}

fn match_text(field: &str, text: &str, all: bool, zero_all: bool) -> Result<Node, EsError> {
    if field != "message" {
        return Ok(term(field, text));
    }
    let items: Vec<Node> = words(text)
        .into_iter()
        .map(|w| leaf("message", V::Word(w)))
        .collect();
    if items.is_empty() {
        return Ok(if zero_all { Node::All } else { nothing() });
    }
    Ok(if all { and(items) } else { or(items) })
}

fn phrase(field: &str, text: &str) -> Node {
    leaf(field, V::Phrase(text.to_string()))
}

fn term(field: &str, value: &str) -> Node {
    if field == "_id" {
        return id_node(value);
    }
    if field == "message" {
        // One word of the text (as Elasticsearch's term on a text field).
        let w = words(value);
        if w.len() == 1 {
            return leaf(field, V::Word(w[0].clone()));
        }
    }
    leaf(field, V::Phrase(value.to_string()))
}

fn wildcard_parts(pattern: &str) -> Vec<WildPart> {
    let mut parts = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        parts.push(match c {
            '*' => WildPart::Any,
            '?' => WildPart::One,
            '\\' => WildPart::Lit(chars.next().unwrap_or('\\')),
            c => WildPart::Lit(c),
        });
    }
    parts
}

/// A wildcard leaf in the form the parser would make of it.
fn wildcard_node(field: &str, parts: Vec<WildPart>) -> Node {
    if parts.iter().all(|p| *p == WildPart::Any) {
        return leaf(field, V::Exists);
    }
    if parts.iter().all(|p| matches!(p, WildPart::Lit(_))) {
        let s: String = parts
            .iter()
            .map(|p| match p {
                WildPart::Lit(c) => *c,
                _ => unreachable!(),
            })
            .collect();
        return leaf(field, V::Phrase(s));
    }
    leaf(field, V::Wildcard(parts))
}

fn multi_match(body: &Value) -> Result<Node, EsError> {
    let kind = "multi_match";
    let o = object(kind, body)?;
    options_map(
        kind,
        o,
        &[
            "query",
            "fields",
            "type",
            "operator",
            "zero_terms_query",
            "boost",
            "lenient",
        ],
    )?;
    let text = scalar(kind, o.get("query"))?;
    let fields: Vec<String> = match o.get("fields") {
        None => vec!["message".into()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|f| {
                let f = f
                    .as_str()
                    .ok_or_else(|| bad("`multi_match.fields` holds field names"))?;
                // Boosts (`message^2`) mean nothing without relevance ranking.
                let f = f.split('^').next().unwrap_or(f);
                if f == "*" || f == "_all" {
                    Ok("message".to_string())
                } else if f.contains('*') {
                    Err(EsError::unsupported(format!(
                        "the field pattern `{f}` in `multi_match.fields`; name the fields"
                    )))
                } else {
                    Ok(alias(f))
                }
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(bad(format!("`multi_match.fields` is a list, not {other}"))),
    };
    let phrase_type = match o.get("type").and_then(Value::as_str) {
        None | Some("best_fields" | "most_fields") => false,
        Some("phrase") => true,
        Some(t) => return Err(EsError::unsupported(format!("`multi_match.type: {t}`"))),
    };
    let all = operator(kind, o)?;
    let zero = zero_terms(kind, o)?;
    let mut items = Vec::new();
    for f in &fields {
        items.push(if phrase_type {
            phrase(f, &text)
        } else {
            match_text(f, &text, all, zero)?
        });
    }
    Ok(or(items))
}

fn query_string(body: &Value) -> Result<Node, EsError> {
    let kind = "query_string";
    let o = object(kind, body)?;
    options_map(
        kind,
        o,
        &[
            "query",
            "default_field",
            "fields",
            "default_operator",
            "analyze_wildcard",
            "allow_leading_wildcard",
            "lenient",
            "time_zone",
            "boost",
        ],
    )?;
    let q = o
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("`query_string.query` must be a string"))?;
    if let Some(f) = o.get("default_field").and_then(Value::as_str) {
        if !matches!(f, "*" | "message" | "_all") {
            return Err(EsError::unsupported(format!(
                "`query_string.default_field: {f}`; bare words search `message`, write `{f}:value` instead"
            )));
        }
    }
    if let Some(fields) = o.get("fields") {
        let ok = fields.as_array().is_some_and(|a| {
            a.iter()
                .all(|f| matches!(f.as_str(), Some("*" | "message" | "_all")))
        });
        if !ok {
            return Err(EsError::unsupported(
                "`query_string.fields` other than message; write `field:value` in the query instead",
            ));
        }
    }
    if let Some(op) = o.get("default_operator").and_then(Value::as_str) {
        if !op.eq_ignore_ascii_case("and") {
            return Err(EsError::unsupported(format!(
                "`query_string.default_operator: {op}`: skein's query language joins terms with AND; write OR between terms"
            )));
        }
    }
    check_time_zone(kind, o)?;
    let node = parser::parse(q).map_err(|e| {
        bad(format!(
            "invalid query {q:?}: at position {}: {}",
            e.pos, e.message
        ))
    })?;
    Ok(rename_fields(node))
}

/// Applies [`alias`] to every field of a parsed query.
pub fn rename_fields(node: Node) -> Node {
    match node {
        Node::Leaf(mut l) => {
            if let Some(f) = &l.field {
                l.field = Some(alias(f));
            }
            Node::Leaf(l)
        }
        Node::Not(inner) => Node::Not(Box::new(rename_fields(*inner))),
        Node::And(v) => Node::And(v.into_iter().map(rename_fields).collect()),
        Node::Or(v) => Node::Or(v.into_iter().map(rename_fields).collect()),
        Node::All => Node::All,
    }
}

fn check_time_zone(kind: &str, o: &Map<String, Value>) -> Result<(), EsError> {
    match o.get("time_zone").and_then(Value::as_str) {
        None | Some("UTC" | "Z" | "+00:00" | "Etc/UTC" | "GMT" | "+0000") => Ok(()),
        Some(tz) => Err(EsError::unsupported(format!(
            "`{kind}.time_zone: {tz}` (only UTC); send times with their offset instead"
        ))),
    }
}

const DATE_FORMATS: &[&str] = &[
    "strict_date_optional_time",
    "strict_date_optional_time_nanos",
    "date_optional_time",
    "strict_date_time",
    "date_time",
    "strict_date",
    "date",
    "iso8601",
    "epoch_millis",
    "epoch_second",
];

fn range(body: &Value, now: Timestamp) -> Result<Node, EsError> {
    let kind = "range";
    let (field, opts) = field_query(kind, body, "gte")?;
    options_map(
        kind,
        &opts,
        &[
            "gt",
            "gte",
            "lt",
            "lte",
            "format",
            "time_zone",
            "boost",
            "relation",
        ],
    )?;
    if opts
        .get("relation")
        .is_some_and(|r| r.as_str() != Some("intersects") && r.as_str() != Some("INTERSECTS"))
    {
        return Err(EsError::unsupported(
            "`range.relation` other than intersects",
        ));
    }
    check_time_zone(kind, &opts)?;
    let format = opts.get("format").and_then(Value::as_str);
    if let Some(f) = format {
        if let Some(bad_f) = f.split("||").find(|p| !DATE_FORMATS.contains(p)) {
            return Err(EsError::unsupported(format!(
                "the date format `{bad_f}`; use strict_date_optional_time, epoch_millis or epoch_second"
            )));
        }
    }
    let is_time = field == "@timestamp";
    if format.is_some() && !is_time {
        return Err(EsError::unsupported(format!(
            "`range.format` on `{field}`: only @timestamp is a date field"
        )));
    }
    let pick = |a: &str, b: &str| -> Result<Option<(bool, &Value)>, EsError> {
        match (opts.get(a), opts.get(b)) {
            (Some(_), Some(_)) => Err(bad(format!("`range` takes `{a}` or `{b}`, not both"))),
            (Some(v), None) => Ok(Some((false, v))),
            (None, Some(v)) => Ok(Some((true, v))),
            (None, None) => Ok(None),
        }
    };
    // (inclusive, value) per side.
    let lower = pick("gt", "gte")?;
    let upper = pick("lt", "lte")?;
    let bound = |side: Option<(bool, &Value)>, is_upper: bool| -> Result<Bound<String>, EsError> {
        let Some((incl, v)) = side else {
            return Ok(Bound::Unbounded);
        };
        if v.is_null() {
            return Ok(Bound::Unbounded);
        }
        if !is_time {
            let s = scalar(kind, Some(v))?;
            return Ok(if incl {
                Bound::Included(s)
            } else {
                Bound::Excluded(s)
            });
        }
        // Elasticsearch rounds `gt` and `lte` up (to the end of the rounded unit) and
        // `gte` and `lt` down; rounding up is the start of the next unit, exclusive
        // for `lte` and inclusive for `gt`.
        let round_up = incl == is_upper;
        let (t, rounded) = resolve_time(v, format, now, round_up)?;
        let s = t.to_rfc3339();
        Ok(match (rounded && round_up, incl) {
            (true, _) if is_upper => Bound::Excluded(s),
            (true, _) => Bound::Included(s),
            (false, true) => Bound::Included(s),
            (false, false) => Bound::Excluded(s),
        })
    };
    let lower = bound(lower, false)?;
    let upper = bound(upper, true)?;
    if lower == Bound::Unbounded && upper == Bound::Unbounded {
        return Ok(leaf(&field, V::Exists));
    }
    Ok(leaf(&field, V::Range { lower, upper }))
}

/// A time bound: the instant, and whether it was rounded up (then it is the start of the
/// unit after the rounded one).
fn resolve_time(
    v: &Value,
    format: Option<&str>,
    now: Timestamp,
    round_up: bool,
) -> Result<(Timestamp, bool), EsError> {
    let formats: Vec<&str> = format.map_or_else(
        || vec!["strict_date_optional_time", "epoch_millis"],
        |f| f.split("||").collect(),
    );
    let epoch = |n: &serde_json::Number| -> Option<Timestamp> {
        if formats.contains(&"epoch_millis") {
            epoch_scaled(n, 1_000_000)
        } else if formats.contains(&"epoch_second") {
            epoch_scaled(n, 1_000_000_000)
        } else {
            None
        }
    };
    let fail = |what: &str| {
        bad(format!(
            "failed to parse date field [{what}] with format [{}]: use RFC 3339, date math such as now-15m or now/d, or epoch milliseconds",
            formats.join("||")
        ))
    };
    match v {
        Value::Number(n) => {
            let t = epoch(n).ok_or_else(|| fail(&n.to_string()))?;
            Ok((t, false))
        }
        Value::String(s) => {
            let s = s.trim();
            // Epoch numbers sent as strings (a four-digit string is a year, as in
            // Elasticsearch's default `strict_date_optional_time||epoch_millis`).
            if s.len() > 4 {
                if let Some(t) = s.parse::<serde_json::Number>().ok().and_then(|n| epoch(&n)) {
                    return Ok((t, false));
                }
            }
            // Date math: `now…` or `<date>||…`, rounding when it ends in `/<unit>`.
            let is_math = s.starts_with("now") || s.contains("||");
            let rounding = is_math
                && s.rsplit_once('/').is_some_and(|(_, u)| {
                    matches!(u, "y" | "M" | "w" | "d" | "h" | "H" | "m" | "s")
                });
            if is_math {
                let expr = if round_up && rounding {
                    let unit = s.rsplit_once('/').map(|(_, u)| u).unwrap_or("d");
                    format!("{s}+1{unit}")
                } else {
                    s.to_string()
                };
                let t = Timestamp::parse_expr(&expr, now)
                    .map_err(|e| bad(format!("failed to parse date field [{s}]: {e}")))?;
                return Ok((t, round_up && rounding));
            }
            // A bare date rounds like `<date>||/d`.
            if s.len() == 10 && round_up {
                if let Some(t) = parse_time_str(s) {
                    return Ok((Timestamp(t.0 + 86_400_000_000_000), true));
                }
            }
            parse_time_str(s).map(|t| (t, false)).ok_or_else(|| fail(s))
        }
        other => Err(fail(&other.to_string())),
    }
}

fn clauses<'a>(kind: &str, v: Option<&'a Value>) -> Result<Vec<&'a Value>, EsError> {
    Ok(match v {
        None => Vec::new(),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        Some(other) => {
            return Err(bad(format!(
                "`bool.{kind}` is a query or a list, not {other}"
            )))
        }
    })
}

fn bool_query(body: &Value, now: Timestamp) -> Result<Node, EsError> {
    let o = object("bool", body)?;
    options_map(
        "bool",
        o,
        &[
            "must",
            "filter",
            "should",
            "must_not",
            "minimum_should_match",
            "boost",
        ],
    )?;
    let mut required = Vec::new();
    for k in ["must", "filter"] {
        for c in clauses(k, o.get(k))? {
            required.push(translate(c, now)?);
        }
    }
    let should: Vec<Node> = clauses("should", o.get("should"))?
        .into_iter()
        .map(|c| translate(c, now))
        .collect::<Result<_, _>>()?;
    let mut nots = Vec::new();
    for c in clauses("must_not", o.get("must_not"))? {
        nots.push(Node::Not(Box::new(translate(c, now)?)));
    }
    let k = should.len() as i64;
    let msm = match o.get("minimum_should_match") {
        None => i64::from(required.is_empty() && k > 0),
        Some(v) => minimum_should_match(v, k)?,
    };
    let msm = msm.clamp(0, k + 1);
    let mut items = required;
    if msm > k {
        items.push(nothing());
    } else if msm == 1 {
        items.push(or(should));
    } else if msm == k && k > 0 {
        items.extend(should);
    } else if msm > 1 {
        let combos = binomial(k as u64, msm as u64);
        if combos > MAX_COMBINATIONS {
            return Err(EsError::unsupported(format!(
                "`minimum_should_match: {msm}` over {k} should clauses ({combos} combinations; at most {MAX_COMBINATIONS})"
            )));
        }
        let mut alts = Vec::new();
        combinations(&should, msm as usize, 0, &mut Vec::new(), &mut alts);
        items.push(or(alts));
    }
    items.extend(nots);
    Ok(and(items))
}

/// `minimum_should_match` as a count of the `k` should clauses: `2`, `-1`, `"75%"`,
/// `"-25%"`.
fn minimum_should_match(v: &Value, k: i64) -> Result<i64, EsError> {
    let unsupported = || {
        EsError::unsupported(format!(
            "`minimum_should_match: {v}`; use a count (2, -1) or a percentage (\"75%\")"
        ))
    };
    let n = match v {
        Value::Number(n) => n.as_i64().ok_or_else(unsupported)?,
        Value::String(s) => {
            let s = s.trim();
            if let Some(p) = s.strip_suffix('%') {
                let p: i64 = p.parse().map_err(|_| unsupported())?;
                let n = k * p.abs() / 100;
                // "-25%": all but a quarter (rounded down) may be missing.
                return Ok(if p < 0 { k - n } else { n });
            } else {
                s.parse().map_err(|_| unsupported())?
            }
        }
        _ => return Err(unsupported()),
    };
    Ok(if n < 0 { k + n } else { n })
}

fn binomial(n: u64, k: u64) -> u64 {
    let k = k.min(n - k);
    let mut r: u64 = 1;
    for i in 0..k {
        r = r.saturating_mul(n - i) / (i + 1);
    }
    r
}

fn combinations(items: &[Node], k: usize, from: usize, cur: &mut Vec<Node>, out: &mut Vec<Node>) {
    if cur.len() == k {
        out.push(Node::And(cur.clone()));
        return;
    }
    for i in from..items.len() {
        if items.len() - i < k - cur.len() {
            break;
        }
        cur.push(items[i].clone());
        combinations(items, k, i + 1, cur, out);
        cur.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use skein_query::lang::print::to_query_string;

    const NOW: Timestamp = Timestamp(1_795_694_400_123_456_789); // 2026-11-26T12:00:00.123456789Z

    fn q(v: Value) -> String {
        to_query_string(&translate(&v, NOW).unwrap_or_else(|e| panic!("{v}: {}", e.reason)))
    }

    fn err(v: Value) -> String {
        translate(&v, NOW).expect_err(&v.to_string()).reason
    }

    #[test]
    fn each_query_type() {
        let cases = [
            (json!({"match_all": {}}), "*"),
            (
                json!({"constant_score": {"filter": {"term": {"f": "a"}}, "boost": 1.2}}),
                "f:\"a\"",
            ),
            (json!({"match_none": {}}), "NOT *"),
            (
                json!({"match": {"message": "Payment-FAILED now"}}),
                "message:payment OR message:failed OR message:now",
            ),
            (
                json!({"match": {"message": {"query": "a b", "operator": "and"}}}),
                "message:a AND message:b",
            ),
            (json!({"match": {"message": "..."}}), "NOT *"),
            (
                json!({"match": {"message": {"query": "...", "zero_terms_query": "all"}}}),
                "*",
            ),
            (
                json!({"match": {"service": "pay api"}}),
                "service:\"pay api\"",
            ),
            (
                json!({"match_phrase": {"message": "connection reset"}}),
                "message:\"connection reset\"",
            ),
            (json!({"term": {"level": "error"}}), "level:\"error\""),
            (
                json!({"term": {"status": {"value": 503}}}),
                "status:\"503\"",
            ),
            (
                json!({"term": {"kubernetes.pod_name.keyword": "pay-1"}}),
                "labels.io.kubernetes.pod.name:\"pay-1\"",
            ),
            (
                json!({"terms": {"container": ["a", "b"]}}),
                "container:\"a\" OR container:\"b\"",
            ),
            (json!({"ids": {"values": ["x"]}}), "_id:\"x\""),
            (json!({"exists": {"field": "user_id"}}), "_exists_:user_id"),
            (json!({"prefix": {"path": "/api"}}), "path:\\/api*"),
            (
                json!({"wildcard": {"container": {"value": "api-*"}}}),
                "container:api\\-*",
            ),
            (
                json!({"regexp": {"container": "api-[0-9]+"}}),
                "container:/api-[0-9]+/",
            ),
            (
                json!({"range": {"latency_ms": {"gte": 100, "lt": 500}}}),
                "latency_ms:[\"100\" TO \"500\"}",
            ),
            (
                json!({"multi_match": {"query": "timeout", "fields": ["message^2", "error"]}}),
                "message:timeout OR error:\"timeout\"",
            ),
            (
                json!({"query_string": {"query": "level:error AND kubernetes.namespace_name:shop"}}),
                "level:error AND labels.io.kubernetes.pod.namespace:shop",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(q(input.clone()), want, "{input}");
        }
    }

    #[test]
    fn time_ranges_with_math_formats_and_rounding() {
        let cases = [
            (json!({"range": {"@timestamp": {"gte": "now-15m"}}}), "@timestamp:[\"2026-11-26T11:45:00.123456789Z\" TO *]"),
            // gte rounds down, lte rounds up (to the next day's start, exclusive).
            (json!({"range": {"@timestamp": {"gte": "now/d", "lte": "now/d"}}}), "@timestamp:[\"2026-11-26T00:00:00.000000000Z\" TO \"2026-11-27T00:00:00.000000000Z\"}"),
            // gt rounds up (inclusive from the next unit), lt rounds down.
            (json!({"range": {"@timestamp": {"gt": "now-1d/d", "lt": "now/d"}}}), "@timestamp:[\"2026-11-26T00:00:00.000000000Z\" TO \"2026-11-26T00:00:00.000000000Z\"}"),
            (json!({"range": {"@timestamp": {"gte": 1700000000000u64, "lte": "1700000001000", "format": "epoch_millis"}}}), "@timestamp:[\"2023-11-14T22:13:20.000000000Z\" TO \"2023-11-14T22:13:21.000000000Z\"]"),
            (json!({"range": {"@timestamp": {"gte": 1700000000, "format": "epoch_second"}}}), "@timestamp:[\"2023-11-14T22:13:20.000000000Z\" TO *]"),
            (json!({"range": {"@timestamp": {"gte": "2026-11-20", "lte": "2026-11-20"}}}), "@timestamp:[\"2026-11-20T00:00:00.000000000Z\" TO \"2026-11-21T00:00:00.000000000Z\"}"),
            (json!({"range": {"@timestamp": {"gte": "2026-11-20T10:00:00Z||-1h", "lt": "2026-11-20T10:30:00+01:00", "format": "strict_date_optional_time||epoch_millis"}}}), "@timestamp:[\"2026-11-20T09:00:00.000000000Z\" TO \"2026-11-20T09:30:00.000000000Z\"}"),
        ];
        for (input, want) in cases {
            assert_eq!(q(input.clone()), want, "{input}");
        }
    }

    #[test]
    fn bool_combinations() {
        let t = |v: &str| json!({"term": {"f": v}});
        assert_eq!(
            q(
                json!({"bool": {"must": t("a"), "filter": [t("b")], "must_not": [t("c")], "should": [t("d")]}})
            ),
            "f:\"a\" AND f:\"b\" AND NOT f:\"c\""
        );
        assert_eq!(
            q(json!({"bool": {"should": [t("a"), t("b")]}})),
            "f:\"a\" OR f:\"b\""
        );
        assert_eq!(
            q(json!({"bool": {"should": [t("a"), t("b"), t("c")], "minimum_should_match": 2}})),
            "(f:\"a\" AND f:\"b\") OR (f:\"a\" AND f:\"c\") OR (f:\"b\" AND f:\"c\")"
        );
        assert_eq!(q(json!({"bool": {"must_not": t("a")}})), "NOT f:\"a\"");
        assert_eq!(q(json!({"bool": {}})), "*");
    }

    #[test]
    fn unsupported_parts_are_named() {
        for (input, want) in [
            (json!({"fuzzy": {"message": "x"}}), "the `fuzzy` query"),
            (
                json!({"match": {"message": {"query": "x", "fuzziness": 2}}}),
                "`match.fuzziness`",
            ),
            (
                json!({"match_phrase": {"message": {"query": "x y", "slop": 2}}}),
                "slop",
            ),
            (
                json!({"query_string": {"query": "a b", "default_operator": "OR"}}),
                "default_operator: OR",
            ),
            (
                json!({"query_string": {"query": "a", "default_field": "service"}}),
                "default_field: service",
            ),
            (
                json!({"range": {"@timestamp": {"gte": "now", "time_zone": "Europe/Paris"}}}),
                "time_zone: Europe/Paris",
            ),
            (
                json!({"range": {"@timestamp": {"gte": "x", "format": "dd/MM/yyyy"}}}),
                "date format `dd/MM/yyyy`",
            ),
            (
                json!({"bool": {"should": [{"match_all": {}}], "minimum_should_match": "2<75%"}}),
                "minimum_should_match",
            ),
            (
                json!({"terms": {"f": {"index": "i", "id": "1", "path": "p"}}}),
                "terms lookup",
            ),
            (
                json!({"match_all": {}, "term": {}}),
                "exactly one query type",
            ),
        ] {
            let e = err(input.clone());
            assert!(e.contains(want), "{input}: {e}");
        }
        assert!(err(json!({"range": {"@timestamp": {"gte": "yesterday"}}}))
            .contains("failed to parse date"));
        assert!(err(json!({"query_string": {"query": "a AND"}})).contains("position 6"));
    }

    /// Evaluates a translated query where every leaf is `f<i>:"x"`, given which of those
    /// hold.
    fn eval(n: &Node, truth: &[bool]) -> bool {
        match n {
            Node::All => true,
            Node::Not(i) => !eval(i, truth),
            Node::And(v) => v.iter().all(|x| eval(x, truth)),
            Node::Or(v) => v.iter().any(|x| eval(x, truth)),
            Node::Leaf(l) => {
                let f = l.field.as_deref().unwrap();
                truth[f[1..].parse::<usize>().unwrap()]
            }
        }
    }

    proptest! {
        /// `bool` keeps Elasticsearch's meaning: all of must/filter, none of must_not, and
        /// at least `minimum_should_match` of should (default 1 without must/filter, 0 with).
        #[test]
        fn bool_means_what_elasticsearch_means(
            n_must in 0usize..3, n_not in 0usize..2, n_should in 0usize..5,
            msm in prop::option::of(-4i64..6), pct in prop::option::of(-100i64..=100),
            truth in prop::collection::vec(any::<bool>(), 10),
        ) {
            let mut i = 0;
            let mut next = |n: usize| -> Vec<Value> {
                (0..n).map(|_| { i += 1; json!({"term": {format!("f{}", i - 1): "x"}}) }).collect()
            };
            let (must, not, should) = (next(n_must), next(n_not), next(n_should));
            let mut b = json!({"must": must, "must_not": not, "should": should});
            let k = n_should as i64;
            let want_msm = match (msm, pct) {
                (Some(m), _) => { b["minimum_should_match"] = json!(m); if m < 0 { k + m } else { m } }
                (None, Some(p)) => {
                    b["minimum_should_match"] = json!(format!("{p}%"));
                    let c = k * p.abs() / 100; if p < 0 { k - c } else { c }
                }
                (None, None) => i64::from(n_must == 0 && k > 0),
            };
            let node = translate(&json!({"bool": b}), NOW).unwrap();
            let holds = |r: std::ops::Range<usize>| r.map(|j| truth[j]).collect::<Vec<_>>();
            let musts = holds(0..n_must);
            let nots = holds(n_must..n_must + n_not);
            let shoulds = holds(n_must + n_not..n_must + n_not + n_should);
            let want = musts.iter().all(|x| *x)
                && !nots.iter().any(|x| *x)
                && shoulds.iter().filter(|x| **x).count() as i64 >= want_msm.max(0);
            prop_assert_eq!(eval(&node, &truth), want);
            // And the printed form parses back to the same meaning.
            let back = parser::parse(&to_query_string(&node)).unwrap();
            prop_assert_eq!(eval(&back, &truth), want);
        }
    }
}
