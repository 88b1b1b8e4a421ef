//! `_source` filtering: which parts of each hit's document are returned.
//!
//! As in Elasticsearch: `false` drops the source, a pattern or a list of patterns keeps
//! the matching fields, `{"includes": […], "excludes": […]}` both. Patterns are dotted
//! paths with `*` wildcards; a pattern naming an object keeps all of it.

use super::error::EsError;
use serde_json::{Map, Value};

/// A parsed `_source` option.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceFilter {
    /// `_source: false`.
    pub disabled: bool,
    /// Keep only these (all when empty).
    pub includes: Vec<String>,
    /// Then drop these.
    pub excludes: Vec<String>,
}

impl SourceFilter {
    /// Reads the `_source` value of a search body (or the `_source` URL parameter).
    pub fn parse(v: &Value) -> Result<SourceFilter, EsError> {
        let list = |v: &Value, what: &str| -> Result<Vec<String>, EsError> {
            match v {
                Value::String(s) => Ok(s.split(',').map(|p| p.trim().to_string()).collect()),
                Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str().map(str::to_string).ok_or_else(|| {
                            EsError::bad_request(
                                "parsing_exception",
                                format!("`_source.{what}` holds field patterns (strings), not {x}"),
                            )
                        })
                    })
                    .collect(),
                other => Err(EsError::bad_request(
                    "parsing_exception",
                    format!(
                        "`_source.{what}` must be a pattern or a list of patterns, not {other}"
                    ),
                )),
            }
        };
        match v {
            Value::Bool(b) => Ok(SourceFilter {
                disabled: !b,
                ..SourceFilter::default()
            }),
            Value::String(_) | Value::Array(_) => Ok(SourceFilter {
                includes: list(v, "includes")?,
                ..SourceFilter::default()
            }),
            Value::Object(o) => {
                let mut f = SourceFilter::default();
                for (k, v) in o {
                    match k.as_str() {
                        "includes" | "include" => f.includes = list(v, "includes")?,
                        "excludes" | "exclude" => f.excludes = list(v, "excludes")?,
                        other => {
                            return Err(EsError::unsupported(format!("`_source.{other}`")))
                        }
                    }
                }
                Ok(f)
            }
            other => Err(EsError::bad_request(
                "parsing_exception",
                format!("`_source` must be true, false, patterns or {{\"includes\",\"excludes\"}}, not {other}"),
            )),
        }
    }

    /// The filtered document, or `None` when the source is off.
    pub fn apply(&self, doc: Value) -> Option<Value> {
        if self.disabled {
            return None;
        }
        if self.includes.is_empty() && self.excludes.is_empty() {
            return Some(doc);
        }
        match doc {
            Value::Object(o) => Some(Value::Object(self.filter(o, ""))),
            other => Some(other),
        }
    }

    fn filter(&self, obj: Map<String, Value>, prefix: &str) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in obj {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if self.excludes.iter().any(|p| glob(p, &path)) {
                continue;
            }
            let included = self.includes.is_empty() || self.includes.iter().any(|p| glob(p, &path));
            match v {
                Value::Object(inner) => {
                    let deeper = included
                        || self
                            .includes
                            .iter()
                            .any(|p| p.contains('*') || p.starts_with(&format!("{path}.")));
                    if !deeper {
                        continue;
                    }
                    let saved;
                    let me = if included {
                        // Everything under an included object is kept, except excludes.
                        saved = SourceFilter {
                            disabled: false,
                            includes: Vec::new(),
                            excludes: self.excludes.clone(),
                        };
                        &saved
                    } else {
                        self
                    };
                    let kept = me.filter(inner, &path);
                    if included || !kept.is_empty() {
                        out.insert(k, Value::Object(kept));
                    }
                }
                leaf if included => {
                    out.insert(k, leaf);
                }
                _ => {}
            }
        }
        out
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(filter: Value, doc: Value) -> Option<Value> {
        SourceFilter::parse(&filter).unwrap().apply(doc)
    }

    #[test]
    fn includes_excludes_and_wildcards() {
        let doc = json!({"a": 1, "b": {"c": 2, "d": {"e": 3}}, "ab": 4});
        assert_eq!(run(json!(false), doc.clone()), None);
        assert_eq!(run(json!(true), doc.clone()), Some(doc.clone()));
        assert_eq!(run(json!("a"), doc.clone()), Some(json!({"a": 1})));
        assert_eq!(
            run(json!(["b.c", "ab"]), doc.clone()),
            Some(json!({"b": {"c": 2}, "ab": 4}))
        );
        assert_eq!(
            run(json!("a*"), doc.clone()),
            Some(json!({"a": 1, "ab": 4}))
        );
        assert_eq!(
            run(json!("b"), doc.clone()),
            Some(json!({"b": {"c": 2, "d": {"e": 3}}}))
        );
        assert_eq!(
            run(json!("*.e"), doc.clone()),
            Some(json!({"b": {"d": {"e": 3}}}))
        );
        assert_eq!(
            run(json!({"includes": ["b"], "excludes": ["b.d"]}), doc.clone()),
            Some(json!({"b": {"c": 2}}))
        );
        assert_eq!(
            run(json!({"excludes": "a*"}), doc),
            Some(json!({"b": {"c": 2, "d": {"e": 3}}}))
        );
        assert!(SourceFilter::parse(&json!({"fields": ["a"]})).is_err());
        assert!(glob("fil*-*", "filebeat-8.19.0") && !glob("a*b", "ac"));
    }

    #[test]
    fn stars_match_in_linear_passes() {
        for (pattern, text, want) in [
            ("*", "", true),
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("*é*", "caféine", true),
            ("ab", "abc", false),
            ("**", "x", true),
        ] {
            assert_eq!(glob(pattern, text), want, "{pattern} ~ {text}");
        }
        // Exponential backtracking would not finish this.
        let key = "a".repeat(200);
        let started = std::time::Instant::now();
        assert!(!glob(&format!("{}b", "*a".repeat(30)), &key));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
