//! The benchmark corpus and the ingest batches made from it.

use anyhow::{Context, Result};
use skein_collector::enrich::SourceMeta;
use skein_collector::json_file_reader::{records_from_json_file, JsonFileOptions};
use skein_gen::{GenConfig, Manifest};
use skein_model::Record;
use std::io::{BufReader, Write};
use std::path::Path;

/// The `skein gen` corpus a benchmark runs on, as its command line chooses it.
#[derive(Debug, Clone, clap::Args)]
pub struct CorpusArgs {
    /// json-file lines in the corpus.
    #[arg(long, default_value_t = 1_000_000)]
    pub lines: u64,
    /// Containers the lines are spread over.
    #[arg(long, default_value_t = 32)]
    pub containers: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where the corpus is kept between runs (shared by bench/ingest and bench/es_bulk).
    #[arg(long, default_value = "bench/corpus/ingest")]
    pub corpus: std::path::PathBuf,
}

impl CorpusArgs {
    /// [`ensure_corpus`] for these arguments.
    pub fn ensure(&self) -> Result<Manifest> {
        ensure_corpus(&self.corpus, self.lines, self.containers, self.seed)
    }
}

/// Generates the corpus into `dir` unless a matching one is there already.
pub fn ensure_corpus(dir: &Path, lines: u64, containers: usize, seed: u64) -> Result<Manifest> {
    if let Ok(m) = Manifest::load(dir) {
        if m.lines == lines && m.containers == containers && m.seed == seed {
            return Ok(m);
        }
    }
    eprintln!(
        "generating {lines} lines for {containers} containers into {}",
        dir.display()
    );
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let cfg = GenConfig {
        lines,
        containers,
        seed,
        ..GenConfig::default()
    };
    Ok(skein_gen::generate_batch(&cfg, dir)?)
}

/// One ingest request, ready to send.
#[derive(Clone)]
pub struct Batch {
    /// zstd-compressed NDJSON, as the agent ships it.
    pub body: Vec<u8>,
    /// Records in it.
    pub records: u64,
}

/// Batches of one container (one agent source group), in `_seq` order.
#[derive(Clone)]
pub struct ContainerBatches {
    /// Container name used in the records.
    pub name: String,
    /// The batches.
    pub batches: Vec<Batch>,
}

/// Parses every json-file log of the corpus as the agent does (partial-line merge,
/// payload parsing, enrichment, `_source_id`/`_seq`) and cuts it into compressed batches
/// of about `batch_records` records.
pub fn build_batches(
    dir: &Path,
    manifest: &Manifest,
    batch_records: usize,
) -> Result<Vec<ContainerBatches>> {
    build_batches_with(dir, manifest, batch_records, &mut |_| Ok(()))
}

/// The metadata the benchmarks give the `i`-th container of the corpus (`id`, running
/// `service`), as an agent would find it.
pub fn source_meta(id: &str, service: &str, i: usize) -> SourceMeta {
    SourceMeta {
        host: "bench-node".into(),
        container: format!("{service}-{i}"),
        container_id: id.to_string(),
        image: format!("shop/{service}:1.0"),
        labels: [(
            "com.docker.compose.service".to_string(),
            service.to_string(),
        )]
        .into_iter()
        .collect(),
        ..SourceMeta::default()
    }
}

/// [`build_batches`], also handing every record to `on_record` as it is parsed (so other
/// stores can be loaded with exactly what the server receives, in one pass).
pub fn build_batches_with(
    dir: &Path,
    manifest: &Manifest,
    batch_records: usize,
    on_record: &mut dyn FnMut(&Record) -> Result<()>,
) -> Result<Vec<ContainerBatches>> {
    let mut out = Vec::new();
    for (i, (id, file)) in manifest.files.iter().enumerate() {
        let meta = source_meta(id, &file.service, i);
        let name = meta.container.clone();
        let path = dir.join(id).join(format!("{id}-json.log"));
        let f =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let mut batches = Vec::new();
        let mut ndjson = Vec::with_capacity(4 << 20);
        let mut n = 0u64;
        let mut flush = |ndjson: &mut Vec<u8>, n: &mut u64| -> Result<()> {
            if *n > 0 {
                let mut enc = zstd::Encoder::new(Vec::with_capacity(ndjson.len() / 5), 1)?;
                enc.write_all(ndjson)?;
                batches.push(Batch {
                    body: enc.finish()?,
                    records: *n,
                });
                ndjson.clear();
                *n = 0;
            }
            Ok(())
        };
        for rec in records_from_json_file(
            BufReader::with_capacity(1 << 20, f),
            &meta,
            JsonFileOptions::default(),
        ) {
            on_record(&rec)?;
            serde_json::to_writer(&mut ndjson, &rec)?;
            ndjson.push(b'\n');
            n += 1;
            if n as usize >= batch_records {
                flush(&mut ndjson, &mut n)?;
            }
        }
        flush(&mut ndjson, &mut n)?;
        out.push(ContainerBatches { name, batches });
    }
    Ok(out)
}
