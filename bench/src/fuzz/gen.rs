//! Inputs for the fuzzer: a seeded RNG that makes input `i` of a run reproducible on its
//! own, grammar-aware generators (queries, JSON, DSL, aggregations, log lines) and a
//! byte mutator for seed inputs.

/// SplitMix64: tiny, fast, and seeded per input so any input can be made again alone.
pub struct Rng(u64);

impl Rng {
    /// The generator of input `index` of target `target` in the run seeded `seed`.
    pub fn for_input(seed: u64, target: &str, index: u64) -> Rng {
        let name = target.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let mut r = Rng(seed ^ name ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One of `xs` (not empty).
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Text that trips parsers: escapes, quotes, controls, odd unicode, extreme numbers.
const TRICKY: &[&str] = &[
    "\\",
    "\\\\",
    "\"",
    "\\\"",
    "\\u0000",
    "\\ud800",
    "\\uDFFF",
    "\\u00e9",
    "\\n",
    "\\x",
    "\u{0}",
    "\x1b[2J",
    "\u{7f}",
    "\u{9b}",
    "\u{202e}",
    "\u{feff}",
    "é",
    "日本",
    "🎉",
    "\u{10ffff}",
    "\r",
    "\r\n",
    "\t",
    " ",
    "*",
    "?",
    "~",
    "^",
    ":",
    "/",
    "-",
    "+",
    "!",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "<",
    ">",
    "=",
    ",",
    ".",
    "..",
    "1e999999",
    "-0",
    "9223372036854775807",
    "-9223372036854775809",
    "18446744073709551616",
    "NaN",
    "0.000000000000000000000000001",
    "null",
    "true",
    "2026-11-20T10:00:00Z",
    "2026-02-30T25:61:61.9999999999Z",
    "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00+99:99",
    "now-1h",
    "now/d",
    "now-99999999y",
    "AND",
    "OR",
    "NOT",
    "TO",
];

const WORDS: &[&str] = &[
    "error",
    "timeout",
    "payment",
    "GET",
    "api",
    "web",
    "user_id",
    "latency_ms",
    "a",
    "x",
    "level",
    "message",
    "container",
    "host",
    "stream",
    "stdout",
    "stderr",
    "fields.path",
    "labels.app",
    "fields.status",
    "image",
    "@timestamp",
    "_seq",
    "warn",
    "info",
    "debug",
];

/// A word: usually plain, sometimes tricky, sometimes random unicode.
pub fn word(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=5 => rng.pick(WORDS).to_string(),
        6 | 7 => rng.pick(TRICKY).to_string(),
        8 => (0..1 + rng.below(6))
            .filter_map(|_| char::from_u32(rng.below(0x11_0000) as u32))
            .collect(),
        _ => format!("{}{}", rng.pick(WORDS), rng.below(100_000)),
    }
}

/// A query of the search language, valid-ish, with random nesting.
pub fn query(rng: &mut Rng, depth: usize) -> String {
    let leaf = |rng: &mut Rng| -> String {
        let field = if rng.one_in(2) {
            format!("{}:", rng.pick(WORDS))
        } else {
            String::new()
        };
        let value = match rng.below(12) {
            0 => format!("\"{} {}\"", word(rng), word(rng)),
            // Counted repetitions make large automata: rare, or they would be all
            // the run measures.
            1 => format!(
                "/{}.*{}/",
                word(rng),
                if rng.one_in(500) {
                    ".{1000}"
                } else {
                    rng.pick(&["[a-z]+", "(a|b)*", "\\d{2,}", "\\/", ".{3}", "[^/]?"])
                }
            ),
            2 => format!(
                "{}{} TO {}{}",
                rng.pick(&["[", "{"]),
                rng.pick(&["*", "1", "now-1h", "-5", "a"]),
                rng.pick(&["*", "100", "now", "z", "1e10"]),
                rng.pick(&["]", "}"])
            ),
            3 => format!(
                "{}{}",
                rng.pick(&[">", ">=", "<", "<="]),
                rng.pick(&["5", "now-1d", "x", "-1.5"])
            ),
            4 => format!("{}*{}?", word(rng), word(rng)),
            5 => word(rng).replace(' ', "\\ "),
            _ => word(rng),
        };
        format!("{field}{value}")
    };
    if depth == 0 || rng.one_in(3) {
        return leaf(rng);
    }
    match rng.below(8) {
        0 => format!("({})", query(rng, depth - 1)),
        1 => format!("{} AND {}", query(rng, depth - 1), query(rng, depth - 1)),
        2 => format!("{} OR {}", query(rng, depth - 1), query(rng, depth - 1)),
        3 => format!("NOT {}", query(rng, depth - 1)),
        4 => format!("-{}", query(rng, depth - 1)),
        5 => format!("{}:({})", rng.pick(WORDS), query(rng, depth - 1)),
        6 => format!("{} {}", query(rng, depth - 1), query(rng, depth - 1)),
        _ => format!(
            "+{}{}",
            query(rng, depth - 1),
            rng.pick(&["", ")", "(", "\"", " AND", " OR OR"])
        ),
    }
}

/// A JSON string literal of a word (sometimes with raw, invalid content).
fn jstr(rng: &mut Rng) -> String {
    if rng.one_in(20) {
        format!("\"{}\"", word(rng))
    } else {
        serde_json::Value::String(word(rng)).to_string()
    }
}

/// A JSON scalar.
fn scalar(rng: &mut Rng) -> String {
    match rng.below(7) {
        0 => rng.below(1000).to_string(),
        1 => rng
            .pick(&[
                "-1",
                "1.5",
                "1e308",
                "-1e999",
                "0",
                "18446744073709551616",
                "1795168800000",
            ])
            .to_string(),
        2 => rng.pick(&["true", "false", "null"]).to_string(),
        3 => serde_json::Value::String(
            rng.pick(&[
                "2026-11-20T10:00:00Z",
                "now-1h",
                "now/d",
                "1h",
                "1m",
                "30s",
                "1d",
                "0ms",
                "-5m",
                "epoch_millis",
                "strict_date_optional_time",
            ])
            .to_string(),
        )
        .to_string(),
        _ => jstr(rng),
    }
}

/// A JSON value whose keys come from `keys`, nested up to `depth`.
pub fn json(rng: &mut Rng, depth: usize, keys: &[&str]) -> String {
    if depth == 0 || rng.one_in(4) {
        return scalar(rng);
    }
    if rng.one_in(4) {
        let items: Vec<String> = (0..rng.below(4))
            .map(|_| json(rng, depth - 1, keys))
            .collect();
        return format!("[{}]", items.join(","));
    }
    let members: Vec<String> = (0..1 + rng.below(3))
        .map(|_| {
            let k = if rng.one_in(8) {
                jstr(rng)
            } else {
                format!("\"{}\"", rng.pick(keys))
            };
            format!("{k}:{}", json(rng, depth - 1, keys))
        })
        .collect();
    format!("{{{}}}", members.join(","))
}

/// Keys of the Elasticsearch query DSL.
pub const DSL_KEYS: &[&str] = &[
    "bool",
    "must",
    "should",
    "filter",
    "must_not",
    "minimum_should_match",
    "term",
    "terms",
    "match",
    "match_phrase",
    "match_all",
    "match_none",
    "multi_match",
    "range",
    "gte",
    "lte",
    "gt",
    "lt",
    "format",
    "time_zone",
    "query_string",
    "simple_query_string",
    "query",
    "default_field",
    "fields",
    "exists",
    "field",
    "prefix",
    "wildcard",
    "regexp",
    "ids",
    "values",
    "value",
    "boost",
    "@timestamp",
    "message",
    "level",
    "container",
    "operator",
    "analyze_wildcard",
    "case_insensitive",
    "fuzzy",
    "nested",
    "path",
];

/// A DSL query: one clause per level, shaped like the real ones.
pub fn dsl(rng: &mut Rng, depth: usize) -> String {
    let field = |rng: &mut Rng| format!("\"{}\"", rng.pick(WORDS));
    if depth == 0 || rng.one_in(3) {
        return match rng.below(9) {
            0 => "{\"match_all\":{}}".into(),
            1 => format!("{{\"term\":{{{}:{}}}}}", field(rng), scalar(rng)),
            2 => format!(
                "{{\"match\":{{{}:{{\"query\":{},\"operator\":\"and\"}}}}}}",
                field(rng),
                scalar(rng)
            ),
            3 => format!(
                "{{\"range\":{{{}:{{\"gte\":{},\"lte\":{},\"format\":{}}}}}}}",
                field(rng),
                scalar(rng),
                scalar(rng),
                scalar(rng)
            ),
            4 => format!(
                "{{\"query_string\":{{\"query\":{}}}}}",
                serde_json::Value::String(query(rng, 3))
            ),
            5 => format!("{{\"exists\":{{\"field\":{}}}}}", field(rng)),
            6 => format!(
                "{{\"terms\":{{{}:[{},{}]}}}}",
                field(rng),
                scalar(rng),
                scalar(rng)
            ),
            7 => format!(
                "{{\"{}\":{{{}:{}}}}}",
                rng.pick(&["prefix", "wildcard", "regexp", "match_phrase"]),
                field(rng),
                scalar(rng)
            ),
            _ => json(rng, 3, DSL_KEYS),
        };
    }
    let items: Vec<String> = (0..rng.below(3) + 1).map(|_| dsl(rng, depth - 1)).collect();
    let occur = rng.pick(&["must", "should", "filter", "must_not"]);
    format!("{{\"bool\":{{\"{occur}\":[{}]}}}}", items.join(","))
}

/// Keys of aggregation requests.
pub const AGG_KEYS: &[&str] = &[
    "date_histogram",
    "histogram",
    "terms",
    "range",
    "avg",
    "min",
    "max",
    "sum",
    "stats",
    "percentiles",
    "cardinality",
    "value_count",
    "field",
    "interval",
    "fixed_interval",
    "calendar_interval",
    "extended_bounds",
    "hard_bounds",
    "min_doc_count",
    "size",
    "order",
    "aggs",
    "aggregations",
    "keyed",
    "percents",
    "ranges",
    "from",
    "to",
    "_count",
    "_key",
    "forecast",
    "horizon",
    "missing",
    "offset",
    "top_hits",
    "level",
    "container",
    "fields.latency_ms",
    "@timestamp",
    "shard_size",
    "buckets",
];

/// An aggregations object: named aggregations with sub-aggregations.
pub fn aggs(rng: &mut Rng, depth: usize) -> String {
    let n = 1 + rng.below(2);
    let items: Vec<String> = (0..n)
        .map(|i| {
            let body = match rng.below(7) {
                0 => format!(
                    "\"date_histogram\":{{\"field\":\"@timestamp\",\"{}\":{}}}",
                    rng.pick(&["fixed_interval", "calendar_interval", "interval"]),
                    scalar(rng)
                ),
                1 => format!(
                    "\"terms\":{{\"field\":\"{}\",\"size\":{}}}",
                    rng.pick(WORDS),
                    scalar(rng)
                ),
                2 => format!(
                    "\"{}\":{{\"field\":\"{}\"}}",
                    rng.pick(&[
                        "avg",
                        "min",
                        "max",
                        "sum",
                        "stats",
                        "percentiles",
                        "cardinality"
                    ]),
                    rng.pick(WORDS)
                ),
                3 => format!(
                    "\"histogram\":{{\"field\":\"{}\",\"interval\":{}}}",
                    rng.pick(WORDS),
                    scalar(rng)
                ),
                4 => format!(
                    "\"range\":{{\"field\":\"{}\",\"ranges\":[{{\"from\":{},\"to\":{}}}]}}",
                    rng.pick(WORDS),
                    scalar(rng),
                    scalar(rng)
                ),
                5 => format!(
                    "\"date_histogram\":{{\"field\":\"@timestamp\",\"forecast\":{}}}",
                    json(rng, 2, AGG_KEYS)
                ),
                _ => json(rng, 3, AGG_KEYS)
                    .trim_start_matches('{')
                    .trim_end_matches('}')
                    .to_string(),
            };
            let sub = if depth > 0 && rng.one_in(2) {
                format!(",\"aggs\":{}", aggs(rng, depth - 1))
            } else {
                String::new()
            };
            format!("\"a{i}\":{{{body}{sub}}}")
        })
        .collect();
    format!("{{{}}}", items.join(","))
}

/// A Docker json-file line.
pub fn json_file_line(rng: &mut Rng) -> String {
    let log = format!(
        "{} {}{}",
        word(rng),
        word(rng),
        if rng.one_in(3) { "" } else { "\n" }
    );
    let mut line = format!(
        "{{\"log\":{},\"stream\":\"{}\",\"time\":\"{}\"",
        serde_json::Value::String(log),
        rng.pick(&["stdout", "stderr", "stdin", ""]),
        rng.pick(&[
            "2026-11-20T10:00:03.939055547Z",
            "2026-11-20T10:00:03Z",
            "2026-11-20T10:00:03.9+02:00",
            "bad",
            "2026-13-45T99:00:00Z"
        ])
    );
    if rng.one_in(4) {
        line.push_str(&format!(",\"attrs\":{}", json(rng, 2, WORDS)));
    }
    line.push('}');
    line
}

/// A CRI (containerd) line: `TIME STREAM P|F TEXT`.
pub fn cri_line(rng: &mut Rng) -> String {
    format!(
        "{} {} {} {}",
        rng.pick(&[
            "2026-11-20T10:00:03.939055547Z",
            "2026-11-20T10:00:03+01:00",
            "2026-11-20T10:00:03.123456789012Z",
            "x"
        ]),
        rng.pick(&["stdout", "stderr", "out"]),
        rng.pick(&["F", "P", "F:x", "", "Q"]),
        payload(rng)
    )
}

/// A container's own output: JSON, logfmt or plain text with a level somewhere.
pub fn payload(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => json(
            rng,
            3,
            &[
                "level",
                "msg",
                "message",
                "time",
                "ts",
                "@timestamp",
                "severity",
                "lvl",
                "error",
                "x",
            ],
        ),
        1 => (0..1 + rng.below(5))
            .map(|_| {
                format!(
                    "{}={}",
                    rng.pick(&["level", "msg", "time", "ts", "a", "err"]),
                    if rng.one_in(2) {
                        format!("\"{}\"", word(rng))
                    } else {
                        word(rng)
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
        2 => format!(
            "{} [{}] {}",
            rng.pick(&["2026-11-20 10:00:00,123", "I1120 10:00:00.000", ""]),
            rng.pick(&["ERROR", "WARN", "info", "E", "FATAL"]),
            word(rng)
        ),
        _ => format!("{} {}", word(rng), word(rng)),
    }
}

/// A record line of the NDJSON ingest API.
pub fn record(rng: &mut Rng) -> String {
    let mut fields = vec![
        format!("\"@timestamp\":{}", scalar(rng)),
        format!("\"message\":{}", jstr(rng)),
    ];
    for k in ["host", "container", "level", "stream", "image"] {
        if !rng.one_in(3) {
            fields.push(format!("\"{k}\":{}", jstr(rng)));
        }
    }
    if rng.one_in(2) {
        fields.push(format!("\"fields\":{}", json(rng, 3, WORDS)));
    }
    if rng.one_in(3) {
        fields.push(format!("\"labels\":{}", json(rng, 2, WORDS)));
    }
    if rng.one_in(3) {
        fields.push(format!(
            "\"_source_id\":{},\"_seq\":{}",
            jstr(rng),
            scalar(rng)
        ));
    }
    if rng.one_in(10) {
        fields.push(format!("\"_original\":{}", jstr(rng)));
    }
    format!("{{{}}}", fields.join(","))
}

/// A document as clients send them to `/es/_bulk`.
pub fn es_doc(rng: &mut Rng) -> String {
    json(
        rng,
        4,
        &[
            "@timestamp",
            "timestamp",
            "message",
            "log",
            "msg",
            "level",
            "log.level",
            "host",
            "host.name",
            "container",
            "container.name",
            "kubernetes",
            "labels",
            "stream",
            "time",
            "event",
            "fields",
            "_source",
            "date",
            "log.file.path",
            "agent",
        ],
    )
}

/// A bulk body: action lines with their documents.
pub fn bulk(rng: &mut Rng) -> String {
    (0..1 + rng.below(4))
        .map(|_| {
            let action = rng.pick(&["index", "create", "delete", "update", "bogus"]);
            let meta = match rng.below(4) {
                0 => "{}".to_string(),
                1 => format!("{{\"_index\":{}}}", jstr(rng)),
                2 => format!("{{\"_index\":\"logs\",\"_id\":{}}}", scalar(rng)),
                _ => json(
                    rng,
                    2,
                    &["_index", "_id", "pipeline", "routing", "require_alias"],
                ),
            };
            format!("{{\"{action}\":{meta}}}\n{}\n", es_doc(rng))
        })
        .collect()
}

/// Byte-level mutations of `input`, splicing from `other`; `deep` allows the rare
/// insertion of very deep nesting.
pub fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        let at = if len == 0 { 0 } else { rng.below(len + 1) };
        match rng.below(9) {
            0 if len > 0 => input[at.min(len - 1)] ^= 1 << rng.below(8),
            1 if len > 0 => {
                input[at.min(len - 1)] = *rng.pick(b"\0\xff\"\\{}[]():,\n\x1b\x80\xc3 *")
            }
            2 => {
                let end = (at + 1 + rng.below(16)).min(len);
                input.drain(at..end);
            }
            3 => input.truncate(at),
            4 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(64)).min(other.len());
                input.splice(at..at, other[from..end].iter().copied());
            }
            5 if len > 0 => {
                let from = rng.below(len);
                let end = (from + 1 + rng.below(32)).min(len);
                let piece: Vec<u8> = input[from..end].to_vec();
                for _ in 0..1 + rng.below(4) {
                    input.splice(at..at, piece.iter().copied());
                }
            }
            6 => {
                let t = rng.pick(TRICKY).as_bytes();
                input.splice(at..at, t.iter().copied());
            }
            7 => {
                let pair = *rng.pick(&[("(", ")"), ("[", "]"), ("{", "}"), ("\"", "\"")]);
                let n = 1 + rng.below(20);
                input.splice(at..at, pair.0.repeat(n).into_bytes());
                if rng.one_in(2) {
                    input.extend(pair.1.repeat(n).into_bytes());
                }
            }
            _ => {
                let w = word(rng);
                input.splice(at..at, w.into_bytes());
            }
        }
    }
}

/// Very deep nesting of the opener a parser of this kind recurses on, at a random spot:
/// 1,000 to 100,000 levels.
pub fn deepen(rng: &mut Rng, input: &mut Vec<u8>, open: &str, close: &str) {
    let n = *rng.pick(&[1_000usize, 10_000, 100_000]);
    let at = if input.is_empty() {
        0
    } else {
        rng.below(input.len() + 1)
    };
    let mut deep = open.repeat(n).into_bytes();
    deep.extend_from_slice(b"x");
    if rng.one_in(2) {
        deep.extend(close.repeat(n).into_bytes());
    }
    input.splice(at..at, deep);
}
