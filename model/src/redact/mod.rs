//! Redaction: rules that replace secrets in log text before it is shipped or stored.
//!
//! A rule is a name, a regex and a replacement. The agent applies its rules to each
//! record's `message` and to the string values of its `fields` (nested ones too) after
//! parsing and before encoding; the server applies its rules at ingest, to records
//! (`message` and `fields`) and to Elasticsearch documents (every string value but the
//! time). Keys, numbers, times, the delivery identity (`_source_id`, `_seq`) and the
//! source's metadata (host, container, image, labels) are never changed.
//!
//! Rules are given as on the command line ([`RuleSpec::parse`]):
//!
//! - `NAME` alone: a built-in ([`BUILTINS`]: `bearer`, `url-password`, `card`, `email`);
//! - `NAME=REGEX`: matches of REGEX become `[REDACTED:NAME]`;
//! - `NAME=REGEX=REPLACEMENT`: they become REPLACEMENT, where `$1` or `${name}` insert
//!   a group of the match and `$$` is a `$`.
//!
//! The name ends at the first `=`. The regex ends at the first `=` after it that is not
//! escaped as `\=`, so every `=` inside the regex is written `\=` (the regex syntax
//! reads `\=` as `=`); everything after that `=` is the replacement, `=` included.
//!
//! Rules apply in the order given, each to the text the previous ones left. A text no
//! rule matches allocates nothing and mostly costs a few byte searches: each rule has
//! a gate, a test far cheaper than its regex that most texts fail (the built-ins' own;
//! for other rules a literal every match holds), and only behind an open gate does the
//! regex run. Rules without a gate run together as one [`RegexSet`].

mod builtin;
mod json;

pub use builtin::{builtin, Builtin, BUILTINS};

use crate::Record;
use builtin::Check;
use regex::{Regex, RegexSet};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::ops::ControlFlow;
use thiserror::Error;

/// Why a rule cannot be used; each says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RedactError {
    /// A name alone that is not a built-in.
    #[error(
        "{spec:?} is not a built-in rule (those are {}); to define a rule write \
         NAME=REGEX or NAME=REGEX=REPLACEMENT",
        builtin_names()
    )]
    UnknownBuiltin {
        /// The rule as given.
        spec: String,
    },
    /// A name with other characters than letters, digits, `_`, `.` and `-`.
    #[error(
        "rule {spec:?}: the name {name:?} must be letters, digits, `_`, `.` or `-` (it is \
         the `rule` label on /metrics and part of the default replacement); write \
         NAME=REGEX or NAME=REGEX=REPLACEMENT"
    )]
    BadName {
        /// The rule as given.
        spec: String,
        /// The name read from it.
        name: String,
    },
    /// A rule of one's own under a built-in's name.
    #[error(
        "rule {spec:?}: {name:?} is the name of a built-in rule; turn the built-in on \
         with its name alone, or give this rule another name"
    )]
    BuiltinName {
        /// The rule as given.
        spec: String,
        /// The name.
        name: String,
    },
    /// `NAME=` with nothing after it.
    #[error("rule {spec:?}: the regex is empty; write NAME=REGEX or NAME=REGEX=REPLACEMENT")]
    EmptyRegex {
        /// The rule as given.
        spec: String,
    },
    /// Two rules of one name.
    #[error(
        "rule {name:?} is given twice; give each rule once, under a name of its own \
         (the name is its `rule` label on /metrics)"
    )]
    Duplicate {
        /// The name.
        name: String,
    },
    /// The regex does not compile.
    #[error(
        "rule {name:?}: the regex {pattern:?} does not compile: {error}\nfix the regex \
         (an `=` in it is written `\\=`, since the first unescaped `=` after the name \
         starts the replacement)"
    )]
    BadRegex {
        /// The rule's name.
        name: String,
        /// The regex as given.
        pattern: String,
        /// What the regex parser said.
        error: String,
    },
    /// The regex can match empty text.
    #[error(
        "rule {name:?}: the regex {pattern:?} can match empty text, so the replacement \
         would go between characters; make it match at least one character (e.g. `+` \
         rather than `*`)"
    )]
    MatchesEmpty {
        /// The rule's name.
        name: String,
        /// The regex.
        pattern: String,
    },
    /// The replacement names a group the regex does not have.
    #[error(
        "rule {name:?}: the replacement {replacement:?} inserts group `{group}`, which \
         the regex does not have; name a group of the regex (`$1`, `${{name}}`) or write \
         `$$` for a `$`"
    )]
    NoSuchGroup {
        /// The rule's name.
        name: String,
        /// The replacement.
        replacement: String,
        /// The group it names.
        group: String,
    },
}

