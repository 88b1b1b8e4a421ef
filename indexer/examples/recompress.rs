//! How small a compacted partition's docstore gets at other zstd levels and block sizes
//! (issue 20's "cold partitions recompressed harder"): the stored documents of every
//! segment cut into blocks of BLOCK_KIB and compressed at LEVEL, against the store as
//! it is. Tantivy's merge copies docstore blocks as they are (it recompresses only
//! segments with deletes), so this is what a rewrite would give.
//! `cargo run --release -p skein-indexer --example recompress -- PARTITION_DIR LEVEL BLOCK_KIB`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: recompress PARTITION_DIR LEVEL BLOCK_KIB";
    let dir = args.next().ok_or(usage)?;
    let level: i32 = args.next().ok_or(usage)?.parse()?;
    let block = args.next().ok_or(usage)?.parse::<usize>()? * 1024;
    let mut index = tantivy::Index::open_in_dir(&dir)?;
    index.set_tokenizers(skein_indexer::schema::tokenizers());
    let searcher = index.reader()?.searcher();
    let now: u64 = searcher
        .space_usage()?
        .segments()
        .iter()
        .map(|s| s.store().total().get_bytes())
        .sum();
    let started = std::time::Instant::now();
    let (mut raw, mut packed) = (0usize, 0usize);
    let mut buf = Vec::with_capacity(block + (64 << 10));
    let mut flush = |buf: &mut Vec<u8>| -> std::io::Result<()> {
        if !buf.is_empty() {
            packed += zstd::bulk::compress(buf, level)?.len();
            buf.clear();
        }
        Ok(())
    };
    for reader in searcher.segment_readers() {
        // One cached block: documents are read in order, each block decompressed once.
        let store = reader.get_store_reader(1)?;
        for doc in 0..reader.max_doc() {
            let bytes = store.get_document_bytes(doc)?;
            raw += bytes.len();
            buf.extend_from_slice(bytes.as_slice());
            if buf.len() >= block {
                flush(&mut buf)?;
            }
        }
        flush(&mut buf)?;
    }
    println!(
        "docstore now {:.1} MB; {:.1} MB of documents at zstd {level} in {} KiB blocks: {:.1} MB ({:.3}x of now), {:.1} s to compress",
        now as f64 / 1e6,
        raw as f64 / 1e6,
        block / 1024,
        packed as f64 / 1e6,
        packed as f64 / now as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
