//! Deciding whether a live record matches a follower's query without the index.
//!
//! Records on the live feed are not searchable yet, so the query runs against them in
//! memory. The common forms (keyword fields, words and phrases of `message`, wildcards,
//! regexes, labels, `@timestamp` ranges, `AND`/`OR`/`NOT`) are evaluated directly, with
//! the index's own tokenizer so a word matches live exactly when it matches in history.
//! Forms whose meaning depends on how Tantivy types values (`fields.*`, label ranges) are
//! answered by Tantivy itself over a small in-memory index of the batch
//! ([`BatchIndex`]), built at most once per batch and only when such a follower exists.

use crate::lang::ast::{Leaf, Node, Value, WildPart};
use crate::lang::parser;
use crate::parse::QueryError;
use regex::Regex;
use skein_indexer::patterns::canonical;
use skein_indexer::schema::{self, names, Fields, TEXT_TOKENIZER};
use skein_model::PatternId;
use skein_model::{Record, Timestamp};
use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Bound;
use tantivy::collector::DocSetCollector;
use tantivy::query::Query;
use tantivy::schema::Schema;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexWriter, Searcher};

/// Keyword values longer than this are not indexed, so they never match a term.
const MAX_KEYWORD_BYTES: usize = 1024;

/// A follower's query, ready to test live records.
pub struct LiveMatcher {
    kind: Kind,
    text: TextAnalyzer,
}

enum Kind {
    Direct(Cond),
    /// Needs Tantivy: the compiled query, run over a [`BatchIndex`].
    Indexed(Box<dyn Query>),
}

#[derive(Clone, Copy)]
enum Keyword {
    Host,
    Container,
    ContainerId,
    Image,
    Stream,
    Level,
    Pattern,
}

enum Cond {
    All,
    Nothing,
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    KeywordEq(Keyword, String),
    /// `pattern:ID`: the record's pattern is `ID` or was merged with it (asked at each
    /// record, so a merge during a long follow counts at once).
    Pattern(PatternId),
    KeywordRegex(Keyword, Regex),
    KeywordRange(Keyword, Bound<String>, Bound<String>),
    KeywordExists(Keyword),
    /// Words at relative positions, all present in a row (one word: anywhere).
    Words(Vec<(usize, String)>),
    /// Some word of `message` matches the regex whole.
    WordRegex(Regex),
    LabelEq(String, String),
    LabelRegex(String, Regex),
    LabelExists(String),
    Time(Bound<i64>, Bound<i64>),
}

impl LiveMatcher {
    /// Compiles `q` (validated as the index would) with date math relative to `now`.
    pub fn new(schema: &Schema, q: &str, now: Timestamp) -> Result<LiveMatcher, QueryError> {
        let query = crate::parse::parse_query_at(schema, q, now)?;
        let text = schema::tokenizers()
            .get(TEXT_TOKENIZER)
            .expect("the text tokenizer is registered");
        let ast = parser::parse(q).expect("parsed once already");
        let mut analyzer = text.clone();
        let kind = match direct(&ast, now, &mut analyzer) {
            Some(c) => Kind::Direct(c),
            None => Kind::Indexed(query),
        };
        Ok(LiveMatcher { kind, text })
    }

    /// Whether this matcher needs the batch's in-memory index.
    pub fn needs_index(&self) -> bool {
        matches!(self.kind, Kind::Indexed(_))
    }

    /// The positions in `records` that match; `index` must be given when
    /// [`needs_index`](Self::needs_index) says so.
    pub fn matching(&mut self, records: &[Record], index: Option<&BatchIndex>) -> Vec<u32> {
        match &self.kind {
            Kind::Direct(c) => {
                let text = &mut self.text;
                records
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| eval(c, r, text))
                    .map(|(i, _)| i as u32)
                    .collect()
            }
            Kind::Indexed(q) => match index {
                Some(ix) => ix.matching(q.as_ref()),
                None => Vec::new(),
            },
        }
    }
}