fn builtin_names() -> String {
    BUILTINS
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One rule as given, before its regex is compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// The rule's name: its `rule` label on `/metrics`.
    pub name: String,
    /// The regex.
    pub pattern: String,
    /// What a match becomes (`$1`, `${name}` and `$$` expanded).
    pub replacement: String,
    /// The built-in this is, by name: its match check and gate come with it.
    builtin: Option<&'static str>,
}

impl RuleSpec {
    /// Reads one rule as written on the command line (see the module docs): a built-in's
    /// name, `NAME=REGEX` or `NAME=REGEX=REPLACEMENT`.
    pub fn parse(spec: &str) -> Result<RuleSpec, RedactError> {
        let Some((name, rest)) = spec.split_once('=') else {
            return match builtin(spec.trim()) {
                Some(b) => Ok(RuleSpec::builtin(b)),
                None => Err(RedactError::UnknownBuiltin { spec: spec.into() }),
            };
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if name.is_empty() || !name.chars().all(valid) {
            return Err(RedactError::BadName {
                spec: spec.into(),
                name: name.into(),
            });
        }
        if builtin(name).is_some() {
            return Err(RedactError::BuiltinName {
                spec: spec.into(),
                name: name.into(),
            });
        }
        let (pattern, replacement) = match unescaped_eq(rest) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        if pattern.is_empty() {
            return Err(RedactError::EmptyRegex { spec: spec.into() });
        }
        Ok(RuleSpec {
            name: name.into(),
            pattern: pattern.into(),
            replacement: replacement.map_or_else(|| default_replacement(name), str::to_string),
            builtin: None,
        })
    }

    /// The rule of a built-in.
    pub fn builtin(b: &Builtin) -> RuleSpec {
        RuleSpec {
            name: b.name.into(),
            pattern: b.pattern.into(),
            replacement: b.replacement.into(),
            builtin: Some(b.name),
        }
    }
}

/// What a match of rule `name` becomes when the rule says nothing.
pub fn default_replacement(name: &str) -> String {
    format!("[REDACTED:{name}]")
}

/// The first `=` of `s` not escaped by a backslash (one preceded by an odd number of
/// them is escaped).
fn unescaped_eq(s: &str) -> Option<usize> {
    let mut backslashes = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '=' if backslashes.is_multiple_of(2) => return Some(i),
            '\\' => {
                backslashes += 1;
                continue;
            }
            _ => {}
        }
        backslashes = 0;
    }
    None
}

/// Replacements made, per rule (by its place in [`Redactor::rule_names`]). Starts
/// empty and allocates only once something is replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hits {
    counts: Vec<u64>,
}

impl Hits {
    fn add(&mut self, rule: usize, n: u64) {
        if self.counts.len() <= rule {
            self.counts.resize(rule + 1, 0);
        }
        self.counts[rule] += n;
    }

    /// The rules that replaced something, with how many times.
    pub fn iter(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (i, *n))
    }

    /// Replacements by rule `rule`.
    pub fn get(&self, rule: usize) -> u64 {
        self.counts.get(rule).copied().unwrap_or(0)
    }

    /// Replacements by every rule.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Forgets the counts, keeping the memory.
    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|n| *n = 0);
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
struct Rule {
    regex: Regex,
    replacement: Replacement,
    check: Check,
    gate: Gate,
}

