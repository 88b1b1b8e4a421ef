//! Prints where a partition's bytes go, per field and per component:
//! `cargo run --release -p skein-indexer --example space_usage -- DATA/partitions/2026-11-20`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: space_usage PARTITION_DIR")?;
    let mut index = tantivy::Index::open_in_dir(&dir)?;
    index.set_tokenizers(skein_indexer::schema::tokenizers());
    let searcher = index.reader()?.searcher();
    let usage = searcher.space_usage()?;
    let mut rows: Vec<(String, String, u64)> = Vec::new();
    for seg in usage.segments() {
        let comps = [
            ("term", seg.termdict()),
            ("idx", seg.postings()),
            ("pos", seg.positions()),
            ("fast", seg.fast_fields()),
            ("fieldnorm", seg.fieldnorms()),
        ];
        for (name, c) in comps {
            for fu in c.fields() {
                rows.push((
                    fu.field_name().to_string(),
                    name.to_string(),
                    fu.total().get_bytes(),
                ));
            }
        }
        rows.push((
            "_store".into(),
            "store".into(),
            seg.store().total().get_bytes(),
        ));
    }
    let mut agg = std::collections::BTreeMap::<(String, String), u64>::new();
    for (f, c, b) in rows {
        *agg.entry((f, c)).or_default() += b;
    }
    let mut v: Vec<_> = agg.into_iter().collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.1));
    for ((f, c), b) in v {
        println!("{:>10.1} MB  {f} {c}", b as f64 / 1e6);
    }
    Ok(())
}
