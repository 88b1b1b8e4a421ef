//! Templates, grouping, merges, the cap and persistence on small hand-written sets.

use proptest::prelude::*;
use skein_patterns::{Config, Miner, PatternId};

fn miner() -> Miner {
    Miner::new(Config::default())
}

/// Plain Drain: its threshold, no merges by skeleton, no settled positions; for the tests
/// of the tree's own mechanics.
fn drain_config() -> Config {
    Config {
        similarity: 0.5,
        merge_skeletons: false,
        settled_after: 0,
        ..Config::default()
    }
}

#[test]
fn variables_in_every_position() {
    let mut m = miner();
    let a = m.assign("g", "42 connections open on node-a");
    let b = m.assign("g", "7 connections open on node-b");
    let c = m.assign("g", "13 connections open on node-c");
    assert_eq!(a, b);
    assert_eq!(b, c);
    assert_eq!(m.template(a).unwrap(), "<num> connections open on <*>");

    let x = m.assign("g", "user 17 logged in from 10.0.0.1");
    let y = m.assign("g", "user 23 logged in from 10.0.0.2");
    assert_eq!(x, y);
    assert_eq!(m.template(x).unwrap(), "user <num> logged in from <ip>");

    let p = m.assign("g", "request 5 took 12ms status=200 path=\"/a b\"");
    let q = m.assign("g", "request 6 took 3ms status=500 path=\"/c\"");
    assert_eq!(p, q);
    assert_eq!(
        m.template(p).unwrap(),
        "request <num> took <num> status=<*> path=<quoted>"
    );
    assert_ne!(a, x);
    assert_ne!(x, p);
}

#[test]
fn lines_of_different_lengths_are_different_patterns() {
    let mut m = Miner::new(drain_config());
    let a = m.assign("g", "worker 1 started");
    let b = m.assign("g", "worker 1 started in 3 ms");
    let c = m.assign("g", "worker 2 stopped");
    assert_ne!(a, b);
    // Same length, two of three tokens agree: Drain's threshold (0.5) joins them.
    assert_eq!(a, c);
    assert_eq!(m.template(a).unwrap(), "worker <num> <*>");
    assert_eq!(m.patterns().count(), 2);
}

#[test]
fn groups_are_separate_and_ids_come_from_the_template() {
    let mut m = miner();
    let a = m.assign("web", "GET /index.html 200");
    let b = m.assign("db", "GET /index.html 200");
    assert_ne!(a, b, "the group is part of the id");
    // A second miner fed in another order gives the same ids to the same templates.
    let mut n = miner();
    let b2 = n.assign("db", "GET /x 404");
    let a2 = n.assign("web", "GET /other 500");
    assert_eq!((a, b), (a2, b2));
    assert_eq!(a.to_string().parse::<PatternId>().unwrap(), a);
}

#[test]
fn generalising_keeps_the_id() {
    let mut m = miner();
    let a = m.assign("g", "cache miss for key users");
    assert_eq!(m.template(a).unwrap(), "cache miss for key users");
    let b = m.assign("g", "cache miss for key orders");
    assert_eq!(a, b);
    assert_eq!(m.template(a).unwrap(), "cache miss for key <*>");
    assert_eq!(m.resolve(a), a);
}

/// One node child only: the second shape of line goes under the wildcard child, where a
/// later line widens its template until it subsumes the first one.
fn merging_miner() -> Miner {
    Miner::new(Config {
        max_children: 1,
        ..drain_config()
    })
}

const MERGE_LINES: [&str; 4] = ["x p c d", "x q c e", "x r c e", "x s c d"];

#[test]
fn a_merge_keeps_ids_stable() {
    let mut m = merging_miner();
    let a = m.assign("g", MERGE_LINES[0]);
    let b = m.assign("g", MERGE_LINES[1]);
    assert_ne!(a, b);
    assert_eq!(m.assign("g", MERGE_LINES[2]), b);
    assert_eq!(m.template(b).unwrap(), "x <*> c e");
    // "x <*> c <*>" now subsumes "x p c d": one pattern, under the smaller id.
    let c = m.assign("g", MERGE_LINES[3]);
    let survivor = a.min(b);
    let gone = a.max(b);
    assert_eq!(c, survivor);
    assert_eq!(m.resolve(gone), survivor);
    assert_eq!(m.resolve(survivor), survivor);
    assert_eq!(m.aliases(survivor), vec![survivor, gone]);
    assert_eq!(m.template(gone), m.template(survivor));
    assert_eq!(m.template(survivor).unwrap(), "x <*> c <*>");
    let live: Vec<_> = m.patterns().collect();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].count, 4);
    // Later lines of either shape get the survivor, also after a restart.
    assert_eq!(m.assign("g", "x p c d"), survivor);
    let mut n = Miner::load(&m.save()).unwrap();
    assert_eq!(n.assign("g", "x t c e"), survivor);
    assert_eq!(n.aliases(survivor), vec![survivor, gone]);
}

#[test]
fn ids_do_not_depend_on_the_process() {
    let run = || {
        let mut m = merging_miner();
        MERGE_LINES
            .iter()
            .map(|l| m.assign("g", l))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn same_words_at_other_lengths_are_one_pattern() {
    let mut m = miner();
    let a = m.assign("g", "sent 1190 bytes (1.16 KB) in 3 ms");
    let b = m.assign("g", "sent 0 bytes in <1 sec");
    // Two clusters (two lengths), one pattern: the smaller of their ids, the other an
    // alias of it (`a` may already be the pattern's id, or the alias).
    assert_eq!(m.cluster_count("g"), 2);
    let p = b;
    assert_eq!(m.resolve(a), p);
    let aliases = m.aliases(p);
    assert_eq!(aliases.len(), 2);
    assert_eq!(aliases[0], p);
    assert!(aliases[1] > p);
    assert!(aliases.contains(&a));
    assert_eq!(m.assign("g", "sent 7 bytes (7 B) in 9 ms"), p);
    assert_eq!(m.assign("g", "sent 8 bytes in <1 sec"), p);
    let live: Vec<_> = m.patterns().collect();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].count, 4);
    // A word more is another event.
    assert_ne!(m.assign("g", "sent 0 bytes in <1 sec, retrying"), p);
}

