//! Fixed word lists and the Zipf vocabulary and message templates built from them.

use std::collections::HashSet;

use crate::rng::{pick_cumulative, Rng};

pub(crate) const BASE_WORDS: &str = "
account active address admin agent alert allocate allow api append apply archive
array assign async attempt audit auth backend backoff balance batch billing block
body boot bucket buffer build bundle cache call cancel capacity card cart catalog
certificate channel charge check checkout chunk cipher claim clean client close
cluster code column commit compact complete compress config connect connection
consumer container content context cookie copy count create credential cron cursor
customer daemon dashboard data database deadline decode default delete deliver
deploy dequeue descriptor device digest discount disk dispatch document domain
download drain driver drop encode endpoint enqueue entity entry error event evict
exchange execute expire export failover feature fetch field file filter flush fork
frame gateway generate grant graph group handler handshake hash header health heap
host image import index inventory invoice issue item job journal key label latency
lease ledger limit link listener load lock login logout lookup manifest mapping
merge message metric migrate mirror module monitor mount namespace network node
notify object offset order origin owner package page parse partition password patch
payload payment peer pending permission pipeline plan plugin policy pool port post
price primary probe process producer profile promote provider proxy publish pull
purge push query queue quota rate read rebalance receipt record redirect refresh
refund region register registry release reload remote render replica replay report
request reserve reset resolve resource response restore result retry revoke role
rollback rotate route rule runtime sample scale schedule schema scope search secret
segment select send sequence serialize server service session shard shipment signal
snapshot socket source span split stage start state status storage store stream
subscribe subscription sync table task template tenant thread threshold throttle
ticket timeout token topic trace transaction transfer trigger truncate tunnel update
upgrade upload upstream user validate value vault verify version volume wallet warmup
watch webhook worker write zone
";

pub(crate) const VERBS: &str =
    "accepted acquired added allocated applied approved assigned blocked cached
cancelled checked cleaned closed committed completed compressed configured connected
created declined decoded deleted delivered denied deployed detected dispatched dropped
emitted enqueued evicted executed expired exported failed fetched finished flushed
forwarded granted handled ignored imported indexed initialized inserted invalidated
loaded locked merged migrated missed opened parsed paused processed published purged
queued received reconnected recovered refreshed rejected released reloaded removed
renewed replayed reported requested rescheduled reset resolved restarted restored
resumed retried returned revoked rolled rotated routed saved scheduled sent serialized
shipped skipped started stopped stored submitted succeeded suspended synced throttled
timed truncated unlocked updated uploaded validated verified";

const SYLLABLES: [&str; 40] = [
    "ka", "lo", "mi", "ne", "zu", "ra", "ti", "po", "sen", "dar", "vel", "kor", "tan", "bri",
    "qua", "sho", "lin", "mur", "gal", "fen", "dro", "pex", "vy", "xo", "ul", "am", "or", "is",
    "et", "un", "bo", "ce", "di", "fa", "gu", "hy", "jo", "ky", "lu", "ma",
];

/// The largest vocabulary accepted; the syllable space holds a few million distinct words,
/// so this keeps rejection sampling of fresh words quick.
pub(crate) const MAX_VOCAB: usize = 1_000_000;

const TEMPLATE_COUNT: usize = 300;

/// Zipf-weighted vocabulary: the real words first (so they are the frequent ones), made-up
/// syllable words in the long tail.
pub(crate) struct Vocab {
    words: Vec<String>,
    cum: Vec<f64>,
}

impl Vocab {
    pub(crate) fn new(rng: &mut Rng, size: usize, needle: &str) -> Self {
        let mut words: Vec<String> = Vec::with_capacity(size.max(600));
        let mut seen: HashSet<String> = HashSet::with_capacity(size.max(600));
        for w in BASE_WORDS
            .split_whitespace()
            .chain(VERBS.split_whitespace())
        {
            if seen.insert(w.to_owned()) {
                words.push(w.to_owned());
            }
        }
        while words.len() < size {
            let n = *rng.pick(&[2, 2, 3, 3, 3, 4]);
            let mut w = String::with_capacity(4 * n);
            for _ in 0..n {
                w.push_str(rng.pick_str(&SYLLABLES));
            }
            // The needle must stay exactly as rare as configured, so it is never a vocab word.
            if w != needle && seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let mut acc = 0.0;
        let cum = (1..=words.len())
            .map(|r| {
                acc += 1.0 / (r as f64).powf(1.07);
                acc
            })
            .collect();
        Self { words, cum }
    }

    pub(crate) fn pick(&self, rng: &mut Rng) -> &str {
        let total = self.cum[self.cum.len() - 1];
        &self.words[pick_cumulative(&self.cum, rng.f64() * total)]
    }
}

/// What fills a template slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Word,
    Num,
    Id,
    Ip,
}

