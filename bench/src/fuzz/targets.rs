//! The parsers a user can reach, each behind one function taking raw bytes, with its
//! grammar generator and the seed inputs the repository has for it.

use super::gen::{self, Rng};
use skein_collector::decode::{Format, SourceDecoder};
use skein_collector::parse::multiline::MultilineConfig;
use skein_collector::parse::payload::{self, PayloadConfig};
use skein_collector::parse::{cri, json_file::JsonFileDecoder};
use skein_model::Timestamp;
use std::path::Path;
use std::time::Instant;

/// What every input of a run shares: built once per process.
pub struct Ctx {
    schema: tantivy::schema::Schema,
    now: Timestamp,
    multiline: MultilineConfig,
}

impl Ctx {
    /// The partition schema, a fixed clock and a multiline rule.
    pub fn new() -> Ctx {
        Ctx {
            schema: skein_indexer::schema::build_schema().0,
            // A fixed time, so a saved input behaves the same when run again.
            now: Timestamp(1_795_168_800_000_000_000),
            multiline: MultilineConfig::new(r"^\S").expect("a valid pattern"),
        }
    }
}

impl Default for Ctx {
    fn default() -> Ctx {
        Ctx::new()
    }
}

/// One fuzz target.
pub struct Target {
    /// Name for `--target`.
    pub name: &'static str,
    /// The entry point it drives.
    pub entry: &'static str,
    /// Opening and closing bracket its parser nests on.
    pub nest: (&'static str, &'static str),
    /// A grammar-aware input.
    pub generate: fn(&mut Rng) -> String,
    /// Runs the parser on one input; the result is dropped (only panics, time and
    /// memory matter).
    pub run: fn(&Ctx, &[u8]),
    /// Which repository files give seeds, and how to cut them into inputs.
    pub seeds: fn(&Path) -> Vec<Vec<u8>>,
}

fn text(input: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(input)
}

fn lines_of(repo: &Path, files: &[&str]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in files {
        let path = repo.join(f);
        let Ok(body) = std::fs::read(&path) else {
            continue;
        };
        out.extend(
            body.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .take(200)
                .map(<[u8]>::to_vec),
        );
    }
    out
}

const DEMO: &[&str] = &[
    "samples/demo/api-gateway-json.log",
    "samples/demo/auth-service-json.log",
    "samples/demo/orders-json.log",
    "samples/demo/payments-json.log",
];

/// The json-file lines of the demo samples.
fn json_file_seeds(repo: &Path) -> Vec<Vec<u8>> {
    lines_of(repo, DEMO)
}

/// The demo lines as containerd would have written them.
fn cri_seeds(repo: &Path) -> Vec<Vec<u8>> {
    let mut d = JsonFileDecoder::new();
    json_file_seeds(repo)
        .iter()
        .filter_map(|l| {
            let e = d.decode(l).ok()?;
            let t = String::from_utf8_lossy(e.text()).trim_end().to_string();
            let stream = skein_collector::parse::Stream::Stdout;
            Some(cri::encode_line(e.time, stream, e.is_complete(), &t).into_bytes())
        })
        .collect()
}

/// The demo containers' own output (the `log` of each line).
fn payload_seeds(repo: &Path) -> Vec<Vec<u8>> {
    let mut d = JsonFileDecoder::new();
    json_file_seeds(repo)
        .iter()
        .filter_map(|l| Some(d.decode(l).ok()?.text().to_vec()))
        .collect()
}

fn record_seeds(repo: &Path) -> Vec<Vec<u8>> {
    let mut lines = lines_of(repo, &["samples/records.ndjson"]);
    let all: Vec<u8> = lines.join(&b'\n');
    lines.push(all);
    lines
}

/// The queries of the README's examples (`q=…` and `skein search '…'`).
fn query_seeds(repo: &Path) -> Vec<Vec<u8>> {
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap_or_default();
    let mut out = Vec::new();
    for line in readme.lines() {
        for marker in ["skein search '", "--query '", "skein agg '"] {
            if let Some(rest) = line.split_once(marker).map(|x| x.1) {
                if let Some((q, _)) = rest.split_once('\'') {
                    out.push(q.as_bytes().to_vec());
                }
            }
        }
        if let Some(rest) = line.split_once("q=").map(|x| x.1) {
            let q: String = rest
                .chars()
                .take_while(|c| !matches!(c, '&' | '\'' | '`' | '"' | ' '))
                .collect();
            out.push(q.replace("%20", " ").replace('+', " ").into_bytes());
        }
    }
    out
}