fn keyword(name: &str) -> Option<Keyword> {
    Some(match name {
        "host" => Keyword::Host,
        "container" => Keyword::Container,
        "container_id" => Keyword::ContainerId,
        "image" => Keyword::Image,
        "stream" => Keyword::Stream,
        "level" => Keyword::Level,
        "pattern" => Keyword::Pattern,
        _ => return None,
    })
}

fn keyword_value(k: Keyword, r: &Record) -> Cow<'_, str> {
    Cow::Borrowed(match k {
        Keyword::Host => &r.host,
        Keyword::Container => &r.container,
        Keyword::ContainerId => &r.container_id,
        Keyword::Image => &r.image,
        Keyword::Stream => &r.stream,
        Keyword::Level => r.level.map_or("", |l| l.as_str()),
        Keyword::Pattern => {
            return r
                .pattern
                .map_or(Cow::Borrowed(""), |p| p.to_string().into())
        }
    })
}

fn wildcard_regex(parts: &[WildPart]) -> String {
    let mut s = String::new();
    for p in parts {
        match p {
            WildPart::Any => s.push_str(".*"),
            WildPart::One => s.push('.'),
            WildPart::Lit(c) => s.push_str(&regex::escape(&c.to_string())),
        }
    }
    s
}

fn whole(pattern: &str) -> Option<Regex> {
    Regex::new(&format!("^(?:{pattern})$")).ok()
}

fn tokens(text: &mut TextAnalyzer, s: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut stream = text.token_stream(s);
    stream.process(&mut |t| out.push((t.position, t.text.clone())));
    out
}

/// The in-memory form of `node`, or `None` when some part needs Tantivy.
fn direct(node: &Node, now: Timestamp, text: &mut TextAnalyzer) -> Option<Cond> {
    Some(match node {
        Node::All => Cond::All,
        Node::And(items) => Cond::And(
            items
                .iter()
                .map(|i| direct(i, now, text))
                .collect::<Option<_>>()?,
        ),
        Node::Or(items) => Cond::Or(
            items
                .iter()
                .map(|i| direct(i, now, text))
                .collect::<Option<_>>()?,
        ),
        Node::Not(inner) => Cond::Not(Box::new(direct(inner, now, text)?)),
        Node::Leaf(leaf) => direct_leaf(leaf, now, text)?,
    })
}

fn direct_leaf(leaf: &Leaf, now: Timestamp, text: &mut TextAnalyzer) -> Option<Cond> {
    let name = leaf.field.as_deref().unwrap_or("message");
    if name == "message" {
        return Some(match &leaf.value {
            Value::Word(w) | Value::Phrase(w) => {
                let t = tokens(text, w);
                if t.is_empty() {
                    // Tantivy drops a literal without words from the query; mirror that
                    // through the index rather than guess.
                    return None;
                }
                let base = t[0].0;
                Cond::Words(t.into_iter().map(|(p, w)| (p - base, w)).collect())
            }
            Value::Wildcard(parts) => {
                Cond::WordRegex(whole(&wildcard_regex(parts).to_lowercase())?)
            }
            Value::Regex(r) => Cond::WordRegex(whole(r)?),
            Value::Exists => Cond::All,
            Value::Range { .. } => return None,
        });
    }
    if let Some(k) = keyword(name) {
        return Some(match &leaf.value {
            Value::Word(w) | Value::Phrase(w) if w.len() > MAX_KEYWORD_BYTES => Cond::Nothing,
            Value::Word(w) | Value::Phrase(w) if matches!(k, Keyword::Pattern) => {
                w.parse().map_or(Cond::Nothing, Cond::Pattern)
            }
            Value::Word(w) | Value::Phrase(w) => Cond::KeywordEq(k, w.clone()),
            Value::Wildcard(parts) => Cond::KeywordRegex(k, whole(&wildcard_regex(parts))?),
            Value::Regex(r) => Cond::KeywordRegex(k, whole(r)?),
            Value::Range { lower, upper } => Cond::KeywordRange(k, lower.clone(), upper.clone()),
            Value::Exists => Cond::KeywordExists(k),
        });
    }
    if name == names::TIMESTAMP {
        let t = |s: &str| Timestamp::parse_expr(s, now).ok().map(|t| t.0);
        let b = |b: &Bound<String>| -> Option<Bound<i64>> {
            Some(match b {
                Bound::Included(s) => Bound::Included(t(s)?),
                Bound::Excluded(s) => Bound::Excluded(t(s)?),
                Bound::Unbounded => Bound::Unbounded,
            })
        };
        return Some(match &leaf.value {
            Value::Word(w) | Value::Phrase(w) => {
                let v = t(w)?;
                Cond::Time(Bound::Included(v), Bound::Included(v))
            }
            Value::Range { lower, upper } => Cond::Time(b(lower)?, b(upper)?),
            Value::Exists => Cond::All,
            _ => return None,
        });
    }
    if let Some(path) = name.strip_prefix("labels.") {
        let path = path.to_string();
        return Some(match &leaf.value {
            // Labels use the keyword tokenizer: a value is one term.
            Value::Word(w) | Value::Phrase(w) if w.len() > MAX_KEYWORD_BYTES => Cond::Nothing,
            Value::Word(w) | Value::Phrase(w) => Cond::LabelEq(path, w.clone()),
            Value::Wildcard(parts) => Cond::LabelRegex(path, whole(&wildcard_regex(parts))?),
            Value::Regex(r) => Cond::LabelRegex(path, whole(r)?),
            Value::Exists => Cond::LabelExists(path),
            Value::Range { .. } => return None,
        });
    }
    None
}