/// One space-separated template token: literal text around at most one slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tok {
    pub(crate) pre: &'static str,
    pub(crate) slot: Option<Slot>,
    pub(crate) post: &'static str,
}

fn tokens(part: &'static str) -> impl Iterator<Item = Tok> {
    part.split(' ').map(|t| match t.find('{') {
        None => Tok {
            pre: t,
            slot: None,
            post: "",
        },
        Some(a) => {
            let b = a + t[a..].find('}').expect("template slots are closed");
            let slot = match &t[a + 1..b] {
                "w" => Slot::Word,
                "n" => Slot::Num,
                "id" => Slot::Id,
                _ => Slot::Ip,
            };
            Tok {
                pre: &t[..a],
                slot: Some(slot),
                post: &t[b + 1..],
            }
        }
    })
}

/// ~300 message skeletons mixing fixed words and slots; their popularity is skewed too, so
/// a few phrasings dominate like in real services.
pub(crate) struct Templates {
    pub(crate) list: Vec<Vec<Tok>>,
    cum: Vec<f64>,
}

impl Templates {
    pub(crate) fn new(rng: &mut Rng) -> Self {
        let base: Vec<&'static str> = BASE_WORDS.split_whitespace().collect();
        let verbs: Vec<&'static str> = VERBS.split_whitespace().collect();
        let keyed = ["id={id}", "key={w}", "shard={n}", "attempt={n}"];
        let phrases = ["after {n}ms", "in {n} ms", "for {w}", "from {ip}"];
        let list: Vec<Vec<Tok>> = (0..TEMPLATE_COUNT)
            .map(|_| {
                let n = rng.range(4, 11);
                let mut toks = Vec::with_capacity(n as usize + 2);
                for _ in 0..n {
                    let r = rng.f64();
                    let part: &'static str = if r < 0.40 {
                        rng.pick_str(&base)
                    } else if r < 0.55 {
                        rng.pick_str(&verbs)
                    } else if r < 0.80 {
                        "{w}"
                    } else if r < 0.90 {
                        "{n}"
                    } else if r < 0.95 {
                        rng.pick_str(&keyed)
                    } else {
                        rng.pick_str(&phrases)
                    };
                    toks.extend(tokens(part));
                }
                toks
            })
            .collect();
        let mut acc = 0.0;
        let cum = (1..=list.len())
            .map(|r| {
                acc += 1.0 / (r as f64).powf(0.9);
                acc
            })
            .collect();
        Self { list, cum }
    }

    pub(crate) fn pick(&self, rng: &mut Rng) -> &[Tok] {
        let total = self.cum[self.cum.len() - 1];
        &self.list[pick_cumulative(&self.cum, rng.f64() * total)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_has_requested_size_unique_words_and_no_needle() {
        let v = Vocab::new(&mut Rng::new(1), 30_000, "kalo");
        assert_eq!(v.words.len(), 30_000);
        let set: HashSet<&String> = v.words.iter().collect();
        assert_eq!(set.len(), 30_000);
        assert!(!v.words.iter().any(|w| w == "kalo"));
        // Zipf: the head word is far more frequent than a tail word.
        let mut rng = Rng::new(2);
        let n = 100_000;
        let head = (0..n).filter(|_| v.pick(&mut rng) == "account").count();
        assert!(head > n / 50, "head word picked {head} times");
    }

    #[test]
    fn template_tokens_parse() {
        let t: Vec<Tok> = tokens("after {n}ms").collect();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].pre, "after");
        assert_eq!(
            (t[1].pre, t[1].slot, t[1].post),
            ("", Some(Slot::Num), "ms")
        );
        let t: Vec<Tok> = tokens("id={id}").collect();
        assert_eq!((t[0].pre, t[0].slot), ("id=", Some(Slot::Id)));
    }
}