/// Documents as the ES tests and samples send them: the sample records.
fn es_doc_seeds(repo: &Path) -> Vec<Vec<u8>> {
    lines_of(repo, &["samples/records.ndjson"])
}

fn bulk_seeds(repo: &Path) -> Vec<Vec<u8>> {
    let docs = es_doc_seeds(repo);
    let body: Vec<u8> = docs
        .iter()
        .flat_map(|d| {
            let mut l = b"{\"index\":{\"_index\":\"logs-app\"}}\n".to_vec();
            l.extend_from_slice(d);
            l.push(b'\n');
            l
        })
        .collect();
    vec![body]
}

fn none(_: &Path) -> Vec<Vec<u8>> {
    Vec::new()
}

fn run_json_file(_: &Ctx, input: &[u8]) {
    let mut d = JsonFileDecoder::new();
    if let Ok(e) = d.decode(input) {
        std::hint::black_box((e.text().len(), e.is_complete()));
    }
}

fn run_cri(_: &Ctx, input: &[u8]) {
    std::hint::black_box(cri::parse_line(input).is_ok());
}

fn run_payload(_: &Ctx, input: &[u8]) {
    let config = PayloadConfig {
        time_from_payload: true,
    };
    let mut p = payload::parse(input.to_vec(), &config);
    p.materialize();
    std::hint::black_box(p);
}

/// Every stage of the agent for one file: framing, partial lines, multiline, payload.
fn run_source_decoder(ctx: &Ctx, input: &[u8]) {
    let format = match input.first().map(|b| b % 3) {
        Some(0) => Format::JsonFile,
        Some(1) => Format::Cri,
        _ => Format::Plain,
    };
    let multiline = input.len().is_multiple_of(2);
    let config = PayloadConfig {
        time_from_payload: true,
    };
    let mut d = SourceDecoder::new(
        format,
        config,
        multiline.then(|| ctx.multiline.clone()),
        4096,
    );
    let mut out = Vec::new();
    let now = Instant::now();
    let mut offset = 0u64;
    for line in input.split_inclusive(|&b| b == b'\n') {
        d.push_line(line, offset, now, &mut out);
        offset += line.len() as u64;
    }
    d.flush(&mut out);
    std::hint::black_box(out);
}

fn run_ndjson(_: &Ctx, input: &[u8]) {
    std::hint::black_box(skein_indexer::PreparedBatch::from_ndjson(
        input.to_vec(),
        None,
        None,
    ));
}

fn run_query_parse(_: &Ctx, input: &[u8]) {
    std::hint::black_box(skein_query::lang::parser::parse(&text(input)).is_ok());
}

fn run_query_compile(ctx: &Ctx, input: &[u8]) {
    let q = text(input);
    std::hint::black_box(skein_query::parse::parse_query_at(&ctx.schema, &q, ctx.now).is_ok());
}

fn run_es_dsl(ctx: &Ctx, input: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(input) {
        std::hint::black_box(skein_web::es::dsl::translate(&v, ctx.now).is_ok());
    }
}

fn run_es_bulk(ctx: &Ctx, input: &[u8]) {
    std::hint::black_box(
        skein_web::es::bulk::parse_body(input, Some("logs-app"), ctx.now, None).is_ok(),
    );
}

fn run_es_mapping(ctx: &Ctx, input: &[u8]) {
    let doc = text(input);
    let id = (input.len().is_multiple_of(2)).then_some("id-1");
    std::hint::black_box(
        skein_model::es_mapping::map_document(&doc, "logs-app", id, ctx.now).is_ok(),
    );
}

/// The request rewrite and its conversion into Tantivy's request, not the run.
fn run_agg_request(ctx: &Ctx, input: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(input) else {
        return;
    };
    let day = Timestamp(ctx.now.0 - 86_400_000_000_000);
    std::hint::black_box(skein_query::aggregate::request::needs_range(&v));
    if let Ok(p) = skein_query::aggregate::request::prepare(&v, Some((day, ctx.now))) {
        let r = serde_json::from_value::<tantivy::aggregation::agg_req::Aggregations>(p.aggs);
        std::hint::black_box(r.is_ok());
    }
}