fn in_range<T: PartialOrd + ?Sized>(v: &T, lower: Bound<&T>, upper: Bound<&T>) -> bool {
    (match lower {
        Bound::Included(l) => v >= l,
        Bound::Excluded(l) => v > l,
        Bound::Unbounded => true,
    }) && (match upper {
        Bound::Included(u) => v <= u,
        Bound::Excluded(u) => v < u,
        Bound::Unbounded => true,
    })
}

fn eval(c: &Cond, r: &Record, text: &mut TextAnalyzer) -> bool {
    match c {
        Cond::All => true,
        Cond::Nothing => false,
        Cond::And(items) => items.iter().all(|i| eval(i, r, text)),
        Cond::Or(items) => items.iter().any(|i| eval(i, r, text)),
        Cond::Not(inner) => !eval(inner, r, text),
        Cond::KeywordEq(k, v) => *keyword_value(*k, r) == **v,
        Cond::Pattern(want) => r.pattern.is_some_and(|p| canonical(p) == canonical(*want)),
        Cond::KeywordRegex(k, re) => {
            let v = keyword_value(*k, r);
            !v.is_empty() && v.len() <= MAX_KEYWORD_BYTES && re.is_match(&v)
        }
        Cond::KeywordRange(k, lo, hi) => {
            let v = keyword_value(*k, r);
            !v.is_empty()
                && v.len() <= MAX_KEYWORD_BYTES
                && in_range(
                    &*v,
                    lo.as_ref().map(String::as_str),
                    hi.as_ref().map(String::as_str),
                )
        }
        Cond::KeywordExists(k) => !keyword_value(*k, r).is_empty(),
        Cond::Words(want) => {
            let have = tokens(text, &r.message);
            let mut at: Vec<Option<&str>> = Vec::new();
            for (p, w) in &have {
                if at.len() <= *p {
                    at.resize(p + 1, None);
                }
                at[*p] = Some(w);
            }
            (0..at.len()).any(|start| {
                want.iter()
                    .all(|(off, w)| at.get(start + off).copied().flatten() == Some(w.as_str()))
            })
        }
        Cond::WordRegex(re) => tokens(text, &r.message).iter().any(|(_, w)| re.is_match(w)),
        Cond::LabelEq(k, v) => r.labels.get(k) == Some(v),
        Cond::LabelRegex(k, re) => r
            .labels
            .get(k)
            .is_some_and(|v| v.len() <= MAX_KEYWORD_BYTES && re.is_match(v)),
        Cond::LabelExists(k) => r.labels.contains_key(k),
        Cond::Time(lo, hi) => in_range(&r.timestamp.0, lo.as_ref(), hi.as_ref()),
    }
}