#[test]
fn a_settled_position_is_not_widened() {
    let mut m = miner();
    let https = m.assign("g", "1.2.3.4:80 open through proxy 5.6.7.8:80 HTTPS");
    for i in 0..40 {
        assert_eq!(
            m.assign(
                "g",
                &format!("1.2.3.{i}:80 open through proxy 5.6.7.8:80 HTTPS")
            ),
            https
        );
    }
    let socks = m.assign("g", "1.2.3.4:22 open through proxy 5.6.7.8:80 SOCKS5");
    assert_ne!(https, socks);
    assert_eq!(
        m.template(https).unwrap(),
        "<ip> open through proxy <ip> HTTPS"
    );
    // Early on, the same difference widens the template (Drain's way).
    let mut m = miner();
    let a = m.assign("g", "1.2.3.4:80 open through proxy 5.6.7.8:80 HTTPS");
    assert_eq!(
        m.assign("g", "1.2.3.4:22 open through proxy 5.6.7.8:80 SOCKS5"),
        a
    );
    assert_eq!(m.template(a).unwrap(), "<ip> open through proxy <ip> <*>");
}

#[test]
fn the_cap_and_other() {
    let mut m = Miner::new(Config {
        max_patterns_per_group: 2,
        ..Config::default()
    });
    let a = m.assign("g", "alpha beta gamma");
    let b = m.assign("g", "one two");
    let o = m.assign("g", "completely different line here now");
    assert_eq!(o, PatternId::other("g"));
    assert_ne!(o, PatternId::other("h"));
    assert_eq!(m.assign("g", "alpha beta gamma"), a);
    assert_eq!(m.assign("g", "one two"), b);
    assert_eq!(m.assign("g", "yet another shape"), o);
    assert_eq!(m.template(o).unwrap(), "<other>");
    let other = m.patterns().find(|p| p.id == o).unwrap();
    assert_eq!(other.count, 2);
    // Another group is not full.
    assert_ne!(
        m.assign("h", "completely different line here now"),
        PatternId::other("h")
    );
}

#[test]
fn save_load_gives_identical_assignments() {
    let lines = corpus();
    let mut m = miner();
    for l in &lines[..150] {
        m.assign(group_of(l), l);
    }
    let bytes = m.save();
    let mut n = Miner::load(&bytes).unwrap();
    assert_eq!(n.save(), bytes);
    for l in &lines[150..] {
        assert_eq!(m.assign(group_of(l), l), n.assign(group_of(l), l), "{l}");
    }
    assert_eq!(m.save(), n.save());
    assert!(Miner::load(b"{").is_err());
    assert!(Miner::load(br#"{"version":99,"config":{}}"#).is_err());
}

fn group_of(line: &str) -> &'static str {
    if line.len().is_multiple_of(3) {
        "a"
    } else {
        "b"
    }
}

fn corpus() -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..300u32 {
        v.push(match i % 6 {
            0 => format!(
                "Accepted password for user{} from 10.0.{}.{} port {}",
                i % 7,
                i % 5,
                i,
                40000 + i
            ),
            1 => format!("GET /api/v1/items/{} 200 {}ms", i, i % 50),
            2 => format!(
                "worker {} {} job {}",
                ["started", "stopped", "paused"][i as usize % 3],
                i,
                i * 7
            ),
            3 => format!(
                "disk /dev/sd{} usage {}%",
                ["a", "b"][i as usize % 2],
                i % 100
            ),
            4 => format!(
                "session {:x} closed after {} s reason={}",
                i * 7919,
                i,
                ["timeout", "eof"][i as usize % 2]
            ),
            _ => format!(
                "job {} done in {} {} now",
                i,
                ["fast", "slow"][i as usize % 2],
                ["mode", "path"][(i / 2) as usize % 2]
            ),
        });
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The same lines in the same order give the same ids, in a fresh miner and in one
    /// saved and loaded halfway.
    #[test]
    fn deterministic_and_save_load_equivalent(
        lines in proptest::collection::vec(
            (0usize..3, proptest::collection::vec(
                prop_oneof!["[a-d]{1,3}", "[0-9]{1,4}", Just("x=1".to_string()), Just("10.0.0.1".to_string())],
                0..7)),
            1..80),
        split in 0usize..80,
    ) {
        let lines: Vec<(String, String)> =
            lines.into_iter().map(|(g, toks)| (format!("g{g}"), toks.join(" "))).collect();
        let config = Config { max_patterns_per_group: 6, settled_after: 3, ..Config::default() };
        let mut a = Miner::new(config.clone());
        let mut b = Miner::new(config);
        let split = split.min(lines.len());
        for (g, l) in &lines[..split] {
            prop_assert_eq!(a.assign(g, l), b.assign(g, l));
        }
        let mut c = Miner::load(&b.save()).unwrap();
        for (g, l) in &lines[split..] {
            let x = a.assign(g, l);
            prop_assert_eq!(x, b.assign(g, l));
            prop_assert_eq!(x, c.assign(g, l));
            // An assigned id is live, and its aliases resolve to it.
            prop_assert_eq!(a.resolve(x), x);
            for al in a.aliases(x) {
                prop_assert_eq!(a.resolve(al), x);
            }
        }
        prop_assert_eq!(a.save(), c.save());
    }
}