/// Every target, in the order they run.
pub const TARGETS: &[Target] = &[
    Target {
        name: "json-file",
        entry: "collector parse::json_file::JsonFileDecoder::decode",
        nest: ("{\"a\":", "}"),
        generate: gen::json_file_line,
        run: run_json_file,
        seeds: json_file_seeds,
    },
    Target {
        name: "cri",
        entry: "collector parse::cri::parse_line",
        nest: ("(", ")"),
        generate: gen::cri_line,
        run: run_cri,
        seeds: cri_seeds,
    },
    Target {
        name: "payload",
        entry: "collector parse::payload::parse + materialize",
        nest: ("{\"a\":", "}"),
        generate: gen::payload,
        run: run_payload,
        seeds: payload_seeds,
    },
    Target {
        name: "source-decoder",
        entry: "collector decode::SourceDecoder (json-file/CRI/plain, partial, multiline)",
        nest: ("[", "]"),
        generate: |rng| {
            let n = 1 + rng.below(6);
            let cri = rng.one_in(2);
            let mut s = String::from(if cri { "\u{1}" } else { "\0" });
            for _ in 0..n {
                s.push_str(&if cri {
                    gen::cri_line(rng)
                } else {
                    gen::json_file_line(rng)
                });
                s.push('\n');
            }
            s
        },
        run: run_source_decoder,
        seeds: json_file_seeds,
    },
    Target {
        name: "ndjson",
        entry: "indexer PreparedBatch::from_ndjson (model decode_ndjson, Record::from_json)",
        nest: ("[", "]"),
        generate: |rng| {
            (0..1 + rng.below(3))
                .map(|_| gen::record(rng) + "\n")
                .collect()
        },
        run: run_ndjson,
        seeds: record_seeds,
    },
    Target {
        name: "query-parse",
        entry: "query lang::parser::parse",
        nest: ("(", ")"),
        generate: |rng| gen::query(rng, 5),
        run: run_query_parse,
        seeds: query_seeds,
    },
    Target {
        name: "query-compile",
        entry: "query parse::parse_query_at (parse + compile against build_schema())",
        nest: ("(", ")"),
        generate: |rng| gen::query(rng, 5),
        run: run_query_compile,
        seeds: query_seeds,
    },
    Target {
        name: "es-dsl",
        entry: "web es::dsl::translate (after serde_json)",
        nest: ("{\"bool\":{\"must\":", "}}"),
        generate: |rng| gen::dsl(rng, 4),
        run: run_es_dsl,
        seeds: none,
    },
    Target {
        name: "es-bulk",
        entry: "web es::bulk::parse_body (with model es_mapping)",
        nest: ("{\"a\":", "}"),
        generate: gen::bulk,
        run: run_es_bulk,
        seeds: bulk_seeds,
    },
    Target {
        name: "es-mapping",
        entry: "model es_mapping::map_document",
        nest: ("{\"a\":", "}"),
        generate: gen::es_doc,
        run: run_es_mapping,
        seeds: es_doc_seeds,
    },
    Target {
        name: "agg-request",
        entry: "query aggregate::request::prepare + serde into tantivy Aggregations",
        nest: ("{\"aggs\":{\"a\":", "}}"),
        generate: |rng| gen::aggs(rng, 3),
        run: run_agg_request,
        seeds: none,
    },
];

/// Input `index` of `target` in the run seeded `seed`: half grammar-generated, half a
/// mutated seed (or generated input), and about one in 2,000 with very deep nesting.
pub fn input(target: &Target, seeds: &[Vec<u8>], seed: u64, index: u64) -> Vec<u8> {
    let mut rng = Rng::for_input(seed, target.name, index);
    let mut bytes = (target.generate)(&mut rng).into_bytes();
    if rng.one_in(2) {
        if !seeds.is_empty() && rng.one_in(2) {
            bytes = rng.pick(seeds).clone();
        }
        let other = if seeds.is_empty() {
            (target.generate)(&mut rng).into_bytes()
        } else {
            rng.pick(seeds).clone()
        };
        gen::mutate(&mut rng, &mut bytes, &other);
    }
    if rng.one_in(2_000) {
        gen::deepen(&mut rng, &mut bytes, target.nest.0, target.nest.1);
    }
    bytes
}