/// One feed batch as a throwaway in-memory Tantivy index, for the queries the direct
/// matcher leaves to Tantivy.
pub struct BatchIndex {
    searcher: Searcher,
}

impl BatchIndex {
    /// Indexes `records` (document `_ord` = position in the batch).
    pub fn build(records: &[Record]) -> tantivy::Result<BatchIndex> {
        let (schema, fields): (Schema, Fields) = schema::build_schema();
        let mut index = Index::create_in_ram(schema);
        index.set_tokenizers(schema::tokenizers());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000)?;
        for (i, r) in records.iter().enumerate() {
            writer.add_document(fields.document(r, i as u64))?;
        }
        writer.commit()?;
        let reader = index.reader()?;
        Ok(BatchIndex {
            searcher: reader.searcher(),
        })
    }

    fn matching(&self, q: &dyn Query) -> Vec<u32> {
        let Ok(docs) = self.searcher.search(q, &DocSetCollector) else {
            return Vec::new();
        };
        let mut out: HashSet<u32> = HashSet::with_capacity(docs.len());
        for addr in docs {
            let seg = self.searcher.segment_reader(addr.segment_ord);
            if let Ok(col) = seg.fast_fields().u64(names::ORD) {
                if let Some(o) = col.first(addr.doc_id) {
                    out.insert(o as u32);
                }
            }
        }
        let mut v: Vec<u32> = out.into_iter().collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skein_model::Level;

    fn rec(container: &str, message: &str) -> Record {
        let mut r = Record::new(Timestamp(1_000), message);
        r.container = container.into();
        r.host = "node-1".into();
        r.stream = "stdout".into();
        r.level = Some(Level::Error);
        r.labels
            .insert("com.docker.compose.service".into(), "web".into());
        r.fields
            .insert("latency_ms".into(), serde_json::json!(1830));
        r
    }

    /// Every query gives the same answer in memory as Tantivy gives over an index of
    /// the same records.
    #[test]
    fn agrees_with_tantivy() {
        let mut records = vec![
            rec("web", "payment failed: connection reset by peer"),
            rec("api-1", "GET /api/v1/items 200"),
            rec("api-2", "Connection Reset"),
            rec("worker", ""),
        ];
        records[0].pattern = Some(PatternId::new(7));
        records[1].pattern = Some(PatternId::new(8));
        records[2].pattern = Some(PatternId::new(7));
        let ix = BatchIndex::build(&records).unwrap();
        let schema = schema::build_schema().0;
        for q in [
            "",
            "*",
            "container:web",
            "container:api-*",
            "container:/api-[0-9]/",
            "NOT container:web",
            "connection",
            "\"connection reset\"",
            "\"reset connection\"",
            "Connection-Reset",
            "conn*",
            "/res.t/",
            "labels.com.docker.compose.service:web",
            "labels.com.docker.compose.service:w*",
            "level:error AND stream:stdout",
            "container:[api-1 TO api-9]",
            "_exists_:container",
            "latency_ms:>1000",
            "fields.latency_ms:1830 OR container:worker",
            "@timestamp:[1970-01-01 TO now]",
            "container:web OR (GET AND items)",
            "pattern:000000000007",
            "NOT pattern:000000000007",
            "pattern:000000000008 OR container:worker",
            "pattern:nonsense",
            "_exists_:pattern",
        ] {
            let mut m = LiveMatcher::new(&schema, q, Timestamp::now()).unwrap();
            let direct = m.matching(&records, Some(&ix));
            let want = ix.matching(crate::parse::parse_query(&schema, q).unwrap().as_ref());
            assert_eq!(direct, want, "{q}");
        }
        let m = LiveMatcher::new(&schema, "latency_ms:>1000", Timestamp::now()).unwrap();
        assert!(m.needs_index());
        let m = LiveMatcher::new(&schema, "container:web error", Timestamp::now()).unwrap();
        assert!(!m.needs_index());
    }
}