/// What a text must hold for a rule to match in it, tested before the regex runs: with
/// SIMD searches for bytes (memchr), far cheaper than a regex, it keeps most texts from
/// reaching one.
#[derive(Debug, Clone)]
enum Gate {
    /// A built-in's own test.
    Builtin(fn(&[u8]) -> bool),
    /// A literal every match holds (`tok_` of `tok_[a-z0-9]+`).
    Literal(Box<memchr::memmem::Finder<'static>>),
    /// None found: the rule is in [`Redactor::ungated`], whose regexes run together on
    /// every text; this is its place there.
    Ungated(usize),
}

impl Gate {
    /// Whether a gated rule may match `text`.
    fn open(&self, text: &[u8]) -> bool {
        match self {
            Gate::Builtin(test) => test(text),
            Gate::Literal(finder) => finder.find(text).is_some(),
            Gate::Ungated(_) => true,
        }
    }
}

/// The longest literal that every match of `hir` holds, if there is one.
fn required_literal(hir: &regex_syntax::hir::Hir) -> Option<Vec<u8>> {
    use regex_syntax::hir::HirKind;
    fn collect(hir: &regex_syntax::hir::Hir, out: &mut Vec<Vec<u8>>) {
        match hir.kind() {
            HirKind::Literal(l) => out.push(l.0.to_vec()),
            HirKind::Capture(c) => collect(&c.sub, out),
            HirKind::Repetition(r) if r.min >= 1 => collect(&r.sub, out),
            HirKind::Concat(parts) => parts.iter().for_each(|p| collect(p, out)),
            // An alternation holds one of several, a class one of many bytes: nothing
            // in particular.
            _ => {}
        }
    }
    let mut found = Vec::new();
    collect(hir, &mut found);
    found.into_iter().max_by_key(Vec::len)
}

#[derive(Debug, Clone)]
enum Replacement {
    /// Written as is.
    Literal(String),
    /// With groups to insert (`$…`).
    Template(String),
}

/// Compiled rules, applied together (see the module docs).
#[derive(Debug, Clone)]
pub struct Redactor {
    names: Vec<String>,
    rules: Vec<Rule>,
    /// The rules without a gate, run together in one pass.
    ungated: Option<RegexSet>,
    /// Some rule anchors at the start or end of a text (`^`, `$`, `\A`, `\z`): a JSON
    /// text cannot then be checked whole for matches inside its strings.
    anchored: bool,
}

impl Redactor {
    /// Compiles `specs`, in order.
    pub fn new(specs: impl IntoIterator<Item = RuleSpec>) -> Result<Redactor, RedactError> {
        let mut names: Vec<String> = Vec::new();
        let mut rules = Vec::new();
        let mut ungated = Vec::new();
        let mut anchored = false;
        for spec in specs {
            if names.contains(&spec.name) {
                return Err(RedactError::Duplicate { name: spec.name });
            }
            let bad_regex = |error: String| RedactError::BadRegex {
                name: spec.name.clone(),
                pattern: spec.pattern.clone(),
                error,
            };
            let hir = regex_syntax::parse(&spec.pattern).map_err(|e| bad_regex(e.to_string()))?;
            if hir.properties().minimum_len() == Some(0) {
                return Err(RedactError::MatchesEmpty {
                    name: spec.name,
                    pattern: spec.pattern,
                });
            }
            anchored |= hir.properties().look_set().contains_anchor();
            let regex = Regex::new(&spec.pattern).map_err(|e| bad_regex(e.to_string()))?;
            check_groups(&spec, &regex)?;
            let replacement = if spec.replacement.contains('$') {
                Replacement::Template(spec.replacement)
            } else {
                Replacement::Literal(spec.replacement)
            };
            let builtin = spec.builtin.and_then(builtin);
            let gate = match (builtin, required_literal(&hir)) {
                (Some(b), _) => Gate::Builtin(b.gate),
                (None, Some(literal)) => {
                    Gate::Literal(Box::new(memchr::memmem::Finder::new(&literal).into_owned()))
                }
                (None, None) => {
                    ungated.push(spec.pattern.clone());
                    Gate::Ungated(ungated.len() - 1)
                }
            };
            names.push(spec.name);
            rules.push(Rule {
                regex,
                replacement,
                check: builtin.map_or(Check::None, |b| b.check),
                gate,
            });
        }
        let ungated = match ungated.is_empty() {
            true => None,
            false => Some(RegexSet::new(&ungated).map_err(|e| RedactError::BadRegex {
                name: names.join(", "),
                pattern: ungated.join(" | "),
                error: e.to_string(),
            })?),
        };
        Ok(Redactor {
            names,
            rules,
            ungated,
            anchored,
        })
    }

    /// Reads and compiles rules as written on the command line ([`RuleSpec::parse`]).
    pub fn from_args<S: AsRef<str>>(args: &[S]) -> Result<Redactor, RedactError> {
        let specs = args
            .iter()
            .map(|a| RuleSpec::parse(a.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Redactor::new(specs)
    }

    /// The rules' names, in order: [`Hits`] counts by these places.
    pub fn rule_names(&self) -> &[String] {
        &self.names
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether some rule matches `text` (a card-like number that fails the card check
    /// counts: this is the cheap test before the work). Each rule's gate is tried
    /// first; the regexes run only behind an open one, and those of rules without a
    /// gate together, in one pass.
    pub fn is_match(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        self.rules.iter().any(|r| {
            !matches!(r.gate, Gate::Ungated(_)) && r.gate.open(bytes) && r.regex.is_match(text)
        }) || self.ungated.as_ref().is_some_and(|set| set.is_match(text))
    }

    /// `text` with every rule applied, or `None` when nothing was replaced (then
    /// nothing was allocated either).
    pub fn redact_str(&self, text: &str, hits: &mut Hits) -> Option<String> {
        if !self.is_match(text) {
            return None;
        }
        let ungated = self.ungated.as_ref().map(|set| set.matches(text));
        let mut current = Cow::Borrowed(text);
        for (i, rule) in self.rules.iter().enumerate() {
            let may = match rule.gate {
                Gate::Ungated(at) => ungated.as_ref().is_some_and(|m| m.matched(at)),
                ref gate => gate.open(text.as_bytes()),
            };
            if !may {
                continue;
            }
            if let Some((replaced, n)) = rule.apply(&current) {
                hits.add(i, n);
                current = Cow::Owned(replaced);
            }
        }
        match current {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        }
    }

    /// Redacts `s` in place; whether it changed.
    pub fn redact_string(&self, s: &mut String, hits: &mut Hits) -> bool {
        match self.redact_str(s, hits) {
            Some(replaced) => {
                *s = replaced;
                true
            }
            None => false,
        }
    }

    /// Redacts every string in `v`, however deep (object keys stay); whether one
    /// changed.
    pub fn redact_value(&self, v: &mut Value, hits: &mut Hits) -> bool {
        match v {
            Value::String(s) => self.redact_string(s, hits),
            Value::Array(a) => a
                .iter_mut()
                .fold(false, |changed, v| self.redact_value(v, hits) | changed),
            Value::Object(o) => self.redact_fields(o, hits),
            _ => false,
        }
    }

    /// Redacts the values of `fields` ([`redact_value`](Self::redact_value)).
    pub fn redact_fields(&self, fields: &mut Map<String, Value>, hits: &mut Hits) -> bool {
        fields
            .values_mut()
            .fold(false, |changed, v| self.redact_value(v, hits) | changed)
    }

    /// Redacts a record's `message` and `fields`; whether either changed.
    pub fn redact_record(&self, record: &mut Record, hits: &mut Hits) -> bool {
        let message = self.redact_string(&mut record.message, hits);
        self.redact_fields(&mut record.fields, hits) | message
    }

    /// Whether some rule may match inside a string value of `json`, a JSON text; when
    /// this says no, [`redact_json`](Self::redact_json) would change nothing.
    ///
    /// A text without escapes is checked as one text: a match inside a value is a
    /// match inside the text, unless a rule is anchored to the start or end of a text
    /// (a value's edges are not the text's), and word boundaries agree because the quote
    /// around a value is not a word character. Otherwise (escapes change what the
    /// regexes see, or anchors) the values are checked one by one.
    pub fn may_match_json(&self, json: &str) -> bool {
        if !self.anchored && memchr::memchr(b'\\', json.as_bytes()).is_none() {
            return self.is_match(json);
        }
        let mut found = false;
        json::strings(json, |s| {
            if s.is_key {
                return ControlFlow::Continue(());
            }
            found = s.content().is_none_or(|c| self.is_match(&c));
            if found {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        found
    }

    /// `json`, a JSON text, with its string values redacted, except the values of the
    /// top-level keys in `keep`; `None` when nothing was replaced. Everything else is
    /// kept as written (key order, numbers, spacing, escapes of unchanged strings).
    pub fn redact_json(&self, json: &str, keep: &[&str], hits: &mut Hits) -> Option<String> {
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut kept_key = false;
        json::strings(json, |s| {
            if s.is_key {
                kept_key = s.depth == 1 && s.content().is_some_and(|k| keep.contains(&&*k));
                return ControlFlow::Continue(());
            }
            if std::mem::take(&mut kept_key) && s.depth == 1 {
                return ControlFlow::Continue(());
            }
            // A string serde_json cannot decode (a lone surrogate escape) was refused
            // by whatever parsed this text before; nothing to check in it.
            let Some(content) = s.content() else {
                return ControlFlow::Continue(());
            };
            if let Some(replaced) = self.redact_str(&content, hits) {
                let out = out.get_or_insert_with(|| String::with_capacity(json.len() + 32));
                out.push_str(&json[copied..s.span.start]);
                out.push_str(&serde_json::to_string(&replaced).expect("a string serialises"));
                copied = s.span.end;
            }
            ControlFlow::Continue(())
        });
        out.map(|mut out| {
            out.push_str(&json[copied..]);
            out
        })
    }
}

/// Checks that the groups `spec`'s replacement inserts exist in `regex`. The regex
/// crate would insert nothing for a missing one, which turns `$5.00` into `.00`.
fn check_groups(spec: &RuleSpec, regex: &Regex) -> Result<(), RedactError> {
    let r = &spec.replacement;
    let mut rest = r.as_str();
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let group = if let Some(after) = rest.strip_prefix('$') {
            rest = after;
            continue;
        } else if let Some(braced) = rest.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => {
                    rest = &braced[end + 1..];
                    &braced[..end]
                }
                None => continue,
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            rest = &rest[end..];
            name
        };
        if group.is_empty() {
            continue;
        }
        let exists = match group.parse::<usize>() {
            Ok(n) => n < regex.captures_len(),
            Err(_) => regex.capture_names().flatten().any(|n| n == group),
        };
        if !exists {
            return Err(RedactError::NoSuchGroup {
                name: spec.name.clone(),
                replacement: r.clone(),
                group: group.into(),
            });
        }
    }
    Ok(())
}

impl Rule {
    /// `text` with this rule's matches replaced and how many, or `None` when none was.
    fn apply(&self, text: &str) -> Option<(String, u64)> {
        let mut out = String::new();
        let mut copied = 0;
        let mut n = 0;
        match &self.replacement {
            Replacement::Template(template) => {
                for caps in self.regex.captures_iter(text) {
                    let m = caps.get(0).expect("group 0 is the whole match");
                    out.push_str(&text[copied..m.start()]);
                    caps.expand(template, &mut out);
                    copied = m.end();
                    n += 1;
                }
            }
            Replacement::Literal(literal) => {
                for m in self.regex.find_iter(text) {
                    match self.check {
                        Check::None => {
                            out.push_str(&text[copied..m.start()]);
                            out.push_str(literal);
                            copied = m.end();
                            n += 1;
                        }
                        Check::Card => {
                            let bytes = text.as_bytes();
                            let glued_start =
                                m.start() > 0 && bytes[m.start() - 1].is_ascii_alphabetic();
                            let glued_end = bytes.get(m.end()).is_some_and(u8::is_ascii_alphabetic);
                            for r in builtin::card_ranges(m.as_str(), glued_start, glued_end) {
                                out.push_str(&text[copied..m.start() + r.start]);
                                out.push_str(literal);
                                copied = m.start() + r.end;
                                n += 1;
                            }
                        }
                    }
                }
            }
        }
        if n == 0 {
            return None;
        }
        out.push_str(&text[copied..]);
        Some((out, n))
    }
}

#[cfg(test)]
mod tests;
